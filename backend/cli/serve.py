"""`healthbook serve` (contract §1) and `healthbook run`, which is what `make run` does."""

from __future__ import annotations

import asyncio

import click

from backend.cli._common import command_settings, database_url
from backend.cli._group import cli
from backend.database import redact_url, upgrade
from backend.demo import FACILITIES, PATIENTS, DemoStaff, ensure_demo_staff, load_demo_if_empty
from backend.ops.server import check_port
from backend.ops.server import serve as serve_app
from backend.settings import Settings


def _banner(settings: Settings, database: str, demo_note: str, staff: list[DemoStaff]) -> str:
    base_url, sms = settings.base_url, settings.sms
    national_id = (
        f"  Or sign in with the national ID app at {base_url}/login/oidc: its demo stand-in lists people to pick.\n"
        if settings.oidc_issuer is None
        else ""
    )
    people = "\n".join(
        f"    {patient.full_name:<22} CCCD {patient.cccd}  phone {patient.phone}" for patient in PATIENTS
    )
    codes_go_to = {
        "console": "printed below, on this terminal",
        "file": f"appended to {sms.path}",
        "http": "sent through the SMS gateway",
    }.get(sms.kind, "not sent: set SMS_BACKEND")
    return f"""
  Sổ Sức Khỏe is running at {base_url}/
  database:  {database}
  demo data: {demo_note}

  Demo patients (their records came from {", ".join(f.code for f in FACILITIES)}):
{people}
  Sign in at {base_url}/login with one of these phones; the one-time code is {codes_go_to}.
{national_id}  (+84987654321 is a mother's phone on her son's record too: it lists two books, read-only until
  confirmed with `.venv/bin/healthbook patient activation-code --cccd 001216007788`.)
  A book as an operator sees it:  .venv/bin/healthbook book --cccd {PATIENTS[0].cccd}
{_staff_lines(base_url, staff)}  Ctrl-C stops the app and the embedded database.
"""


def _staff_lines(base_url: str, staff: list[DemoStaff]) -> str:
    if not staff:
        return ""
    members = "\n".join(
        f"    {member.username:<14} {member.role:<15} password {member.password}  TOTP secret {member.totp_secret}"
        for member in staff
    )
    return f"""
  Demo staff of {staff[0].facility} sign in at {base_url}/staff/login:
{members}
  Add the TOTP secret to an authenticator app, or read the current code with
    .venv/bin/python -c "import pyotp; print(pyotp.TOTP('SECRET').now())"
"""


@cli.command()
def serve() -> None:
    """Run the web app (no migrations, no demo data)."""
    settings = command_settings()
    check_port(settings)
    with database_url(settings) as url:
        serve_app(settings, url)


@cli.command()
def run() -> None:
    """Set up and serve, as `make run` does: migrations, demo data when the database is empty, the app."""
    settings = command_settings()
    check_port(settings)
    with database_url(settings, direct=True) as url:
        upgrade(url)
        demo_note = asyncio.run(load_demo_if_empty(settings, url)) if settings.demo_data else "skipped (DEMO_DATA=0)"
        staff = asyncio.run(ensure_demo_staff(settings, url)) if settings.demo_data else []
        click.echo(_banner(settings, redact_url(url), demo_note, staff))
        serve_app(settings, url)
