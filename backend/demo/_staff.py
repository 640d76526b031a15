"""The demo's hospital staff, so that `make run` can show the reception desk and the facility admin's page:
a receptionist and a facility admin of the first demo facility. Their password and TOTP secret are derived
from this machine's `SECRET_KEY` (not written in the code, so no two installations share them) and printed
at start; never made in production."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from sqlmodel import select

from backend.clock import system_clock
from backend.database import Database
from backend.demo_people import FACILITIES
from backend.keyring import Keyring
from backend.models.staff import StaffMember
from backend.settings import Settings
from backend.staff.accounts import add_staff
from backend.staff.credentials import totp_uri

DEMO_STAFF = (("demo.letan", "receptionist"), ("demo.quantri", "facility_admin"))


@dataclass(frozen=True)
class DemoStaff:
    username: str
    role: str
    facility: str
    password: str
    totp_secret: str

    @property
    def totp_uri(self) -> str:
        return totp_uri(self.totp_secret, self.username)


def demo_staff(settings: Settings) -> list[DemoStaff]:
    def derived(purpose: str) -> bytes:
        return hmac.new(settings.secret_key.encode(), purpose.encode(), hashlib.sha256).digest()

    return [
        DemoStaff(
            username,
            role,
            FACILITIES[0].code,
            base64.urlsafe_b64encode(derived(f"demo-staff:{username}:password")[:15]).decode(),
            base64.b32encode(derived(f"demo-staff:{username}:totp")[:20]).decode(),
        )
        for username, role in DEMO_STAFF
    ]


async def ensure_demo_staff(settings: Settings, database_url: str) -> list[DemoStaff]:
    """Add the demo staff who are missing (an operator's later reset is kept); none in production."""
    if settings.is_prod:
        return []
    members = demo_staff(settings)
    database = Database.for_a_command(database_url, transaction_pooler=settings.transaction_pooler)
    try:
        async with database.sessionmaker() as session, session.begin():
            for member in members:
                found = await session.exec(select(StaffMember).where(StaffMember.username == member.username))
                if found.one_or_none() is None:
                    await add_staff(
                        session,
                        Keyring(settings.data_keys),
                        member.facility,
                        member.username,
                        member.role,
                        system_clock(),
                        "demo",
                        credentials=(member.password, member.totp_secret),
                    )
    finally:
        await database.dispose()
    return members
