"""Which patient each record is filed under (contract §3.2): the patient it references, through a bundle
entry, a stored `Patient` of this facility, or a logical reference by CCCD.

`patient_slots` is the one definition of where a resource names its patient; checking CCCDs and linking
records both read it, so what is checked is exactly what is used.
"""

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
    """
    AllergyIntolerance Appointment CarePlan CareTeam ClinicalImpression Communication Composition Condition
    Consent Coverage DetectedIssue DeviceRequest DiagnosticReport DocumentReference Encounter EpisodeOfCare
    FamilyMemberHistory Flag Goal ImagingStudy Immunization List MedicationAdministration MedicationDispense
    MedicationRequest MedicationStatement NutritionOrder Observation Patient Procedure Provenance
    QuestionnaireResponse RiskAssessment ServiceRequest Specimen
    """.split()
)

PatientLink = str | UUID  # a CCCD (registered at write time) or the id of a registered patient


def national_ids(resource: dict[str, Any]) -> list[tuple[int, str]]:
    """The CCCDs a Patient resource carries, with their position in `identifier`."""
    return [
        (number, str(identifier.get("value", "")))
        for number, identifier in enumerate(resource.get("identifier") or [])
        if isinstance(identifier, dict) and identifier.get("system") == NATIONAL_ID_SYSTEM
    ]


def patient_slots(resource_type: str, resource: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(expression, Reference) for each place where a resource names the patient it belongs to."""
    for name in ("subject", "patient", "beneficiary"):
        if isinstance(resource.get(name), dict):
            yield f"{path}.{name}", resource[name]
    if resource_type == "Appointment":
        for number, participant in enumerate(resource.get("participant") or []):
            if isinstance(participant, dict) and isinstance(participant.get("actor"), dict):
                yield f"{path}.participant[{number}].actor", participant["actor"]
    if resource_type == "Provenance":
        for number, target in enumerate(resource.get("target") or []):
            if isinstance(target, dict):
                yield f"{path}.target[{number}]", target
    if resource_type == "Binary" and isinstance(resource.get("securityContext"), dict):
        yield f"{path}.securityContext", resource["securityContext"]


def logical_cccd(reference: dict[str, Any]) -> str | None:
    identifier = reference.get("identifier")
    if isinstance(identifier, dict) and identifier.get("system") == NATIONAL_ID_SYSTEM:
        return str(identifier.get("value", ""))
    return None


def check_cccds(entries: list[Entry]) -> None:
    """Every CCCD the bundle names is 12 digits (contract §3.2). Messages give the length, never the
    number: refusals are logged."""
    issues = []
    for entry in entries:
        if entry.resource is None:
            continue
        path = f"{entry.path}.resource"
        if entry.resource_type == "Patient":
            for number, value in national_ids(entry.resource):
                if not CCCD.match(value):
                    issues.append(_cccd_issue(value, f"{path}.identifier[{number}].value"))
        for expression, reference in patient_slots(entry.resource_type, entry.resource, path):
            named = logical_cccd(reference)
            if named is not None and not CCCD.match(named):
                issues.append(_cccd_issue(named, f"{expression}.identifier.value"))
    if issues:
        raise Unprocessable(issues[0].message, issues=issues)


def link_patients(
    entries: list[Entry],
    targets: dict[int, dict[str, Target]],
    stored: dict[Key, StoredRecord],
    known: dict[int, UUID | None],
) -> dict[int, PatientLink | None]:
    """The patient of each entry (by index); refuses a compartment resource that has none. `known` holds
    the links already settled (an `ifNoneExist` that matched belongs to the stored record's patient).

    No chains are followed: a subject must be a Patient; a Provenance belongs to its targets' patient;
    a Binary to its securityContext's, or to the patient of the document that points at it."""
    by_key = {Key(entry.resource_type, entry.resource_id): entry for entry in entries}
    links: dict[int, PatientLink | None] = dict(known)

    def own_patient(entry: Entry) -> PatientLink | None:
        if entry.index in links:
            return links[entry.index]
        if entry.resource is None:
            return None
        if entry.resource_type == "Patient":
            found = national_ids(entry.resource)
            return found[0][1] if found else None
        if entry.resource_type in ("Provenance", "Binary"):
            return None  # linked below, from what they point at
        for _, reference in patient_slots(entry.resource_type, entry.resource, ""):
            if (
                linked := _patient_of(reference, entry, targets, stored, by_key, links, patients_only=True)
            ) is not None:
                return linked
        return None

    for entry in sorted(entries, key=lambda entry: entry.resource_type != "Patient"):  # Patients first
        links[entry.index] = own_patient(entry)
    for entry in entries:
        if entry.resource is not None and entry.resource_type in ("Provenance", "Binary") and entry.index not in known:
            links[entry.index] = next(
                (
                    linked
                    for _, reference in patient_slots(entry.resource_type, entry.resource, "")
                    if (linked := _patient_of(reference, entry, targets, stored, by_key, links, patients_only=False))
                    is not None
                ),
                _owner_of_binary(entry, entries, targets, links) if entry.resource_type == "Binary" else None,
            )

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


def _patient_of(
    reference: dict[str, Any],
    entry: Entry,
    targets: dict[int, dict[str, Target]],
    stored: dict[Key, StoredRecord],
    by_key: dict[Key, Entry],
    links: dict[int, PatientLink | None],
    *,
    patients_only: bool,
) -> PatientLink | None:
    """The patient a Reference leads to: its target's (a Patient unless `patients_only` is off), else its
    logical CCCD. Targets' links must already be known: nothing is followed further."""
    value = reference.get("reference")
    target = targets.get(entry.index, {}).get(value) if isinstance(value, str) else None
    if target is not None and target.key is not None:
        if not patients_only or target.key.resource_type == "Patient":
            if target.kind == "bundle":
                return links.get(by_key[target.key].index)
            return stored[target.key].patient_id
        return None
    if isinstance(value, str) and (key := relative_key(value)) is not None and key.resource_type != "Patient":
        return None  # a Group, a Device: not a patient
    return logical_cccd(reference)


def _owner_of_binary(
    binary: Entry, entries: list[Entry], targets: dict[int, dict[str, Target]], links: dict[int, PatientLink | None]
) -> PatientLink | None:
    for entry in entries:
        for target in targets.get(entry.index, {}).values():
            if target.key == Key("Binary", binary.resource_id) and links.get(entry.index) is not None:
                return links[entry.index]
    return None


def _cccd_issue(value: str, expression: str) -> Issue:
    return Issue(f"a CCCD has 12 digits; this one has {len(value)} characters", expression)
