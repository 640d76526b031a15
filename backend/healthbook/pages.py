"""`/book` and its sections (contract §6): the overview of the open book, each section narrowed by
facility, time or words, and an appointment as a calendar file. `/book` is the one gate that asks for
consent first; every page here passes through it."""

from __future__ import annotations

import hashlib
import uuid
from datetime import date, datetime, timedelta
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.params import FromPath
from litestar.response import Redirect, Template

from backend.audit import Reader
from backend.auth.dependencies import PatientSessionDependency
from backend.auth.sessions import Session
from backend.clock import VIETNAM
from backend.consent import NOTICE_VERSION, has_consented
from backend.database import Database, raw_transaction
from backend.errors import NotFound
from backend.healthbook.calendar import appointment_ics
from backend.healthbook.overview import overview
from backend.healthbook.presenters import present
from backend.healthbook.sections import SECTIONS, Seeing
from backend.healthbook.sections.appointments import appointment
from backend.i18n import chosen_locale
from backend.i18n import gettext_noop as N_  # noqa: N812 - the gettext convention
from backend.records.reads import Narrowing, facilities_of_book, read_records, registry_names
from backend.web.dependencies import ClockDependency, DatabaseDependency, SettingsDependency

# What records point at rather than what happened to the patient: never a search result of its own.
FACILITY_LEVEL = frozenset({"Medication", "Practitioner", "Organization", "Location", "Binary"})


class BookPages(Controller):
    include_in_schema = False

    @get("/book", name="book")
    async def book(
        self, patient_session: PatientSessionDependency, database: DatabaseDependency, clock: ClockDependency
    ) -> Template | Redirect:
        patient_id = await _gate(database, patient_session)
        if not isinstance(patient_id, uuid.UUID):
            return patient_id
        async with raw_transaction(database) as connection:
            answer = await overview(connection, Reader.patient(patient_id), patient_id, clock())
        context = {
            **answer,
            "read_only": patient_session.read_only,
            "sections": SECTIONS,
            **book_session(patient_session),
        }
        return Template("book/overview.html", context=context)

    @get("/book/search", name="book_search")
    async def search(
        self,
        request: Request[Any, Any, Any],
        patient_session: PatientSessionDependency,
        database: DatabaseDependency,
        clock: ClockDependency,
    ) -> Template | Redirect:
        """The whole book searched at once: how many records of each part match, the first few, and a
        link to that part narrowed the same way."""
        patient_id = await _gate(database, patient_session)
        if not isinstance(patient_id, uuid.UUID):
            return patient_id
        narrowing = narrowing_from(request.query_params)
        found: dict[str, list[Any]] = {}
        if narrowing.words:
            async with raw_transaction(database) as connection:
                views = await read_records(
                    connection,
                    Reader.patient(patient_id),
                    patient_id,
                    clock(),
                    resource_types=sorted(
                        {kind for s in SECTIONS.values() for kind in s.resource_types} - FACILITY_LEVEL
                    ),
                    narrowed=narrowing,
                )
                facilities = await registry_names(connection)
            for name, section in SECTIONS.items():
                kinds = set(section.resource_types) - FACILITY_LEVEL
                own = [view for view in views if view.resource_type in kinds and section.shows(view)]
                if own:
                    found[name] = [present(view, facilities) for view in own]
        context = {
            "found": found,
            "sections": SECTIONS,
            "narrowing": narrowing,
            "read_only": patient_session.read_only,
            **book_session(patient_session),
        }
        return Template("book/search.html", context=context)

    @get("/book/{section_name:str}", name="book_section")
    async def section(
        self,
        request: Request[Any, Any, Any],
        section_name: FromPath[str],
        patient_session: PatientSessionDependency,
        database: DatabaseDependency,
        clock: ClockDependency,
    ) -> Template | Redirect:
        section = SECTIONS.get(section_name)
        if section is None:
            raise NotFound(N_("there is no such part of the book"))
        patient_id = await _gate(database, patient_session)
        if not isinstance(patient_id, uuid.UUID):
            return patient_id
        narrowing = narrowing_from(request.query_params)
        now = clock()
        async with raw_transaction(database) as connection:
            views = await read_records(
                connection,
                Reader.patient(patient_id),
                patient_id,
                now,
                resource_types=section.resource_types,
                narrowed=narrowing,
            )
            facilities = await registry_names(connection)
            senders = await facilities_of_book(connection, patient_id)
        own = [view for view in views if view.resource_type in section.resource_types]
        context = {
            **section.build(own, Seeing(facilities, now)),
            "section": section,
            "sections": SECTIONS,
            "narrowing": narrowing,
            "narrowing_days": shown_days(narrowing),
            "senders": senders,
            "read_only": patient_session.read_only,
            **book_session(patient_session),
        }
        return Template(section.template, context=context)

    @get("/book/calendar/{appointment_id:str}", name="appointment_calendar")
    async def calendar(
        self,
        request: Request[Any, Any, Any],
        appointment_id: FromPath[str],
        patient_session: PatientSessionDependency,
        database: DatabaseDependency,
        clock: ClockDependency,
        settings: SettingsDependency,
    ) -> Response[str]:
        patient_id = await _gate(database, patient_session)
        if not isinstance(patient_id, uuid.UUID):
            raise NotFound(N_("no such appointment in your book"))
        now = clock()
        async with raw_transaction(database) as connection:
            views = await read_records(
                connection,
                Reader.patient(patient_id),
                patient_id,
                now,
                resource_types=["Appointment"],
                served_ids=[appointment_id[:64]],
            )
            facilities = await registry_names(connection)
        found = [view for view in views if view.resource_type == "Appointment"]
        host = settings.base_url.split("//", 1)[-1].split("/", 1)[0]
        locale = chosen_locale(request.cookies)
        ics = appointment_ics(appointment(found[0], Seeing(facilities, now)), now, host, locale) if found else None
        if ics is None:
            raise NotFound(N_("no such appointment in your book"))
        return Response(
            ics,
            media_type="text/calendar; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="lich-hen.ics"'},
        )


async def _gate(database: Database, session: Session) -> uuid.UUID | Redirect:
    """The open book, or where to go first: choose a book, then consent once."""
    if session.patient_id is None:
        return Redirect("/login/choose", status_code=303)
    async with raw_transaction(database) as connection:
        if not await has_consented(connection, session.patient_id, session.phone, NOTICE_VERSION):
            return Redirect("/consent", status_code=303)
    return session.patient_id


def book_session(session: Session) -> dict[str, Any]:
    """What the service worker keeps a session's offline pages under (pwa/sw.js): a name for the session
    that reveals nothing of it, and the session's absolute end (Unix seconds), after which the saved
    pages are not shown even offline."""
    return {
        "book_session": hashlib.sha256(f"offline-book:{session.id}".encode()).hexdigest()[:16],
        "book_session_expires": int(session.expires_at.timestamp()),
    }


def narrowing_from(query: Any) -> Narrowing:
    """The filter form's fields; a value that is not what the form sends is left out, never an error."""
    facility = str(query.get("facility") or "").strip()
    return Narrowing(
        facility=facility if len(facility) == 5 and facility.isascii() and facility.isalnum() else None,
        since=_day_start(query.get("since")),
        until=_day_start(query.get("until"), next_day=True),
        words=str(query.get("q") or "").strip()[:100] or None,
    )


def shown_days(narrowing: Narrowing) -> dict[str, str]:
    """The filter form's dates as it shows them again (`until` is the last day included)."""
    since = narrowing.since.astimezone(VIETNAM).date().isoformat() if narrowing.since else ""
    until = (narrowing.until.astimezone(VIETNAM) - timedelta(days=1)).date().isoformat() if narrowing.until else ""
    return {"since": since, "until": until}


def _day_start(value: Any, *, next_day: bool = False) -> datetime | None:
    """The start of a Vietnam calendar day (`until` is inclusive: the start of the next one)."""
    try:
        day = date.fromisoformat(str(value or ""))
    except ValueError:
        return None
    day += timedelta(days=1 if next_day else 0)
    return datetime(day.year, day.month, day.day, tzinfo=VIETNAM)
