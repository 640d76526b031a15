"""`healthbook backup --output FILE` and `healthbook restore --input FILE [--force]` (contract §1).

What the copy holds and how restore keeps a database whole: `backend/backup/`. For point-in-time
recovery in production (continuous archiving), see docs/operations.md.
"""

from __future__ import annotations

from pathlib import Path

import click
import structlog

from backend.backup import BackupError, back_up, restore
from backend.cli._common import command_settings, database_url, emit
from backend.cli._group import cli, fail

log = structlog.get_logger("healthbook.backup")


@cli.command()
@click.option("--output", "output", required=True, type=click.Path(path_type=Path), help="The backup file to write.")
def backup(output: Path) -> None:
    """A consistent copy of the whole database (pg_dump's custom format), readable by its owner only."""
    settings = command_settings()
    with database_url(settings, direct=True) as url:
        try:
            result = back_up(url, output)
        except BackupError as exc:
            fail(str(exc))
    emit(result.report())


@cli.command("restore")
@click.option("--input", "source", required=True, type=click.Path(path_type=Path), help="A `healthbook backup` file.")
@click.option("--force", is_flag=True, help="Replace what the database holds (its public schema), in one transaction.")
def restore_command(source: Path, force: bool) -> None:
    """Restore a backup into the empty database of DATABASE_URL; all or nothing.

    Exit 1 after restoring if the access log's hash chain does not verify in the copy."""
    settings = command_settings()
    with database_url(settings, direct=True) as url:
        try:
            result = restore(url, source, force=force)
        except BackupError as exc:
            fail(str(exc))
    report = result.report()
    if report["migrations_pending"]:
        log.warning("the backup is of an older schema: run `healthbook db upgrade` before serving it")
    emit(report)
    if not result.access_log.ok:  # restored, but not to be trusted as is: say so in the exit code too
        log.error("the restored access log's hash chain is broken", first_bad=result.access_log.first_bad)
        raise click.exceptions.Exit(1)
