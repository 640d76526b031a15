"""Authorship (contract §3.2): the elements that say who authored or holds a record may name only the
facility that pushes it. Destinations (`ServiceRequest.performer`, `Appointment.participant`) may name
any facility, and are not looked at here.

A facility is named by `Organization/{code}`, by a logical reference to an Organization by code, or by
an Organization resource (pushed in the bundle or stored earlier) whose identifiers carry a code."""

from __future__ import annotations

import re
from typing import Any

from backend.errors import Issue, Unprocessable
from backend.records.fhir.parse import Entry
from backend.records.fhir.references import Target
from backend.records.keys import FACILITY_CODE, Key, StoredRecord

AUTHOR_ELEMENTS = ("requester", "recorder", "author", "custodian")


def check_meta_source(entries: list[Entry], facility_code: str) -> None:
    """`meta.source`, when given, must be this facility's code or a URI ending in it (`urn:vn:cskcb:01929`)."""
    issues = []
    for entry in entries:
        meta = (entry.resource or {}).get("meta")
        source = meta.get("source") if isinstance(meta, dict) else None
        if isinstance(source, str) and re.split(r"[:/#|]", source)[-1] != facility_code:
            issues.append(
                Issue(
                    f"meta.source {source[:100]!r} does not name facility {facility_code}",
                    f"{entry.path}.resource.meta.source",
                    code="forbidden",
                )
            )
    if issues:
        raise Unprocessable(issues[0].message, issues=issues)


def check_authorship(
    entries: list[Entry], targets: dict[int, dict[str, Target]], stored: dict[Key, StoredRecord], facility_code: str
) -> None:
    organizations = _organization_codes(entries, stored)
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
                named = _named_facilities(reference, targets.get(entry.index, {}), organizations) - {facility_code}
                if named:
                    where = f"{entry.path}.resource.{element}" + (f"[{number}]" if isinstance(value, list) else "")
                    issues.append(
                        Issue(
                            f"{element} names facility {min(named)}; a facility may only push records it authored",
                            where,
                            code="forbidden",
                        )
                    )
    if issues:
        raise Unprocessable(issues[0].message, issues=issues)


def _named_facilities(
    reference: dict[str, Any], targets: dict[str, Target], organizations: dict[Key, set[str]]
) -> set[str]:
    value = reference.get("reference")
    if isinstance(value, str):
        target = targets.get(value)
        if target is None:
            return set()
        if target.kind == "facility" and target.facility_code:
            return {target.facility_code}
        return organizations.get(target.key, set()) if target.key is not None else set()
    identifier = reference.get("identifier")
    if reference.get("type") in (None, "Organization") and isinstance(identifier, dict):
        code = str(identifier.get("value", ""))
        return {code} if FACILITY_CODE.match(code) else set()
    return set()


def _organization_codes(entries: list[Entry], stored: dict[Key, StoredRecord]) -> dict[Key, set[str]]:
    """The facility codes each Organization (in the bundle, or stored) carries as an identifier."""
    codes: dict[Key, set[str]] = {}
    for key, record in stored.items():
        if key.resource_type == "Organization":
            codes[key] = {token for token in record.identifiers if FACILITY_CODE.match(token)}
    for entry in entries:
        if entry.resource_type == "Organization" and entry.resource is not None:
            values = {
                str(identifier.get("value", ""))
                for identifier in entry.resource.get("identifier") or []
                if isinstance(identifier, dict)
            }
            codes[Key("Organization", entry.resource_id)] = {value for value in values if FACILITY_CODE.match(value)}
    return codes
