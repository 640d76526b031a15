"""The records a visit card gathers besides its Encounter: diagnoses (Conditions), the doctor's advice
(CarePlans), and vaccinations (Immunizations), each as plain words. Pure and forgiving, like every
presenter: a missing field leaves its line out."""

from __future__ import annotations

from typing import Any

from backend.healthbook.fhir_text import coding, concept_text, first, items, provenance, texts
from backend.records.reads import StoredRecordView
from backend.records.xml130.fhir_pieces import ICD10

CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"


def reference_of(value: Any) -> str | None:
    """`{"reference": "Condition/01929-cd-1"}` → `Condition/01929-cd-1` (references are served ids)."""
    reference = value.get("reference") if isinstance(value, dict) else None
    return reference if isinstance(reference, str) and reference else None


def icd10(concept: Any) -> tuple[str | None, str | None]:
    """(ICD-10 code, name): the name as the hospital wrote it (the coding's display, else the concept's
    text, else another coding's display); no code for a diagnosis coded otherwise, no name for a bare
    code (we keep no ICD-10 name table)."""
    if not isinstance(concept, dict):
        return None, None
    icd = coding(concept, ICD10) or {}
    code = icd.get("code") if isinstance(icd.get("code"), str) and icd["code"].strip() else None
    name = _text(icd.get("display")) or _text(concept.get("text"))
    if name is None:
        name = next(
            (str(other["display"]) for other in items(concept.get("coding")) if _text(other.get("display"))), None
        )
    if name is None and code is None:
        name = concept_text(concept)  # another system's bare code: better than nothing
    return code, (name if name != code else None)


def diagnosis_of(
    condition: StoredRecordView | None, entry: dict[str, Any] | None, visit_signature: str | None
) -> dict[str, Any] | None:
    """One diagnosis line: from its Condition, or from the visit's `diagnosis` entry alone when the
    Condition is not in the book (its reference's display, if the sender gave one). The Condition's own
    provenance shows only where its signature state differs from the visit's."""
    rank = (entry or {}).get("rank")
    main = rank == 1 and not isinstance(rank, bool)
    if condition is None:
        display = _text(_dict(_dict(entry).get("condition")).get("display"))
        if display is None:
            return None
        return {"id": None, "code": None, "name": display, "main": main, "ruled_out": False, "provenance": None}
    code, name = icd10(condition.content.get("code"))
    if code is None and name is None:
        return None
    verification = (coding(condition.content.get("verificationStatus"), VERIFICATION) or {}).get("code")
    return {
        "id": condition.reference,
        "code": code,
        "name": name,
        "main": main,
        "ruled_out": verification == "refuted",
        "provenance": provenance(condition) if condition.signature != visit_signature else None,
    }


def condition_item(view: StoredRecordView) -> dict[str, Any]:
    """A diagnosis tied to no visit shown (a long-term problem, or one whose visit is narrowed away)."""
    content = view.content
    clinical = (coding(content.get("clinicalStatus"), CLINICAL) or {}).get("code")
    code, name = icd10(content.get("code"))
    verification = (coding(content.get("verificationStatus"), VERIFICATION) or {}).get("code")
    return {
        "id": view.reference,
        "code": code,
        "name": name,
        "ruled_out": verification == "refuted",
        "when": _text(content.get("recordedDate"))
        or _text(content.get("onsetDateTime"))
        or _text(_dict(content.get("onsetPeriod")).get("start")),
        "over": clinical in ("inactive", "resolved", "remission"),
        "provenance": provenance(view),
    }


def plan_item(view: StoredRecordView) -> dict[str, Any]:
    """The doctor's advice (lời dặn): a CarePlan's description, notes and planned activities, verbatim."""
    content = view.content
    lines = [text for text in [_text(content.get("description"))] if text] + texts(content.get("note"))
    for activity in items(content.get("activity")):
        detail = _dict(activity.get("detail"))
        described = _text(detail.get("description")) or concept_text(detail.get("code"))
        lines += [text for text in [described] if text] + texts(activity.get("progress"))
    title = _text(content.get("title"))
    return {
        "id": view.reference,
        "title": title,
        "texts": list(dict.fromkeys(lines)) or ([title] if title else []),
        "when": _text(content.get("created")) or _text(_dict(content.get("period")).get("start")),
        "provenance": provenance(view),
    }


def immunization_item(view: StoredRecordView) -> dict[str, Any]:
    content = view.content
    applied = first(items(content.get("protocolApplied"))) or {}
    dose = applied.get("doseNumberPositiveInt") or applied.get("doseNumberString")
    return {
        "id": view.reference,
        "title": concept_text(content.get("vaccineCode")),
        "when": _text(content.get("occurrenceDateTime")) or _text(content.get("occurrenceString")),
        "dose": str(dose) if isinstance(dose, int | str) and not isinstance(dose, bool) and str(dose).strip() else None,
        "lot": _text(content.get("lotNumber")),
        "not_done": view.status == "not-done",
        "provenance": provenance(view),
    }


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None
