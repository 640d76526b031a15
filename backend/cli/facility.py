"""`healthbook facility add | rotate-secret | set-certificate | deliveries` (contract §1)."""

from __future__ import annotations

from pathlib import Path

import click
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth.events import record_auth_event
from backend.cli._common import CommandFailed, command_settings, emit, in_session
from backend.cli._group import cli
from backend.clock import system_clock
from backend.database import driver_connection
from backend.errors import Conflict
from backend.hospitals.deliveries import recent_deliveries
from backend.hospitals.registry import FacilityRef, add_facility, find_facility, rotate_secret
from backend.keyring import Keyring
from backend.signatures import CertificateError, read_pem
from backend.signatures.registry import register_certificate

CODE_HELP = "The 5-character facility code (mã CSKCB), e.g. 01929."


@cli.group()
def facility() -> None:
    """Hospitals and clinics that push records."""


@facility.command("add")
@click.option("--code", required=True, help=CODE_HELP)
@click.option("--name", required=True, help="The facility's name, as patients know it.")
def facility_add(code: str, name: str) -> None:
    """Register a facility; prints its webhook secret (shown only here)."""
    settings = command_settings()

    async def add(session: AsyncSession) -> tuple[FacilityRef, str]:
        return await add_facility(session, Keyring(settings.data_keys), code, name)

    registered, secret = in_session(settings, add)
    emit({"code": registered.code, "name": registered.name, "webhook_secret": secret})


@facility.command("rotate-secret")
@click.option("--code", required=True, help=CODE_HELP)
def facility_rotate_secret(code: str) -> None:
    """A new webhook secret; the previous one keeps working for 24 hours."""
    settings = command_settings()

    async def rotate(session: AsyncSession) -> str:
        now = system_clock()
        secret = await rotate_secret(session, Keyring(settings.data_keys), code, now)
        await record_auth_event(
            await driver_connection(session), "facility.secret_rotated", now, detail=f"{code}, by operator"
        )
        return secret

    emit({"code": code, "webhook_secret": in_session(settings, rotate)})


@facility.command("set-certificate")
@click.option("--code", required=True, help=CODE_HELP)
@click.option(
    "--pem",
    "pem_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The X.509 certificate (PEM; EC P-256 or RSA of 2048 bits or more) whose key signs this facility's documents.",
)
def facility_set_certificate(code: str, pem_file: Path) -> None:
    """Register a signing certificate; the facility's earlier ones stay, so older records stay verified."""
    settings = command_settings()
    try:
        certificate = read_pem(pem_file.read_bytes())
    except CertificateError as error:
        raise CommandFailed(f"{pem_file}: {error}") from error

    async def register(session: AsyncSession) -> str:
        found = await find_facility(session, code)
        if found is None:
            raise CommandFailed(f"no facility {code}")
        now = system_clock()
        connection = await driver_connection(session)
        try:
            added = await register_certificate(connection, found.id, certificate, now)
        except Conflict as error:
            raise CommandFailed(error.message) from error
        if added:
            detail = f"{code} {certificate.fingerprint}, by operator"
            await record_auth_event(connection, "facility.certificate_added", now, detail=detail)
        if certificate.not_after <= now:  # still useful: it verifies what was signed while it was valid
            click.echo(f"note: this certificate ended on {certificate.not_after:%Y-%m-%d}", err=True)
        return certificate.fingerprint

    emit({"code": code, "fingerprint": in_session(settings, register)})


@facility.command("deliveries")
@click.option("--code", required=True, help=CODE_HELP)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
def facility_deliveries(code: str, limit: int) -> None:
    """The facility's latest pushes, accepted and refused, newest first."""
    settings = command_settings()

    async def deliveries(session: AsyncSession) -> list[dict[str, object]]:
        found = await find_facility(session, code)
        if found is None:
            raise CommandFailed(f"no facility {code}")
        logged = await recent_deliveries(await driver_connection(session), found.id, limit)
        return [
            {"id": d.id, "at": d.at.isoformat(), "status": d.status, "reason": d.reason, "sha256": d.sha256}
            for d in logged
        ]

    emit({"deliveries": in_session(settings, deliveries)})
