"""`healthbook demo`: load the demo data set through the hospital intake (idempotent)."""

from __future__ import annotations

import asyncio

from backend.cli._common import command_settings, database_url, emit
from backend.cli._group import cli
from backend.demo import load_demo


@cli.command()
def demo() -> None:
    """Load the demo data set (safe to run twice)."""
    settings = command_settings()
    with database_url(settings) as url:
        emit(asyncio.run(load_demo(settings, url)).as_json())
