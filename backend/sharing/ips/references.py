"""References inside the document: every one resolves inside it, or is cut.

A share carries what the patient chose and no more: a record points at a visit that was not shared, so
that reference keeps only its `display` (never the id of something withheld). The book's several
Patient records (one per hospital) are one person: all point at the one Patient entry. A facility named
by its code (`Organization/01929`, contract §3.2) gets an Organization entry from the registry."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from backend.healthbook.sections.documents_attachments import binary_id
from backend.records.fhir.references import relative_key, served_id
from backend.records.keys import FACILITY_CODE

NOT_SHARED = "không có trong tài liệu chia sẻ"  # a Reference's display where its target was left out
_FACILITY = re.compile(r"^Organization/([0-9A-Z]{5})$")


@dataclass
class Targets:
    """What references may point at: the entries of the document, and what the rewriting found."""

    present: set[str]  # `Type/id` of every entry
    patient: str  # `Patient/id` of the one Patient entry
    same_patient: set[str]  # `Patient/id` of the book's other Patient records
    facilities: dict[str, str]  # registry: code → name
    facilities_named: set[str] = field(default_factory=set)  # codes referenced, to add as Organization entries
    files_cut: set[str] = field(default_factory=set)  # served ids of documents whose original was left out


def resolved(resource: dict[str, Any], facility_code: str, targets: Targets) -> dict[str, Any]:
    """A copy of a served resource whose references all resolve inside the document (or are cut)."""
    copied = copy.deepcopy(resource)
    stack: list[Any] = [copied]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            if isinstance(node.get("reference"), str):
                _resolve(node, targets)
            stack.extend(value for value in node.values() if isinstance(value, dict | list))
    if copied.get("resourceType") == "DocumentReference":
        _resolve_attachments(copied, facility_code, targets)
    return copied


def _resolve(reference: dict[str, Any], targets: Targets) -> None:
    value = str(reference["reference"])
    if value in targets.same_patient or value == targets.patient:
        reference["reference"] = targets.patient
        return
    if relative_key(value) is None or value in targets.present:
        return  # contained (`#id`), absolute, or inside the document
    facility = _FACILITY.match(value)
    if facility and FACILITY_CODE.match(facility.group(1)) and facility.group(1) in targets.facilities:
        targets.facilities_named.add(facility.group(1))
        return
    del reference["reference"]
    if not isinstance(reference.get("display"), str) and not isinstance(reference.get("identifier"), dict):
        reference["display"] = NOT_SHARED


def _resolve_attachments(document: dict[str, Any], facility_code: str, targets: Targets) -> None:
    """`Binary/…` attachment URLs: to the Binary entry (served id), or cut when the file was left out."""
    for content in document.get("content") or []:
        attachment = content.get("attachment") if isinstance(content, dict) else None
        if not isinstance(attachment, dict) or (wanted := binary_id(attachment)) is None:
            continue
        found = next(
            (f"Binary/{c}" for c in (wanted, served_id(facility_code, wanted)) if f"Binary/{c}" in targets.present),
            None,
        )
        if found is not None:
            attachment["url"] = found
        else:
            del attachment["url"]
            targets.files_cut.add(str(document.get("id")))


def facility_organization(code: str, name: str) -> dict[str, Any]:
    """A facility of the registry, as the Organization its code names."""
    return {
        "resourceType": "Organization",
        "id": code,
        "identifier": [{"system": "urn:vn:moh:ma-cskcb", "value": code}],
        "name": name,
    }
