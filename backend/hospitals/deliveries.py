"""The delivery log: each authenticated push, accepted or refused, per facility (contract §1, §3.2).

An accepted delivery row is written in the same transaction as its records and reserves its
`webhook-id`: a repeat waits on that unique key, then is answered with the stored response. A refused
delivery is written afterwards, in a transaction of its own, with nothing of its content but a hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from backend.database import Database, PgConnection, raw_transaction


@dataclass(frozen=True)
class AcceptedDelivery:
    id: int
    body_sha256: str
    response: str


@dataclass(frozen=True)
class LoggedDelivery:
    id: int
    at: datetime
    status: int
    reason: str | None
    sha256: str


async def find_accepted(connection: PgConnection, facility_id: int, webhook_id: str) -> AcceptedDelivery | None:
    row = await connection.fetchrow(
        "SELECT id, body_sha256, response FROM delivery WHERE facility_id = $1 AND webhook_id = $2 AND accepted",
        facility_id,
        webhook_id,
    )
    return AcceptedDelivery(row["id"], row["body_sha256"], row["response"]) if row else None


async def claim(
    connection: PgConnection,
    facility_id: int,
    webhook_id: str,
    kind: str,
    body: bytes,
    sha256: str,
    now: datetime,
) -> int | None:
    """Reserve `webhook_id` for this delivery; None when an accepted delivery already holds it."""
    value = await connection.fetchval(
        "INSERT INTO delivery (facility_id, webhook_id, kind, received_at, accepted, status, body_sha256, body)"
        " VALUES ($1, $2, $3, $4, true, 200, $5, $6)"
        " ON CONFLICT (facility_id, webhook_id) WHERE accepted DO NOTHING RETURNING id",
        facility_id,
        webhook_id,
        kind,
        now,
        sha256,
        body,
    )
    return int(value) if value is not None else None


async def complete(connection: PgConnection, delivery_id: int, response: str) -> None:
    await connection.execute("UPDATE delivery SET response = $2 WHERE id = $1", delivery_id, response)


async def record_refusal(
    database: Database,
    facility_id: int,
    webhook_id: str,
    kind: str,
    status: int,
    reason: str,
    sha256: str,
    now: datetime,
) -> None:
    async with raw_transaction(database) as connection:
        await connection.execute(
            "INSERT INTO delivery (facility_id, webhook_id, kind, received_at, accepted, status, reason, body_sha256)"
            " VALUES ($1, $2, $3, $4, false, $5, $6, $7)",
            facility_id,
            webhook_id,
            kind,
            now,
            status,
            reason[:1000],
            sha256,
        )


async def recent_deliveries(connection: PgConnection, facility_id: int, limit: int) -> list[LoggedDelivery]:
    rows = await connection.fetch(
        "SELECT id, received_at, status, reason, body_sha256 FROM delivery WHERE facility_id = $1"
        " ORDER BY received_at DESC, id DESC LIMIT $2",
        facility_id,
        limit,
    )
    return [LoggedDelivery(r["id"], r["received_at"], r["status"], r["reason"], r["body_sha256"]) for r in rows]
