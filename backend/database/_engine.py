"""The engine, and one session with one transaction per request."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from typing import Any

import msgspec
from litestar.datastructures import State
from sqlalchemy import event, exc, text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection
from sqlmodel import Session as SqlModelSession
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.database._urls import redact_url, to_async_url

CONNECT_TIMEOUT_SECONDS = 5
POOL_TIMEOUT_SECONDS = 10  # waiting longer for a free connection: answered 503 (busy), not held on to
IDLE_BEFORE_PING_SECONDS = 10  # a connection back in the pool for longer is checked before it is lent
STATEMENT_TIMEOUT_MS = 30_000  # no request may hold a connection for longer
# asyncpg's statement cache and SQLAlchemy's, both off: every statement is then asyncpg's unnamed one
NO_NAMED_STATEMENTS = {"statement_cache_size": 0, "prepared_statement_cache_size": 0}


class DatabaseUnreachable(Exception):
    """The database did not answer; the message names it (without its password) and says why."""


class Database:
    """The engine and the session factory of one running app (or one CLI command)."""

    # A fixed pool: connections opened beyond it (SQLAlchemy's overflow) are closed when returned, and each
    # new one costs asyncpg a type introspection query; under load that churn was a tenth of the database's
    # work (bench/load.py). Twenty per worker: with WORKERS=2, 40 of PostgreSQL's default 100 connections.
    #
    # Behind a transaction-pooling proxy (`transaction_pooler`, PgBouncer's pool_mode=transaction) each
    # transaction may run on another server connection, and the proxy refuses settings it does not know at
    # connect. So no statement is prepared by name (asyncpg then uses the unnamed statement, parsed again
    # within the transaction that runs it), and statement_timeout is set by each transaction for itself.
    def __init__(
        self, url: URL, *, pool_size: int = 20, max_overflow: int = 0, transaction_pooler: bool = False
    ) -> None:
        self.url = url
        self.transaction_pooler = transaction_pooler
        connect_args: dict[str, object] = {"timeout": CONNECT_TIMEOUT_SECONDS}
        if transaction_pooler:
            connect_args |= {"server_settings": {"application_name": "healthbook"}, **NO_NAMED_STATEMENTS}
        else:
            connect_args["server_settings"] = {
                "application_name": "healthbook",
                "statement_timeout": str(STATEMENT_TIMEOUT_MS),
            }
        self.engine: AsyncEngine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=POOL_TIMEOUT_SECONDS,
            # Records are read as JSON by the thousand (a whole book): msgspec decodes them several times
            # faster than the standard library, into the same dicts and lists.
            json_deserializer=msgspec.json.decode,
            connect_args=connect_args,
        )
        _ping_when_idle(self.engine)
        self.sessionmaker = async_sessionmaker(
            self.engine,
            class_=AsyncSession,
            sync_session_class=TimedSession if transaction_pooler else SqlModelSession,
            expire_on_commit=False,
        )

    async def ping(self, timeout: float = 2.0) -> None:
        """Raise `DatabaseUnreachable` with one readable line unless `SELECT 1` answers in time."""
        try:
            async with asyncio.timeout(timeout), self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except TimeoutError as exc:
            raise DatabaseUnreachable(f"{redact_url(self.url)}: no answer within {timeout:g} s") from exc
        except Exception as exc:
            reason = describe_failure(exc)
            if "unsupported startup parameter" in reason:  # PgBouncer's words for a setting sent at connect
                reason += " (behind a transaction pooler? set DATABASE_POOLER=transaction)"
            raise DatabaseUnreachable(f"{redact_url(self.url)}: {reason}") from exc

    @classmethod
    def for_a_command(cls, url: str, *, transaction_pooler: bool) -> Database:
        """One connection, as a command-line run or a demo load needs."""
        return cls(to_async_url(url), pool_size=1, max_overflow=0, transaction_pooler=transaction_pooler)

    async def dispose(self) -> None:
        await self.engine.dispose()


def _ping_when_idle(engine: AsyncEngine) -> None:
    """SQLAlchemy's `pool_pre_ping`, but only for a connection that sat in the pool: the ping is three round
    trips (BEGIN, a statement, ROLLBACK) on every checkout, and under load, on connections lent again
    within milliseconds, the app's connections sat idle in a transaction after its statement in 12 % of
    samples (bench/load.py). A database restarted while connections were busy still fails the requests
    then under way, as it would with the ping; the pool then replaces every connection older than the
    failure."""

    @event.listens_for(engine.sync_engine.pool, "checkin")
    def returned(dbapi_connection: Any, entry: ConnectionPoolEntry) -> None:
        entry.info["returned_at"] = time.monotonic()

    @event.listens_for(engine.sync_engine.pool, "checkout")
    def lent(dbapi_connection: Any, entry: ConnectionPoolEntry, proxy: PoolProxiedConnection) -> None:
        # Known closed without asking (a failure seen by asyncpg itself, as in `raw_transaction`, which
        # SQLAlchemy did not see): replaced at once, whatever its idle time.
        if dbapi_connection.driver_connection.is_closed():
            raise exc.DisconnectionError("the connection was closed while it sat in the pool")
        returned_at = entry.info.get("returned_at")
        if returned_at is None or time.monotonic() - returned_at < IDLE_BEFORE_PING_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # the pool closes it and lends another (a new one if need be)
            raise exc.DisconnectionError(str(error)) from error


class TimedSession(SqlModelSession):
    """A session whose every transaction sets its own statement_timeout (for a transaction pooler)."""


@event.listens_for(TimedSession, "after_begin")
def _limit_statements(session: Session, transaction: SessionTransaction, connection: Connection) -> None:
    connection.exec_driver_sql(limit_this_transaction())


def limit_this_transaction() -> str:
    """The statement that gives one transaction the timeout others get at connect (a transaction pooler)."""
    return f"SET LOCAL statement_timeout = {int(STATEMENT_TIMEOUT_MS)}"


def describe_failure(exc: BaseException) -> str:
    """The driver's own words for a failed connection, on one line."""
    cause: BaseException = getattr(exc, "orig", None) or exc
    words = str(cause).strip().splitlines()
    return words[0] if words else type(cause).__name__


async def provide_db_session(state: State) -> AsyncGenerator[AsyncSession, None]:
    """One session and one transaction per request: committed when the handler returns, rolled back if it
    raises. The commit happens before the response is sent, so nothing is acknowledged that is not stored."""
    database: Database = state.database
    async with database.sessionmaker() as session, session.begin():
        yield session
