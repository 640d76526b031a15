"""The `healthbook` command (contract §1).

Subcommands that produce a result print exactly one JSON document on stdout; logs go to stderr. Failures
print one line on stderr and exit 1.
"""

import sys

import click

from backend.cli import audit, backup, book, db, demo, facility, keys, maintenance, patient, serve, staff, verify  # noqa: F401 - importing a module registers its subcommands
from backend.cli._group import cli, fail


def main() -> None:
    """Contract §1: exit 1 with one line on stderr for any failure, usage errors included (click: 2)."""
    try:
        code = cli.main(prog_name="healthbook", standalone_mode=False)
    except click.UsageError as exc:
        fail(f"{exc.format_message()} (see healthbook --help)")
    except click.Abort:
        fail("aborted")
    sys.exit(code if isinstance(code, int) else 0)


__all__ = ["cli", "main"]
