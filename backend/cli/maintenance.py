"""`healthbook maintenance` (contract §1): delete what has outlived its purpose; safe from cron on several
nodes at once (see `backend.maintenance`)."""

from __future__ import annotations

from backend.cli._common import command_settings, database_url, emit, on_connection
from backend.cli._group import cli
from backend.clock import system_clock
from backend.maintenance import run_maintenance

SKIPPED = {"skipped": True, "reason": "another node is running maintenance"}


@cli.command()
def maintenance() -> None:
    """Delete expired challenges, sessions, codes and share files, and old refused deliveries; print how many.

    Another node already running it: prints {"skipped": true, ...} and exits 0."""
    settings = command_settings()
    with database_url(settings) as url:
        # Through a transaction pooler a session's lock would stay behind on a server connection: without it,
        # nodes running at once each remove what they claimed (see `purge_expired`), only sharing the work.
        lock = not settings.transaction_pooler
        removed = on_connection(
            settings, url, lambda connection: run_maintenance(connection, system_clock(), lock=lock)
        )
    emit(SKIPPED if removed is None else {"deleted": removed, "skipped": False})
