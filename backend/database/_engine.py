"""The engine, and one session with one transaction per request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import msgspec
from litestar.datastructures import State
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.database._urls import redact_url

CONNECT_TIMEOUT_SECONDS = 5
POOL_TIMEOUT_SECONDS = 10  # waiting longer for a free connection: answered 503 (busy), not held on to
STATEMENT_TIMEOUT_MS = 30_000  # no request may hold a connection for longer


class DatabaseUnreachable(Exception):
    """The database did not answer; the message names it (without its password) and says why."""


class Database:
    """The engine and the session factory of one running app (or one CLI command)."""

    # A fixed pool: connections opened beyond it (SQLAlchemy's overflow) are closed when returned, and each
    # new one costs asyncpg a type introspection query; under load that churn was a tenth of the database's
    # work (bench/load.py). Twenty per worker: with WORKERS=2, 40 of PostgreSQL's default 100 connections.
    def __init__(self, url: URL, *, pool_size: int = 20, max_overflow: int = 0) -> None:
        self.url = url
        self.engine: AsyncEngine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=POOL_TIMEOUT_SECONDS,
            pool_pre_ping=True,
            # Records are read as JSON by the thousand (a whole book): msgspec decodes them several times
            # faster than the standard library, into the same dicts and lists.
            json_deserializer=msgspec.json.decode,
            connect_args={
                "timeout": CONNECT_TIMEOUT_SECONDS,
                "server_settings": {
                    "application_name": "healthbook",
                    "statement_timeout": str(STATEMENT_TIMEOUT_MS),
                },
            },
        )
        self.sessionmaker = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)

    async def ping(self, timeout: float = 2.0) -> None:
        """Raise `DatabaseUnreachable` with one readable line unless `SELECT 1` answers in time."""
        try:
            async with asyncio.timeout(timeout), self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except TimeoutError as exc:
            raise DatabaseUnreachable(f"{redact_url(self.url)}: no answer within {timeout:g} s") from exc
        except Exception as exc:
            raise DatabaseUnreachable(f"{redact_url(self.url)}: {describe_failure(exc)}") from exc

    async def dispose(self) -> None:
        await self.engine.dispose()


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
