"""Stored FHIR → what a person reads: small, plain view models, one function per kind of record. Pure
functions, tolerant of anything a hospital may have left out."""

from __future__ import annotations

from typing import Any

from backend.clock import VIETNAM
from backend.healthbook.fhir_text import Facilities, actors, concept_text, facility_of, first
from backend.records.reads import StoredRecordView

PRESCRIPTION_CODE = "urn:vn:moh:ma-don-thuoc"


def present(view: StoredRecordView, facilities: Facilities) -> dict[str, Any]:
    content = view.content
    item: dict[str, Any] = {
        "id": view.reference,
        "type": view.resource_type,
        "date": view.date.isoformat() if view.date else None,
        "day": view.date.astimezone(VIETNAM).date().isoformat() if view.date else None,  # the Vietnam calendar day
        "source": {"code": view.facility_code, "name": view.facility_name},
        "signature": view.signature,
        "status": view.status,
    }
    details = _DETAILS.get(view.resource_type)
    if details is not None:
        item.update(details(content, facilities))
    return item


def _appointment(content: dict[str, Any], facilities: Facilities) -> dict[str, Any]:
    where = next(
        (facility_of(actor, facilities) for actor in actors(content) if facility_of(actor, facilities) is not None),
        None,
    )
    return {
        "title": concept_text(first(content.get("serviceType"))) or content.get("description") or "Lịch hẹn",
        "start": content.get("start"),
        "end": content.get("end"),
        "description": content.get("description"),
        "where": where,
    }


def _referral(content: dict[str, Any], facilities: Facilities) -> dict[str, Any]:
    period = content.get("occurrencePeriod") or {}
    return {
        "title": concept_text(content.get("code")) or "Giấy chuyển tuyến",
        "to": next(
            (found for performer in content.get("performer") or [] if (found := facility_of(performer, facilities))),
            None,
        ),
        "reason": "; ".join(filter(None, (concept_text(reason) for reason in content.get("reasonCode") or []))) or None,
        "valid_from": period.get("start"),
        "valid_until": period.get("end"),
        "number": next((i.get("value") for i in content.get("identifier") or [] if isinstance(i, dict)), None),
        "notes": [
            note.get("text") for note in content.get("note") or [] if isinstance(note, dict) and note.get("text")
        ],
    }


def _prescription(content: dict[str, Any], facilities: Facilities) -> dict[str, Any]:
    dosage = first(content.get("dosageInstruction")) or {}
    quantity = (content.get("dispenseRequest") or {}).get("quantity") or {}
    codes = [content.get("groupIdentifier"), *(content.get("identifier") or [])]
    return {
        "title": concept_text(content.get("medicationCodeableConcept")) or "Thuốc",
        "dose": dosage.get("text"),  # verbatim, as the prescriber wrote it
        "instruction": dosage.get("patientInstruction"),
        "quantity": " ".join(str(part) for part in (quantity.get("value"), quantity.get("unit")) if part is not None)
        or None,
        "prescription_code": next(
            (code.get("value") for code in codes if isinstance(code, dict) and code.get("system") == PRESCRIPTION_CODE),
            None,
        ),
        "prescriber": (content.get("requester") or {}).get("display"),
    }


def _allergy(content: dict[str, Any], facilities: Facilities) -> dict[str, Any]:
    reactions = [
        concept_text(manifestation)
        for reaction in content.get("reaction") or []
        if isinstance(reaction, dict)
        for manifestation in reaction.get("manifestation") or []
    ]
    return {
        "title": concept_text(content.get("code")) or "Dị ứng",
        "criticality": content.get("criticality"),
        "reactions": [reaction for reaction in reactions if reaction],
    }


def _visit(content: dict[str, Any], facilities: Facilities) -> dict[str, Any]:
    period = content.get("period") or {}
    return {
        "title": concept_text(first(content.get("type"))) or "Lần khám",
        "start": period.get("start"),
        "end": period.get("end"),
        "where": facility_of(content.get("serviceProvider"), facilities),
    }


_DETAILS = {
    "Appointment": _appointment,
    "ServiceRequest": _referral,
    "MedicationRequest": _prescription,
    "AllergyIntolerance": _allergy,
    "Encounter": _visit,
}


def blood_group_text(content: dict[str, Any]) -> str | None:
    """`O Rh+`, as the laboratory wrote it."""
    value = content.get("valueCodeableConcept")
    return concept_text(value) or (content.get("valueString") if isinstance(content.get("valueString"), str) else None)
