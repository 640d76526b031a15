"""The demo's visits as the FHIR transaction bundles a hospital would push: one bundle per visit, dated
around today so that the book has upcoming follow-ups, valid referral letters and current prescriptions.
Deterministic for a given day: the same people, numbers and ids every time."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from backend.demo._pdf import tiny_pdf
from backend.demo_people import FACILITIES, PATIENTS, DemoFacility, DemoPatient, Test

NATIONAL_ID = "http://fhir.ehealth.gov.vn/core/sid/national_id"
PRESCRIPTION_CODE = "urn:vn:moh:ma-don-thuoc"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
_ID_NAMESPACE = uuid.UUID("6f1d1c9e-3c55-4a57-9b71-0d2f4c3a2b10")
_CODE_LETTERS = "0123456789abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class Push:
    facility: str
    bundle: dict[str, Any]


def demo_pushes(today: date) -> list[Push]:
    return [push for patient in PATIENTS for push in _patient_pushes(patient, today)]


def _patient_pushes(patient: DemoPatient, today: date) -> list[Push]:
    rng = random.Random(int(patient.cccd))
    home = _facility(patient.home)
    step = timedelta(days=365 // patient.visits_per_year)
    last = today - timedelta(days=12)
    days = [last - step * number for number in range(patient.visits_per_year * patient.years)][::-1]
    pushes = []
    for number, day in enumerate(days):
        latest = number == len(days) - 1
        follow_up = today + timedelta(days=18) if latest else day + step
        visit = _Visit(
            patient, home, str(number), day, rng, department=home.departments[number % len(home.departments)]
        )
        visit.encounter()
        if number == 0:
            visit.conditions()
            visit.allergy()
        visit.results()
        visit.prescription()
        visit.follow_up(follow_up, booked=latest)
        if patient.vaccines and number < len(patient.vaccines):
            visit.immunization(patient.vaccines[number])
        if patient.referral_to and (latest or number == len(days) - 5):
            visit.referral(patient.referral_to, valid_until=day + timedelta(days=14))
        pushes.append(Push(home.code, visit.bundle()))
    if patient.referral_to:  # the patient went where they were referred, a while ago
        elsewhere = _facility(patient.referral_to)
        visit = _Visit(patient, elsewhere, "r", today - timedelta(days=300), rng, department=elsewhere.departments[0])
        visit.encounter()
        visit.results()
        visit.summary_document()
        pushes.append(Push(elsewhere.code, visit.bundle()))
    return pushes


class _Visit:
    """One visit's records at one facility, collected into a transaction bundle."""

    def __init__(
        self, patient: DemoPatient, facility: DemoFacility, number: str, day: date, rng: random.Random, department: str
    ):
        self.patient, self.facility, self.day, self.rng, self.department = patient, facility, day, rng, department
        # Ids name the patient and the visit's number, never its date: run on another day, the demo
        # makes new versions of the same records (their dates move with today), not new records.
        self.number = number
        self.entries: list[dict[str, Any]] = []
        self.tag = patient.cccd[-6:]  # a hospital's own ids are unique per facility, so ours name the patient
        self.patient_url = self._add(self._patient(), conditional=True)
        self.encounter_url: str | None = None

    def encounter(self) -> None:
        self.encounter_url = self._add(
            {
                "resourceType": "Encounter",
                "id": f"kb-{self.tag}-{self.number}",
                "status": "finished",
                "class": {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": "AMB",
                    "display": "Khám ngoại trú",
                },
                "type": [{"text": self.department}],
                "subject": {"reference": self.patient_url},
                "serviceProvider": {"reference": f"Organization/{self.facility.code}", "display": self.facility.name},
                "period": {"start": _at(self.day, 8, 10), "end": _at(self.day, 10, 30)},
            }
        )

    def conditions(self) -> None:
        for diagnosis in self.patient.diagnoses:
            self._add(
                {
                    "resourceType": "Condition",
                    "id": f"cd-{self.tag}-{diagnosis.icd10.replace('.', '')}",
                    "clinicalStatus": {
                        "coding": [
                            {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
                        ]
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
                        "coding": [{"system": ICD10, "code": diagnosis.icd10, "display": diagnosis.name}],
                        "text": diagnosis.name,
                    },
                    **self._context(),
                    "recordedDate": self.day.isoformat(),
                }
            )

    def allergy(self) -> None:
        if self.patient.allergy:
            self._add(
                {
                    "resourceType": "AllergyIntolerance",
                    "id": f"du-{self.tag}-{self.patient.allergy.lower()}",
                    "clinicalStatus": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                                "code": "active",
                            }
                        ]
                    },
                    "code": {"text": self.patient.allergy},
                    "criticality": "high",
                    "reaction": [{"manifestation": [{"text": "Nổi mề đay, khó thở"}]}],
                    "patient": {"reference": self.patient_url},
                    "recordedDate": self.day.isoformat(),
                }
            )

    def results(self) -> None:
        for test in self.patient.tests:
            self._add(self._observation(test))

    def prescription(self) -> None:
        code = self.facility.code + "".join(self.rng.choice(_CODE_LETTERS) for _ in range(7)) + "-C"
        for line, drug in enumerate(self.patient.drugs, start=1):
            days = 5 if drug.unit == "gói" else 30
            self._add(
                {
                    "resourceType": "MedicationRequest",
                    "id": f"dt-{code[5:12]}-{line}",
                    "status": "active",
                    "intent": "order",
                    "groupIdentifier": {"system": PRESCRIPTION_CODE, "value": code},
                    "identifier": [{"system": PRESCRIPTION_CODE, "value": code}],
                    "medicationCodeableConcept": {"text": drug.name},
                    **self._context(),
                    "authoredOn": _at(self.day, 10, 20),
                    "requester": {"display": self._doctor()},
                    "dosageInstruction": [{"text": drug.dose, "patientInstruction": drug.instruction}],
                    "dispenseRequest": {
                        "quantity": {"value": 1 if drug.unit == "bình" else drug.per_day * days, "unit": drug.unit},
                        "expectedSupplyDuration": {
                            "value": days,
                            "unit": "ngày",
                            "system": "http://unitsofmeasure.org",
                            "code": "d",
                        },
                    },
                }
            )

    def follow_up(self, when: date, *, booked: bool) -> None:
        self._add(
            {
                "resourceType": "Appointment",
                "id": f"hk-{self.tag}-{self.number}",
                "status": "booked" if booked else "fulfilled",
                "identifier": [
                    {
                        "system": f"urn:vn:cskcb:{self.facility.code}:giay-hen-kham-lai",
                        "value": f"GH-{self.rng.randrange(10000, 99999)}",
                    }
                ],
                "serviceType": [{"text": f"Tái khám {self.department.removeprefix('Khám ')}"}],
                "description": "Tái khám theo hẹn, mang theo sổ khám bệnh, đơn thuốc cũ và thẻ BHYT",
                "start": _at(when, 8, 0),
                "end": _at(when, 8, 30),
                "participant": [
                    {"actor": {"reference": self.patient_url}, "status": "accepted"},
                    {
                        "actor": {"reference": f"Organization/{self.facility.code}", "display": self.facility.name},
                        "status": "accepted",
                    },
                ],
            }
        )

    def immunization(self, vaccine: str) -> None:
        self._add(
            {
                "resourceType": "Immunization",
                "id": f"tc-{self.tag}-{self.number}",
                "status": "completed",
                "vaccineCode": {"text": vaccine},
                "patient": {"reference": self.patient_url},
                **({"encounter": {"reference": self.encounter_url}} if self.encounter_url else {}),
                "occurrenceDateTime": _at(self.day, 9, 0),
            }
        )

    def referral(self, destination: str, valid_until: date) -> None:
        target = _facility(destination)
        self._add(
            {
                "resourceType": "ServiceRequest",
                "id": f"ct-{self.tag}-{self.number}",
                "status": "active",
                "intent": "order",
                "identifier": [
                    {
                        "system": f"urn:vn:cskcb:{self.facility.code}:giay-chuyen-tuyen",
                        "value": f"CT-{self.rng.randrange(1000, 9999)}/{self.day:%Y}",
                    }
                ],
                "category": [
                    {
                        "coding": [
                            {"system": "http://snomed.info/sct", "code": "3457005", "display": "Patient referral"}
                        ],
                        "text": "Giấy chuyển tuyến",
                    }
                ],
                "code": {"text": f"Chuyển tuyến: {target.departments[0]}"},
                **self._context(),
                "authoredOn": _at(self.day, 10, 40),
                "requester": {"reference": f"Organization/{self.facility.code}", "display": self.facility.name},
                "performer": [{"reference": f"Organization/{target.code}", "display": target.name}],
                "reasonCode": [{"text": self.patient.referral_reason}],
                "note": [
                    {"text": "Dấu hiệu lâm sàng, kết quả cận lâm sàng và hướng điều trị: xem tóm tắt hồ sơ kèm theo."}
                ],
                "occurrencePeriod": {"start": self.day.isoformat(), "end": valid_until.isoformat()},
            }
        )

    def summary_document(self) -> None:
        text = f"Tom tat ho so: {self.patient.full_name} - {self.facility.name} - {self.day:%d/%m/%Y}"
        binary_url = self._add(
            {
                "resourceType": "Binary",
                "id": f"pdf-{self.tag}-{self.number}",
                "contentType": "application/pdf",
                "data": tiny_pdf(text),
            }
        )
        self._add(
            {
                "resourceType": "DocumentReference",
                "id": f"tl-{self.tag}-{self.number}",
                "status": "current",
                "type": {
                    "coding": [{"system": "http://loinc.org", "code": "34133-9", "display": "Summary of episode note"}],
                    "text": "Tóm tắt hồ sơ bệnh án",
                },
                "subject": {"reference": self.patient_url},
                "date": _at(self.day, 11, 0),
                "custodian": {"reference": f"Organization/{self.facility.code}"},
                "content": [
                    {
                        "attachment": {
                            "contentType": "application/pdf",
                            "url": binary_url,
                            "title": "Tóm tắt hồ sơ bệnh án.pdf",
                        }
                    }
                ],
            }
        )

    def bundle(self) -> dict[str, Any]:
        return {"resourceType": "Bundle", "type": "transaction", "entry": self.entries}

    def _patient(self) -> dict[str, Any]:
        patient = self.patient
        return {
            "resourceType": "Patient",
            "id": f"bn-{patient.cccd[-6:]}",
            "identifier": [{"system": NATIONAL_ID, "value": patient.cccd}],
            "name": [{"family": patient.family, "given": patient.given.split(), "text": patient.full_name}],
            "gender": patient.gender,
            "birthDate": patient.birth,
            "telecom": [{"system": "phone", "value": patient.phone, "use": "mobile"}],
            "address": [{"text": patient.address, "city": "Hà Nội", "country": "VN"}],
        }

    def _observation(self, test: Test) -> dict[str, Any]:
        value = round(max(0.1, self.rng.gauss(test.typical, test.spread)), 1)
        flag = (
            "H"
            if test.high is not None and value > test.high
            else "L"
            if test.low is not None and value < test.low
            else "N"
        )
        reference: dict[str, Any] = {}
        if test.low is not None:
            reference["low"] = {"value": test.low, "unit": test.unit}
        if test.high is not None:
            reference["high"] = {"value": test.high, "unit": test.unit}
        return {
            "resourceType": "Observation",
            "id": f"xn-{self.tag}-{test.loinc}-{self.number}",
            "status": "final",
            "category": [
                {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": test.category}
                    ]
                }
            ],
            "code": {
                "coding": [{"system": "http://loinc.org", "code": test.loinc, "display": test.name}],
                "text": test.name,
            },
            **self._context(),
            "effectiveDateTime": _at(self.day, 8, 45),
            "valueQuantity": {
                "value": value,
                "unit": test.unit,
                "system": "http://unitsofmeasure.org",
                "code": test.unit,
            },
            "referenceRange": [reference],
            "interpretation": [
                {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "code": flag}
                    ]
                }
            ],
        }

    def _context(self) -> dict[str, Any]:
        context: dict[str, Any] = {"subject": {"reference": self.patient_url}}
        if self.encounter_url:
            context["encounter"] = {"reference": self.encounter_url}
        return context

    def _doctor(self) -> str:
        return self.rng.choice(
            ["BS. Lê Minh Tuấn", "BS. Nguyễn Thu Hà", "BS.CKI Hoàng Văn Nam", "ThS.BS Phạm Thu Trang"]
        )

    def _add(self, resource: dict[str, Any], *, conditional: bool = False) -> str:
        name = f"{self.facility.code}/{resource['resourceType']}/{resource['id']}"
        url = f"urn:uuid:{uuid.uuid5(_ID_NAMESPACE, name)}"
        if conditional:
            request = {"method": "PUT", "url": f"Patient?identifier={NATIONAL_ID}|{self.patient.cccd}"}
        else:
            request = {"method": "POST", "url": resource["resourceType"]}
        self.entries.append({"fullUrl": url, "resource": resource, "request": request})
        return url


def _facility(code: str) -> DemoFacility:
    return next(facility for facility in FACILITIES if facility.code == code)


def _at(day: date, hour: int, minute: int) -> str:
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}:00+07:00"
