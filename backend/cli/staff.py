"""`healthbook staff add | disable | reset-password | reset-totp` (contract §1)."""

from __future__ import annotations

from typing import Any

import click
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.cli._common import command_settings, emit, in_session
from backend.cli._group import cli
from backend.clock import system_clock
from backend.keyring import Keyring
from backend.models.staff import ROLES
from backend.staff.accounts import add_staff, disable_staff, reset_password, reset_totp

OPERATOR = "operator"  # who made a change, in the audit trail
USERNAME_HELP = "The staff member's username (3 to 64 of a-z 0-9 . _ -)."


@cli.group()
def staff() -> None:
    """Hospital staff: receptionists and facility admins."""


@staff.command("add")
@click.option("--facility", "facility_code", required=True, help="The facility's code (mã CSKCB).")
@click.option("--username", required=True, help=USERNAME_HELP)
@click.option("--role", required=True, type=click.Choice(ROLES))
def staff_add(facility_code: str, username: str, role: str) -> None:
    """A new staff member, usable at once; prints their password and TOTP secret (shown only here)."""
    settings = command_settings()

    async def add(session: AsyncSession) -> dict[str, Any]:
        return await add_staff(
            session, Keyring(settings.data_keys), facility_code, username, role, system_clock(), OPERATOR
        )

    emit(in_session(settings, add))


@staff.command("disable")
@click.option("--username", required=True, help=USERNAME_HELP)
def staff_disable(username: str) -> None:
    """No more sign-ins; the member's sessions end at once."""
    settings = command_settings()

    async def disable(session: AsyncSession) -> dict[str, Any]:
        return await disable_staff(session, username, system_clock(), OPERATOR)

    emit(in_session(settings, disable))


@staff.command("reset-password")
@click.option("--username", required=True, help=USERNAME_HELP)
def staff_reset_password(username: str) -> None:
    """A new password (printed once); the old one stops working and the member's sessions end."""
    settings = command_settings()

    async def reset(session: AsyncSession) -> dict[str, Any]:
        return await reset_password(session, username, system_clock(), OPERATOR)

    emit(in_session(settings, reset))


@staff.command("reset-totp")
@click.option("--username", required=True, help=USERNAME_HELP)
def staff_reset_totp(username: str) -> None:
    """A new TOTP secret for a new authenticator app (printed once); the old app's codes stop working."""
    settings = command_settings()

    async def reset(session: AsyncSession) -> dict[str, Any]:
        return await reset_totp(session, Keyring(settings.data_keys), username, system_clock(), OPERATOR)

    emit(in_session(settings, reset))
