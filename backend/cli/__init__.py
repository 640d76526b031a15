"""The `healthbook` command (contract §1).

Subcommands that produce a result print exactly one JSON document on stdout; logs go to stderr. Failures
print one line on stderr and exit 1.
"""

from backend.cli import db, demo, serve  # noqa: F401 - importing a module registers its subcommands
from backend.cli._group import cli


def main() -> None:
    cli(prog_name="healthbook")


__all__ = ["cli", "main"]
