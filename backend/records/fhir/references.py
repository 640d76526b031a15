"""References inside a pushed bundle: where each one points, and its rewritten, served form.

Contract §3.2: a `urn:uuid:` reference must resolve inside the Bundle; `Type/{id}` inside the Bundle or
to this facility's stored resources; `Organization/{mã CSKCB}` names a facility by code and need not
resolve; anything else unresolved is refused. Resolved references are rewritten to served ids
(`{facility code}-{id}`), which are unique per patient across facilities.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from backend.records.keys import RESOURCE_ID, RESOURCE_TYPE, Key

_RELATIVE = re.compile(rf"^({RESOURCE_TYPE})/({RESOURCE_ID})(/_history/([0-9]{{1,9}}))?$")

Kind = Literal["bundle", "stored", "facility", "contained"]


@dataclass(frozen=True)
class Target:
    kind: Kind
    key: Key | None = None  # for bundle and stored targets
    facility_code: str | None = None  # for Organization/{code}


@dataclass(frozen=True)
class Slot:
    """A place in a resource that holds a reference: `holder[field]`; `expression` names the Reference
    (or the Attachment's url), as contract §3.2's error examples do (`Bundle.entry[3].resource.subject`)."""

    expression: str
    holder: dict[str, Any]
    field: str

    @property
    def value(self) -> str:
        return str(self.holder[self.field])


def served_id(facility_code: str, resource_id: str) -> str:
    """The id a record is served under: unique across facilities, and still a valid FHIR id (≤ 64).
    Ids too long to prefix are hashed, after a `.` where a prefixed id has its `-`: the two forms
    can never produce the same served id."""
    candidate = f"{facility_code}-{resource_id}"
    if len(candidate) <= 64:
        return candidate
    return f"{facility_code}.{hashlib.sha256(resource_id.encode()).hexdigest()[:40]}"


def reference_slots(resource: dict[str, Any], path: str) -> Iterator[Slot]:
    """Every `Reference.reference`, and every `Attachment.url` that points into the bundle (`urn:`)."""
    stack: list[tuple[Any, str]] = [(resource, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("reference"), str):
                yield Slot(where, node, "reference")
            if isinstance(node.get("url"), str) and node["url"].startswith("urn:") and "contentType" in node:
                yield Slot(f"{where}.url", node, "url")
            for name, child in node.items():
                if isinstance(child, dict | list):
                    stack.append((child, f"{where}.{name}"))
        elif isinstance(node, list):
            stack.extend((child, f"{where}[{number}]") for number, child in enumerate(node))


def relative_key(reference: str) -> Key | None:
    match = _RELATIVE.match(reference)
    return Key(match.group(1), match.group(2)) if match else None


def history_version(reference: str) -> int | None:
    """The version a `Type/id/_history/n` reference names, if it names one."""
    match = _RELATIVE.match(reference)
    return int(match.group(4)) if match and match.group(4) else None


def rewritten(
    resource: dict[str, Any], resource_id: str, targets: dict[str, Target], facility_code: str
) -> dict[str, Any]:
    """A copy of `resource` under its served id, whose resolved references name served ids too."""
    copied = copy.deepcopy(resource)
    for slot in reference_slots(copied, ""):
        target = targets.get(slot.value)
        if target is not None and target.key is not None:
            suffix = ""
            match = _RELATIVE.match(slot.value)
            if match and match.group(3):
                suffix = match.group(3)
            served = served_id(facility_code, target.key.resource_id)
            slot.holder[slot.field] = f"{target.key.resource_type}/{served}{suffix}"
    copied["id"] = served_id(facility_code, resource_id)
    return copied
