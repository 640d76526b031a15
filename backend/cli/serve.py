"""`healthbook serve` (contract §1) and `healthbook run`, which is what `make run` does."""

from __future__ import annotations

import asyncio

import click

from backend.cli._common import command_settings, database_url
from backend.cli._group import cli
from backend.database import redact_url, upgrade
from backend.demo import load_demo_if_empty
from backend.ops.server import check_port
from backend.ops.server import serve as serve_app


@cli.command()
def serve() -> None:
    """Run the web app (no migrations, no demo data)."""
    settings = command_settings()
    check_port(settings)
    with database_url(settings) as url:
        serve_app(settings, url)


@cli.command()
def run() -> None:
    """Set up and serve, as `make run` does: migrations, demo data when the database is empty, the app."""
    settings = command_settings()
    check_port(settings)
    with database_url(settings) as url:
        upgrade(url)
        demo_note = asyncio.run(load_demo_if_empty(url)) if settings.demo_data else "skipped (DEMO_DATA=0)"
        click.echo(
            "\n".join(
                [
                    "",
                    f"  Sổ Sức Khỏe is running at {settings.base_url}/",
                    f"  database: {redact_url(url)}",
                    f"  demo data: {demo_note}",
                    "  Ctrl-C stops the app and the embedded database.",
                    "",
                ]
            )
        )
        serve_app(settings, url)
