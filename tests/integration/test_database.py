"""One session and one transaction per request; migrations that match the models."""

from __future__ import annotations

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from backend.database import Database, provide_db_session, to_async_url, upgrade
from backend.database._migrations import head_revision
from backend.models import metadata


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
