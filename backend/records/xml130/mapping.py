"""QĐ130 tables → FHIR R4 resources, table by table and field by field, so that the book, sharing and
search read XML pushes exactly like FHIR ones.

Ids are stable, derived from (MA_LK, table, STT), so a re-send makes new versions of the same records
(contract §3.3). Identifiers use the Ministry's draft VN Core systems where it names one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from backend.records.keys import Origin
from backend.records.xml130 import fhir_pieces as pieces
from backend.records.xml130.codes import (
    DISCHARGE_KIND,
    DISCHARGE_KINDS,
    GENDERS,
    REFERRAL_REASON,
    REFERRAL_REASONS,
    TREATMENT_OUTCOME,
    TREATMENT_OUTCOMES,
)
from backend.records.xml130.fhir_pieces import ICD10, encounter_id, patient_id, record_id
from backend.records.xml130.rows import Xml1, Xml2, Xml4, Xml8, Xml13, Xml14

NATIONAL_ID = "http://fhir.ehealth.gov.vn/core/sid/national_id"
INSURANCE_NUMBER = "http://fhir.ehealth.gov.vn/core/sid/insurance_number"
DRUG_CODE = "urn:vn:moh:ma-thuoc"  # MA_THUOC (the Ministry's drug catalogue code)
ROUTE = "urn:vn:moh:duong-dung"  # DUONG_DUNG
TEST_CODE = "urn:vn:moh:ma-chi-so"  # MA_CHI_SO
SERVICE_CODE = "urn:vn:moh:ma-dich-vu"  # MA_DICH_VU
DEPARTMENT = "urn:vn:moh:ma-khoa"  # MA_KHOA
FOLLOW_UP_FROM_XML1 = "XML1.NGAY_TAI_KHAM"  # its own origin: an XML14 of the episode replaces it
REFERRAL_VALID_WORKING_DAYS = 10  # from signing (a year for the chronic diseases the Ministry lists)

_SUPPLY_DAYS = re.compile(r"\*\s*(\d{1,3})\s*ngày")  # "… * 14 ngày [2 viên/ngày]"


@dataclass(frozen=True)
class Mapped:
    resource: dict[str, Any]
    origin: Origin | None
    table: str
    where: str = ""  # the row it came from (`XML13[0]`), for error messages


@dataclass(frozen=True)
class Episode:
    """What mapping needs to know of an episode beyond the table being mapped."""

    ma_lk: str
    facility: str
    cccd: str
    has_encounter: bool
    has_follow_up_letter: bool  # an XML14, in this push or stored
    signed_on: str | None  # NGAYLAP of the envelope, when there is one


def map_xml1(row: Xml1, episode: Episode) -> list[Mapped]:
    origin = Origin(row.ma_lk, "XML1")
    subject = _patient(row.cccd)
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "id": patient_id(row.cccd),
        "identifier": [{"system": NATIONAL_ID, "value": row.cccd}]
        + [{"system": INSURANCE_NUMBER, "value": card} for card in row.insurance_cards],
    }
    if row.name:
        family, _, given = row.name.partition(" ")
        patient["name"] = [{"text": row.name, "family": family, **({"given": given.split()} if given else {})}]
    patient["gender"] = GENDERS.get(row.gender or "", "unknown")
    if row.birth_date:
        patient["birthDate"] = row.birth_date
    if row.phone:  # no `use`: a phone from XML1 may be a relative's, weaker than a FHIR mobile number
        patient["telecom"] = [{"system": "phone", "value": row.phone}]
    if row.address:
        patient["address"] = [{"text": row.address, "country": "VN"}]
    # The patient and their blood group carry the episode that last sent them: if that XML1 named the
    # wrong person, moving the episode takes them out of that person's book too.
    mapped = [Mapped(patient, origin, "XML1")]

    conditions = _conditions(row.ma_lk, "XML1", row.main_icd, row.other_icds, row.diagnosis_text, subject)
    encounter: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": encounter_id(row.ma_lk),
        "status": "finished" if row.discharged else "in-progress",
        "class": pieces.visit_class(row.visit_kind),
        "subject": subject,
        "serviceProvider": {"reference": f"Organization/{row.facility}"},
        "period": {"start": row.admitted, **({"end": row.discharged} if row.discharged else {})},
    }
    if row.department:
        encounter["type"] = [{"coding": [{"system": DEPARTMENT, "code": row.department}]}]
    if row.reason:
        encounter["reasonCode"] = [{"text": row.reason}]
    if row.discharge_kind:
        encounter["hospitalization"] = {
            "dischargeDisposition": pieces.coded(DISCHARGE_KIND, row.discharge_kind, DISCHARGE_KINDS)
        }
    if row.outcome:
        encounter["extension"] = [
            {
                "url": TREATMENT_OUTCOME,
                "valueCodeableConcept": pieces.coded(TREATMENT_OUTCOME, row.outcome, TREATMENT_OUTCOMES),
            }
        ]
    if conditions:
        encounter["diagnosis"] = [
            {"condition": {"reference": f"Condition/{condition['id']}"}, "rank": rank}
            for rank, condition in enumerate(conditions, start=1)
        ]
    mapped.append(Mapped(encounter, origin, "XML1"))
    mapped += [Mapped({**condition, "encounter": _encounter(row.ma_lk)}, origin, "XML1") for condition in conditions]

    if row.blood_group:
        mapped.append(Mapped(pieces.blood_group(row.cccd, row.blood_group, subject, row.admitted), origin, "XML1"))
    if row.advice:  # GHI_CHU: the doctor's advice at discharge
        advice = {
            "resourceType": "CarePlan",
            "id": record_id(row.ma_lk, "XML1", "loidan"),
            "status": "active",
            "intent": "plan",
            "title": "Lời dặn của bác sĩ",
            "description": row.advice,
            "subject": subject,
            "encounter": _encounter(row.ma_lk),
            "created": row.discharged or row.admitted,
        }
        mapped.append(Mapped(advice, origin, "XML1"))
    if not episode.has_follow_up_letter:  # NGAY_TAI_KHAM counts only without an XML14 (contract §3.3)
        for number, day in enumerate(row.follow_ups, start=1):
            follow_up = pieces.appointment(
                record_id(row.ma_lk, "XML1", f"taikham-{number}"),
                row.facility,
                subject,
                start=f"{day}T00:00:00+07:00",
                end=f"{day}T23:59:00+07:00",
                created=row.discharged,
                description="Tái khám theo hẹn (ngày hẹn ghi trong bảng kê tổng hợp)",
            )
            mapped.append(Mapped(follow_up, Origin(row.ma_lk, FOLLOW_UP_FROM_XML1), "XML1"))
    return mapped


def map_xml2(row: Xml2, episode: Episode) -> list[Mapped]:
    medication: dict[str, Any] = {"text": " ".join(part for part in (row.drug_name, row.strength) if part)}
    if row.drug_code:
        medication["coding"] = [{"system": DRUG_CODE, "code": row.drug_code, "display": row.drug_name}]
    dosage: dict[str, Any] = {}
    if row.dose:
        dosage["text"] = row.dose  # verbatim: patients and pharmacists read it as written
    if row.how:
        dosage["patientInstruction"] = row.how
    if row.route:
        dosage["route"] = {"coding": [{"system": ROUTE, "code": row.route}]}
    request: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": record_id(row.ma_lk, "XML2", row.stt),
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": medication,
        "subject": _patient(episode.cccd),
        **_episode_encounter(episode),
    }
    if row.ordered:
        request["authoredOn"] = row.ordered
    if row.doctor:
        request["requester"] = {"type": "Practitioner", "identifier": {"value": row.doctor}}
    if dosage:
        request["dosageInstruction"] = [dosage]
    dispense: dict[str, Any] = {}
    if row.quantity is not None:
        dispense["quantity"] = {"value": pieces.number(row.quantity), **({"unit": row.unit} if row.unit else {})}
    if row.dose and (days := _SUPPLY_DAYS.search(row.dose)):
        dispense["expectedSupplyDuration"] = {
            "value": int(days.group(1)),
            "unit": "ngày",
            "system": "http://unitsofmeasure.org",
            "code": "d",
        }
    if dispense:
        request["dispenseRequest"] = dispense
    return [Mapped(request, Origin(row.ma_lk, "XML2"), "XML2")]


def map_xml4(rows: list[Xml4], episode: Episode) -> list[Mapped]:
    """One Observation per result row, and one DiagnosticReport per service (MA_DICH_VU) with its
    conclusion (KET_LUAN)."""
    mapped: list[Mapped] = []
    services: dict[str, list[tuple[Xml4, str]]] = {}
    for row in rows:
        observation = _observation(row, episode)
        mapped.append(Mapped(observation, Origin(row.ma_lk, "XML4"), "XML4", row.where))
        services.setdefault(row.service or row.code or row.stt, []).append((row, observation["id"]))
    for service, members in services.items():
        first = members[0][0]
        conclusions = [row.conclusion for row, _ in members if row.conclusion]
        report: dict[str, Any] = {
            "resourceType": "DiagnosticReport",
            "id": record_id(first.ma_lk, "XML4", f"dv-{first.stt}"),
            "status": "final",
            "code": {"coding": [{"system": SERVICE_CODE, "code": service}], "text": first.name or service},
            "subject": _patient(episode.cccd),
            **_episode_encounter(episode),
            "result": [{"reference": f"Observation/{observation_id}"} for _, observation_id in members],
        }
        if first.resulted:
            report["effectiveDateTime"] = first.resulted
        if conclusions:
            report["conclusion"] = "; ".join(dict.fromkeys(conclusions))
        mapped.append(Mapped(report, Origin(first.ma_lk, "XML4"), "XML4", first.where))
    return mapped


def map_xml8(row: Xml8, episode: Episode) -> list[Mapped]:
    sections = [
        ("Chẩn đoán vào viện", row.diagnosis_in),
        ("Chẩn đoán ra viện", row.diagnosis_out),
        ("Quá trình bệnh lý và diễn biến lâm sàng", row.course),
        ("Tóm tắt kết quả cận lâm sàng", row.results),
        ("Phương pháp điều trị", row.treatment),
        ("Kết quả điều trị", TREATMENT_OUTCOMES.get(row.outcome or "", row.outcome)),
        ("Ghi chú", row.note),
    ]
    summary = {
        "resourceType": "Composition",
        "id": record_id(row.ma_lk, "XML8", "tomtat"),
        "status": "final",
        "type": {"coding": [{"system": "http://loinc.org", "code": "34133-9", "display": "Summary of episode note"}]},
        "subject": _patient(episode.cccd),
        **_episode_encounter(episode),
        "date": row.written or row.discharged or row.admitted or episode.signed_on or "",
        "author": [{"reference": f"Organization/{episode.facility}"}],
        "title": "Tóm tắt hồ sơ bệnh án",
        "section": [{"title": title, "text": pieces.narrative(text)} for title, text in sections if text]
        or [{"title": "Tóm tắt hồ sơ bệnh án", "text": pieces.narrative("(không có nội dung)")}],
    }
    return [Mapped(summary, Origin(row.ma_lk, "XML8"), "XML8")]


def map_xml13(row: Xml13, episode: Episode) -> list[Mapped]:
    signed = (row.discharged or episode.signed_on or row.admitted or "")[:10]
    reason = REFERRAL_REASONS[row.reason]
    notes = [
        ("Dấu hiệu lâm sàng", row.signs),
        ("Quá trình bệnh lý và diễn biến lâm sàng", row.course),
        ("Tóm tắt kết quả xét nghiệm, cận lâm sàng", row.results),
        ("Phương pháp, thủ thuật, kỹ thuật, thuốc đã sử dụng", row.treatment),
        ("Dịch vụ đã thực hiện", row.services),
        ("Thuốc đã dùng", row.drugs),
        ("Hướng điều trị tiếp theo", row.next_treatment),
        ("Phương tiện vận chuyển", row.transport),
    ]
    identifiers = []
    if row.number:
        identifiers.append({"system": f"urn:vn:cskcb:{row.facility}:giay-chuyen-tuyen", "value": row.number})
    if row.record_number:
        identifiers.append({"system": f"urn:vn:cskcb:{row.facility}:so-ho-so", "value": row.record_number})
    referral: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": record_id(row.ma_lk, "XML13", "chuyentuyen"),
        "status": "active",
        "intent": "order",
        "category": [
            {
                "coding": [{"system": "http://snomed.info/sct", "code": "3457005", "display": "Patient referral"}],
                "text": "Giấy chuyển tuyến",
            }
        ],
        "code": {"text": "Giấy chuyển tuyến: " + ("; ".join(row.diagnosis_text) or "chuyển tuyến khám, chữa bệnh")},
        "subject": _patient(episode.cccd),
        **_episode_encounter(episode),
        "requester": {"reference": f"Organization/{row.facility}"},
        "performer": [{"reference": f"Organization/{row.destination}"}],
        "reasonCode": [
            {"coding": [{"system": REFERRAL_REASON, "code": row.reason, "display": reason}], "text": reason},
            *pieces.diagnosis_codes(row.main_icd, row.other_icds, row.diagnosis_text),
        ],
        "note": [{"text": f"{label}: {text}"} for label, text in notes if text],
    }
    if identifiers:
        referral["identifier"] = identifiers
    if signed:
        referral["authoredOn"] = signed
        last_day = pieces.working_days_after(signed, REFERRAL_VALID_WORKING_DAYS)
        referral["occurrencePeriod"] = {"start": signed, "end": last_day.isoformat()}
    if row.doctor:
        referral["note"].append({"text": f"Bác sĩ ký giấy chuyển tuyến: {row.doctor}"})
    if not referral["note"]:
        del referral["note"]
    return [Mapped(referral, Origin(row.ma_lk, "XML13"), "XML13")]


def map_xml14(row: Xml14, episode: Episode) -> list[Mapped]:
    start = row.appointment if "T" in row.appointment else f"{row.appointment}T00:00:00+07:00"
    end = pieces.plus_minutes(start, 30) if "T" in row.appointment else f"{row.appointment}T23:59:00+07:00"
    letter = pieces.appointment(
        record_id(row.ma_lk, "XML14", "henkham"),
        row.facility,
        _patient(episode.cccd),
        start=start,
        end=end,
        created=row.written,
        description="Tái khám: " + ("; ".join(row.diagnosis_text) or "theo giấy hẹn"),
    )
    if row.number:
        letter["identifier"] = [{"system": f"urn:vn:cskcb:{row.facility}:giay-hen-kham-lai", "value": row.number}]
    reasons = pieces.diagnosis_codes(row.main_icd, row.other_icds, row.diagnosis_text)
    if reasons:
        letter["reasonCode"] = reasons
    return [Mapped(letter, Origin(row.ma_lk, "XML14"), "XML14")]


def _observation(row: Xml4, episode: Episode) -> dict[str, Any]:
    code: dict[str, Any] = {"text": row.name or row.code or row.service or "Kết quả cận lâm sàng"}
    if row.code:
        code["coding"] = [{"system": TEST_CODE, "code": row.code, **({"display": row.name} if row.name else {})}]
    observation: dict[str, Any] = {
        "resourceType": "Observation",
        "id": record_id(row.ma_lk, "XML4", row.stt),
        "status": "final",
        "category": [
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}
        ],
        "code": code,
        "subject": _patient(episode.cccd),
        **_episode_encounter(episode),
    }
    if row.resulted:
        observation["effectiveDateTime"] = row.resulted
    if row.value is not None:
        number = pieces.finite(row.value)
        if number is None:  # "Âm tính", "Dương tính", or a value no JSON number can hold
            observation["valueString"] = row.value
        else:
            observation["valueQuantity"] = {"value": number, **({"unit": row.unit} if row.unit else {})}
    notes = [text for text in (row.description, row.conclusion) if text]
    if notes:
        observation["note"] = [{"text": text} for text in notes]
    if row.reader:
        observation["performer"] = [{"type": "Practitioner", "identifier": {"value": row.reader}}]
    return observation


def _conditions(
    ma_lk: str, table: str, main: str | None, others: list[str], names: list[str], subject: dict[str, str]
) -> list[dict[str, Any]]:
    """MA_BENH_CHINH then MA_BENH_KT (ICD-10); CHAN_DOAN_RV names them in the same order."""
    codes = [code for code in [main, *others] if code]
    conditions: dict[str, dict[str, Any]] = {}
    for number, icd in enumerate(dict.fromkeys(codes)):
        name = names[number] if number < len(names) else None
        identifier = record_id(ma_lk, table, f"benh-{re.sub(r'[^A-Za-z0-9]', '', icd)[:10]}")
        if identifier in conditions:  # `I20.8` and `I208`: one id, so the first one stands
            continue
        conditions[identifier] = {
            "resourceType": "Condition",
            "id": identifier,
            "clinicalStatus": {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
            },
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                            "code": "encounter-diagnosis",
                        }
                    ]
                }
            ],
            "code": {
                "coding": [{"system": ICD10, "code": icd, **({"display": name} if name else {})}],
                **({"text": name} if name else {}),
            },
            "subject": subject,
        }
    return list(conditions.values())


def _patient(cccd: str) -> dict[str, str]:
    return {"reference": f"Patient/{patient_id(cccd)}"}


def _encounter(ma_lk: str) -> dict[str, str]:
    return {"reference": f"Encounter/{encounter_id(ma_lk)}"}


def _episode_encounter(episode: Episode) -> dict[str, Any]:
    return {"encounter": _encounter(episode.ma_lk)} if episode.has_encounter else {}
