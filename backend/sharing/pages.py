"""`/shares` (contract §6, issue 8): the form that shares the book in two taps, the list of shares with who
opened them, a share's full-screen QR code, and "stop sharing". The same rules and queries as the JSON API
(backend/sharing/rules.py, store.py, presenters.py); only the words and the forms are the pages' own.

A read-only book is told why it cannot share (GET), and refused (403) where it would change something
(POST). Another patient's share id is a share of nobody: 404.

The share page holds the link's key (in the QR code and the copy button). Like the book's pages it is sent
`no-store`, so no HTTP cache (the browser's, a proxy's, the back-forward cache) keeps it, and it carries
the session's `book_session` marker, so the service worker keeps its own copy for offline reading, in the
session's cache, which signing out or the session's end wipes (pwa/sw.js). A share page is only shown to
the patient who made the share, and its key opens nothing once the share is stopped or over.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template
from markupsafe import Markup

from backend.auth.dependencies import PatientSessionDependency
from backend.auth.guards import full_access, open_book
from backend.auth.sessions import Session
from backend.clock import VIETNAM
from backend.consent import NOTICE_VERSION, has_consented
from backend.database import Database, raw_transaction
from backend.errors import NotFound, Unprocessable
from backend.healthbook.pages import book_session
from backend.keyring import Keyring
from backend.sharing.presenters import share_json, share_urls
from backend.sharing.qr import qr_svg
from backend.sharing.rules import NO_SUCH_SHARE, make_share, share_uuid
from backend.sharing.share_form import DEFAULT_VALIDITY, last_day, offers, read_share_form, time_left
from backend.sharing.store import link_of, list_shares, own_share, revoke_share
from backend.sharing.store import status as share_status
from backend.web.dependencies import ClockDependency, DatabaseDependency, KeyringDependency, SettingsDependency

NO_STORE = {"Cache-Control": "no-store"}


class SharePages(Controller):
    include_in_schema = False

    @get("/shares", name="shares")
    async def shares(
        self,
        patient_session: PatientSessionDependency,
        database: DatabaseDependency,
        keyring: KeyringDependency,
        settings: SettingsDependency,
        clock: ClockDependency,
    ) -> Template | Redirect:
        gate = await _gate(database, patient_session)
        if gate is not None:
            return gate
        context = await _shares_context(database, keyring, settings.base_url, patient_session, clock())
        return Template("sharing/shares.html", context=context, headers=NO_STORE)

    @post("/shares", name="create_share")
    async def create(
        self,
        request: Request[Any, Any, Any],
        patient_session: PatientSessionDependency,
        database: DatabaseDependency,
        keyring: KeyringDependency,
        settings: SettingsDependency,
        clock: ClockDependency,
    ) -> Template | Redirect:
        patient_id = full_access(patient_session)
        form = await request.form()
        now = clock()
        try:
            new = read_share_form(form, patient_id, now)
            async with raw_transaction(database) as connection:
                share_id, _ = await make_share(connection, keyring, settings, new, now)
        except Unprocessable as refused:  # the form again, as filled in, with what to change
            context = await _shares_context(database, keyring, settings.base_url, patient_session, now)
            context.update(error=refused.message, filled=_filled(form))
            return Template("sharing/shares.html", context=context, status_code=422, headers=NO_STORE)
        return Redirect(f"/shares/{share_id}", status_code=303)

    @get("/shares/{share_id:str}", name="share")
    async def share(
        self,
        share_id: FromPath[str],
        patient_session: PatientSessionDependency,
        database: DatabaseDependency,
        keyring: KeyringDependency,
        settings: SettingsDependency,
        clock: ClockDependency,
    ) -> Template | Redirect:
        gate = await _gate(database, patient_session)
        if gate is not None:
            return gate
        now = clock()
        async with raw_transaction(database) as connection:
            # Full access only: the page holds the link's key, and a read-only phone may not share onward.
            row = await own_share(connection, full_access(patient_session), share_uuid(share_id))
        if row is None:
            raise NotFound(NO_SUCH_SHARE)
        state = share_status(row, now)
        context: dict[str, Any] = {
            "share": row,
            "state": state,
            "left": time_left(row["expires_at"], now),
            "expires_at": row["expires_at"].isoformat(),
            **book_session(patient_session),
        }
        if state == "active":
            urls = share_urls(settings.base_url, row["id"], link_of(keyring, settings.base_url, row).shlink())
            context["viewer_url"] = urls["viewer_url"]
            context["qr"] = Markup(qr_svg(urls["viewer_url"], scalable=True).decode())  # noqa: S704 - segno's SVG
        return Template("sharing/share.html", context=context, headers=NO_STORE)

    @post("/shares/{share_id:str}/revoke", name="revoke_share")
    async def revoke(
        self,
        share_id: FromPath[str],
        patient_session: PatientSessionDependency,
        database: DatabaseDependency,
        clock: ClockDependency,
    ) -> Redirect:
        """Back to the share's page, by a plain navigation: the service worker keeps the stopped page,
        which replaces the saved copy that still showed the QR code."""
        patient_id = full_access(patient_session)
        wanted = share_uuid(share_id)
        async with raw_transaction(database) as connection:
            if not await revoke_share(connection, patient_id, wanted, clock()):
                raise NotFound(NO_SUCH_SHARE)
        return Redirect(f"/shares/{wanted}", status_code=303)


async def _gate(database: Database, session: Session) -> Redirect | None:
    """Where to go first, as the book sends its reader: choose a book, then consent once."""
    if session.patient_id is None:
        return Redirect("/login/choose", status_code=303)
    async with raw_transaction(database) as connection:
        if not await has_consented(connection, session.patient_id, session.phone, NOTICE_VERSION):
            return Redirect("/consent", status_code=303)
    return None


async def _shares_context(
    database: Database, keyring: Keyring, base_url: str, session: Session, now: datetime
) -> dict[str, Any]:
    context: dict[str, Any] = {
        "read_only": session.read_only,
        "shares": [],
        "offers": {},
        "filled": {"label": "", "what": "summary", "records": set(), "validity": DEFAULT_VALIDITY, "until": ""},
        "error": None,
        "today": now.astimezone(VIETNAM).strftime("%d/%m/%Y"),
        "last_day": last_day(now),
        **book_session(session),
    }
    if session.read_only:  # the page says why sharing is off, and how to turn it on
        return context
    patient_id = open_book(session)
    async with raw_transaction(database) as connection:
        shares, opens = await list_shares(connection, patient_id)
        context["offers"] = await offers(connection, patient_id, now)
    context["shares"] = [share_json(row, opens.get(row["id"], []), keyring, base_url, now) for row in shares]
    return context


def _filled(form: Any) -> dict[str, Any]:
    """What the patient had filled in, shown again (the passcode is not: it is typed again)."""
    return {
        "label": str(form.get("label") or "")[:200],
        "what": str(form.get("what") or "summary"),
        "records": set(form.getall("record", [])),
        "validity": str(form.get("validity") or DEFAULT_VALIDITY),
        "until": str(form.get("until") or "")[:10],
    }
