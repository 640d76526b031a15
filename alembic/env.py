"""Run migrations over asyncpg, under a server-wide advisory lock (several nodes may upgrade at once)."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from backend.database import to_async_url
from backend.models import metadata

# Any constant: a second `db upgrade` waits here until the first is done, then finds nothing to do.
MIGRATION_LOCK_KEY = 0x5B5C_4B48


def run_with_connection(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    # A session-level lock, taken and released outside the migration's own transaction.
    connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    connection.commit()
    try:
        with context.begin_transaction():
            context.run_migrations()
    finally:
        if connection.in_transaction():
            connection.rollback()
        connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
        connection.commit()


async def run_online() -> None:
    url = context.config.attributes.get("url")
    if not url:
        raise SystemExit("no database URL: run migrations through `healthbook db upgrade`")
    engine = create_async_engine(to_async_url(url), poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_with_connection)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run them against a database")
asyncio.run(run_online())
