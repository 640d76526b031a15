"""What one record says, in a line of Vietnamese, and the codes it carries: the rows of a section's
narrative. Pure, and tolerant of anything a hospital left out or got wrong; the result is plain text
(the narrative escapes it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from backend.healthbook.fhir_text import concept_text, first, items, texts

PRESCRIPTION_CODE = "urn:vn:moh:ma-don-thuoc"
MAX_TEXT = 1000  # characters of one row: the resource itself holds the rest
SYSTEMS = {  # a code system's short name in the narrative
    "http://hl7.org/fhir/sid/icd-10": "ICD-10",
    "http://loinc.org": "LOINC",
    "http://snomed.info/sct": "SNOMED CT",
    "http://www.whocc.no/atc": "ATC",
    "http://hl7.org/fhir/sid/cvx": "CVX",
}
_CODED = ("code", "vaccineCode", "medicationCodeableConcept", "type", "serviceType", "class")


def describe(resource_type: str, content: dict[str, Any], medications: dict[str, dict[str, Any]]) -> str:
    """One line; `medications` are the Medication resources of the document by `Medication/id`."""
    describer = _DESCRIBERS.get(resource_type)
    parts = describer(content, medications) if describer else [concept_text(content.get("code"))]
    return shorten("; ".join(part for part in parts if part)) or "(không ghi tên)"


def codes(content: dict[str, Any]) -> list[str]:
    """`ICD-10 E11.9`, `LOINC 4548-4`…: every coded element's codings, any system."""
    found: list[str] = []
    for name in _CODED:
        value = content.get(name)
        for concept in value if isinstance(value, list) else [value]:
            for coding in items(concept.get("coding")) if isinstance(concept, dict) else []:
                code, system = coding.get("code"), coding.get("system")
                if isinstance(code, str) and code:
                    label = SYSTEMS.get(system, system) if isinstance(system, str) else None
                    found.append(f"{label} {code}" if label else code)
    return list(dict.fromkeys(found))


def shorten(text: str) -> str:
    words = " ".join(text.split())
    return words if len(words) <= MAX_TEXT else words[: MAX_TEXT - 1] + "…"


_CLINICAL_STATUS = {
    "active": "đang mắc",
    "recurrence": "tái phát",
    "relapse": "tái phát",
    "inactive": "không còn biểu hiện",
    "remission": "thuyên giảm",
    "resolved": "đã khỏi",
}


def _condition(content: dict[str, Any], _: Any) -> list[str | None]:
    status = concept_text(content.get("clinicalStatus"))
    status = _CLINICAL_STATUS.get(status, status) if status else None
    return [concept_text(content.get("code")), f"tình trạng: {status}" if status else None, *texts(content.get("note"))]


_CRITICALITY = {"high": "mức độ nguy hiểm cao", "low": "mức độ nguy hiểm thấp", "unable-to-assess": "chưa đánh giá"}


def _allergy(content: dict[str, Any], _: Any) -> list[str | None]:
    reactions = [
        text
        for reaction in items(content.get("reaction"))
        for manifestation in items(reaction.get("manifestation"))
        if (text := concept_text(manifestation))
    ]
    criticality = content.get("criticality")
    return [
        concept_text(content.get("code")),
        _CRITICALITY.get(criticality) if isinstance(criticality, str) else None,
        f"phản ứng: {', '.join(reactions)}" if reactions else None,
    ]


def _medication(content: dict[str, Any], medications: dict[str, dict[str, Any]]) -> list[str | None]:
    name = concept_text(content.get("medicationCodeableConcept"))
    reference = content.get("medicationReference")
    if name is None and isinstance(reference, dict):
        medication = medications.get(str(reference.get("reference")))
        name = concept_text(medication.get("code")) if medication else None
        name = name or (str(reference["display"]) if isinstance(reference.get("display"), str) else None)
    dosage = first(items(content.get("dosageInstruction")))
    prescription = next(
        (str(i["value"]) for i in items(content.get("identifier")) if i.get("system") == PRESCRIPTION_CODE),
        None,
    )
    return [
        name,
        str(dosage["text"]) if dosage and isinstance(dosage.get("text"), str) else None,
        str(dosage["patientInstruction"]) if dosage and isinstance(dosage.get("patientInstruction"), str) else None,
        f"mã đơn thuốc {prescription}" if prescription else None,
    ]


def _observation(content: dict[str, Any], _: Any) -> list[str | None]:
    return [concept_text(content.get("code")), _value(content), concept_text(first(content.get("interpretation")))]


def _value(content: dict[str, Any]) -> str | None:
    quantity = content.get("valueQuantity")
    if isinstance(quantity, dict) and isinstance(quantity.get("value"), int | float):
        unit = quantity.get("unit") or quantity.get("code") or ""
        return f"{quantity['value']} {unit}".strip()
    for name in ("valueString", "valueBoolean", "valueInteger", "valueDateTime"):
        if name in content and not isinstance(content[name], dict | list):
            return str(content[name])
    return concept_text(content.get("valueCodeableConcept"))


def _report(content: dict[str, Any], _: Any) -> list[str | None]:
    conclusion = content.get("conclusion")
    return [concept_text(content.get("code")), str(conclusion) if isinstance(conclusion, str) else None]


def _appointment(content: dict[str, Any], _: Any) -> list[str | None]:
    description = content.get("description")
    kind = concept_text(first(content.get("serviceType")))
    return ["Hẹn tái khám", kind, str(description) if isinstance(description, str) else None]


def _service_request(content: dict[str, Any], _: Any) -> list[str | None]:
    category = concept_text(first(content.get("category")))
    performer = first(items(content.get("performer")))
    to = performer.get("display") if performer else None
    period = content.get("occurrencePeriod")
    until = period.get("end") if isinstance(period, dict) else None
    return [
        category,
        concept_text(content.get("code")),
        f"nơi đến: {to}" if isinstance(to, str) else None,
        f"hiệu lực đến {until}" if isinstance(until, str) else None,
        *texts(content.get("note")),
    ]


def _encounter(content: dict[str, Any], _: Any) -> list[str | None]:
    kind = content.get("class")
    return [concept_text(first(content.get("type"))), concept_text(kind) if isinstance(kind, dict) else None]


def _immunization(content: dict[str, Any], _: Any) -> list[str | None]:
    return [concept_text(content.get("vaccineCode"))]


def _document(content: dict[str, Any], _: Any) -> list[str | None]:
    description = content.get("description")
    titles = [
        str(attachment["title"])
        for entry in items(content.get("content"))
        if isinstance(attachment := entry.get("attachment"), dict) and isinstance(attachment.get("title"), str)
    ]
    return [concept_text(content.get("type")), str(description) if isinstance(description, str) else None, *titles]


_DESCRIBERS: dict[str, Callable[[dict[str, Any], dict[str, dict[str, Any]]], list[str | None]]] = {
    "Condition": _condition,
    "AllergyIntolerance": _allergy,
    "MedicationRequest": _medication,
    "Observation": _observation,
    "DiagnosticReport": _report,
    "Appointment": _appointment,
    "ServiceRequest": _service_request,
    "Encounter": _encounter,
    "Immunization": _immunization,
    "DocumentReference": _document,
}
