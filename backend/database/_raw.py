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
    """The database connection closed under a raw transaction (answered 503, as a lost database)."""


@asynccontextmanager
async def raw_transaction(database: Database) -> AsyncIterator[PgConnection]:
    """A pooled connection in a transaction of its own: committed when the block ends, rolled back if it raises."""
    async with database.engine.connect() as connection:
        driver = _driver(await connection.get_raw_connection())
        transaction = driver.transaction()
        async with _lost_if_closed(driver):
            await transaction.start()
            if database.transaction_pooler:  # no statement_timeout was set at connect (see Database)
                await driver.execute(limit_this_transaction())
        try:
            async with _lost_if_closed(driver):
                yield driver
        except BaseException:
            if not driver.is_closed():  # a closed one has nothing to roll back
                async with _lost_if_closed(driver):
                    await transaction.rollback()
            raise
        async with _lost_if_closed(driver):
            await transaction.commit()


@asynccontextmanager
async def _lost_if_closed(driver: PgConnection) -> AsyncIterator[None]:
    """asyncpg's errors on a connection that has closed (which one varies with the moment: the server's
    goodbye, a closed socket, "connection is closed" at BEGIN, COMMIT or a rollback) become `ConnectionLost`."""
    try:
        yield
    except (asyncpg.InterfaceError, asyncpg.PostgresError, OSError) as error:
        if driver.is_closed():
            raise ConnectionLost("the database connection was lost") from error
        raise


async def driver_connection(session: AsyncSession) -> PgConnection:
    """The asyncpg connection under `session`, inside the session's (now opened) transaction."""
    connection = await session.connection()
    await connection.exec_driver_sql("SELECT 1")  # opens the driver's transaction
    return _driver(await connection.get_raw_connection())


def _driver(pooled: PoolProxiedConnection) -> PgConnection:
    driver = pooled.driver_connection
    assert isinstance(driver, asyncpg.Connection)
    return driver
