"""Follow-up appointments (giấy hẹn khám lại): upcoming, soonest first, then past ones; each can be
added to the phone's calendar. The overview shows its next appointments through `appointment()` too.

A follow-up given as a date alone (QĐ130's NGAY_TAI_KHAM) is stored as that whole local day, 00:00 to
23:59: it reads as the date without a time, and stays upcoming until the day is over."""

from __future__ import annotations

from typing import Any

from backend.healthbook.fhir_text import actors, concept_text, facility_of, first, items, local_date, provenance, texts
from backend.healthbook.presenters import appointment_title
from backend.healthbook.sections.base import Section, Seeing
from backend.i18n import gettext_noop as N_  # noqa: N812 - the gettext convention
from backend.records.reads import StoredRecordView, appointment_ahead, whole_day_span

NOT_BOOKED = frozenset({"cancelled", "noshow", "entered-in-error"})


def appointment(view: StoredRecordView, seeing: Seeing) -> dict[str, Any]:
    content = view.content
    start, end = (value if isinstance(value, str) else None for value in (content.get("start"), content.get("end")))
    where = next((found for actor in actors(content) if (found := facility_of(actor, seeing.facilities))), None)
    department = concept_text(first(content.get("specialty"))) or next(
        (
            str(actor["display"])
            for actor in actors(content)
            if isinstance(actor, dict)
            and str(actor.get("reference", "")).startswith(("Location/", "HealthcareService/"))
            and actor.get("display")
        ),
        None,
    )
    number = next((str(i["value"]) for i in items(content.get("identifier")) if i.get("value")), None)
    whole_day = is_whole_day(view, start)
    return {
        "id": view.reference,
        "served_id": view.served_id,
        "title": appointment_title(content),
        "start": start,
        "end": end,
        "whole_day": whole_day,
        "when": shown_when(start, whole_day=whole_day),
        "where": where or {"code": view.facility_code, "name": view.facility_name},
        "department": department,
        "bring": [
            text
            for text in [content.get("description"), content.get("comment"), *texts(content.get("note"))]
            if isinstance(text, str) and text.strip()
        ],
        "number": number,
        "status": view.status,
        "called_off": view.status in NOT_BOOKED,
        "provenance": provenance(view),
    }


def is_whole_day(view: StoredRecordView, start: str | None) -> bool:
    """A date without a time: stored as a whole day (as the overview's query reckons it), or sent as a
    bare date."""
    if start is not None and len(start) == 10:
        return True
    return whole_day_span(view.date, view.date_end)


def shown_when(start: str | None, *, whole_day: bool) -> str | None:
    """What `local_date_time` shows: the Vietnam day alone for a whole-day appointment (never `00:00`),
    else its start time."""
    day = local_date(start) if whole_day else None
    return day.isoformat() if day is not None else start


def build(views: list[StoredRecordView], seeing: Seeing) -> dict[str, Any]:
    """Upcoming (booked, not yet begun; a whole-day one until its day is over) soonest first; the rest,
    called-off ones included, newest first."""
    ahead = sorted(
        (view for view in views if appointment_ahead(view, seeing.now)), key=lambda view: view.date or seeing.now
    )
    behind = [view for view in views if view not in ahead]  # newest first, as read
    return {
        "upcoming": [appointment(view, seeing) for view in ahead],
        "past": [appointment(view, seeing) for view in behind],
    }


SECTION = Section(
    name="appointments",
    title=N_("Appointments"),
    resource_types=("Appointment",),
    template="book/appointments.html",
    build=build,
)
