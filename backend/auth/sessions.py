"""Sessions in our own table (standards: Sign-in): a fresh random id at every sign-in, never one a client
chose; only its SHA-256 is stored. Web sessions live 30 minutes idle and 12 hours at most; app sessions
hold a short access token and a rotating refresh token (a refresh token used twice ends the session:
it was copied). Signing out revokes the session and every credential of it."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from backend.database import PgConnection
from backend.errors import Unauthorized
from backend.i18n import gettext_noop as N_  # noqa: N812 - the gettext convention

WEB_IDLE = timedelta(minutes=30)
WEB_LIFETIME = timedelta(hours=12)
ACCESS_LIFETIME = timedelta(minutes=10)
REFRESH_LIFETIME = timedelta(days=30)  # an app session lives as long as it keeps refreshing
APP_LIFETIME = timedelta(days=90)
_TOUCH_EVERY = timedelta(minutes=1)  # last_seen is written at most once a minute

Kind = Literal["web", "api"]


@dataclass(frozen=True)
class Session:
    id: uuid.UUID
    kind: Kind
    phone: str
    patient_id: uuid.UUID | None
    read_only: bool
    expires_at: datetime  # the session's absolute end, whatever its idle time


@dataclass(frozen=True)
class AppTokens:
    access_token: str
    refresh_token: str
    expires_in: int


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def start_web_session(
    connection: PgConnection, phone: str, patient_id: uuid.UUID | None, read_only: bool, now: datetime
) -> tuple[Session, str]:
    session = await _start(connection, "web", phone, patient_id, read_only, now, now + WEB_LIFETIME)
    cookie = secrets.token_urlsafe(32)
    await _add_credential(connection, session.id, "cookie", cookie, now, now + WEB_LIFETIME)
    return session, cookie


async def start_app_session(
    connection: PgConnection, phone: str, patient_id: uuid.UUID | None, read_only: bool, now: datetime
) -> tuple[Session, AppTokens]:
    session = await _start(connection, "api", phone, patient_id, read_only, now, now + APP_LIFETIME)
    return session, await _issue_app_tokens(connection, session.id, now)


async def resolve(
    connection: PgConnection, token: str, kinds: tuple[str, ...], now: datetime
) -> tuple[Session, bool] | None:
    """The live session a cookie or access token belongs to, and whether it was touched now (at most
    once a minute: the caller re-checks what it may open then); None for anything else."""
    row = await connection.fetchrow(
        "SELECT s.id, s.kind, s.phone, s.patient_id, s.read_only, s.expires_at, s.last_seen_at FROM auth_credential c"
        " JOIN auth_session s ON s.id = c.session_id"
        " WHERE c.token_hash = $1 AND c.kind = ANY($2::text[]) AND c.expires_at > $3 AND c.used_at IS NULL"
        " AND s.revoked_at IS NULL AND s.expires_at > $3",
        _hash(token),
        list(kinds),
        now,
    )
    if row is None:
        return None
    if row["kind"] == "web" and row["last_seen_at"] + WEB_IDLE <= now:
        return None  # idle for 30 minutes: signed out
    touched = row["last_seen_at"] + _TOUCH_EVERY <= now
    if touched:
        await connection.execute("UPDATE auth_session SET last_seen_at = $2 WHERE id = $1", row["id"], now)
    session = Session(row["id"], row["kind"], row["phone"], row["patient_id"], row["read_only"], row["expires_at"])
    return session, touched


async def refresh(connection: PgConnection, refresh_token: str, now: datetime) -> tuple[Session, AppTokens] | None:
    """New access and refresh tokens; the old refresh token dies. A refresh token presented a second time
    was copied: the whole session ends and None is returned, so the caller commits the revocation before
    it refuses."""
    row = await connection.fetchrow(
        "SELECT c.session_id, c.used_at, c.expires_at FROM auth_credential c"
        " WHERE c.token_hash = $1 AND c.kind = 'refresh' FOR UPDATE",
        _hash(refresh_token),
    )
    if row is None:
        raise Unauthorized(N_("unknown refresh token"))
    if row["used_at"] is not None:
        await revoke(connection, row["session_id"], now)
        return None
    session_row = await connection.fetchrow(
        "SELECT id, kind, phone, patient_id, read_only, expires_at FROM auth_session"
        " WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2",
        row["session_id"],
        now,
    )
    if session_row is None or row["expires_at"] <= now:
        raise Unauthorized(N_("this session has ended: sign in again"))
    await connection.execute("UPDATE auth_credential SET used_at = $2 WHERE token_hash = $1", _hash(refresh_token), now)
    await connection.execute(
        "UPDATE auth_credential SET expires_at = $2 WHERE session_id = $1 AND kind = 'access' AND expires_at > $2",
        row["session_id"],
        now,
    )  # the access tokens of the old pair die with it
    session = Session(
        session_row["id"],
        session_row["kind"],
        session_row["phone"],
        session_row["patient_id"],
        session_row["read_only"],
        session_row["expires_at"],
    )
    return session, await _issue_app_tokens(connection, session.id, now)


async def revoke(connection: PgConnection, session_id: uuid.UUID, now: datetime) -> None:
    await connection.execute(
        "UPDATE auth_session SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL", session_id, now
    )


async def revoke_everywhere(connection: PgConnection, phone: str, now: datetime) -> int:
    """Every session of this phone, on every device: "sign out everywhere"."""
    result = await connection.execute(
        "UPDATE auth_session SET revoked_at = $2 WHERE phone = $1 AND revoked_at IS NULL", phone, now
    )
    return int(result.split()[-1])


async def open_book(
    connection: PgConnection, session_id: uuid.UUID, patient_id: uuid.UUID | None, read_only: bool
) -> None:
    await connection.execute(
        "UPDATE auth_session SET patient_id = $2, read_only = $3 WHERE id = $1", session_id, patient_id, read_only
    )


async def _start(
    connection: PgConnection,
    kind: Kind,
    phone: str,
    patient_id: uuid.UUID | None,
    read_only: bool,
    now: datetime,
    expires_at: datetime,
) -> Session:
    session_id = uuid.uuid4()
    await connection.execute(
        "INSERT INTO auth_session (id, kind, phone, patient_id, read_only, created_at, last_seen_at, expires_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $6, $7)",
        session_id,
        kind,
        phone,
        patient_id,
        read_only,
        now,
        expires_at,
    )
    return Session(session_id, kind, phone, patient_id, read_only, expires_at)


async def _issue_app_tokens(connection: PgConnection, session_id: uuid.UUID, now: datetime) -> AppTokens:
    access, refresh_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    await _add_credential(connection, session_id, "access", access, now, now + ACCESS_LIFETIME)
    await _add_credential(connection, session_id, "refresh", refresh_token, now, now + REFRESH_LIFETIME)
    return AppTokens(access, refresh_token, int(ACCESS_LIFETIME.total_seconds()))


async def _add_credential(
    connection: PgConnection, session_id: uuid.UUID, kind: str, token: str, now: datetime, expires_at: datetime
) -> None:
    await connection.execute(
        "INSERT INTO auth_credential (token_hash, session_id, kind, created_at, expires_at)"
        " VALUES ($1, $2, $3, $4, $5)",
        _hash(token),
        session_id,
        kind,
        now,
        expires_at,
    )


# --- What `/settings` shows and ends: the sessions of one phone ------------------------------------------


@dataclass(frozen=True)
class LiveSession:
    """A session as its phone's holder sees it in `/settings`: the id is the row's, not a credential."""

    id: uuid.UUID
    kind: Kind
    started_at: datetime
    last_seen_at: datetime


async def live_sessions(connection: PgConnection, phone: str, now: datetime) -> list[LiveSession]:
    """Every session of this phone that still opens something: not revoked, within its absolute end, a web
    session not idle for 30 minutes, and holding a credential that still works (an app's refresh token
    that was not renewed for 30 days ends it). The most recently used first."""
    rows = await connection.fetch(
        "SELECT s.id, s.kind, s.created_at, s.last_seen_at FROM auth_session s"
        " WHERE s.phone = $1 AND s.revoked_at IS NULL AND s.expires_at > $2"
        " AND (s.kind <> 'web' OR s.last_seen_at > $3)"
        " AND EXISTS (SELECT 1 FROM auth_credential c"
        " WHERE c.session_id = s.id AND c.expires_at > $2 AND c.used_at IS NULL)"
        " ORDER BY s.last_seen_at DESC, s.created_at DESC",
        phone,
        now,
        now - WEB_IDLE,
    )
    return [LiveSession(row["id"], row["kind"], row["created_at"], row["last_seen_at"]) for row in rows]


async def revoke_phone_session(
    connection: PgConnection, phone: str, session_id: uuid.UUID, keep: uuid.UUID, now: datetime
) -> Kind | None:
    """End one session of this phone other than `keep` (the caller's own); its kind, or None when there is
    no such session of this phone: another phone's session is not this phone's to end."""
    kind: Kind | None = await connection.fetchval(
        "UPDATE auth_session SET revoked_at = $4 WHERE id = $1 AND phone = $2 AND id <> $3 AND revoked_at IS NULL"
        " RETURNING kind",
        session_id,
        phone,
        keep,
        now,
    )
    return kind


async def revoke_other_sessions(connection: PgConnection, phone: str, keep: uuid.UUID, now: datetime) -> int:
    """Every session of this phone but `keep`: "sign out all others"."""
    result = await connection.execute(
        "UPDATE auth_session SET revoked_at = $3 WHERE phone = $1 AND id <> $2 AND revoked_at IS NULL",
        phone,
        keep,
        now,
    )
    return int(result.split()[-1])


async def revoke_book_sessions(connection: PgConnection, phone: str, patient_id: uuid.UUID, now: datetime) -> int:
    """Every session of this phone, and every session of any phone that has this book open: closing an
    account leaves nobody signed in to it."""
    result = await connection.execute(
        "UPDATE auth_session SET revoked_at = $3 WHERE (phone = $1 OR patient_id = $2) AND revoked_at IS NULL",
        phone,
        patient_id,
        now,
    )
    return int(result.split()[-1])
