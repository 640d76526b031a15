"""The command group, and the one place where failures become a single line on stderr and exit code 1."""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from backend.cli._common import CommandFailed
from backend.database import DatabaseUnreachable
from backend.errors import ClientError
from backend.ops.server import CannotServe, Stopped
from backend.settings import SettingsError


class HealthbookGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (CommandFailed, SettingsError, CannotServe) as exc:
            fail(str(exc))
        except ClientError as exc:
            fail(exc.message)
        except Stopped as exc:
            fail(f"stopped by {exc}")
        except DatabaseUnreachable as exc:
            fail(f"cannot reach the database {exc}")
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:  # one line for operators; the traceback only when asked for
            logging.getLogger("healthbook.cli").debug("command failed", exc_info=exc)
            fail(f"unexpected error: {type(exc).__name__}: {exc} (LOG_LEVEL=DEBUG shows the traceback)")


def fail(message: str) -> None:
    first_line = message.strip().splitlines()[0] if message.strip() else "failed"
    click.echo(f"healthbook: {first_line}", err=True)
    sys.exit(1)


@click.group(cls=HealthbookGroup, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Sổ Sức Khỏe: the patient-held electronic health book."""
