"""The overview of a book (contract §4 `GET /book`): who it belongs to, and what needs attention now.
Every item is `present()`ed (with its provenance); an appointment also as the appointments section shows
it (the day alone for a whole-day one, department, what to bring); the visits also as a timeline."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from backend.audit import Reader
from backend.auth.books import patient_name
from backend.clock import start_of_local_day
from backend.database import PgConnection
from backend.healthbook.presenters import blood_group_text, present
from backend.healthbook.sections.appointments import appointment
from backend.healthbook.sections.base import Seeing
from backend.healthbook.sections.referrals import referral
from backend.records.reads import Group, StoredRecordView, read_overview, registry_names

SECTIONS = {
    "appointments": "/book/appointments",
    "referrals": "/book/referrals",
    "prescriptions": "/book/prescriptions",
    "allergies": "/book/allergies",
    "visits": "/book/visits",
}


async def overview(connection: PgConnection, reader: Reader, patient_id: uuid.UUID, now: datetime) -> dict[str, Any]:
    today_start = start_of_local_day(now)
    groups = await read_overview(connection, reader, patient_id, now, today_start)
    seeing = Seeing(await registry_names(connection), now)
    named = await patient_name(connection, patient_id)
    name, cccd = named if named else ("", "")
    blood_group = groups.pop("blood_group")
    patient = {
        "id": str(patient_id),
        "name": name,
        "masked_cccd": f"{cccd[:3]}******{cccd[-3:]}",
        "blood_group": next((blood_group_text(view.content) for view in blood_group.items), None),
    }
    return {"patient": patient, "groups": {name: shown_group(name, group, seeing) for name, group in groups.items()}}


def shown_group(name: str, group: Group, seeing: Seeing) -> dict[str, Any]:
    shown = [overview_item(name, view, seeing) for view in group.items]
    answer: dict[str, Any] = {"items": shown, "total": group.total, "section": SECTIONS[name]}
    if name == "visits":
        answer["timeline"] = visit_timeline(shown)
    return answer


def overview_item(group_name: str, view: StoredRecordView, seeing: Seeing) -> dict[str, Any]:
    item = present(view, seeing.facilities)
    if group_name == "appointments":
        item.update(appointment(view, seeing))  # one reading of an appointment, here and in its section
    elif group_name == "referrals":
        item["days_left"] = referral(view, seeing)["days_left"]  # counted as its section counts them
    return item


def visit_timeline(visits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Visits by Vietnam calendar day, newest day first, each day by facility in the order read. Visits
    without a date come last, under a day of None (they cannot be sorted among the dated ones)."""
    days: dict[str | None, dict[str, list[dict[str, Any]]]] = {}
    for visit in visits:
        places = days.setdefault(visit["day"], {})
        places.setdefault(visit["source"]["name"], []).append(visit)
    order = sorted((day for day in days if day is not None), reverse=True) + ([None] if None in days else [])
    return [
        {"day": day, "places": [{"name": name, "items": here} for name, here in days[day].items()]} for day in order
    ]
