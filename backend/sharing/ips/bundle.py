"""The IPS document Bundle, put together from records already read: pure, no database.

Every entry's `fullUrl` is `{BASE_URL}/fhir/{Type}/{id}`, as on /book/fhir, so the served references
(`Condition/01929-cd-E119`) resolve against it, and an entry means the same record in both. The author is
a `Device`: the document is assembled by software at the patient's request from what hospitals sent, and no
clinician or organisation attests it (an `Organization` author would claim one did)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from backend.clock import VIETNAM
from backend.records.reads import StoredRecordView
from backend.records.served import served_resource
from backend.sharing.ips.describe import codes, describe
from backend.sharing.ips.narrative import Row, patient_narrative, section_narrative
from backend.sharing.ips.references import Targets, facility_organization, resolved
from backend.sharing.ips.sections import LOINC, SECTIONS, empty_reason, section_of

Key = tuple[str, str]
AUTHOR = {
    "resourceType": "Device",
    "id": "healthbook",
    "deviceName": [{"name": "Sổ Sức Khỏe", "type": "user-friendly-name"}],
    "type": {"text": "Phần mềm sổ sức khỏe điện tử (electronic health book software)"},
}
TITLE = "Patient Summary — Tóm tắt hồ sơ sức khỏe"
FILE_LEFT_OUT = "Tệp gốc quá lớn để gửi kèm; xem tại cơ sở gửi."


@dataclass(frozen=True)
class Contents:
    """What the document is made of."""

    records: list[StoredRecordView]  # everything read: listed records, the Patient, files, facility resources
    listed: list[Key]  # the records the sections list, in order
    patient: dict[str, Any]  # the one Patient resource (served, or made from the CCCD when none was sent)
    same_patient: list[str]  # `Patient/id` of the book's other Patient records
    facilities: dict[str, str]  # registry: code → name
    picked: bool


def document_bundle(contents: Contents, base_url: str, now: datetime, document_id: uuid.UUID) -> dict[str, Any]:
    by_key = {(view.resource_type, view.served_id): view for view in contents.records}
    patient_ref = f"Patient/{contents.patient['id']}"
    listed = [key for key in dict.fromkeys(contents.listed) if key in by_key]
    others = [key for key in by_key if key not in set(listed) and f"{key[0]}/{key[1]}" != patient_ref]
    others = [key for key in others if f"{key[0]}/{key[1]}" not in contents.same_patient]
    targets = Targets(
        present={f"{t}/{i}" for t, i in [*listed, *others]} | {patient_ref, "Device/healthbook"},
        patient=patient_ref,
        same_patient=set(contents.same_patient),
        facilities=contents.facilities,
    )
    patient = resolved(contents.patient, "", targets)
    resources = {key: resolved(served_resource(by_key[key]), by_key[key].facility_code, targets) for key in listed}
    resources |= {key: resolved(served_resource(by_key[key]), by_key[key].facility_code, targets) for key in others}
    medications = {f"{t}/{i}": resource for (t, i), resource in resources.items() if t == "Medication"}
    composition = {
        "resourceType": "Composition",
        "id": str(document_id),
        "language": "vi",
        "text": patient_narrative(person_name(patient), identifier_lines(patient)),
        "status": "final",
        "type": {"coding": [{"system": LOINC, "code": "60591-5", "display": "Patient summary Document"}]},
        "subject": {"reference": patient_ref},
        "date": now.isoformat(),
        "author": [{"reference": "Device/healthbook", "display": "Sổ Sức Khỏe"}],
        "title": TITLE,
        "confidentiality": "R",  # health data (Law 91/2025): restricted
        "section": _sections(listed, by_key, resources, medications, targets, contents.picked),
    }
    organizations = [facility_organization(code, targets.facilities[code]) for code in sorted(targets.facilities_named)]
    entries = [composition, patient, AUTHOR, *resources.values(), *organizations]
    return {
        "resourceType": "Bundle",
        "id": str(document_id),
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{document_id}"},
        "type": "document",
        "timestamp": now.isoformat(),
        "entry": [
            {"fullUrl": f"{base_url}/fhir/{resource['resourceType']}/{resource['id']}", "resource": resource}
            for resource in entries
        ],
    }


def _sections(
    listed: list[Key],
    by_key: dict[Key, StoredRecordView],
    resources: dict[Key, dict[str, Any]],
    medications: dict[str, dict[str, Any]],
    targets: Targets,
    picked: bool,
) -> list[dict[str, Any]]:
    rows: dict[str, list[tuple[Key, Row]]] = {section.key: [] for section in SECTIONS}
    for key in listed:
        view, resource = by_key[key], resources[key]
        listed_in = section_of(key[0], resource)
        if listed_in is None:
            continue
        note = FILE_LEFT_OUT if key[0] == "DocumentReference" and key[1] in targets.files_cut else None
        row = Row(
            describe(key[0], resource, medications),
            codes(resource),
            local_when(view.date),
            f"{view.facility_code} — {view.facility_name}",
            view.signature,
            note,
        )
        rows[listed_in].append((key, row))
    sections = []
    for section in SECTIONS:
        found = rows[section.key]
        if not found and not section.always:
            continue
        made: dict[str, Any] = {
            "title": section.title,
            "code": {"coding": [section.code]},
            "text": section_narrative(section.title, [row for _, row in found], withheld=picked, picked=picked),
        }
        if found:
            made["entry"] = [{"reference": f"{t}/{i}"} for (t, i), _ in found]
        else:
            made["emptyReason"] = empty_reason(withheld=picked)
        sections.append(made)
    return sections


def local_when(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    local = moment.astimezone(VIETNAM)
    return local.strftime("%d/%m/%Y") if (local.hour, local.minute) == (0, 0) else local.strftime("%d/%m/%Y %H:%M")


def person_name(patient: dict[str, Any]) -> str:
    for name in patient.get("name") or []:
        if isinstance(name, dict):
            if isinstance(name.get("text"), str) and name["text"].strip():
                return str(name["text"])
            parts = [name.get("family"), *(name.get("given") or [])]
            if joined := " ".join(str(part) for part in parts if isinstance(part, str)):
                return joined
    return "người bệnh"


def identifier_lines(patient: dict[str, Any]) -> list[str]:
    labels = {"national_id": "CCCD", "insurance_number": "Thẻ BHYT"}
    found = []
    for identifier in patient.get("identifier") or []:
        if isinstance(identifier, dict) and isinstance(identifier.get("value"), str):
            system = str(identifier.get("system") or "").rsplit("/", 1)[-1]
            found.append(f"{labels.get(system, 'Mã')}: {identifier['value']}")
    return found
