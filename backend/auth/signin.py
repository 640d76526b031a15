"""Signing in by phone, for the web pages and the app API alike (contract §4): send a code, check it,
open a session on the books the phone may open; choose a book, confirm one with an activation code,
refresh tokens, sign out. Each step is one short transaction, and each outcome is audited."""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from backend.auth.activation import ActivationCodes, confirm_book
from backend.auth.books import Book, books_for_phone, recheck_open_book
from backend.auth.events import record_auth_event
from backend.auth.otp import Issued, OneTimeCodes, WrongCode
from backend.auth.sessions import (
    AppTokens,
    Kind,
    Session,
    open_book,
    refresh,
    revoke,
    revoke_everywhere,
    start_app_session,
    start_web_session,
)
from backend.database import Database, raw_transaction
from backend.errors import BadRequest, Gone, NotFound, TooManyRequests, Unauthorized
from backend.i18n import gettext_noop as N_  # noqa: N812 - the gettext convention
from backend.phones import normalize_phone

ACTIVATION_TRIES_PER_HOUR = 10


@dataclass(frozen=True)
class SignedIn:
    session: Session
    books: list[Book]
    cookie: str | None = None  # web
    tokens: AppTokens | None = None  # app


def six_digits(code: str) -> str:
    """The code as typed, spaces and dashes dropped (`123 456`); a 400 that costs no try when it cannot
    be a code at all, so a slip of the keyboard does not spend one of the five."""
    typed = "".join(unicodedata.normalize("NFKC", code).split()).replace("-", "")
    if len(typed) != 6 or not typed.isascii() or not typed.isdigit():
        raise BadRequest(N_("the code has 6 digits: type the 6 digits from the text message"))
    return typed


class SignIn:
    def __init__(self, database: Database, codes: OneTimeCodes, activation: ActivationCodes) -> None:
        self.database, self.codes, self.activation = database, codes, activation

    async def send_code(self, raw_phone: str, client_ip: str, now: datetime) -> Issued:
        phone = normalize_phone(raw_phone)
        if phone is None:
            raise BadRequest(N_("enter a Vietnamese phone number, like 0912 345 678"))
        async with raw_transaction(self.database) as connection:
            issued = await self.codes.issue(connection, phone, client_ip, now)
            await record_auth_event(connection, "auth.otp_sent", now, phone=phone, client_ip=client_ip)
        return issued

    async def verify(self, challenge_id: uuid.UUID, code: str, kind: Kind, client_ip: str, now: datetime) -> SignedIn:
        try:
            async with raw_transaction(self.database) as connection:
                try:
                    phone = await self.codes.count_try(connection, challenge_id, six_digits(code), now)
                except WrongCode as counted:  # leave the block normally: the try is committed
                    refused: WrongCode | None = counted
                else:
                    refused = None
            if refused is not None:
                raise refused
        except WrongCode as wrong:
            async with raw_transaction(self.database) as connection:
                await record_auth_event(
                    connection, "auth.otp_failed", now, client_ip=client_ip, detail=str(challenge_id)
                )
                if wrong.remaining == 0:  # that was the last try: the challenge is dead
                    await record_auth_event(
                        connection, "auth.otp_locked", now, client_ip=client_ip, detail=str(challenge_id)
                    )
            raise
        except Gone:
            async with raw_transaction(self.database) as connection:
                await record_auth_event(connection, "auth.otp_dead", now, client_ip=client_ip, detail=str(challenge_id))
            raise
        async with raw_transaction(self.database) as connection:
            await self.codes.consume(connection, challenge_id, now)
            books = await books_for_phone(connection, phone, now)
            chosen = books[0] if len(books) == 1 else None
            patient_id = chosen.patient_id if chosen else None
            read_only = chosen.read_only if chosen else True
            if kind == "web":
                session, cookie = await start_web_session(connection, phone, patient_id, read_only, now)
                signed_in = SignedIn(session, books, cookie=cookie)
            else:
                session, tokens = await start_app_session(connection, phone, patient_id, read_only, now)
                signed_in = SignedIn(session, books, tokens=tokens)
            await record_auth_event(
                connection,
                "auth.signed_in",
                now,
                phone=phone,
                patient_id=patient_id,
                session_id=session.id,
                client_ip=client_ip,
                detail=f"{kind}, {len(books)} books",
            )
        return signed_in

    async def books(self, session: Session, now: datetime) -> list[Book]:
        async with raw_transaction(self.database) as connection:
            return await books_for_phone(connection, session.phone, now)

    async def select(self, session: Session, book_id: uuid.UUID, now: datetime) -> Book:
        """Open one of the books this phone may open (another patient's id is simply not among them)."""
        async with raw_transaction(self.database) as connection:
            book = next(
                (b for b in await books_for_phone(connection, session.phone, now) if b.patient_id == book_id), None
            )
            if book is None:
                raise NotFound(N_("no such book"))
            await open_book(connection, session.id, book.patient_id, book.read_only)
            await record_auth_event(
                connection,
                "auth.book_opened",
                now,
                phone=session.phone,
                patient_id=book.patient_id,
                session_id=session.id,
            )
        return book

    async def activate(self, session: Session, code: str, client_ip: str, now: datetime) -> Book:
        """A hospital's activation code confirms its patient's book on this phone, in full, from now on."""
        async with raw_transaction(self.database) as connection:
            failures = await connection.fetchval(
                "SELECT count(*) FROM auth_event e JOIN auth_session s ON s.id = e.session_id"
                " WHERE s.phone = $1 AND e.event = 'auth.activation_failed' AND e.at > $2",
                session.phone,  # per phone, not per session: signing in again does not reset it
                now - timedelta(hours=1),
            )
            if failures >= ACTIVATION_TRIES_PER_HOUR:
                raise TooManyRequests(N_("too many wrong activation codes: wait an hour"), retry_after=3600)
            patient_id = await self.activation.redeem(connection, code, now)
            if patient_id is not None:
                await confirm_book(connection, session.phone, patient_id, now, "activation-code")
                await open_book(connection, session.id, patient_id, False)
                await record_auth_event(
                    connection,
                    "auth.book_activated",
                    now,
                    phone=session.phone,
                    patient_id=patient_id,
                    session_id=session.id,
                    client_ip=client_ip,
                )
        if patient_id is None:
            async with raw_transaction(self.database) as connection:
                await record_auth_event(
                    connection,
                    "auth.activation_failed",
                    now,
                    phone=session.phone,
                    session_id=session.id,
                    client_ip=client_ip,
                )
            raise BadRequest(N_("this activation code is not right, was already used, or has expired"))
        async with raw_transaction(self.database) as connection:
            books = await books_for_phone(connection, session.phone, now)
        return next(book for book in books if book.patient_id == patient_id)

    async def refresh(self, refresh_token: str, now: datetime) -> tuple[Session, AppTokens]:
        async with raw_transaction(self.database) as connection:
            renewed = await refresh(connection, refresh_token, now)
            if renewed is None:
                await record_auth_event(connection, "auth.refresh_reused", now, detail="session closed")
            else:
                session, tokens = renewed
                renewed = await recheck_open_book(connection, session, now), tokens
        if renewed is None:  # raised after the commit: the revocation must stick
            raise Unauthorized(N_("this refresh token was already used; the session is closed, sign in again"))
        return renewed

    async def sign_out(self, session: Session, now: datetime, *, everywhere: bool = False) -> None:
        async with raw_transaction(self.database) as connection:
            if everywhere:
                count = await revoke_everywhere(connection, session.phone, now)
                detail = f"{count} sessions"
            else:
                await revoke(connection, session.id, now)
                detail = session.kind
            event = "auth.signed_out_everywhere" if everywhere else "auth.signed_out"
            await record_auth_event(connection, event, now, phone=session.phone, session_id=session.id, detail=detail)
