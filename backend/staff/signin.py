"""Staff sign-in (contract §6 `/staff/login`): username, password and the TOTP code, checked together and
refused with one message whatever was wrong, so a guess learns nothing about which part was right.

The password is checked first, holding no lock and no database connection (argon2 is slow on purpose).
Then, with the member's row locked, the failures are counted again and the TOTP code is checked: a step
is used once, and the same code replayed, even in parallel, is refused. Failures are counted in the audit
trail per member and address (10 in 15 minutes), per address (30) and per member from everywhere (100,
against a spread-out guesser), so one person cannot lock a colleague out from another desk. Every
sign-in, every failure and every refusal for too many failures is audited."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from backend.auth.events import record_auth_event
from backend.database import Database, PgConnection, raw_transaction
from backend.errors import TooManyRequests, Unauthorized
from backend.i18n import gettext_noop as N_  # noqa: N812 - the gettext convention
from backend.keyring import Keyring, SealedValueError
from backend.staff.accounts import totp_purpose
from backend.staff.credentials import hash_password, matching_step, password_matches
from backend.staff.sessions import end_staff_session, start_staff_session

FAILURE_WINDOW = timedelta(minutes=15)
FAILURES_PER_MEMBER_AND_ADDRESS = 10
FAILURES_PER_ADDRESS = 30
FAILURES_PER_MEMBER = 100
FAILED, THROTTLED = "staff.sign_in_failed", "staff.sign_in_throttled"
WRONG = N_("the username, password or code is not right")
WAIT = N_("too many failed sign-ins: wait 15 minutes, or ask your facility admin")
_MEMBER_ID = "SELECT id FROM staff_member WHERE username = $1"
_MEMBER_ID_LOCKED = "SELECT id FROM staff_member WHERE username = $1 FOR UPDATE"


@dataclass(frozen=True)
class StaffSignedIn:
    session_id: uuid.UUID
    cookie: str
    staff_id: int
    role: str


@cache
def _dummy_hash() -> str:
    """Unknown usernames cost the same hash check; made at the first sign-in, not at every start-up."""
    return hash_password("not a password anyone has")


class SignInRefused(Exception):
    """Why a staff sign-in failed, for the audit trail only: the person sees `WRONG` (or `WAIT`)."""

    def __init__(self, reason: str, staff_id: int | None, *, event: str = FAILED) -> None:
        super().__init__(reason)
        self.reason, self.staff_id, self.event = reason, staff_id, event


class StaffSignIn:
    def __init__(self, database: Database, keyring: Keyring) -> None:
        self.database, self.keyring = database, keyring

    async def sign_in(self, username: str, password: str, code: str, client_ip: str, now: datetime) -> StaffSignedIn:
        name = username.strip().lower()[:64]
        try:
            async with raw_transaction(self.database) as connection:
                staff_id = await _not_throttled(connection, name, client_ip, now)
                stored_hash = await connection.fetchval(
                    "SELECT password_hash FROM staff_member WHERE id = $1", staff_id
                )
            password_ok = await asyncio.to_thread(password_matches, stored_hash or _dummy_hash(), password[:256])
            if staff_id is None:
                raise SignInRefused("unknown username", None)
            if not password_ok:
                raise SignInRefused("wrong password", staff_id)
            async with raw_transaction(self.database) as connection:
                await _not_throttled(connection, name, client_ip, now, lock=True)
                signed_in = await self._check_code(connection, staff_id, code, now)
                await record_auth_event(
                    connection,
                    "staff.signed_in",
                    now,
                    session_id=signed_in.session_id,
                    staff_id=signed_in.staff_id,
                    client_ip=client_ip,
                    detail=signed_in.role,
                )
        except SignInRefused as refused:
            async with raw_transaction(self.database) as connection:
                await record_auth_event(
                    connection,
                    refused.event,
                    now,
                    staff_id=refused.staff_id,
                    client_ip=client_ip,
                    detail=refused.reason,
                )
            if refused.event == THROTTLED:
                raise TooManyRequests(WAIT, retry_after=int(FAILURE_WINDOW.total_seconds())) from None
            raise Unauthorized(WRONG) from None
        return signed_in

    async def sign_out(self, session_id: uuid.UUID, staff_id: int, now: datetime) -> None:
        async with raw_transaction(self.database) as connection:
            await end_staff_session(connection, session_id, now)
            await record_auth_event(connection, "staff.signed_out", now, session_id=session_id, staff_id=staff_id)

    async def _check_code(self, connection: PgConnection, staff_id: int, code: str, now: datetime) -> StaffSignedIn:
        """With the member's row locked (the caller's `_not_throttled(lock=True)`): the TOTP step, used once."""
        member = await connection.fetchrow(
            "SELECT id, username, role, totp_secret, totp_last_step, disabled_at FROM staff_member WHERE id = $1",
            staff_id,
        )
        assert member is not None  # its row is locked: it cannot have gone
        secret = self._totp_secret(member["username"], member["totp_secret"])
        if secret is None:
            raise SignInRefused("TOTP secret does not open under DATA_KEYS: reset it", staff_id)
        step = matching_step(secret, code, now, member["totp_last_step"])
        if step is None:
            raise SignInRefused("wrong or reused TOTP code", staff_id)
        if member["disabled_at"] is not None:
            raise SignInRefused("disabled", staff_id)
        await connection.execute("UPDATE staff_member SET totp_last_step = $2 WHERE id = $1", staff_id, step)
        session_id, cookie = await start_staff_session(connection, staff_id, now)
        return StaffSignedIn(session_id, cookie, staff_id, member["role"])

    def _totp_secret(self, username: str, sealed: str) -> str | None:
        try:
            return self.keyring.open(sealed, totp_purpose(username)).decode()
        except SealedValueError:
            return None  # sealed under a key DATA_KEYS no longer holds: the operator resets it


async def _not_throttled(
    connection: PgConnection, name: str, client_ip: str, now: datetime, *, lock: bool = False
) -> int | None:
    """The member's id (None when unknown), unless too many sign-ins failed lately. With `lock`, the
    member's row is locked first, so parallel attempts on one member are counted one after another."""
    staff_id: int | None = await connection.fetchval(_MEMBER_ID_LOCKED if lock else _MEMBER_ID, name)
    counts = await connection.fetchrow(
        "SELECT count(*) FILTER (WHERE staff_id = $1 AND client_ip = $2) AS member_and_address,"
        " count(*) FILTER (WHERE client_ip = $2) AS address, count(*) FILTER (WHERE staff_id = $1) AS member"
        " FROM auth_event WHERE event = 'staff.sign_in_failed' AND at > $3 AND (staff_id = $1 OR client_ip = $2)",
        staff_id,
        client_ip,
        now - FAILURE_WINDOW,
    )
    assert counts is not None  # an aggregate always answers one row
    if (
        counts["member_and_address"] >= FAILURES_PER_MEMBER_AND_ADDRESS
        or counts["address"] >= FAILURES_PER_ADDRESS
        or counts["member"] >= FAILURES_PER_MEMBER
    ):
        raise SignInRefused("too many failed sign-ins", staff_id, event=THROTTLED)
    return staff_id
