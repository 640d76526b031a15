"""Running the purges: one node at a time, in short transactions of bounded batches."""

from __future__ import annotations

from datetime import datetime

import structlog

from backend.database import PgConnection
from backend.maintenance.rules import REPORTED, Purge, purges

log = structlog.get_logger("healthbook.maintenance")

# Any constant of our own (`db upgrade` locks 0x5B5C_4B48): held by the node that is running maintenance.
LOCK_KEY = 0x5B5C_4D41
BATCH_SIZE = 5000  # rows a transaction removes at most: a few milliseconds of locks, a small WAL record


async def run_maintenance(
    connection: PgConnection, now: datetime, *, batch_size: int = BATCH_SIZE, lock: bool = True
) -> dict[str, int] | None:
    """Remove what has outlived its purpose at `now` (see `rules`); how many rows went, by table. None when
    another node holds the maintenance lock: it is doing this very work, so this run does nothing.

    `connection` must not be in a transaction: each batch commits on its own, and the lock is the
    connection's (session-level), released before returning. `lock=False` (through a transaction pooler,
    where a session's lock outlives its client) purges without it."""
    if connection.is_in_transaction():
        raise ValueError("run_maintenance needs a connection outside any transaction")
    if not lock:
        removed = await purge_expired(connection, now, batch_size=batch_size)
    elif not await connection.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY):
        log.info("maintenance skipped: another node is running it")
        return None
    else:
        try:
            removed = await purge_expired(connection, now, batch_size=batch_size)
        finally:
            # A lost connection has released its lock already. An unlock that finds no lock means the statements
            # ran on another server connection than the lock (a transaction pooler, DATABASE_POOLER unset): say
            # so loudly, as the lock may stay held there and make every later run skip.
            if not connection.is_closed() and not await connection.fetchval("SELECT pg_advisory_unlock($1)", LOCK_KEY):
                log.error("maintenance lock was not ours to release: behind a transaction pooler? set DATABASE_POOLER")
    log.info("maintenance done", locked=lock, **removed)
    return removed


async def purge_expired(connection: PgConnection, now: datetime, *, batch_size: int = BATCH_SIZE) -> dict[str, int]:
    """Every purge, batch after batch, without the lock: correct on its own when run twice at once (rows are
    claimed `SKIP LOCKED`, so each is removed and counted once), the lock only saves the second node's work."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    removed = dict.fromkeys(REPORTED, 0)
    for purge in purges(now):
        await _run(connection, purge, batch_size, removed)
    return removed


async def _run(connection: PgConnection, purge: Purge, batch_size: int, removed: dict[str, int]) -> None:
    while True:
        async with connection.transaction():
            row = await connection.fetchrow(purge.statement, batch_size, *purge.cutoffs)
        assert row is not None  # an aggregate answers one row
        for table, count in row.items():
            removed[table] += int(count)
        if row[0] < batch_size:  # the batch was not full: nothing is left that this run may take
            return
