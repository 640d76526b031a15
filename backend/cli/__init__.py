"""The `healthbook` command (contract §1).

Subcommands that produce a result print exactly one JSON document on stdout; logs go to stderr. Failures
print one line on stderr and exit 1.
"""

from backend.cli._group import main

__all__ = ["main"]
