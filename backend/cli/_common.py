"""What every subcommand shares: JSON on stdout, one-line failures, settings, and a database to talk to."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import asyncpg
import click
import structlog
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.database import Database, EmbeddedPostgres, PgConnection
from backend.logs import configure_logging
from backend.ops.server import stop_on_signals
from backend.settings import Settings, load_settings

log = structlog.get_logger("healthbook.settings")
T = TypeVar("T")


class CommandFailed(Exception):
    """A subcommand cannot do what was asked; the message is the one line the operator reads."""


def emit(result: Any) -> None:
    """The command's result: exactly one JSON document on stdout."""
    click.echo(json.dumps(result, ensure_ascii=False, default=str))


def command_settings() -> Settings:
    settings = load_settings()
    configure_logging(settings)
    for warning in settings.warnings:
        log.warning(warning)
    return settings


@contextmanager
def database_url(settings: Settings, *, direct: bool = False) -> Iterator[str]:
    """`DATABASE_URL`, or the embedded server under `var/pg` for as long as the block runs; either way
    checked to answer, so a wrong URL is reported in one line before anything else happens.

    `direct`: the command keeps something for its whole session (a lock, pg_dump's snapshot), which a
    transaction pooler would hand to whichever client comes next; it is refused there."""
    if direct and settings.transaction_pooler:
        raise CommandFailed(
            "this command needs PostgreSQL itself, not a transaction pooler: run it with DATABASE_URL "
            "pointing at the database server and DATABASE_POOLER unset (docs/scaling.md)"
        )
    with stop_on_signals():  # so that a SIGTERM at any moment still stops the embedded server
        if settings.database_url:
            _ping(settings, settings.database_url)
            yield settings.database_url
            return
        with EmbeddedPostgres(settings.var_dir / "pg") as url:
            _ping(settings, url)
            yield url


def in_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one database session and transaction (committed if it returns)."""
    with database_url(settings) as url:

        async def run() -> T:
            database = Database.for_a_command(url, transaction_pooler=settings.transaction_pooler)
            try:
                async with database.sessionmaker() as session, session.begin():
                    return await work(session)
            finally:
                await database.dispose()

        return asyncio.run(run())


def on_connection(settings: Settings, url: str, work: Callable[[PgConnection], Awaitable[T]]) -> T:
    """Run `work` on one driver connection outside any transaction: it commits in steps of its own, and
    what it locks for the session (an advisory lock) is this connection's."""

    async def run() -> T:
        database = Database.for_a_command(url, transaction_pooler=settings.transaction_pooler)
        try:
            async with database.engine.connect() as connection:
                driver = (await connection.get_raw_connection()).driver_connection
                assert isinstance(driver, asyncpg.Connection)
                return await work(driver)
        finally:
            await database.dispose()

    return asyncio.run(run())


def _ping(settings: Settings, url: str) -> None:
    async def ping() -> None:
        database = Database.for_a_command(url, transaction_pooler=settings.transaction_pooler)
        try:
            await database.ping(timeout=10)
        finally:
            await database.dispose()

    asyncio.run(ping())
