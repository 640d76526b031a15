"""Authorship (contract §3.2): the elements that say who authored or holds a record may name only the
facility that pushes it. Destinations (`ServiceRequest.performer`, `Appointment.participant`) may name
any facility, and are not looked at here."""

from __future__ import annotations

import re
from typing import Any

from backend.errors import Issue, Unprocessable
from backend.records.fhir.parse import Entry
from backend.records.fhir.references import FACILITY_CODE, Target

AUTHOR_ELEMENTS = ("requester", "recorder", "author", "custodian")


def check_meta_source(entries: list[Entry], facility_code: str) -> None:
    """`meta.source`, when given, must be this facility's code or a URI ending in it (`urn:vn:cskcb:01929`)."""
    issues = []
    for entry in entries:
        source = ((entry.resource or {}).get("meta") or {}).get("source")
        if isinstance(source, str) and re.split(r"[:/#|]", source)[-1] != facility_code:
            issues.append(
                Issue(
                    f"meta.source {source!r} does not name facility {facility_code}",
                    f"{entry.path}.resource.meta.source",
                    code="forbidden",
                )
            )
    if issues:
        raise Unprocessable(issues[0].message, issues=issues)


def check_authorship(entries: list[Entry], targets: dict[int, dict[str, Target]], facility_code: str) -> None:
    issues = []
    for entry in entries:
        if entry.resource is None:
            continue
        elements = AUTHOR_ELEMENTS + (("serviceProvider",) if entry.resource_type == "Encounter" else ())
        for element in elements:
            value = entry.resource.get(element)
            references = value if isinstance(value, list) else [value]
            for number, reference in enumerate(references):
                if not isinstance(reference, dict):
                    continue
                named = _named_facility(reference, targets.get(entry.index, {}))
                if named is not None and named != facility_code:
                    where = f"{entry.path}.resource.{element}" + (f"[{number}]" if isinstance(value, list) else "")
                    issues.append(
                        Issue(
                            f"{element} names facility {named}; a facility may only push records it authored",
                            where,
                            code="forbidden",
                        )
                    )
    if issues:
        raise Unprocessable(issues[0].message, issues=issues)


def _named_facility(reference: dict[str, Any], targets: dict[str, Target]) -> str | None:
    """The facility code a Reference names, if it names one (`Organization/01929`, or a logical reference
    to an Organization by a 5-character code)."""
    value = reference.get("reference")
    if isinstance(value, str):
        target = targets.get(value)
        return target.facility_code if target is not None and target.kind == "facility" else None
    identifier = reference.get("identifier")
    if reference.get("type") == "Organization" and isinstance(identifier, dict):
        code = str(identifier.get("value", ""))
        return code if FACILITY_CODE.match(code) else None
    return None
