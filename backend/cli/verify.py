"""`healthbook verify --cccd N` (contract §1): check a patient's signatures again, from the bytes as
received, against the certificates registered now; prints what changed."""

from __future__ import annotations

import getpass
import socket

import click
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.audit import Reader, log_access
from backend.cli._common import CommandFailed, command_settings, emit, in_session
from backend.cli._group import cli
from backend.clock import system_clock
from backend.database import driver_connection
from backend.records.fhir.patients import CCCD
from backend.records.reads import find_patient
from backend.records.recheck import recheck_signatures
from backend.signatures.registry import certificates_by_facility

PURPOSE = "re-checking hospitals' digital signatures (healthbook verify)"


@cli.command()
@click.option("--cccd", required=True, help="The patient's 12-digit personal ID.")
def verify(cccd: str) -> None:
    """Re-check the signatures of a patient's records; print how many were checked and what changed."""
    if not CCCD.match(cccd):
        raise CommandFailed("a CCCD has 12 digits")
    settings = command_settings()

    async def check(session: AsyncSession) -> dict[str, object]:
        connection = await driver_connection(session)
        patient_id = await find_patient(connection, cccd)
        if patient_id is None:
            raise CommandFailed(f"no health book for CCCD {cccd[:3]}…{cccd[-3:]}")
        held = await connection.fetch(
            "SELECT DISTINCT facility_id, resource_type FROM record WHERE patient_id = $1 AND NOT deleted", patient_id
        )
        certificates = await certificates_by_facility(connection, [row["facility_id"] for row in held])
        checked, changes, unreadable = await recheck_signatures(connection, patient_id, certificates)
        for delivery_id in unreadable:  # stderr: stdout holds the one JSON document of the contract
            click.echo(f"note: delivery {delivery_id} no longer reads; its records keep their result", err=True)
        # The operator's tool read every record's bytes: the patient sees that it happened, and why.
        reader = Reader.operator(f"{getpass.getuser()}@{socket.gethostname()}", PURPOSE)
        kinds = sorted({row["resource_type"] for row in held})
        await log_access(connection, reader, patient_id, kinds, [], system_clock())
        return {"checked": checked, "changed": [{"id": c.id, "from": c.was, "to": c.now} for c in changes]}

    emit(in_session(settings, check))
