"""The access log's hash chain (check G2): how an event is hashed, and checking the whole log again.

**What is chained.** Every `access_event` row holds `prev_hash`, the `hash` of the event before it, and
`hash` = sha256(prev_hash || canonical(event)). The database computes both, in the BEFORE INSERT trigger
`access_event_chain` (migration 0013), whoever inserts; `verify_chain` below recomputes them here, in
Python, from the columns as stored. The first event links to the chain's anchor: 32 zero bytes, or after a
retention purge the hash of the last event purged.

**The canonical encoding (version 1)**, the same in SQL (`access_event_canonical`) and in `canonical`:
every value is written as text, then

    item(NULL)   = "~"
    item(text)   = <number of UTF-8 bytes, in decimal> ":" <the UTF-8 bytes>
    items(NULL)  = "~"
    items(array) = <number of elements, in decimal> "#" item(element 1) … item(element n)

    canonical = item("healthbook.access_event.v1") item(id) item(at) item(patient_id) item(actor)
                item(actor_role) item(facility_id) item(channel) item(purpose)
                items(resource_types) items(resource_ids)

with `id` and `facility_id` in decimal, `at` in UTC as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (microseconds, as
PostgreSQL stores them) and `patient_id` as the lower-case hyphenated UUID. Each item says its own length,
so no value can pass for two, whatever characters it holds; nothing depends on a JSON serializer's
whitespace, key order or escaping, which differ between PostgreSQL versions and Python.

**One chain, no forks.** `access_chain` is a single row: the head (last id and hash) and the anchor. The
trigger locks it (`SELECT … FOR UPDATE`) and moves it in the inserting transaction, so inserters take
turns until each one commits or rolls back: every event links to the one committed just before it. A
rolled-back insert moves nothing (its head update is rolled back with it), so it leaves no gap in the
chain; its id is lost, which is harmless: the chain links hashes, and ids only order the walk. An id drawn
before the turn came (the column default) that is not past the head is replaced, so ids follow the chain.
Under REPEATABLE READ or SERIALIZABLE a concurrent insert makes the lock fail with a serialization error
instead of linking to a stale head: failing closed, never forking. Cost: the lock is held until commit, so
transactions that log an access take turns from their insert to their commit: about 0.1 ms more per insert
alone, and at most one logging transaction commits at a time (some 1,500 a second here when they do
nothing else; about 1 / (time from log_access to commit) when they do). Work done between log_access and
the commit (building a document, encrypting it) is done holding the turn.

**What verification finds.** A changed field or hash (the row's hash no longer matches), a row removed
from the middle (the next row links to a hash that is not its predecessor's), rows removed from the end
or added behind the trigger's back (the log no longer ends at the head). `first_bad` is the id of the
first event that fails; when events at the end are missing, the id the head says should be last.

**What it cannot find.** Someone able to disable triggers (a superuser, the table owner) can rewrite the
table *and* the head consistently. Catching that needs the head kept outside the database: an operator
who copies `SELECT last_id, encode(last_hash, 'hex') FROM access_chain` somewhere else now and then (or
has it time-stamped) can later check that the chain still passes through it.

**Retention: the purge (an operator procedure, not automated).** The log is kept 5 years
(`backend/account/retention.py`); `healthbook maintenance` does not touch it. Removing older events is
done by the database owner, in one transaction, at a quiet time (`ALTER TABLE … DISABLE TRIGGER` locks out
inserts until commit), with `:cutoff` the moment before which events may go:

    BEGIN;
    SELECT 1 FROM access_chain WHERE id = 1 FOR UPDATE;
    ALTER TABLE access_event DISABLE TRIGGER access_event_append_only;
    ALTER TABLE access_chain DISABLE TRIGGER access_chain_guard;
    UPDATE access_chain SET anchor_id = cut.id, anchor_hash = cut.hash, anchored_at = now()
      FROM (SELECT id, hash FROM access_event
            WHERE id < coalesce((SELECT min(id) FROM access_event WHERE at >= :cutoff), 9223372036854775807)
            ORDER BY id DESC LIMIT 1) AS cut
      WHERE access_chain.id = 1;
    DELETE FROM access_event WHERE id <= (SELECT anchor_id FROM access_chain WHERE id = 1);
    ALTER TABLE access_chain ENABLE ALWAYS TRIGGER access_chain_guard;
    ALTER TABLE access_event ENABLE ALWAYS TRIGGER access_event_append_only;
    COMMIT;

It removes the oldest events up to (not past) the first one that must be kept, and records the last
removed event's hash as the anchor, so `healthbook audit verify` still passes; note the anchor (id, hash,
time) in the operator's log. `PURGE_STEPS` holds these statements, and a test runs them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from backend.database import PgConnection

VERSION = "healthbook.access_event.v1"
GENESIS = bytes(32)  # the anchor of a chain nothing was ever purged from
BATCH = 2000  # rows read at a time: the walk holds one batch, however long the log
_COLUMNS = (
    "SELECT id, at, patient_id, actor, actor_role, facility_id, channel, purpose, resource_types, resource_ids,"
    " prev_hash, hash FROM access_event"
)
_FIRST_BATCH = _COLUMNS + " ORDER BY id LIMIT $1"
_NEXT_BATCH = _COLUMNS + " WHERE id > $1 ORDER BY id LIMIT $2"

PURGE_STEPS = (
    "SELECT 1 FROM access_chain WHERE id = 1 FOR UPDATE",
    "ALTER TABLE access_event DISABLE TRIGGER access_event_append_only",
    "ALTER TABLE access_chain DISABLE TRIGGER access_chain_guard",
    "UPDATE access_chain SET anchor_id = cut.id, anchor_hash = cut.hash, anchored_at = now()"
    " FROM (SELECT id, hash FROM access_event"
    " WHERE id < coalesce((SELECT min(id) FROM access_event WHERE at >= $1), 9223372036854775807)"
    " ORDER BY id DESC LIMIT 1) AS cut WHERE access_chain.id = 1",
    "DELETE FROM access_event WHERE id <= (SELECT anchor_id FROM access_chain WHERE id = 1)",
    "ALTER TABLE access_chain ENABLE ALWAYS TRIGGER access_chain_guard",  # ALWAYS: also in replica mode
    "ALTER TABLE access_event ENABLE ALWAYS TRIGGER access_event_append_only",
)


class Fields(Protocol):
    """An event's columns by name: an asyncpg record, or a dict."""

    def __getitem__(self, key: str, /) -> Any: ...


def _item(value: str | None) -> bytes:
    if value is None:
        return b"~"
    raw = value.encode("utf-8")
    return f"{len(raw)}:".encode() + raw


def _items(values: Sequence[str | None] | None) -> bytes:
    if values is None:
        return b"~"
    return f"{len(values)}#".encode() + b"".join(_item(value) for value in values)


def utc_text(at: datetime) -> str:
    """`at` as the chain writes it: UTC, microseconds, `Z`."""
    u = at.astimezone(UTC)
    return f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}.{u.microsecond:06d}Z"


def canonical(event: Fields) -> bytes:
    """The bytes an event's hash covers (besides the hash before it): see the module docstring."""
    facility = event["facility_id"]
    return b"".join(
        (
            _item(VERSION),
            _item(str(event["id"])),
            _item(utc_text(event["at"])),
            _item(str(event["patient_id"])),
            _item(event["actor"]),
            _item(event["actor_role"]),
            _item(None if facility is None else str(facility)),
            _item(event["channel"]),
            _item(event["purpose"]),
            _items(event["resource_types"]),
            _items(event["resource_ids"]),
        )
    )


def event_hash(prev_hash: bytes, event: Fields) -> bytes:
    return hashlib.sha256(prev_hash + canonical(event)).digest()


@dataclass(frozen=True)
class ChainCheck:
    events: int  # events checked (all of them, when the chain is intact)
    first_bad: int | None  # the id of the first event that fails, if one does

    @property
    def ok(self) -> bool:
        return self.first_bad is None

    def report(self) -> dict[str, object]:
        """Contract §1's answer of `healthbook audit verify`."""
        return {"events": self.events, "ok": True} if self.ok else {"ok": False, "first_bad": self.first_bad}


async def verify_chain(connection: PgConnection, batch: int = BATCH) -> ChainCheck:
    """Walk the whole access log in chain order, recomputing every hash; stops at the first event that
    fails. Reads `batch` rows at a time. The head and the rows must be read from one snapshot (events
    keep arriving): run it in a REPEATABLE READ transaction; outside any transaction it opens one."""
    if not connection.is_in_transaction():
        async with connection.transaction(isolation="repeatable_read", readonly=True):
            return await verify_chain(connection, batch)
    head = await connection.fetchrow("SELECT anchor_id, anchor_hash, last_id, last_hash FROM access_chain WHERE id = 1")
    if head is None:  # only someone who disabled its guard could have removed it
        first = await connection.fetchval("SELECT min(id) FROM access_event")
        return ChainCheck(0, int(first) if first is not None else 0)
    previous_id, previous_hash = int(head["anchor_id"]), bytes(head["anchor_hash"])
    last_id = int(head["last_id"])
    events = 0
    after: int | None = None
    while True:
        rows = await (
            connection.fetch(_FIRST_BATCH, batch) if after is None else connection.fetch(_NEXT_BATCH, after, batch)
        )
        for row in rows:
            event_id = int(row["id"])
            if (
                event_id <= previous_id  # before the anchor: should have been purged with it
                or event_id > last_id  # past the head: not written through the trigger
                or row["prev_hash"] != previous_hash
                or row["hash"] != event_hash(previous_hash, row)
            ):
                return ChainCheck(events, event_id)
            events += 1
            previous_id, previous_hash = event_id, bytes(row["hash"])
        if len(rows) < batch:
            break
        after = int(rows[-1]["id"])
    if (previous_id, previous_hash) != (last_id, bytes(head["last_hash"])):
        return ChainCheck(events, last_id)  # the log ends before the event the head says is last
    return ChainCheck(events, None)
