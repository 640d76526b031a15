"""`healthbook db upgrade` (contract §1) and `healthbook db revision` (for developers)."""

from __future__ import annotations

import click

from backend.cli._common import command_settings, database_url, emit
from backend.cli._group import cli
from backend.database import redact_url, revision, upgrade
from backend.database._migrations import head_revision


@cli.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations (safe to run twice, and from several nodes at once)."""
    settings = command_settings()
    with database_url(settings, direct=True) as url:
        upgrade(url)
        emit({"database": redact_url(url), "revision": head_revision()})


@db.command("revision")
@click.option("--message", "-m", required=True, help="What the migration does, in a few words.")
def db_revision(message: str) -> None:
    """Write a new migration from the difference between the models and the migrated database."""
    settings = command_settings()
    with database_url(settings, direct=True) as url:
        upgrade(url)
        revision(url, message)
        emit({"database": redact_url(url), "message": message})
