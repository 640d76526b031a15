"""One session and one transaction per request; migrations that match the models; a time limit on every
statement of the app's connections (check H2: the database stays responsive)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from litestar import Litestar
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from backend.database import Database, provide_db_session, raw_transaction, to_async_url, upgrade
from backend.database import _engine as engine_module
from backend.database._migrations import head_revision
from backend.models import metadata
from tests.support.hospital import own_database


class _State:
    def __init__(self, database: Database) -> None:
        self.database = database


async def test_models_and_migrations_agree(database_url: str) -> None:
    engine = create_async_engine(to_async_url(database_url))
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
            )
    finally:
        await engine.dispose()
    assert differences == [], "write a migration: `make migration m='what changed'`"


async def test_upgrade_is_safe_to_run_twice(database_url: str) -> None:
    await asyncio.to_thread(upgrade, database_url)
    await asyncio.to_thread(upgrade, database_url)
    database = Database(to_async_url(database_url))
    try:
        async with database.engine.connect() as connection:
            stored = (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
    finally:
        await database.dispose()
    assert stored == head_revision()


async def test_a_request_commits_when_the_handler_returns_and_rolls_back_when_it_raises(
    database_url: str,
) -> None:
    database = Database(to_async_url(database_url))
    state = _State(database)
    try:
        async with database.engine.begin() as connection:
            await connection.execute(text("CREATE TABLE scratch (value text)"))

        sessions = provide_db_session(state)  # type: ignore[arg-type]
        session = await anext(sessions)
        await session.exec(text("INSERT INTO scratch VALUES ('kept')"))  # type: ignore[call-overload]
        with pytest.raises(StopAsyncIteration):
            await anext(sessions)

        sessions = provide_db_session(state)  # type: ignore[arg-type]
        session = await anext(sessions)
        await session.exec(text("INSERT INTO scratch VALUES ('dropped')"))  # type: ignore[call-overload]
        with pytest.raises(RuntimeError):
            await sessions.athrow(RuntimeError("handler failed"))

        async with database.engine.connect() as connection:
            values = (await connection.execute(text("SELECT value FROM scratch"))).scalars().all()
    finally:
        await database.dispose()
    assert values == ["kept"]


async def test_h2_the_apps_connections_have_a_30_second_statement_timeout(app: Litestar) -> None:
    """In a session from the sessionmaker of the `Database` that `create_app` made (the one each request
    gets), `SHOW statement_timeout` says 30s, and PostgreSQL reports it was set by the client at connection
    start-up (asyncpg's `server_settings`), so every connection of the pool has it before any request runs."""
    async with app.state.database.sessionmaker() as session:
        shown = (await session.exec(text("SHOW statement_timeout"))).scalar_one()
        source = (
            await session.exec(text("SELECT source FROM pg_settings WHERE name = 'statement_timeout'"))
        ).scalar_one()
    await app.state.database.dispose()
    assert engine_module.STATEMENT_TIMEOUT_MS == 30_000
    assert shown == "30s"
    assert source == "client"  # sent at connection start-up (server_settings), not a per-request SET


async def test_h2_a_statement_longer_than_the_limit_is_cancelled(
    app: Litestar, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the limit lowered to 50 ms (the module constant `Database` reads when it builds its engine), a
    `pg_sleep(10)` on one of its connections is cancelled by PostgreSQL (QueryCanceledError, SQLSTATE 57014)
    and the connection still answers afterwards. This shows the setting is applied and enforced; it does not
    time anything (the sleep would take 10 s if it were not cancelled, and the test would then fail)."""
    monkeypatch.setattr(engine_module, "STATEMENT_TIMEOUT_MS", 50)
    async with own_database(app) as database, database.engine.connect() as connection:
        assert (await connection.execute(text("SHOW statement_timeout"))).scalar_one() == "50ms"
        with pytest.raises(DBAPIError) as raised:
            await connection.execute(text("SELECT pg_sleep(10)"))
        assert isinstance(getattr(raised.value.orig, "__cause__", None), asyncpg.QueryCanceledError), raised.value
        await connection.rollback()
        assert (await connection.execute(text("SELECT 1"))).scalar_one() == 1


@dataclass
class OneConnection:
    """A `Database` with a pool of one connection, and a connection of the test's own to end it with."""

    database: Database
    terminator: asyncpg.Connection

    async def end(self, pid: int, connection: asyncpg.Connection | None = None) -> None:
        """The server ends backend `pid`; with `connection` (its asyncpg side), until asyncpg has read the
        server's goodbye (bounded: 5 s)."""
        assert await self.terminator.fetchval("SELECT pg_terminate_backend($1)", pid)
        if connection is None:
            return
        for _ in range(100):
            if connection.is_closed():
                return
            await asyncio.sleep(0.05)


@pytest.fixture
async def one_connection(database_url: str) -> AsyncIterator[OneConnection]:
    database = Database(to_async_url(database_url), pool_size=1)
    terminator = await asyncpg.connect(database_url)
    try:
        yield OneConnection(database, terminator)
    finally:
        await terminator.close()
        await database.dispose()


async def test_a_connection_closed_while_it_sat_in_the_pool_is_replaced_before_it_is_lent(
    one_connection: OneConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection back in the pool for longer than `IDLE_BEFORE_PING_SECONDS` (lowered to 0 here) is
    pinged when lent; one the server closed meanwhile (a restart, an idle timeout) is replaced, and the
    request that asked for it never sees the failure. One lent again at once is not pinged (see
    `_ping_when_idle`: the ping costs three round trips)."""
    database = one_connection.database
    async with database.engine.connect() as connection:
        first = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    async with database.engine.connect() as connection:  # lent again at once: the same, unpinged
        assert (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one() == first
    await one_connection.end(first)

    monkeypatch.setattr(engine_module, "IDLE_BEFORE_PING_SECONDS", 0)
    async with database.engine.connect() as connection:
        second = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    assert second != first


async def test_a_raw_transaction_whose_connection_died_does_not_poison_the_next_one(
    one_connection: OneConnection,
) -> None:
    """The server ends a connection in the middle of a raw (asyncpg) transaction: that request fails with a
    lost connection (which the app answers 503), and as asyncpg's failure is one SQLAlchemy's pool never
    saw, the pool takes the closed connection back; the next request gets a working one, not "connection
    is closed" (a 500)."""
    with pytest.raises(ConnectionError):
        async with raw_transaction(one_connection.database) as connection:
            pid = await connection.fetchval("SELECT pg_backend_pid()")
            await one_connection.end(pid, connection)
            await connection.fetchval("SELECT 1")
    async with raw_transaction(one_connection.database) as connection:
        assert await connection.fetchval("SELECT pg_backend_pid()") != pid


async def test_a_commit_on_a_connection_that_died_is_a_lost_connection(one_connection: OneConnection) -> None:
    """The block ends normally but the server ended the connection meanwhile: the commit cannot happen, and
    the caller hears that the database connection was lost (503), not asyncpg's "connection is closed"
    (500); the next transaction gets a working connection."""
    with pytest.raises(ConnectionError):
        async with raw_transaction(one_connection.database) as connection:
            await one_connection.end(await connection.fetchval("SELECT pg_backend_pid()"), connection)
    async with raw_transaction(one_connection.database) as connection:
        assert await connection.fetchval("SELECT 1") == 1
