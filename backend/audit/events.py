"""Who is reading, and writing that down."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from backend.database import PgConnection

Channel = Literal["shl", "reception", "operator", "facility_admin"]


@dataclass(frozen=True)
class Reader:
    """A reader of health data: a person (or a recipient's stated name), their role and facility, the
    channel they came through and why. The patient reading their own book is a `Reader` too, with
    `owner` set: only their reads go unlogged."""

    actor: str
    role: str
    purpose: str
    channel: Channel | None = None
    facility_id: int | None = None
    owner: UUID | None = None  # the patient themself

    @classmethod
    def patient(cls, patient_id: UUID) -> Reader:
        return cls(actor="patient", role="patient", purpose="own book", owner=patient_id)

    @classmethod
    def operator(cls, actor: str, purpose: str) -> Reader:
        return cls(actor=actor, role="operator", purpose=purpose, channel="operator")

    def owns(self, patient_id: UUID) -> bool:
        return self.owner is not None and self.owner == patient_id


_INSERT = (
    "INSERT INTO access_event (at, patient_id, actor, actor_role, facility_id, channel, purpose,"
    " resource_types, resource_ids) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
)
# The rows of a `logged_at_the_end` block, with the connection whose transaction they belong to.
_held: ContextVar[tuple[PgConnection, list[tuple[Any, ...]]] | None] = ContextVar("access_events_held", default=None)


@asynccontextmanager
async def logged_at_the_end(connection: PgConnection) -> AsyncIterator[None]:
    """Within the block, access events on `connection` are held, and written when the block ends without
    an error: as the last statements before its transaction commits. Each insert locks the chain's head
    (backend/audit/chain.py) until commit, so every other reader's event waits meanwhile; a share's
    document is built and encrypted after the read it logs, and that should not be inside the lock. If
    the block fails, nothing is written and its transaction rolls back, the read with it."""
    held: list[tuple[Any, ...]] = []
    token = _held.set((connection, held))
    try:
        yield
    finally:
        _held.reset(token)
    for row in held:
        await connection.execute(_INSERT, *row)


async def log_access(
    connection: PgConnection,
    reader: Reader,
    patient_id: UUID,
    resource_types: Sequence[str],
    resource_ids: Sequence[str],
    now: datetime,
) -> None:
    if reader.channel is None:
        raise ValueError(f"a {reader.role} reading another patient's data needs a channel")
    row = (
        now,
        patient_id,
        reader.actor[:200],
        reader.role,
        reader.facility_id,
        reader.channel,
        reader.purpose[:500],
        sorted(set(resource_types)),
        list(resource_ids),
    )
    holding = _held.get()
    if holding is not None and holding[0] is connection:
        holding[1].append(row)
    else:
        await connection.execute(_INSERT, *row)
