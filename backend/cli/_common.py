"""What every subcommand shares: JSON on stdout, one-line failures, settings, and a database to talk to."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from backend.database import Database, EmbeddedPostgres, to_async_url
from backend.logs import configure_logging
from backend.settings import Settings, load_settings


class CommandFailed(Exception):
    """A subcommand cannot do what was asked; the message is the one line the operator reads."""


def emit(result: Any) -> None:
    """The command's result: exactly one JSON document on stdout."""
    click.echo(json.dumps(result, ensure_ascii=False, default=str))


def command_settings() -> Settings:
    settings = load_settings()
    configure_logging(settings)
    return settings


@contextmanager
def database_url(settings: Settings) -> Iterator[str]:
    """`DATABASE_URL`, or the embedded server under `var/pg` for as long as the block runs; either way
    checked to answer, so a wrong URL is reported in one line before anything else happens."""
    if settings.database_url:
        _ping(settings.database_url)
        yield settings.database_url
        return
    with EmbeddedPostgres(settings.var_dir / "pg") as url:
        _ping(url)
        yield url


def _ping(url: str) -> None:
    async def ping() -> None:
        database = Database(to_async_url(url), pool_size=1, max_overflow=0)
        try:
            await database.ping(timeout=10)
        finally:
            await database.dispose()

    asyncio.run(ping())
