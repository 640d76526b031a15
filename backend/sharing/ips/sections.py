"""The IPS sections a share's document holds (HL7 IPS IG, Composition-uv-ips), and which section each kind
of record of the book goes into. Pure data and one pure function."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LOINC = "http://loinc.org"
EMPTY_REASON = "http://terminology.hl7.org/CodeSystem/list-empty-reason"
# Original documents have no IPS section: a code of ours rather than a LOINC code that would mean
# something else to a receiver.
OUR_SECTIONS = "urn:healthbook:ips-section"


@dataclass(frozen=True)
class Section:
    key: str
    code: dict[str, str]  # the section's coding (LOINC where the IPS names one)
    title: str  # Vietnamese, with the English name for a receiver abroad
    always: bool  # present even when empty (required and recommended sections); the others only with entries


PROBLEMS = Section(
    "problems",
    {"system": LOINC, "code": "11450-4", "display": "Problem list - Reported"},
    "Vấn đề sức khỏe (Problems)",
    True,
)
ALLERGIES = Section(
    "allergies",
    {"system": LOINC, "code": "48765-2", "display": "Allergies and adverse reactions Document"},
    "Dị ứng (Allergies and intolerances)",
    True,
)
MEDICATIONS = Section(
    "medications",
    {"system": LOINC, "code": "10160-0", "display": "History of Medication use Narrative"},
    "Thuốc đang dùng (Medication summary)",
    True,
)
RESULTS = Section(
    "results",
    {"system": LOINC, "code": "30954-2", "display": "Relevant diagnostic tests/laboratory data Narrative"},
    "Kết quả xét nghiệm, cận lâm sàng (Results)",
    True,
)
IMMUNIZATIONS = Section(
    "immunizations",
    {"system": LOINC, "code": "11369-6", "display": "History of Immunization Narrative"},
    "Tiêm chủng (Immunizations)",
    True,
)
PLAN_OF_CARE = Section(
    "plan_of_care",
    {"system": LOINC, "code": "18776-5", "display": "Plan of care note"},
    "Hẹn tái khám và giấy chuyển tuyến (Plan of care)",
    True,
)
ENCOUNTERS = Section(
    "encounters",
    {"system": LOINC, "code": "46240-8", "display": "History of Hospitalizations+Outpatient visits Narrative"},
    "Các lần khám, điều trị (History of encounters)",
    True,
)
PAST_ILLNESS = Section(
    "past_illness",
    {"system": LOINC, "code": "11348-0", "display": "History of Past illness Narrative"},
    "Tiền sử bệnh (History of past illness)",
    False,
)
PROCEDURES = Section(
    "procedures",
    {"system": LOINC, "code": "47519-4", "display": "History of Procedures Document"},
    "Thủ thuật, phẫu thuật (History of procedures)",
    False,
)
DOCUMENTS = Section(
    "documents",
    {"system": OUR_SECTIONS, "code": "documents", "display": "Original documents"},
    "Tài liệu gốc (Original documents)",
    False,
)

# In the document's order: the IPS's required sections first.
SECTIONS = (
    PROBLEMS,
    ALLERGIES,
    MEDICATIONS,
    RESULTS,
    IMMUNIZATIONS,
    PLAN_OF_CARE,
    ENCOUNTERS,
    PAST_ILLNESS,
    PROCEDURES,
    DOCUMENTS,
)

# Which kinds of record a section lists (a Condition goes to problems or past illness by its status).
SECTION_TYPES: dict[str, tuple[str, ...]] = {
    "Condition": ("problems", "past_illness"),
    "AllergyIntolerance": ("allergies",),
    "MedicationRequest": ("medications",),
    "Observation": ("results",),
    "DiagnosticReport": ("results",),
    "Immunization": ("immunizations",),
    "Appointment": ("plan_of_care",),
    "ServiceRequest": ("plan_of_care",),
    "Encounter": ("encounters",),
    "Procedure": ("procedures",),
    "DocumentReference": ("documents",),
}
LISTED_TYPES = tuple(SECTION_TYPES)

_OVER = ("inactive", "resolved", "remission")


def section_of(resource_type: str, content: dict[str, Any]) -> str | None:
    """The key of the section a record is listed in; None for kinds no section lists (Patient, Binary…)."""
    if resource_type == "Condition":
        return PAST_ILLNESS.key if _clinical_status(content) in _OVER else PROBLEMS.key
    keys = SECTION_TYPES.get(resource_type)
    return keys[0] if keys else None


def _clinical_status(content: dict[str, Any]) -> str | None:
    status = content.get("clinicalStatus")
    codings = status.get("coding") if isinstance(status, dict) else None
    for coding in codings if isinstance(codings, list) else []:
        if isinstance(coding, dict) and isinstance(coding.get("code"), str):
            return str(coding["code"])
    return None


def empty_reason(withheld: bool) -> dict[str, Any]:
    """Why a section lists nothing. `withheld` when the patient picked items and left this kind out
    (contract §5: never "none known" then). Otherwise `unavailable` ("no information available"): the book
    holds only what hospitals sent, so its silence is not a clinician's "none known" (`nilknown`), and
    nobody asked the patient (`notasked` would say we should have); the IPS IG's guidance on empty
    required sections allows it."""
    code, display = ("withheld", "Information Withheld") if withheld else ("unavailable", "Unavailable")
    return {"coding": [{"system": EMPTY_REASON, "code": code, "display": display}]}
