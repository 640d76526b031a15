"""The facility registry: who may push, and with which secret.

Webhook secrets are sealed under `DATA_KEYS` and bound to their facility. Rotation keeps the previous
secret valid for 24 hours so a hospital can switch its sender without losing a delivery.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.errors import Conflict, NotFound, Unprocessable
from backend.hospitals.signatures import new_webhook_secret, secret_key
from backend.keyring import Keyring
from backend.models import Facility
from backend.records.keys import FACILITY_CODE

PREVIOUS_SECRET_GRACE = timedelta(hours=24)


@dataclass(frozen=True)
class FacilityRef:
    """What the rest of the app needs to know of a facility."""

    id: int
    code: str
    name: str


def webhook_secret_purpose(code: str) -> str:
    """What a facility's sealed webhook secret is bound to."""
    return f"facility:{code}:webhook-secret"


def check_code(code: str) -> str:
    if not FACILITY_CODE.match(code):
        raise Unprocessable(f"a facility code (mã CSKCB) is 5 digits or capital letters, not {code!r}")
    return code


async def add_facility(session: AsyncSession, keyring: Keyring, code: str, name: str) -> tuple[FacilityRef, str]:
    """Register a facility; returns it and its first webhook secret (shown once, stored sealed)."""
    check_code(code)
    if not name.strip():
        raise Unprocessable("a facility needs a name")
    secret = new_webhook_secret()
    sealed = keyring.seal(secret.encode(), webhook_secret_purpose(code))
    facility = Facility(code=code, name=name.strip(), webhook_secret=sealed)
    session.add(facility)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"facility {code} already exists") from exc
    return _ref(facility), secret


async def rotate_secret(session: AsyncSession, keyring: Keyring, code: str, now: datetime) -> str:
    facility = await _load(session, code, for_update=True)
    secret = new_webhook_secret()
    facility.previous_webhook_secret = facility.webhook_secret
    facility.previous_secret_expires_at = now + PREVIOUS_SECRET_GRACE
    facility.webhook_secret = keyring.seal(secret.encode(), webhook_secret_purpose(code))
    session.add(facility)
    await session.flush()
    return secret


async def find_facility(session: AsyncSession, code: str) -> FacilityRef | None:
    facility = (await session.exec(select(Facility).where(Facility.code == code))).one_or_none()
    return _ref(facility) if facility else None


async def webhook_keys(
    session: AsyncSession, keyring: Keyring, code: str, now: datetime
) -> tuple[FacilityRef, list[bytes]] | None:
    """The facility and the HMAC keys its deliveries may be signed with now (two during a rotation)."""
    facility = (await session.exec(select(Facility).where(Facility.code == code))).one_or_none()
    if facility is None:
        return None
    sealed = [facility.webhook_secret]
    if (
        facility.previous_webhook_secret
        and facility.previous_secret_expires_at
        and now < facility.previous_secret_expires_at
    ):
        sealed.append(facility.previous_webhook_secret)
    keys = [secret_key(keyring.open(value, webhook_secret_purpose(code)).decode()) for value in sealed]
    return _ref(facility), keys


async def current_secret(session: AsyncSession, keyring: Keyring, code: str) -> str:
    """The facility's current secret in clear (for the demo loader, which signs as the facility would)."""
    facility = await _load(session, code)
    return keyring.open(facility.webhook_secret, webhook_secret_purpose(code)).decode()


async def _load(session: AsyncSession, code: str, *, for_update: bool = False) -> Facility:
    query = select(Facility).where(Facility.code == code)
    if for_update:
        query = query.with_for_update()
    facility = (await session.exec(query)).one_or_none()
    if facility is None:
        raise NotFound(f"no facility {code}")
    return facility


def _ref(facility: Facility) -> FacilityRef:
    assert facility.id is not None
    return FacilityRef(facility.id, facility.code, facility.name)
