"""`healthbook keys reseal`: after a new key is put first in DATA_KEYS, seal every stored secret again
under it, so the older key can be dropped (the procedure: docs/operations.md, "Key rotation")."""

from __future__ import annotations

import click
import structlog

from backend.cli._common import command_settings, database_url, emit, on_connection
from backend.cli._group import cli
from backend.key_rotation import reseal_all
from backend.keyring import Keyring

log = structlog.get_logger("healthbook.keys")


@cli.group()
def keys() -> None:
    """The DATA_KEYS keyring that seals stored secrets."""


@keys.command()
def reseal() -> None:
    """Seal again, under the first key of DATA_KEYS, every stored secret sealed under an older one.

    Prints what it resealed per column, what no key opens, and what remains under an older key; exit 1 if
    anything remains (run it again: values written meanwhile by a node not yet restarted are picked up)."""
    settings = command_settings()
    with database_url(settings) as url:
        keyring = Keyring(settings.data_keys)
        result = on_connection(settings, url, lambda connection: reseal_all(connection, keyring))
    emit(result.report())
    if not result.ok:
        log.error("some stored secrets are still under an older key: keep it in DATA_KEYS", remaining=result.remaining)
        raise click.exceptions.Exit(1)
