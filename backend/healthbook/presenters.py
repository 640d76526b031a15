"""Stored FHIR → what a person reads: small, plain view models, one function per kind of record. Pure
functions, tolerant of anything a hospital may have left out.

Every item has a `label`, what its kind of record is called (an English msgid, translated where it is
shown), and a `title` only when the hospital named it: pages show `title or _(label)`, so no word of one
language is ever baked into a page of the other."""

from __future__ import annotations

from typing import Any

from backend.clock import VIETNAM
from backend.healthbook.fhir_text import (
    Facilities,
    actors,
    coding,
    concept_text,
    facility_of,
    first,
    items,
    provenance,
    texts,
)
from backend.i18n import gettext_noop as N_  # noqa: N812 - the gettext convention
from backend.records.reads import REFERRAL, StoredRecordView
from backend.records.xml130.fhir_pieces import ICD10

PRESCRIPTION_CODE = "urn:vn:moh:ma-don-thuoc"
DETAIL_LENGTH = 160  # characters: one line of a list on a phone, give or take

# What each kind of record the book stores is called where it has no name of its own.
LABELS = {
    "Appointment": N_("Follow-up appointment"),
    "ServiceRequest": N_("Referral letter"),
    "MedicationRequest": N_("Medicine"),
    "AllergyIntolerance": N_("Allergy"),
    "Encounter": N_("Visit"),
    "Condition": N_("Diagnosis"),
    "Observation": N_("Test result"),
    "DiagnosticReport": N_("Test report"),
    "DocumentReference": N_("Document"),
    "Composition": N_("Medical summary"),
    "CarePlan": N_("Doctor's advice"),
    "Immunization": N_("Vaccination"),
    "Procedure": N_("Procedure"),
}
OTHER_RECORD = N_("Other record")  # a kind the book has no word for: never its raw FHIR type name
ORDER = N_("Order for a test or service")  # a ServiceRequest that is not a referral letter


def present(view: StoredRecordView, facilities: Facilities) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": view.reference,
        "type": view.resource_type,
        "label": LABELS.get(view.resource_type, OTHER_RECORD),
        "title": None,
        "detail": None,
        "date": view.date.isoformat() if view.date else None,
        "day": view.date.astimezone(VIETNAM).date().isoformat() if view.date else None,  # the Vietnam calendar day
        "source": {"code": view.facility_code, "name": view.facility_name},
        "signature": view.signature,
        "status": view.status,
        "provenance": provenance(view),
    }
    details = _DETAILS.get(view.resource_type)
    if details is not None:
        item.update(details(view.content, facilities))
    item["detail"] = one_line(item["detail"])
    return item


def one_line(text: Any) -> str | None:
    """Free text as one short line: whitespace collapsed, cut at a word with `…` (the full text is in
    its section)."""
    if not isinstance(text, str):
        return None
    words = " ".join(text.split())
    if len(words) <= DETAIL_LENGTH:
        return words or None
    cut = words[:DETAIL_LENGTH].rsplit(" ", 1)[0] or words[:DETAIL_LENGTH]
    return cut + "…"


def appointment_title(content: dict[str, Any]) -> str | None:
    """What an appointment is for, as the hospital named it (the appointments section says the same)."""
    return concept_text(first(content.get("serviceType"))) or concept_text(content.get("appointmentType"))


def _appointment(content: dict[str, Any], facilities: Facilities) -> dict[str, Any]:
    where = next((found for actor in actors(content) if (found := facility_of(actor, facilities))), None)
    description = _text(content.get("description"))
    return {
        "title": appointment_title(content) or description,
        "start": _text(content.get("start")),
        "end": _text(content.get("end")),
        "description": description,
        "detail": description,
        "where": where,
    }


def _referral(content: dict[str, Any], facilities: Facilities) -> dict[str, Any]:
    period = _dict(content.get("occurrencePeriod"))
    reason = "; ".join(filter(None, (concept_text(reason) for reason in items(content.get("reasonCode"))))) or None
    system, code = REFERRAL.split("|")
    letter = any((coding(concept, system) or {}).get("code") == code for concept in items(content.get("category")))
    return {
        "label": LABELS["ServiceRequest"] if letter else ORDER,
        "title": concept_text(content.get("code")),
        "detail": reason,
        "to": next(
            (found for performer in items(content.get("performer")) if (found := facility_of(performer, facilities))),
            None,
        ),
        "reason": reason,
        "valid_from": _text(period.get("start")),
        "valid_until": _text(period.get("end")),
        "number": next((i.get("value") for i in items(content.get("identifier"))), None),
        "notes": texts(content.get("note")),
    }


def _prescription(content: dict[str, Any], facilities: Facilities) -> dict[str, Any]:
    dosage = first(items(content.get("dosageInstruction"))) or {}
    quantity = _dict(_dict(content.get("dispenseRequest")).get("quantity"))
    codes = [content.get("groupIdentifier"), *items(content.get("identifier"))]
    dose = _text(dosage.get("text"))  # verbatim, as the prescriber wrote it
    return {
        "title": concept_text(content.get("medicationCodeableConcept")),
        "detail": dose,
        "dose": dose,
        "instruction": _text(dosage.get("patientInstruction")),
        "quantity": " ".join(str(part) for part in (quantity.get("value"), quantity.get("unit")) if part is not None)
        or None,
        "prescription_code": next(
            (code.get("value") for code in codes if isinstance(code, dict) and code.get("system") == PRESCRIPTION_CODE),
            None,
        ),
        "prescriber": _text(_dict(content.get("requester")).get("display")),
    }


def _allergy(content: dict[str, Any], facilities: Facilities) -> dict[str, Any]:
    reactions = [
        text
        for reaction in items(content.get("reaction"))
        for manifestation in items(reaction.get("manifestation"))
        if (text := concept_text(manifestation))
    ]
    return {
        "title": concept_text(content.get("code")),
        "detail": ", ".join(reactions) or None,
        "criticality": content.get("criticality"),
        "reactions": reactions,
    }


def _visit(content: dict[str, Any], facilities: Facilities) -> dict[str, Any]:
    period = _dict(content.get("period"))
    where = facility_of(content.get("serviceProvider"), facilities)
    return {
        "title": concept_text(first(content.get("type"))),
        "detail": (where or {}).get("name"),
        "start": _text(period.get("start")),
        "end": _text(period.get("end")),
        "where": where,
    }


def _diagnosis(content: dict[str, Any], facilities: Facilities) -> dict[str, Any]:
    """`I10 Tăng huyết áp`: the ICD-10 code before the name the hospital gave it."""
    code = _text((coding(content.get("code"), ICD10) or {}).get("code"))
    name = concept_text(content.get("code"))
    return {"title": " ".join(part for part in (code, name if name != code else None) if part) or None, "code": code}


def _result(content: dict[str, Any], facilities: Facilities) -> dict[str, Any]:
    """The test's name; its value and unit as one line (`7.2 mmol/L`, `Âm tính`)."""
    return {"title": concept_text(content.get("code")), "detail": _value_text(content)}


def _report(content: dict[str, Any], facilities: Facilities) -> dict[str, Any]:
    return {"title": concept_text(content.get("code")), "detail": _text(content.get("conclusion"))}


def _document(content: dict[str, Any], facilities: Facilities) -> dict[str, Any]:
    kind = concept_text(content.get("type"))
    named = _text(content.get("description")) or next(
        (_text(_dict(part.get("attachment")).get("title")) for part in items(content.get("content"))), None
    )
    return {"title": named or kind, "detail": kind if named else None}


def _summary(content: dict[str, Any], facilities: Facilities) -> dict[str, Any]:
    kind = concept_text(content.get("type"))
    named = _text(content.get("title"))
    return {"title": named or kind, "detail": kind if named else None}


def _advice(content: dict[str, Any], facilities: Facilities) -> dict[str, Any]:
    return {"title": _text(content.get("title")), "detail": _text(content.get("description"))}


def _vaccination(content: dict[str, Any], facilities: Facilities) -> dict[str, Any]:
    return {"title": concept_text(content.get("vaccineCode"))}


def _procedure(content: dict[str, Any], facilities: Facilities) -> dict[str, Any]:
    return {"title": concept_text(content.get("code"))}


_DETAILS = {
    "Appointment": _appointment,
    "ServiceRequest": _referral,
    "MedicationRequest": _prescription,
    "AllergyIntolerance": _allergy,
    "Encounter": _visit,
    "Condition": _diagnosis,
    "Observation": _result,
    "DiagnosticReport": _report,
    "DocumentReference": _document,
    "Composition": _summary,
    "CarePlan": _advice,
    "Immunization": _vaccination,
    "Procedure": _procedure,
}


def _text(value: Any) -> str | None:
    """A string field as sent, or None for an empty one or one of another JSON type."""
    return value if isinstance(value, str) and value.strip() else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _value_text(content: dict[str, Any]) -> str | None:
    """An Observation's value[x] in a few words; the results section reads it more carefully."""
    quantity = content.get("valueQuantity")
    if isinstance(quantity, dict) and quantity.get("value") is not None and not isinstance(quantity["value"], bool):
        unit = _text(quantity.get("unit")) or _text(quantity.get("code"))
        comparator = _text(quantity.get("comparator"))
        return " ".join(str(part) for part in (comparator, quantity["value"], unit) if part is not None)
    for field in ("valueString", "valueInteger"):
        value = content.get(field)
        if (isinstance(value, str) and value.strip()) or (isinstance(value, int) and not isinstance(value, bool)):
            return str(value)
    return concept_text(content.get("valueCodeableConcept"))


def blood_group_text(content: dict[str, Any]) -> str | None:
    """`O Rh+`, as the laboratory wrote it."""
    value = content.get("valueCodeableConcept")
    return concept_text(value) or (content.get("valueString") if isinstance(content.get("valueString"), str) else None)
