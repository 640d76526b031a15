"""Who signed in with the national ID, and which sessions that opens (docs/identity.md, "National ID
sign-in").

The provider's CCCD claim names the patient: their book, created empty when no hospital has sent
anything yet (a hospital's later push fills it). The book is then confirmed (`book_access`, by `oidc`)
for the phone the session runs under, chosen in this order:

1. the phone of the patient session this browser (or app) already holds, signed in by SMS code, but only
   when that phone already reaches this book (a hospital gave it for this patient, or it was confirmed
   before): a person signing in on someone else's phone must not hand their book to that phone;
2. the provider's `phone_number`, when it is a Vietnamese number the provider says it verified
   (`phone_number_verified: true`, OIDC Core §5.1);
3. otherwise an account key, `oidc:` + 24 hex digits of SHA-256(issuer | subject): stable for the person
   at that provider, meaningless anywhere else.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from backend.auth.activation import confirm_book
from backend.auth.books import Book, books_for_phone
from backend.auth.events import record_auth_event
from backend.auth.sessions import AppTokens, Session, revoke, start_app_session, start_web_session
from backend.database import PgConnection
from backend.oidc.refusals import NO_CCCD, Refused
from backend.phones import ACCOUNT_KEY_PREFIX, normalize_phone
from backend.records.reads import find_patient
from backend.records.store import register_patients

_CCCD = re.compile(r"[0-9]{12}")


@dataclass(frozen=True)
class VerifiedPerson:
    cccd: str = field(repr=False)
    phone: str | None  # E.164, from the provider
    account_key: str

    def own_phone(self) -> tuple[str, str]:
        """The phone (or account key) this person's sessions run under, and which rule chose it."""
        return (self.phone, "phone claim") if self.phone else (self.account_key, "account key")


def person_from_claims(claims: Mapping[str, Any], cccd_claim: str) -> VerifiedPerson:
    cccd = claims.get(cccd_claim)
    if not isinstance(cccd, str) or not _CCCD.fullmatch(cccd):
        raise Refused("cccd claim missing or malformed", NO_CCCD, 401)
    phone = None
    if isinstance(claims.get("phone_number"), str) and claims.get("phone_number_verified") is True:
        phone = normalize_phone(claims["phone_number"])
    subject = f"{claims['iss']}|{claims['sub']}"
    return VerifiedPerson(cccd, phone, ACCOUNT_KEY_PREFIX + hashlib.sha256(subject.encode()).hexdigest()[:24])


async def book_of(connection: PgConnection, cccd: str) -> tuple[uuid.UUID, bool]:
    """The patient with this CCCD, registered now when unknown ("can create the account"); and whether new."""
    existing = await find_patient(connection, cccd)
    if existing is not None:
        return existing, False
    return (await register_patients(connection, [cccd]))[cccd], True


async def replace_session(connection: PgConnection, current: Session | None, now: datetime) -> None:
    """One browser (or app), one session: the one held before ends when the new one starts."""
    if current is not None:
        await revoke(connection, current.id, now)
        await record_auth_event(
            connection, "auth.signed_out", now, phone=current.phone, session_id=current.id, detail="national ID"
        )


async def sign_in_web(
    connection: PgConnection, person: VerifiedPerson, current: Session | None, client_ip: str, now: datetime
) -> tuple[Session, str]:
    """A new web session (a fresh id, check B1) on this person's book, in full; its cookie value."""
    patient_id, created = await book_of(connection, person.cccd)
    phone, rule = await _confirm_for(connection, person.own_phone(), current, patient_id, now)
    session, cookie = await start_web_session(connection, phone, patient_id, False, now)
    detail = f"web, {rule}{', new account' if created else ''}"
    await _signed_in(connection, session, client_ip, detail, now)
    return session, cookie


async def sign_in_app(
    connection: PgConnection,
    patient_id: uuid.UUID,
    own_phone: str,
    current: Session | None,
    client_ip: str,
    now: datetime,
) -> tuple[AppTokens, list[Book]]:
    """A new app session on this book, in full (contract §4's token answer)."""
    own_rule = "account key" if own_phone.startswith(ACCOUNT_KEY_PREFIX) else "phone claim"
    phone, rule = await _confirm_for(connection, (own_phone, own_rule), current, patient_id, now)
    session, tokens = await start_app_session(connection, phone, patient_id, False, now)
    await _signed_in(connection, session, client_ip, f"api, {rule}", now)
    return tokens, await books_for_phone(connection, phone, now)


async def _confirm_for(
    connection: PgConnection,
    person_phone: tuple[str, str],
    current: Session | None,
    patient_id: uuid.UUID,
    now: datetime,
) -> tuple[str, str]:
    """The phone (or account key) the new session runs under, and the rule that chose it; the session held
    before ends, and the book is confirmed for that phone. Rule 1 before rules 2 and 3: a session signed
    in by a phone that already reaches this book keeps that phone; any other phone is left as it was."""
    phone, rule = person_phone
    if current is not None and not current.phone.startswith(ACCOUNT_KEY_PREFIX):
        reachable = {book.patient_id for book in await books_for_phone(connection, current.phone, now)}
        if patient_id in reachable:
            phone, rule = current.phone, "phone session"
    await replace_session(connection, current, now)
    await confirm_book(connection, phone, patient_id, now, "oidc")
    return phone, rule


async def _signed_in(connection: PgConnection, session: Session, client_ip: str, detail: str, now: datetime) -> None:
    await record_auth_event(
        connection,
        "auth.oidc_signed_in",
        now,
        phone=session.phone,
        patient_id=session.patient_id,
        session_id=session.id,
        client_ip=client_ip,
        detail=detail,
    )
