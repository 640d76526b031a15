"""Follow-up appointments (giấy hẹn khám lại): upcoming, soonest first, then past ones; each can be
added to the phone's calendar."""

from __future__ import annotations

from typing import Any

from backend.healthbook.fhir_text import actors, concept_text, facility_of, first, items, provenance, texts
from backend.healthbook.sections.base import Section, Seeing
from backend.i18n import gettext_noop as N_  # noqa: N812 - the gettext convention
from backend.records.reads import StoredRecordView

NOT_BOOKED = frozenset({"cancelled", "noshow", "entered-in-error"})


def appointment(view: StoredRecordView, seeing: Seeing) -> dict[str, Any]:
    content = view.content
    start, end = content.get("start"), content.get("end")
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
    return {
        "id": view.reference,
        "served_id": view.served_id,
        "title": concept_text(first(content.get("serviceType"))) or concept_text(content.get("appointmentType")),
        "start": start if isinstance(start, str) else None,
        "end": end if isinstance(end, str) else None,
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


def build(views: list[StoredRecordView], seeing: Seeing) -> dict[str, Any]:
    """Upcoming (booked, not yet begun) soonest first; the rest, called-off ones included, newest first."""
    ahead = sorted(
        (view for view in views if view.date and view.date >= seeing.now and view.status not in NOT_BOOKED),
        key=lambda view: view.date or seeing.now,
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
