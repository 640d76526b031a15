"""Which patient each record is filed under (contract §3.2): the patient it references, through a bundle
entry, a stored `Patient` of this facility, or a logical reference by CCCD."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from uuid import UUID

from backend.errors import Issue, Unprocessable
from backend.records.fhir.parse import NATIONAL_ID_SYSTEM, Entry
from backend.records.fhir.references import Target, relative_key
from backend.records.keys import Key, StoredRecord

CCCD = re.compile(r"^[0-9]{12}$")

# FHIR R4's Patient compartment, as far as a hospital would push it: these must belong to a patient.
PATIENT_COMPARTMENT = frozenset(
    [
        "AllergyIntolerance",
        "Appointment",
        "CarePlan",
        "CareTeam",
        "ClinicalImpression",
        "Communication",
        "Composition",
        "Condition",
        "Consent",
        "Coverage",
        "DetectedIssue",
        "DeviceRequest",
        "DiagnosticReport",
        "DocumentReference",
        "Encounter",
        "EpisodeOfCare",
        "FamilyMemberHistory",
        "Flag",
        "Goal",
        "ImagingStudy",
        "Immunization",
        "List",
        "MedicationAdministration",
        "MedicationDispense",
        "MedicationRequest",
        "MedicationStatement",
        "NutritionOrder",
        "Observation",
        "Patient",
        "Procedure",
        "Provenance",
        "QuestionnaireResponse",
        "RiskAssessment",
        "ServiceRequest",
        "Specimen",
    ]
)

PatientLink = str | UUID  # a CCCD (registered at write time) or the id of a registered patient


def national_ids(resource: dict[str, Any]) -> list[tuple[int, str]]:
    """The CCCDs a Patient resource carries, with their position in `identifier`."""
    return [
        (number, str(identifier.get("value", "")))
        for number, identifier in enumerate(resource.get("identifier") or [])
        if isinstance(identifier, dict) and identifier.get("system") == NATIONAL_ID_SYSTEM
    ]


def check_cccds(entries: list[Entry]) -> None:
    """Every CCCD in the bundle is 12 digits: on Patients and in logical references (contract §3.2)."""
    issues = []
    for entry in entries:
        if entry.resource is None:
            continue
        if entry.resource_type == "Patient":
            for number, value in national_ids(entry.resource):
                if not CCCD.match(value):
                    issues.append(
                        Issue(
                            f"a CCCD has 12 digits, not {value!r}",
                            f"{entry.path}.resource.identifier[{number}].value",
                        )
                    )
        for expression, value in _logical_cccds(entry.resource, f"{entry.path}.resource"):
            if not CCCD.match(value):
                issues.append(Issue(f"a CCCD has 12 digits, not {value!r}", expression))
    if issues:
        raise Unprocessable(issues[0].message, issues=issues)


def link_patients(
    entries: list[Entry], targets: dict[int, dict[str, Target]], stored: dict[Key, StoredRecord]
) -> dict[int, PatientLink | None]:
    """The patient of each entry (by index); refuses a compartment resource that has none."""
    by_key = {Key(entry.resource_type, entry.resource_id): entry for entry in entries}
    links: dict[int, PatientLink | None] = {}

    def link_of(entry: Entry, seen: frozenset[int]) -> PatientLink | None:
        if entry.index in links:
            return links[entry.index]
        if entry.resource is None or entry.index in seen:
            return None
        if entry.resource_type == "Patient":
            found = national_ids(entry.resource)
            return found[0][1] if found else None
        for reference in _patient_references(entry.resource_type, entry.resource):
            value = reference.get("reference")
            if isinstance(value, str):
                target = targets[entry.index].get(value)
                if target is None or target.key is None:
                    continue
                if target.kind == "bundle":
                    linked = link_of(by_key[target.key], seen | {entry.index})
                else:
                    linked = stored[target.key].patient_id
                if linked is not None:
                    return linked
            identifier = reference.get("identifier")
            if isinstance(identifier, dict) and identifier.get("system") == NATIONAL_ID_SYSTEM:
                return str(identifier.get("value"))
        return None

    for entry in entries:
        links[entry.index] = link_of(entry, frozenset())
    for entry in entries:  # a Binary belongs to the patient of the document that points at it
        if entry.resource_type == "Binary" and links[entry.index] is None:
            links[entry.index] = _owner_of_binary(entry, entries, targets, links)

    orphans = [
        entry
        for entry in entries
        if entry.resource is not None and entry.resource_type in PATIENT_COMPARTMENT and links[entry.index] is None
    ]
    if orphans:
        issues = [
            Issue(
                f"no resolvable patient: a {entry.resource_type} must reference a Patient (by the bundle, "
                "a stored Patient of this facility, or a CCCD identifier)",
                f"{entry.path}.resource",
            )
            for entry in orphans
        ]
        raise Unprocessable(issues[0].message, issues=issues)
    return links


def _patient_references(resource_type: str, resource: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for name in ("subject", "patient"):
        value = resource.get(name)
        if isinstance(value, dict) and _may_be_patient(value):
            yield value
    if resource_type == "Appointment":
        for participant in resource.get("participant") or []:
            actor = participant.get("actor") if isinstance(participant, dict) else None
            if isinstance(actor, dict) and _may_be_patient(actor):
                yield actor
    if resource_type == "Provenance":
        yield from (target for target in resource.get("target") or [] if isinstance(target, dict))
    if resource_type == "Binary" and isinstance(resource.get("securityContext"), dict):
        yield resource["securityContext"]


def _may_be_patient(reference: dict[str, Any]) -> bool:
    """`subject` may also name a Group or a Device; only a Patient files the record."""
    value = reference.get("reference")
    key = relative_key(value) if isinstance(value, str) else None
    if key is not None:
        return key.resource_type == "Patient"
    return reference.get("type") in (None, "Patient")


def _owner_of_binary(
    binary: Entry,
    entries: list[Entry],
    targets: dict[int, dict[str, Target]],
    links: dict[int, PatientLink | None],
) -> PatientLink | None:
    for entry in entries:
        for target in targets.get(entry.index, {}).values():
            if target.key == Key("Binary", binary.resource_id) and links.get(entry.index) is not None:
                return links[entry.index]
    return None


def _logical_cccds(node: Any, path: str) -> Iterator[tuple[str, str]]:
    stack: list[tuple[Any, str]] = [(node, path)]
    while stack:
        current, where = stack.pop()
        if isinstance(current, dict):
            identifier = current.get("identifier")
            if (
                "reference" not in current
                and isinstance(identifier, dict)
                and identifier.get("system") == NATIONAL_ID_SYSTEM
                and where.rsplit(".", 1)[-1] in ("subject", "patient", "actor", "beneficiary")
            ):
                yield f"{where}.identifier.value", str(identifier.get("value", ""))
            for name, child in current.items():
                if isinstance(child, dict | list):
                    stack.append((child, f"{where}.{name}"))
        elif isinstance(current, list):
            stack.extend((child, f"{where}[{number}]") for number, child in enumerate(current))
