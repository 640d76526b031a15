"""Staff accounts as an operator (`healthbook staff …`, contract §1) or a facility admin (their page)
manages them: each bound to one facility with one role; the password and TOTP secret are shown once, when
made, and stored only as a hash and a sealed value. Every change is audited with who made it (`by`:
`operator`, or `admin:{username}`); disabling a member or resetting their password or key ends their
sessions."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth.events import record_auth_event
from backend.database import driver_connection
from backend.errors import Conflict, NotFound, Unprocessable
from backend.i18n import gettext_noop as N_  # noqa: N812 - the gettext convention
from backend.keyring import Keyring
from backend.models.facility import Facility
from backend.models.staff import ROLES, StaffMember
from backend.staff.credentials import hash_password, new_password, new_totp_secret, totp_uri
from backend.staff.sessions import end_member_sessions

USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{2,63}")


def totp_purpose(username: str) -> str:
    """What a sealed TOTP secret is bound to (a secret copied to another member's row does not open)."""
    return f"staff:{username}:totp"


async def add_staff(
    session: AsyncSession,
    keyring: Keyring,
    facility_code: str,
    username: str,
    role: str,
    now: datetime,
    by: str,
    *,
    credentials: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """A new member, usable at once: their username, password, TOTP secret and its `otpauth://` URI.
    `credentials` (password, TOTP secret) are made here unless given (the demo's staff derive theirs)."""
    username = _checked_username(username)
    if role not in ROLES:
        raise Unprocessable(f"a role is one of {', '.join(ROLES)}")
    facility = (await session.exec(select(Facility).where(Facility.code == facility_code))).one_or_none()
    if facility is None:
        raise NotFound(f"no facility {facility_code}")
    assert facility.id is not None  # a stored row
    password, secret = credentials or (new_password(), new_totp_secret())
    member = StaffMember(
        username=username,
        facility_id=facility.id,
        role=role,
        password_hash=hash_password(password),
        totp_secret=keyring.seal(secret.encode(), totp_purpose(username)),
    )
    session.add(member)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"staff member {username} already exists") from exc
    await _audit(session, "staff.added", member, now, f"{role}, by {by}")
    return {"username": username, "password": password, "totp_secret": secret, "totp_uri": totp_uri(secret, username)}


async def disable_staff(
    session: AsyncSession, username: str, now: datetime, by: str, facility_id: int | None = None
) -> dict[str, Any]:
    """The member can no longer sign in, and every session of theirs ends now."""
    member = await _member(session, username, facility_id)
    if member.disabled_at is None:
        member.disabled_at = member.updated_at = now
        session.add(member)
        await session.flush()
        assert member.id is not None
        await end_member_sessions(await driver_connection(session), member.id, now)
        await _audit(session, "staff.disabled", member, now, f"by {by}")
    assert member.disabled_at is not None
    return {"username": member.username, "disabled_at": member.disabled_at.isoformat()}


async def reset_password(
    session: AsyncSession, username: str, now: datetime, by: str, facility_id: int | None = None
) -> dict[str, Any]:
    """A new password; the old one stops working, and so does every session opened with it."""
    member = await _enabled_member(session, username, facility_id)
    password = new_password()
    member.password_hash, member.updated_at = hash_password(password), now
    session.add(member)
    await session.flush()
    assert member.id is not None
    await end_member_sessions(await driver_connection(session), member.id, now)
    await _audit(session, "staff.password_reset", member, now, f"by {by}")
    return {"username": member.username, "password": password}


async def reset_totp(
    session: AsyncSession, keyring: Keyring, username: str, now: datetime, by: str, facility_id: int | None = None
) -> dict[str, Any]:
    """A new secret for a new authenticator app (a lost phone): the old app's codes stop working, and the
    member's sessions end (one may be open on the lost phone)."""
    member = await _enabled_member(session, username, facility_id)
    secret = new_totp_secret()
    member.totp_secret = keyring.seal(secret.encode(), totp_purpose(member.username))
    member.totp_last_step, member.updated_at = None, now
    session.add(member)
    await session.flush()
    assert member.id is not None
    await end_member_sessions(await driver_connection(session), member.id, now)  # the lost phone's too
    await _audit(session, "staff.totp_reset", member, now, f"by {by}")
    return {"username": member.username, "totp_secret": secret, "totp_uri": totp_uri(secret, member.username)}


def _checked_username(username: str) -> str:
    username = username.strip().lower()
    if not USERNAME.fullmatch(username):
        raise Unprocessable(
            "a username is 3 to 64 characters: a-z, 0-9, '.', '_', '-', starting with a letter or digit"
        )
    return username


async def _member(session: AsyncSession, username: str, facility_id: int | None = None) -> StaffMember:
    """The member by username; with `facility_id`, only one of that facility (an admin's reach)."""
    name = username.strip().lower()
    query = select(StaffMember).where(StaffMember.username == name)
    if facility_id is not None:
        query = query.where(StaffMember.facility_id == facility_id)
    member = (await session.exec(query.with_for_update())).one_or_none()
    if member is None:
        raise NotFound(N_("no such staff member"))
    return member


async def _enabled_member(session: AsyncSession, username: str, facility_id: int | None = None) -> StaffMember:
    member = await _member(session, username, facility_id)
    if member.disabled_at is not None:
        raise Conflict(N_("this staff member is disabled: a disabled account gets no new password or key"))
    return member


async def _audit(session: AsyncSession, event: str, member: StaffMember, now: datetime, detail: str) -> None:
    await record_auth_event(await driver_connection(session), event, now, staff_id=member.id, detail=detail)
