"""Visits (lần khám): each Encounter as a card, newest first under its year: when, where, which
department, what kind of visit, why, the diagnoses (ICD-10 code and the name the hospital wrote), the
doctor's advice, the outcome. Diagnoses are the visit's Conditions (`Encounter.diagnosis`, or a
Condition's own `encounter`); advice is a CarePlan of the visit (XML1 GHI_CHU, see
backend/records/xml130/mapping.py). Diagnoses and advice tied to no visit shown here, and vaccinations,
are listed after the visits."""

from __future__ import annotations

from collections import defaultdict
from itertools import groupby
from typing import Any
from urllib.parse import urlencode

from backend.clock import VIETNAM
from backend.healthbook.fhir_text import concept_text, facility_of, first, items, local_date, provenance
from backend.healthbook.sections.base import Section, Seeing
from backend.healthbook.sections.visits_parts import (
    condition_item,
    diagnosis_of,
    immunization_item,
    plan_item,
    reference_of,
)
from backend.i18n import gettext_noop as N_  # noqa: N812 - the gettext convention
from backend.records.reads import StoredRecordView
from backend.records.xml130.codes import TREATMENT_OUTCOME
from backend.records.xml130.mapping import DEPARTMENT

# Encounter.class (v3 ActCode) in words; an unknown code shows the sender's display, else nothing.
KINDS = {
    "AMB": N_("Outpatient visit"),
    "IMP": N_("Inpatient stay"),
    "ACUTE": N_("Inpatient stay"),
    "NONAC": N_("Inpatient stay"),
    "EMER": N_("Emergency"),
    "SS": N_("Day treatment"),
    "OBSENC": N_("Day treatment"),
    "VR": N_("Remote consultation"),
    "HH": N_("Home visit"),
}
ONGOING = frozenset({"arrived", "triaged", "in-progress", "onleave"})


def visit(
    view: StoredRecordView,
    seeing: Seeing,
    diagnoses: list[dict[str, Any]],
    advice: list[dict[str, Any]],
) -> dict[str, Any]:
    content = view.content
    period = _dict(content.get("period"))
    start, end = _text(period.get("start")), _text(period.get("end"))
    first_day, last_day = local_date(start), local_date(end)
    kind_code, kind_words = _kind(content.get("class"))
    department, department_code = _department(content)
    return {
        "id": view.reference,
        "start": start,
        "end": end if end and last_day != first_day else None,  # a stay: it ended on another day
        "where": facility_of(content.get("serviceProvider"), seeing.facilities)
        or {"code": view.facility_code, "name": view.facility_name},
        "department": department,
        "department_code": department_code,
        "kind": KINDS.get(kind_code or ""),  # an English msgid, translated where shown
        "kind_text": None if kind_code in KINDS else kind_words,  # as the hospital wrote it
        "reasons": [text for reason in items(content.get("reasonCode")) if (text := concept_text(reason))],
        "diagnoses": diagnoses,
        "advice": advice,
        "outcome": next(
            (
                _value_text(extension)
                for extension in items(content.get("extension"))
                if extension.get("url") == TREATMENT_OUTCOME
            ),
            None,
        ),
        "discharge": concept_text(_dict(content.get("hospitalization")).get("dischargeDisposition")),
        "status": _status(view.status),
        "same_days": urlencode(
            {
                "facility": view.facility_code,
                "since": first_day.isoformat(),
                "until": (last_day if last_day and last_day > first_day else first_day).isoformat(),
            }
        )
        if first_day
        else None,
        "provenance": provenance(view),
    }


def build(views: list[StoredRecordView], seeing: Seeing) -> dict[str, Any]:
    conditions = {view.reference: view for view in views if view.resource_type == "Condition"}
    plans = [view for view in views if view.resource_type == "CarePlan"]
    naming: dict[str, list[StoredRecordView]] = defaultdict(list)  # visit → the Conditions naming it
    for condition in reversed(conditions.values()):  # oldest first: a visit's diagnoses in the order sent
        naming[reference_of(condition.content.get("encounter")) or ""].append(condition)
    advising: dict[str, list[StoredRecordView]] = defaultdict(list)  # visit → its CarePlans
    for plan in plans:
        advising[reference_of(plan.content.get("encounter")) or ""].append(plan)

    used: set[str] = set()  # the Conditions and CarePlans shown in a visit
    cards = []
    for encounter in (view for view in views if view.resource_type == "Encounter"):  # newest first, as read
        diagnoses = _diagnoses(encounter, conditions, naming[encounter.reference])
        advice = [plan_item(plan) for plan in advising[encounter.reference]]
        # Every Condition of the visit has its place there (shown, or its code shown already).
        used.update(condition.reference for condition in naming[encounter.reference])
        used.update(filter(None, (reference_of(d.get("condition")) for d in items(encounter.content.get("diagnosis")))))
        used.update(item["id"] for item in advice)
        cards.append((_year(encounter), visit(encounter, seeing, diagnoses, advice)))

    return {
        "years": [
            {"year": year, "visits": [card for _, card in group]} for year, group in groupby(cards, key=lambda c: c[0])
        ],
        "other_diagnoses": [
            item
            for view in conditions.values()
            if view.reference not in used and ((item := condition_item(view))["code"] or item["name"])
        ],
        "other_advice": [plan_item(view) for view in plans if view.reference not in used],
        "immunizations": [immunization_item(view) for view in views if view.resource_type == "Immunization"],
    }


def _diagnoses(
    encounter: StoredRecordView, conditions: dict[str, StoredRecordView], naming: list[StoredRecordView]
) -> list[dict[str, Any]]:
    """`Encounter.diagnosis` by rank (a Condition not in the book by the reference's own display, if it
    has one), then the Conditions that name this visit themselves; each Condition, and each code, once."""
    candidates: list[tuple[str | None, StoredRecordView | None, dict[str, Any] | None]] = [
        (reference, conditions.get(reference or ""), entry)
        for entry in sorted(items(encounter.content.get("diagnosis")), key=_rank)
        for reference in [reference_of(entry.get("condition"))]
    ]
    candidates += [(condition.reference, condition, None) for condition in naming]
    found: list[dict[str, Any]] = []
    seen: set[str] = set()  # references, and codes (or names) already shown
    for reference, condition, entry in candidates:
        if reference is not None and reference in seen:
            continue
        shown = diagnosis_of(condition, entry, encounter.signature)
        if shown is None or (shown["code"] or shown["name"]) in seen:
            continue
        found.append(shown)
        seen.update(filter(None, [reference, shown["code"] or shown["name"]]))
    return found


def _rank(entry: dict[str, Any]) -> int:
    rank = entry.get("rank")
    return rank if isinstance(rank, int) and not isinstance(rank, bool) else 10**6


def _status(status: str | None) -> str | None:
    """What a card says of its visit's state: under way, only planned, or called off (else nothing)."""
    if status in ONGOING:
        return "ongoing"
    return status if status in ("planned", "cancelled") else None


def _year(view: StoredRecordView) -> str | None:
    return str(view.date.astimezone(VIETNAM).year) if view.date else None


def _kind(value: Any) -> tuple[str | None, str | None]:
    """Encounter.class: a Coding in R4 (a CodeableConcept from some senders)."""
    coding = first(value.get("coding")) if isinstance(value, dict) and "coding" in value else value
    if not isinstance(coding, dict):
        return None, None
    code = coding.get("code") if isinstance(coding.get("code"), str) else None
    words = _text(coding.get("display")) or (concept_text(value) if isinstance(value, dict) else None)
    return code, words


def _department(content: dict[str, Any]) -> tuple[str | None, str | None]:
    """(the department's name, else its bare `ma-khoa` code): a `ma-khoa` coding's display, else the
    visit type's words, else the location's name; QĐ130 sends only the code, and we keep no table of
    department codes."""
    codes: list[str] = []
    for concept in items(content.get("type")):
        for coding in items(concept.get("coding")):
            if coding.get("system") == DEPARTMENT:
                if _text(coding.get("display")):
                    return str(coding["display"]), None
                if _text(coding.get("code")):
                    codes.append(str(coding["code"]))
        if _text(concept.get("text")):
            return str(concept["text"]), None
        if not codes and (words := concept_text(concept)):
            return words, None
    for place in items(content.get("location")):
        location = place.get("location")
        if isinstance(location, dict) and _text(location.get("display")):
            return str(location["display"]), None
    return None, (codes[0] if codes else None)


def _value_text(extension: dict[str, Any]) -> str | None:
    for name in ("valueCodeableConcept", "valueCoding"):
        value = extension.get(name)
        if isinstance(value, dict):
            return concept_text(value) or concept_text({"coding": [value]})
    return _text(extension.get("valueString"))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


SECTION = Section(
    name="visits",
    title=N_("Visits"),
    resource_types=("Encounter", "Condition", "CarePlan", "Immunization"),
    template="book/visits.html",
    build=build,
)
