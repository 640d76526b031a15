"""`healthbook patient activation-code --cccd N` (contract §1): a one-time code a hospital prints for a
patient who proved who they are, to open their book in full on their phone."""

from __future__ import annotations

from typing import Any

import click
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth.activation import ActivationCodes
from backend.auth.events import record_auth_event
from backend.cli._common import CommandFailed, command_settings, emit, in_session
from backend.cli._group import cli
from backend.clock import system_clock
from backend.database import driver_connection
from backend.records.fhir.patients import CCCD
from backend.records.reads import find_patient


@cli.group()
def patient() -> None:
    """Patients."""


@patient.command("activation-code")
@click.option("--cccd", required=True, help="The patient's 12-digit personal ID (checked at the desk).")
def activation_code(cccd: str) -> None:
    """Print a one-time activation code (valid 30 days) for this patient's book."""
    if not CCCD.match(cccd):
        raise CommandFailed("a CCCD has 12 digits")
    settings = command_settings()

    async def issue(session: AsyncSession) -> dict[str, Any]:
        connection = await driver_connection(session)
        patient_id = await find_patient(connection, cccd)
        if patient_id is None:
            raise CommandFailed("no hospital has sent records for this CCCD yet")
        now = system_clock()
        code, expires_at = await ActivationCodes(settings.secret_key).issue(connection, patient_id, now)
        await record_auth_event(connection, "auth.activation_issued", now, patient_id=patient_id, detail="cli")
        return {"cccd": cccd, "code": code, "expires_at": expires_at.isoformat()}

    emit(in_session(settings, issue))
