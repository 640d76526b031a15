"""asyncpg itself, for the set-based statements SQLAlchemy would only slow down (bulk intake, audited reads).

SQLAlchemy's asyncpg adapter opens the driver's transaction lazily, at its first statement: raw statements
sent before that would run outside any transaction. Both helpers make sure one is open.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeAlias

import asyncpg
from sqlalchemy.pool import PoolProxiedConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.database._engine import Database, limit_this_transaction

PgConnection: TypeAlias = asyncpg.Connection


class ConnectionLost(ConnectionError):
    """The database connection closed while a raw transaction was under way."""


@asynccontextmanager
async def raw_transaction(database: Database) -> AsyncIterator[PgConnection]:
    """A pooled connection in a transaction of its own: committed when the block ends, rolled back if it raises."""
    async with database.engine.connect() as connection:
        driver = _driver(await connection.get_raw_connection())
        transaction = driver.transaction()
        await transaction.start()
        try:
            if database.transaction_pooler:  # no statement_timeout was set at connect (see Database)
                await driver.execute(limit_this_transaction())
            yield driver
        except BaseException as error:
            if not driver.is_closed():
                await transaction.rollback()
                raise
            # The connection died under us: nothing to roll back, and whichever of asyncpg's errors said so
            # (they vary with the moment) means the database was lost, which is answered 503, not 500.
            if isinstance(error, asyncpg.InterfaceError | asyncpg.PostgresError | OSError):
                raise ConnectionLost("the database connection was lost in the middle of a transaction") from error
            raise
        await transaction.commit()


async def driver_connection(session: AsyncSession) -> PgConnection:
    """The asyncpg connection under `session`, inside the session's (now opened) transaction."""
    connection = await session.connection()
    await connection.exec_driver_sql("SELECT 1")  # opens the driver's transaction
    return _driver(await connection.get_raw_connection())


def _driver(pooled: PoolProxiedConnection) -> PgConnection:
    driver = pooled.driver_connection
    assert isinstance(driver, asyncpg.Connection)
    return driver
