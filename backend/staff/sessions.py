"""Staff sessions, in their own table like the patients' (standards: Sign-in): a fresh random cookie at
every sign-in, only its SHA-256 stored, 30 minutes idle and 12 hours at most. The member's account is read
with the session on every request, so a disabled member, or one whose password was reset, is signed out
at their very next request (check B4)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from backend.database import PgConnection

STAFF_IDLE = timedelta(minutes=30)
STAFF_LIFETIME = timedelta(hours=12)
_TOUCH_EVERY = timedelta(minutes=1)  # last_seen is written at most once a minute


@dataclass(frozen=True)
class StaffPrincipal:
    """Who a staff request comes from: the member, their one facility and role, and the session."""

    session_id: uuid.UUID
    staff_id: int
    username: str
    role: str
    facility_id: int
    facility_code: str
    facility_name: str

    @property
    def is_facility_admin(self) -> bool:
        return self.role == "facility_admin"


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def start_staff_session(connection: PgConnection, staff_id: int, now: datetime) -> tuple[uuid.UUID, str]:
    session_id, cookie = uuid.uuid4(), secrets.token_urlsafe(32)
    await connection.execute(
        "INSERT INTO staff_session (id, token_hash, staff_id, created_at, last_seen_at, expires_at)"
        " VALUES ($1, $2, $3, $4, $4, $5)",
        session_id,
        _hash(cookie),
        staff_id,
        now,
        now + STAFF_LIFETIME,
    )
    return session_id, cookie


async def resolve_staff(connection: PgConnection, cookie: str, now: datetime) -> StaffPrincipal | None:
    """The live session a cookie belongs to, of a member who is still enabled; None for anything else."""
    row = await connection.fetchrow(
        "SELECT s.id, s.last_seen_at, m.id AS staff_id, m.username, m.role, f.id AS facility_id,"
        " f.code, f.name FROM staff_session s"
        " JOIN staff_member m ON m.id = s.staff_id JOIN facility f ON f.id = m.facility_id"
        " WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND m.disabled_at IS NULL",
        _hash(cookie),
        now,
    )
    if row is None or row["last_seen_at"] + STAFF_IDLE <= now:
        return None
    if row["last_seen_at"] + _TOUCH_EVERY <= now:
        await connection.execute("UPDATE staff_session SET last_seen_at = $2 WHERE id = $1", row["id"], now)
    return StaffPrincipal(
        row["id"], row["staff_id"], row["username"], row["role"], row["facility_id"], row["code"], row["name"]
    )


async def end_staff_session(connection: PgConnection, session_id: uuid.UUID, now: datetime) -> None:
    await connection.execute(
        "UPDATE staff_session SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL", session_id, now
    )


async def end_member_sessions(connection: PgConnection, staff_id: int, now: datetime) -> int:
    """Every session of this member, on every browser: they are disabled, or their password was reset."""
    result = await connection.execute(
        "UPDATE staff_session SET revoked_at = $2 WHERE staff_id = $1 AND revoked_at IS NULL", staff_id, now
    )
    return int(result.split()[-1])
