"""Sealing every stored secret again under the keyring's first key, a batch at a time.

Each batch is its own short transaction and each row is written only if it still holds the value we
read (a compare-and-set), so the app keeps running meanwhile: a webhook secret rotated or a share made
during the run is sealed under the new key already and is left alone. A value that no key opens is
counted, never changed: it means a key was dropped from DATA_KEYS too soon.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from backend.database import PgConnection
from backend.hospitals.registry import webhook_secret_purpose
from backend.keyring import Keyring, SealedValueError
from backend.oidc.flows import verifier_purpose
from backend.sharing.store import link_purpose
from backend.staff.accounts import totp_purpose

BATCH = 500


@dataclass(frozen=True)
class SealedColumn:
    table: str
    column: str
    bound_to: str  # the column the value's purpose names (the AEAD's associated data)
    purpose: Callable[[Any], str]

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}"


# Every column that holds a value sealed under DATA_KEYS. A new one must be added here, or rotation
# would strand it (tests/integration/test_key_rotation.py compares this list with the models).
SEALED_COLUMNS = (
    SealedColumn("facility", "webhook_secret", "code", webhook_secret_purpose),
    SealedColumn("facility", "previous_webhook_secret", "code", webhook_secret_purpose),
    SealedColumn("staff_member", "totp_secret", "username", totp_purpose),
    SealedColumn("share", "link_sealed", "id", link_purpose),
    SealedColumn("oidc_flow", "verifier_sealed", "id", verifier_purpose),
)


@dataclass
class ResealReport:
    key: str
    resealed: dict[str, int] = field(default_factory=dict)
    unreadable: dict[str, Counter[str]] = field(default_factory=dict)  # column → key id → values
    remaining: dict[str, int] = field(default_factory=dict)  # still not under the first key afterwards

    @property
    def ok(self) -> bool:
        """Every stored secret is now under the first key: the older keys may go."""
        return not any(self.remaining.values())

    def report(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "resealed": self.resealed,
            "unreadable": {name: dict(keys) for name, keys in self.unreadable.items()},
            "remaining": self.remaining,
        }


async def reseal_all(connection: PgConnection, keyring: Keyring, batch: int = BATCH) -> ResealReport:
    """Reseal every column of SEALED_COLUMNS; `connection` outside any transaction (each batch opens one).
    Then count what is still not under the first key: values no key opens, and values written under an
    older key meanwhile (a node not yet restarted with the new keyring): run it again for those."""
    report = ResealReport(keyring.sealing_key_id)
    current = f"{keyring.sealing_key_id}."
    for column in SEALED_COLUMNS:
        resealed, unreadable = await _reseal_column(connection, keyring, column, batch)
        report.resealed[column.name] = resealed
        if unreadable:
            report.unreadable[column.name] = unreadable
        report.remaining[column.name] = int(await connection.fetchval(_older(column, "count(*)"), current))
    return report


def _older(column: SealedColumn, what: str) -> str:
    """The rows of `column` whose value is not sealed under the key `$1` names (`{key id}.`)."""
    # Names from SEALED_COLUMNS only (S608); values are parameters.
    return (
        f"SELECT {what} FROM {column.table}"  # noqa: S608
        f" WHERE {column.column} IS NOT NULL AND left({column.column}, length($1)) <> $1"
    )


async def _reseal_column(
    connection: PgConnection, keyring: Keyring, column: SealedColumn, batch: int
) -> tuple[int, Counter[str]]:
    # Walked by the primary key (an index scan per batch), so a value that does not open is passed over
    # once, not read again and again.
    rows_of = _older(column, f"id, {column.bound_to} AS bound_to, {column.column} AS sealed")
    first_batch = f"{rows_of} ORDER BY id LIMIT $2"
    next_batch = f"{rows_of} AND id > $3 ORDER BY id LIMIT $2"
    # S608: table and column names from SEALED_COLUMNS only; values are parameters.
    update = f"UPDATE {column.table} SET {column.column} = $3 WHERE id = $1 AND {column.column} = $2"  # noqa: S608
    current = f"{keyring.sealing_key_id}."
    resealed, unreadable = 0, Counter[str]()
    after: Any = None
    while True:
        async with connection.transaction():
            rows = await (
                connection.fetch(first_batch, current, batch)
                if after is None
                else connection.fetch(next_batch, current, batch, after)
            )
            for row in rows:
                try:
                    fresh = keyring.reseal(row["sealed"], column.purpose(row["bound_to"]))
                except SealedValueError:
                    unreadable[row["sealed"].partition(".")[0]] += 1
                    continue
                if await connection.execute(update, row["id"], row["sealed"], fresh) == "UPDATE 1":
                    resealed += 1
        if len(rows) < batch:
            return resealed, unreadable
        after = rows[-1]["id"]
