"""Electronic prescriptions (đơn thuốc điện tử), grouped as the patient got them: one prescription is the
MedicationRequests that share a prescription code, else an encounter, else a facility and a day. Each
shows its code large, as text and as a QR code a pharmacy scans; current ones (contract §4) first."""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from typing import Any

import segno

from backend.clock import VIETNAM
from backend.healthbook.fhir_text import concept_text, first, items, local_date, provenance, texts
from backend.healthbook.presenters import PRESCRIPTION_CODE
from backend.healthbook.sections.base import Section, Seeing
from backend.i18n import gettext_noop as N_  # noqa: N812 - the gettext convention
from backend.records.reads import StoredRecordView

CALLED_OFF = frozenset({"cancelled", "stopped", "entered-in-error"})
# Words for the statuses a person should be told about; an active line needs none.
STATUS_WORDS = {
    "cancelled": N_("Called off"),
    "stopped": N_("Stopped"),
    "entered-in-error": N_("Entered in error"),
    "on-hold": N_("On hold"),
    "completed": N_("Completed"),
    "draft": N_("Draft"),
}
# Only a code of these characters becomes a QR code (its SVG is put in the page unescaped); any other
# is shown as text alone. National prescription codes look like `0192984g7vsu-C`.
SCANNABLE_CODE = re.compile(r"[A-Za-z0-9._-]{1,64}")
QR_SIZE = 160  # px: large enough for a pharmacy's scanner, small enough for a 360-px screen
DAY_UNITS = frozenset({"d", "day", "days", "ngày"})
UNDATED = datetime(1900, 1, 1, tzinfo=UTC)  # sorts a prescription without a date last
_SIGNATURE_RANK = {"invalid": 0, "unsigned": 1, "verified": 2}  # a prescription is as trusted as its worst line


@functools.lru_cache(maxsize=512)
def qr_svg(code: str | None) -> str | None:
    """The code as an inline SVG QR code (error correction M), or None for a code outside the safe
    characters. The SVG keeps its viewBox so that CSS may resize it, and is `QR_SIZE` without CSS.
    Kept once made: encoding one costs milliseconds, and the same current prescriptions are shown
    on every visit."""
    if code is None or not SCANNABLE_CODE.fullmatch(code):
        return None
    svg = str(
        segno.make_qr(code, error="m").svg_inline(
            scale=1, dark="#000", light="#fff", omitsize=True, svgclass="qr-code", lineclass=None
        )
    )
    return svg.replace("<svg ", f'<svg width="{QR_SIZE}" height="{QR_SIZE}" aria-hidden="true" ', 1)


def build(views: list[StoredRecordView], seeing: Seeing) -> dict[str, Any]:
    """Current prescriptions (a line active and within its supply period) newest first, then the others."""
    referenced = {view.reference: view.content for view in views if view.resource_type != "MedicationRequest"}
    groups: dict[tuple[str | None, ...], list[StoredRecordView]] = {}
    for view in views:
        if view.resource_type == "MedicationRequest":
            groups.setdefault(_group_key(view), []).append(view)
    shown = sorted(
        (prescription(lines, referenced, seeing) for lines in groups.values()),
        key=lambda found: (found["when"], found["code"] or "", found["id"]),
        reverse=True,
    )
    return {"current": [p for p in shown if p["current"]], "older": [p for p in shown if not p["current"]]}


def prescription(
    views: list[StoredRecordView], referenced: dict[str, dict[str, Any]], seeing: Seeing
) -> dict[str, Any]:
    """One prescription from its lines (all of one facility)."""
    views = sorted(views, key=lambda view: _natural(view.served_id))
    newest = max(views, key=lambda view: view.date or UNDATED)
    latest = max(views, key=lambda view: view.updated_at)
    lines = [line(view, referenced, seeing) for view in views]
    code = _prescription_code(views[0].content)
    current_ends = [item["until"] for item in lines if item["current"] and item["until"]]
    prescribers = list(dict.fromkeys(item["prescriber"] for item in lines if item["prescriber"]))
    authored = newest.content.get("authoredOn")
    called_off = all(item["called_off"] for item in lines)
    current = any(item["current"] for item in lines)
    return {
        "id": newest.reference,
        "code": code,
        # Only a current prescription is one a pharmacy dispenses; an older one shows its code as text.
        "qr_svg": qr_svg(code) if current and not called_off else None,
        "date": authored if isinstance(authored, str) else None,
        "when": newest.date or UNDATED,
        "facility": {"code": views[0].facility_code, "name": views[0].facility_name},
        "prescribers": prescribers,
        "lines": lines,
        "current": current,
        "until": max(current_ends) if current_ends else None,
        "called_off": called_off,
        "provenance": {
            **provenance(latest),
            "signature": min((view.signature for view in views), key=lambda s: _SIGNATURE_RANK.get(s, 0)),
        },
    }


def line(view: StoredRecordView, referenced: dict[str, dict[str, Any]], seeing: Seeing) -> dict[str, Any]:
    """One drug of a prescription. The dose text is kept exactly as the prescriber wrote it."""
    content = view.content
    medication = _medication(content, referenced)
    dosages = items(content.get("dosageInstruction"))
    dispense = _dict(content.get("dispenseRequest"))
    current = view.status == "active" and view.date_end is not None and view.date_end >= seeing.now
    return {
        "id": view.reference,
        "drug": concept_text(content.get("medicationCodeableConcept"))
        or concept_text((medication or {}).get("code"))
        or _display(content.get("medicationReference")),
        "strength": _strength(medication),
        "doses": [dosage["text"] for dosage in dosages if isinstance(dosage.get("text"), str) and dosage["text"]],
        "instructions": [
            *(text for d in dosages if isinstance(text := d.get("patientInstruction"), str) and text.strip()),
            *(text for d in dosages for c in items(d.get("additionalInstruction")) if (text := concept_text(c))),
        ],
        "quantity": _quantity(dispense.get("quantity")),
        **_supply(dispense.get("expectedSupplyDuration")),
        "notes": texts(content.get("note")),
        "prescriber": _prescriber(content.get("requester"), referenced),
        "status": view.status,
        "signature": view.signature,
        "status_word": STATUS_WORDS.get(view.status or ""),
        "called_off": view.status in CALLED_OFF,
        "current": current,
        "until": view.date_end.astimezone(VIETNAM).date().isoformat() if current and view.date_end else None,
    }


def _group_key(view: StoredRecordView) -> tuple[str | None, ...]:
    """What makes lines one prescription: the national prescription code, another group identifier,
    the encounter, or the day it was written (at one facility); a line with none of them stands alone."""
    content = view.content
    code = _prescription_code(content)
    if code is not None:
        return (view.facility_code, "code", code)
    group = content.get("groupIdentifier")
    if isinstance(group, dict) and isinstance(group.get("value"), str) and group["value"]:
        return (view.facility_code, "group", str(group.get("system")), group["value"])
    encounter = content.get("encounter")
    if isinstance(encounter, dict) and isinstance(encounter.get("reference"), str):
        return (view.facility_code, "encounter", encounter["reference"])
    day = local_date(content.get("authoredOn"))
    if day is not None:
        return (view.facility_code, "day", day.isoformat())
    return (view.facility_code, "alone", view.served_id)


def _prescription_code(content: dict[str, Any]) -> str | None:
    for identifier in [content.get("groupIdentifier"), *items(content.get("identifier"))]:
        if isinstance(identifier, dict) and identifier.get("system") == PRESCRIPTION_CODE:
            value = identifier.get("value")
            if isinstance(value, str) and value.strip():
                return value.strip()
    return None


def _medication(content: dict[str, Any], referenced: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The Medication a line points at: contained (`#id`) or stored by the facility (`Medication/id`)."""
    pointer = content.get("medicationReference")
    reference = pointer.get("reference") if isinstance(pointer, dict) else None
    if not isinstance(reference, str):
        return None
    if reference.startswith("#"):
        return next((c for c in items(content.get("contained")) if c.get("id") == reference[1:]), None)
    found = referenced.get(reference.split("/_history/", 1)[0])
    return found if found is not None and found.get("resourceType") == "Medication" else None


def _strength(medication: dict[str, Any] | None) -> str | None:
    """`500 mg`, `250 mg/5 ml`, or each ingredient's name and strength joined by `+`."""
    parts = []
    ingredients = items((medication or {}).get("ingredient"))
    for ingredient in ingredients:
        strength = _dict(ingredient.get("strength"))
        amount = _quantity(strength.get("numerator"))
        if amount is None:
            continue
        per = strength.get("denominator")
        per_value = per.get("value") if isinstance(per, dict) else None
        per_text = _quantity(per) if per_value not in (None, 1) else _unit(per)
        name = concept_text(ingredient.get("itemCodeableConcept")) if len(ingredients) > 1 else None
        parts.append(" ".join(filter(None, (name, amount + (f"/{per_text}" if per_text else "")))))
    return " + ".join(parts) or None


def _quantity(value: Any) -> str | None:
    """`60 viên`: the number as sent (no `.0`), and its unit."""
    if not isinstance(value, dict):
        return None
    number = value.get("value")
    if isinstance(number, bool) or not isinstance(number, int | float):
        return None
    shown = str(int(number)) if isinstance(number, float) and number.is_integer() else str(number)
    return " ".join(filter(None, (shown, _unit(value))))


def _unit(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    unit = value.get("unit") or value.get("code")
    return str(unit) if isinstance(unit, str) and unit.strip() else None


def _supply(duration: Any) -> dict[str, Any]:
    """For how long the dispensed quantity lasts: whole days when the unit is days, else as sent."""
    text, duration = _quantity(duration), _dict(duration)
    number, unit = duration.get("value"), duration.get("code") or duration.get("unit")
    if text is None or not isinstance(number, int | float) or number <= 0:  # no supply, or one of 0 days
        return {"supply_days": None, "supply": None}
    if unit in DAY_UNITS and float(number).is_integer():
        return {"supply_days": int(number), "supply": None}
    return {"supply_days": None, "supply": text}


def _prescriber(requester: Any, referenced: dict[str, dict[str, Any]]) -> str | None:
    """The prescriber's name as written, else the Practitioner's name, else their identifier (the
    practising certificate number QĐ 130 sends)."""
    if not isinstance(requester, dict):
        return None
    if isinstance(requester.get("display"), str) and requester["display"].strip():
        return str(requester["display"])
    practitioner = referenced.get(str(requester.get("reference")).split("/_history/", 1)[0]) or {}
    name = first(items(practitioner.get("name"))) or {}
    written = name.get("text") if isinstance(name.get("text"), str) else None
    given = name.get("given")
    parts = [name.get("family"), *(given if isinstance(given, list) else [])]
    joined = " ".join(part for part in parts if isinstance(part, str) and part)
    identifier = requester.get("identifier")
    value = identifier.get("value") if isinstance(identifier, dict) else None
    return written or joined or (str(value) if isinstance(value, str) and value else None)


def _display(reference: Any) -> str | None:
    display = reference.get("display") if isinstance(reference, dict) else None
    return str(display) if isinstance(display, str) and display.strip() else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _natural(text: str) -> list[tuple[int, int | str]]:
    """`dt-2` before `dt-10`."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", text) if part]


SECTION = Section(
    name="prescriptions",
    title=N_("Prescriptions"),
    # Medication and Practitioner: the facility-level resources lines point at (read with them).
    resource_types=("MedicationRequest", "Medication", "Practitioner"),
    template="book/prescriptions.html",
    build=build,
)
