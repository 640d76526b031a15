"""`healthbook maintenance` (contract §1): delete what has outlived its purpose; safe from cron on several
nodes at once (see `backend.maintenance`)."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from backend.cli._common import command_settings, database_url, emit
from backend.cli._group import cli
from backend.clock import system_clock
from backend.database import Database, to_async_url
from backend.maintenance import run_maintenance

SKIPPED = {"skipped": True, "reason": "another node is running maintenance"}


@cli.command()
def maintenance() -> None:
    """Delete expired challenges, sessions, codes and share files, and old refused deliveries; print how many.

    Another node already running it: prints {"skipped": true, ...} and exits 0."""
    settings = command_settings()
    with database_url(settings) as url:
        result = asyncio.run(_maintain(url))
    emit(result)


async def _maintain(url: str) -> dict[str, Any]:
    database = Database(to_async_url(url), pool_size=1, max_overflow=0)
    try:
        # The driver's connection itself: each batch commits on its own, the lock is the connection's.
        async with database.engine.connect() as connection:
            driver = (await connection.get_raw_connection()).driver_connection
            assert isinstance(driver, asyncpg.Connection)
            removed = await run_maintenance(driver, system_clock())
    finally:
        await database.dispose()
    return SKIPPED if removed is None else {"deleted": removed, "skipped": False}
