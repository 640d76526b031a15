"""`healthbook book --cccd N` (contract §1): a patient's whole book, as an operator read (logged)."""

from __future__ import annotations

import getpass
import socket

import click
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.audit import Reader
from backend.cli._common import CommandFailed, command_settings, in_session
from backend.cli._group import cli
from backend.clock import system_clock
from backend.database import driver_connection
from backend.records.fhir.patients import CCCD
from backend.records.reads import find_patient, read_stored_records
from backend.records.served import collection_bundle_json


@cli.command()
@click.option("--cccd", required=True, help="The patient's 12-digit personal ID.")
@click.option("--purpose", default="operator export (healthbook book)", show_default=True, help="Why, for the log.")
def book(cccd: str, purpose: str) -> None:
    """Print a patient's health book as one FHIR Bundle; the read goes into the patient's access log."""
    if not CCCD.match(cccd):
        raise CommandFailed("a CCCD has 12 digits")
    settings = command_settings()
    reader = Reader.operator(f"{getpass.getuser()}@{socket.gethostname()}", purpose)

    async def read(session: AsyncSession) -> bytes:
        connection = await driver_connection(session)
        patient_id = await find_patient(connection, cccd)
        if patient_id is None:
            raise CommandFailed(f"no health book for CCCD {cccd[:3]}…{cccd[-3:]}")
        now = system_clock()
        records = await read_stored_records(connection, reader, patient_id, now)
        return collection_bundle_json(records, settings.base_url, now)

    click.echo(in_session(settings, read).decode())  # one JSON document, as `emit` prints
