"""Staff sign-in (contract §6 `/staff/login`): username, password and the TOTP code, checked together and
refused with one message whatever was wrong, so a guess learns nothing about which part was right.

A TOTP step is used once: the member's row is locked while it is checked, and the step is stored with the
new session, so the same code replayed (even in parallel) is refused. Failures are counted per member and
per client address in the audit trail and slow guessing down: 10 per member or 30 per address in 15
minutes, then a wait. Every sign-in and every failure is audited."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from backend.auth.events import record_auth_event
from backend.database import Database, PgConnection, raw_transaction
from backend.errors import TooManyRequests, Unauthorized
from backend.i18n import gettext_noop as N_  # noqa: N812 - the gettext convention
from backend.keyring import Keyring, SealedValueError
from backend.staff.accounts import totp_purpose
from backend.staff.credentials import hash_password, matching_step, password_matches
from backend.staff.sessions import end_staff_session, start_staff_session

FAILURE_WINDOW = timedelta(minutes=15)
FAILURES_PER_MEMBER = 10
FAILURES_PER_ADDRESS = 30
WRONG = N_("the username, password or code is not right")
_DUMMY_HASH = hash_password("not a password anyone has")  # unknown usernames cost the same hash check


@dataclass(frozen=True)
class StaffSignedIn:
    session_id: uuid.UUID
    cookie: str
    staff_id: int
    role: str


class Refused(Exception):
    """Why a sign-in failed, for the audit trail only: the person sees `WRONG`."""

    def __init__(self, reason: str, staff_id: int | None) -> None:
        super().__init__(reason)
        self.reason, self.staff_id = reason, staff_id


class StaffSignIn:
    def __init__(self, database: Database, keyring: Keyring) -> None:
        self.database, self.keyring = database, keyring

    async def sign_in(self, username: str, password: str, code: str, client_ip: str, now: datetime) -> StaffSignedIn:
        name = username.strip().lower()[:64]
        async with raw_transaction(self.database) as connection:
            await self._check_not_throttled(connection, name, client_ip, now)
        try:
            async with raw_transaction(self.database) as connection:
                signed_in = await self._check(connection, name, password, code, now)
                await record_auth_event(
                    connection,
                    "staff.signed_in",
                    now,
                    session_id=signed_in.session_id,
                    staff_id=signed_in.staff_id,
                    client_ip=client_ip,
                    detail=signed_in.role,
                )
        except Refused as refused:
            async with raw_transaction(self.database) as connection:
                await record_auth_event(
                    connection,
                    "staff.sign_in_failed",
                    now,
                    staff_id=refused.staff_id,
                    client_ip=client_ip,
                    detail=refused.reason,
                )
            raise Unauthorized(WRONG) from None
        return signed_in

    async def sign_out(self, session_id: uuid.UUID, staff_id: int, now: datetime) -> None:
        async with raw_transaction(self.database) as connection:
            await end_staff_session(connection, session_id, now)
            await record_auth_event(connection, "staff.signed_out", now, session_id=session_id, staff_id=staff_id)

    async def _check(
        self, connection: PgConnection, name: str, password: str, code: str, now: datetime
    ) -> StaffSignedIn:
        member = await connection.fetchrow(
            "SELECT id, username, role, password_hash, totp_secret, totp_last_step, disabled_at"
            " FROM staff_member WHERE username = $1 FOR UPDATE",  # one TOTP check at a time per member
            name,
        )
        stored_hash = member["password_hash"] if member else _DUMMY_HASH
        password_ok = await asyncio.to_thread(password_matches, stored_hash, password[:256])
        if member is None:
            raise Refused("unknown username", None)
        if not password_ok:
            raise Refused("wrong password", member["id"])
        step = matching_step(
            self._totp_secret(member["username"], member["totp_secret"]), code, now, member["totp_last_step"]
        )
        if step is None:
            raise Refused("wrong or reused TOTP code", member["id"])
        if member["disabled_at"] is not None:
            raise Refused("disabled", member["id"])
        await connection.execute("UPDATE staff_member SET totp_last_step = $2 WHERE id = $1", member["id"], step)
        session_id, cookie = await start_staff_session(connection, member["id"], now)
        return StaffSignedIn(session_id, cookie, member["id"], member["role"])

    def _totp_secret(self, username: str, sealed: str) -> str:
        try:
            return self.keyring.open(sealed, totp_purpose(username)).decode()
        except SealedValueError:
            return ""  # a secret we cannot open matches no code; the operator resets it

    @staticmethod
    async def _check_not_throttled(connection: PgConnection, name: str, client_ip: str, now: datetime) -> None:
        since = now - FAILURE_WINDOW
        by_member = await connection.fetchval(
            "SELECT count(*) FROM auth_event e JOIN staff_member m ON m.id = e.staff_id"
            " WHERE m.username = $1 AND e.event = 'staff.sign_in_failed' AND e.at > $2",
            name,
            since,
        )
        by_address = await connection.fetchval(
            "SELECT count(*) FROM auth_event WHERE client_ip = $1 AND event = 'staff.sign_in_failed' AND at > $2",
            client_ip,
            since,
        )
        if by_member >= FAILURES_PER_MEMBER or by_address >= FAILURES_PER_ADDRESS:
            raise TooManyRequests(
                N_("too many failed sign-ins: wait 15 minutes, or ask your facility admin"),
                retry_after=int(FAILURE_WINDOW.total_seconds()),
            )
