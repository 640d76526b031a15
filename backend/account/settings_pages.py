"""`/settings` (contract §6, issue 7): the language; the books this phone opens and how to confirm one; the
phones that open this book (a confirmed one can be removed by the book's owner); the sessions signed in on
this phone, each of which can be ended; downloading everything; withdrawing consent; closing the account.

Plain forms, POST then redirect, so every part works without JavaScript. Sessions belong to the phone, so
any session may end its phone's others; withdrawing consent and closing the account change the book's
account and need a full (not read-only) session. Every change is written to the sign-in audit trail."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template

from backend.account.closing import close_account
from backend.account.retention import ACCESS_LOG_RETENTION_YEARS, SIGN_IN_TRAIL_RETENTION_YEARS
from backend.auth.book_phones import forget_phone, phones_of_book
from backend.auth.dependencies import PatientSessionDependency, SignInDependency
from backend.auth.events import record_auth_event
from backend.auth.guards import full_access
from backend.auth.pages import signed_out_redirect
from backend.auth.sessions import Session, live_sessions, revoke_other_sessions, revoke_phone_session
from backend.consent.notice import NOTICE_VERSION
from backend.consent.records import has_consented, withdraw_consent
from backend.database import PgConnection, raw_transaction
from backend.errors import BadRequest, NotFound
from backend.i18n import gettext_noop as N_  # noqa: N812 - the gettext convention
from backend.phones import normalize_phone
from backend.web.clients import client_ip
from backend.web.dependencies import ClockDependency, DatabaseDependency, Form, SettingsDependency

ALL_OTHERS = "all-others"  # the `session` field of "sign out all others", in place of one session's id
CONFIRM = "confirm"  # the field the confirming button sends: a request without it changes nothing


class SettingsPages(Controller):
    include_in_schema = False

    @get("/settings", name="settings")
    async def settings_page(
        self,
        patient_session: PatientSessionDependency,
        signin: SignInDependency,
        database: DatabaseDependency,
        clock: ClockDependency,
    ) -> Template:
        now = clock()
        books = await signin.books(patient_session, now)
        patient_id = patient_session.patient_id
        owner = patient_id is not None and not patient_session.read_only
        phones, consented = [], False
        async with raw_transaction(database) as connection:
            sessions = await live_sessions(connection, patient_session.phone, now)
            if patient_id is not None and owner:  # who opens the book, and its consent: the owner's business
                phones = await phones_of_book(connection, patient_id, now)
                consented = await has_consented(connection, patient_id, patient_session.phone, NOTICE_VERSION)
        sessions.sort(key=lambda live: live.id != patient_session.id)  # this one first, then the latest used
        context = {
            "books": books,
            "phones": phones,
            "book_open": patient_id is not None,
            "read_only": patient_session.read_only,
            "owner": owner,
            "consented": consented,
            "sessions": sessions,
            "current_session": patient_session.id,
            "all_others": ALL_OTHERS,
        }
        return Template("settings.html", context=context)

    @post("/settings/phones/forget", name="forget_phone")
    async def forget(
        self,
        data: Form,
        patient_session: PatientSessionDependency,
        database: DatabaseDependency,
        clock: ClockDependency,
    ) -> Redirect:
        patient_id = full_access(patient_session)
        phone = normalize_phone(data.get("phone", "")[:40])
        async with raw_transaction(database) as connection:
            if phone is None or not await forget_phone(connection, patient_session, patient_id, phone, clock()):
                raise NotFound(N_("this phone is not confirmed for your book"))
        return Redirect("/settings", status_code=303)

    @post("/settings/sessions/end", name="end_session")
    async def end_session(
        self,
        data: Form,
        patient_session: PatientSessionDependency,
        database: DatabaseDependency,
        clock: ClockDependency,
    ) -> Redirect:
        """`session` = the id of another session of this phone, or `all-others`. This session itself is
        ended by "Sign out"; another phone's session is not found (404), and nothing changes."""
        wanted = data.get("session", "")
        async with raw_transaction(database) as connection:
            if wanted == ALL_OTHERS:
                await _end_all_others(connection, patient_session, clock())
            else:
                await _end_one(connection, patient_session, _session_id(wanted), clock())
        return Redirect("/settings", status_code=303)

    @post("/settings/consent/withdraw", name="withdraw_consent")
    async def withdraw(
        self,
        data: Form,
        patient_session: PatientSessionDependency,
        database: DatabaseDependency,
        clock: ClockDependency,
    ) -> Redirect:
        """The consent goes; the sessions stay, and `/book` asks for consent again before it shows anything."""
        patient_id = full_access(patient_session)
        if CONFIRM not in data:
            raise BadRequest(N_("to withdraw your consent, confirm it on the settings page"))
        async with raw_transaction(database) as connection:
            await withdraw_consent(connection, patient_session, patient_id, clock())
        return Redirect("/settings", status_code=303)

    @get("/settings/account/close", name="close_account_page")
    async def close_account_page(self, patient_session: PatientSessionDependency) -> Template:
        """What closing does and what is kept, said plainly before the one button that does it."""
        full_access(patient_session)
        context = {
            "access_log_years": ACCESS_LOG_RETENTION_YEARS,
            "sign_in_trail_years": SIGN_IN_TRAIL_RETENTION_YEARS,
        }
        return Template("settings/close_account.html", context=context)

    @post("/settings/account/close", name="close_account")
    async def close(
        self,
        request: Request[Any, Any, Any],
        data: Form,
        patient_session: PatientSessionDependency,
        database: DatabaseDependency,
        settings: SettingsDependency,
        clock: ClockDependency,
    ) -> Redirect:
        patient_id = full_access(patient_session)
        if CONFIRM not in data:
            raise BadRequest(N_("to close your account, confirm it on the closing page"))
        async with raw_transaction(database) as connection:
            await close_account(connection, patient_session, patient_id, client_ip(request.scope, settings), clock())
        return signed_out_redirect(settings)  # this browser too: its cookie and its offline copy go now


def _session_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value[:64])
    except ValueError:
        raise NotFound(N_("no such session on this phone")) from None


async def _end_one(connection: PgConnection, session: Session, ended_id: uuid.UUID, now: datetime) -> None:
    kind = await revoke_phone_session(connection, session.phone, ended_id, session.id, now)
    if kind is None:
        raise NotFound(N_("no such session on this phone"))
    await record_auth_event(
        connection,
        "auth.session_ended",
        now,
        phone=session.phone,
        patient_id=session.patient_id,
        session_id=session.id,
        detail=f"{kind} {ended_id}",
    )


async def _end_all_others(connection: PgConnection, session: Session, now: datetime) -> None:
    ended = await revoke_other_sessions(connection, session.phone, session.id, now)
    await record_auth_event(
        connection,
        "auth.other_sessions_ended",
        now,
        phone=session.phone,
        patient_id=session.patient_id,
        session_id=session.id,
        detail=f"{ended} sessions",
    )
