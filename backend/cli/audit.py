"""`healthbook audit verify` (contract §1): check the access log's hash chain, every event of it.

Prints `{"events": N, "ok": true}` when the log is intact; otherwise `{"ok": false, "first_bad": ID}` on
stdout too, and exits 1. What the chain covers and what it cannot catch: `backend/audit/chain.py`.
"""

from __future__ import annotations

import click
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.audit.chain import ChainCheck, verify_chain
from backend.cli._common import command_settings, emit, in_session
from backend.cli._group import cli
from backend.database import driver_connection


@cli.group()
def audit() -> None:
    """The access log (who read whose health data)."""


@audit.command("verify")
def verify() -> None:
    """Recompute the access log's hash chain; exit 1 if an event was changed, removed or slipped in."""
    settings = command_settings()

    async def check(session: AsyncSession) -> ChainCheck:
        # One snapshot for the head and every row: events logged meanwhile are not half seen.
        await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
        return await verify_chain(await driver_connection(session))

    result = in_session(settings, check)
    emit(result.report())
    if not result.ok:
        raise click.exceptions.Exit(1)
