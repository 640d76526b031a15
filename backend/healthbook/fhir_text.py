"""Reading stored FHIR for people: the few small, forgiving helpers every presenter shares. Hospitals
leave things out, send unknown codes and write long free text; none of that may break a page (templates
escape everything, so nothing here needs to)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from backend.clock import VIETNAM
from backend.records.reads import StoredRecordView

Facilities = dict[str, str]  # code → name, from the registry


def concept_text(concept: Any) -> str | None:
    """What a CodeableConcept says to a person: its text, else the first display, else the first code."""
    if not isinstance(concept, dict):
        return None
    if isinstance(concept.get("text"), str) and concept["text"].strip():
        return str(concept["text"])
    for coding in concept.get("coding") or []:
        if isinstance(coding, dict) and (coding.get("display") or coding.get("code")):
            return str(coding.get("display") or coding.get("code"))
    return None


def coding(concept: Any, system: str) -> dict[str, Any] | None:
    """The coding of this system in a CodeableConcept, if any."""
    if not isinstance(concept, dict):
        return None
    for found in concept.get("coding") or []:
        if isinstance(found, dict) and found.get("system") == system:
            return found
    return None


def first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else None


def items(value: Any) -> list[dict[str, Any]]:
    """The dicts of a list element (anything else a sender put there is skipped)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def texts(value: Any) -> list[str]:
    """`note`-like lists: their non-empty `text`s."""
    return [str(item["text"]) for item in items(value) if isinstance(item.get("text"), str) and item["text"].strip()]


def facility_of(reference: Any, facilities: Facilities) -> dict[str, str | None] | None:
    """`{"reference": "Organization/01929"}` → `{"code", "name"}`, the name from the registry or the
    reference's own display."""
    if not isinstance(reference, dict):
        return None
    value = reference.get("reference")
    if isinstance(value, str) and value.startswith("Organization/"):
        code = value.removeprefix("Organization/")
        if len(code) == 5:
            return {"code": code, "name": facilities.get(code) or reference.get("display")}
    display = reference.get("display")
    return {"code": None, "name": str(display)} if isinstance(display, str) and display else None


def local_date(value: Any) -> date | None:
    """The Vietnam calendar day of a FHIR date or dateTime."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(VIETNAM).date() if moment.tzinfo else moment.date()


def provenance(view: StoredRecordView) -> dict[str, Any]:
    """Where an item came from, on every item: the sending facility, when we received this version, and
    whether its signature holds (`verified`, `unsigned`, `invalid`)."""
    return {
        "facility": {"code": view.facility_code, "name": view.facility_name},
        "received": view.updated_at.isoformat(),
        "signature": view.signature,
    }


def actors(content: dict[str, Any]) -> list[Any]:
    """An Appointment's participants' actors (the patient, the facility, a practitioner)."""
    return [participant.get("actor") for participant in items(content.get("participant"))]
