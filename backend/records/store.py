"""Writing records: a whole bundle in a handful of set-based statements, inside the caller's transaction.

Each statement takes all rows at once (a JSON array unpacked by `jsonb_to_recordset`), so a 500-entry
bundle costs the same number of round trips as a 5-entry one. The current row and its history row are
written by one statement (data-modifying CTEs).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from backend.database import PgConnection
from backend.records.keys import Key, Origin, StoredRecord


@dataclass(frozen=True)
class RecordRow:
    """One record to write, with everything its columns need."""

    entry_index: int
    key: Key
    served_id: str
    patient_id: UUID | None
    deleted: bool
    status: str | None
    date: datetime | None
    date_end: datetime | None
    codes: list[str]
    identifiers: list[str]
    search_text: str
    source_updated: datetime | None
    content: dict[str, Any]
    phones: list[str]
    origin: Origin | None = None
    signature: str = "unsigned"
    signature_reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "entry_index": self.entry_index,
            "resource_type": self.key.resource_type,
            "resource_id": self.key.resource_id,
            "served_id": self.served_id,
            "patient_id": str(self.patient_id) if self.patient_id else None,
            "deleted": self.deleted,
            "status": self.status,
            "date": self.date.isoformat() if self.date else None,
            "date_end": self.date_end.isoformat() if self.date_end else None,
            "codes": self.codes,
            "identifiers": self.identifiers,
            "search_text": self.search_text,
            "phones": self.phones,
            "source_updated": self.source_updated.isoformat() if self.source_updated else None,
            "episode": self.origin.episode if self.origin else None,
            "source_table": self.origin.table if self.origin else None,
            "content": self.content,
            "signature": self.signature,
            "signature_reason": self.signature_reason,
        }


@dataclass(frozen=True)
class Written:
    key: Key
    version: int
    created: bool


async def lock_keys(connection: PgConnection, keys: Iterable[str]) -> None:
    """Transaction-scoped advisory locks, always taken in the same order so two writers cannot deadlock.
    Used for conditional entries: two bundles creating "the Patient with this CCCD" must not both create."""
    ordered = sorted(set(keys))
    if ordered:
        await connection.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest($1::text[]) WITH ORDINALITY AS u(k, n)"
            " ORDER BY n",
            ordered,
        )


async def find_by_identifiers(
    connection: PgConnection, facility_id: int, resource_types: Sequence[str], tokens: Sequence[str]
) -> list[tuple[str, str, list[str], int, UUID | None]]:
    """Current records of this facility carrying any of `tokens` (`system|value`)."""
    rows = await connection.fetch(
        "SELECT resource_type, resource_id, identifiers, version, patient_id FROM record"
        " WHERE facility_id = $1 AND NOT deleted AND resource_type = ANY($2::text[]) AND identifiers && $3::text[]",
        facility_id,
        list(resource_types),
        list(tokens),
    )
    return [
        (row["resource_type"], row["resource_id"], list(row["identifiers"]), row["version"], row["patient_id"])
        for row in rows
    ]


async def lock_stored(connection: PgConnection, facility_id: int, keys: Iterable[Key]) -> dict[Key, StoredRecord]:
    """The stored records among `keys`, locked until the transaction ends. Taken in one statement, in key
    order, before anything is written: two bundles touching the same records then queue instead of
    each holding what the other needs (a deadlock)."""
    wanted = sorted({(key.resource_type, key.resource_id) for key in keys})
    if not wanted:
        return {}
    rows = await connection.fetch(
        "SELECT r.resource_type, r.resource_id, r.patient_id, r.version, r.deleted, r.source_updated, r.identifiers"
        " FROM record r JOIN unnest($2::text[], $3::text[]) AS k(resource_type, resource_id)"
        " USING (resource_type, resource_id) WHERE r.facility_id = $1"
        " ORDER BY r.resource_type, r.resource_id FOR UPDATE OF r",
        facility_id,
        [key[0] for key in wanted],
        [key[1] for key in wanted],
    )
    found = {}
    for row in rows:
        key = Key(row["resource_type"], row["resource_id"])
        found[key] = StoredRecord(
            key, row["patient_id"], row["version"], row["deleted"], row["source_updated"], tuple(row["identifiers"])
        )
    return found


async def find_by_origin(connection: PgConnection, facility_id: int, origins: Sequence[Origin]) -> list[Key]:
    """Current records this facility made from these (episode, table) origins."""
    if not origins:
        return []
    rows = await connection.fetch(
        "SELECT r.resource_type, r.resource_id FROM record r"
        " JOIN unnest($2::text[], $3::text[]) AS o(episode, source_table) USING (episode, source_table)"
        " WHERE r.facility_id = $1 AND NOT r.deleted",
        facility_id,
        [origin.episode for origin in origins],
        [origin.table for origin in origins],
    )
    return [Key(row["resource_type"], row["resource_id"]) for row in rows]


async def episode_patient(connection: PgConnection, facility_id: int, episode: str) -> UUID | None:
    """The patient of a stored QĐ130 episode of this facility, if the facility ever pushed it."""
    value = await connection.fetchval(
        "SELECT patient_id FROM record WHERE facility_id = $1 AND episode = $2 AND patient_id IS NOT NULL"
        " AND NOT deleted ORDER BY updated_at DESC LIMIT 1",
        facility_id,
        episode,
    )
    return value if isinstance(value, UUID) else None


async def register_patients(connection: PgConnection, cccds: Iterable[str]) -> dict[str, UUID]:
    """The registry id of each CCCD, registering the new ones (safe against concurrent registration)."""
    wanted = sorted(set(cccds))
    if not wanted:
        return {}
    rows = await connection.fetch(
        "WITH added AS (INSERT INTO patient (id, cccd) SELECT gen_random_uuid(), c FROM unnest($1::text[]) AS c"
        " ON CONFLICT (cccd) DO NOTHING RETURNING id, cccd)"
        " SELECT id, cccd FROM added UNION ALL SELECT id, cccd FROM patient WHERE cccd = ANY($1::text[])",
        wanted,
    )
    ids = {row["cccd"]: row["id"] for row in rows}
    if len(ids) < len(wanted):  # registered by a concurrent transaction after this statement's snapshot
        rows = await connection.fetch("SELECT id, cccd FROM patient WHERE cccd = ANY($1::text[])", wanted)
        ids = {row["cccd"]: row["id"] for row in rows}
    return ids


_UPSERT = """
WITH input AS MATERIALIZED (
    SELECT * FROM jsonb_to_recordset($4::jsonb) AS t(
        entry_index int, resource_type text, resource_id text, served_id text, patient_id uuid, deleted boolean,
        status text, date timestamptz, date_end timestamptz, codes text[], identifiers text[], search_text text,
        source_updated timestamptz, episode text, source_table text, phones text[], content jsonb, signature text,
        signature_reason text)
),
written AS (
    INSERT INTO record AS r (facility_id, resource_type, resource_id, served_id, patient_id, version, deleted,
        status, date, date_end, codes, identifiers, search_text, source_updated, episode, source_table, phones,
        content, signature, signature_reason, delivery_id, updated_at)
    SELECT $1, resource_type, resource_id, served_id, patient_id, 1, deleted, status, date, date_end, codes,
        identifiers, search_text, source_updated, episode, source_table, phones, content, signature,
        signature_reason, $2, $3
    FROM input ORDER BY resource_type, resource_id
    ON CONFLICT (facility_id, resource_type, resource_id) DO UPDATE SET
        version = r.version + 1, served_id = EXCLUDED.served_id, patient_id = EXCLUDED.patient_id,
        deleted = EXCLUDED.deleted,
        status = EXCLUDED.status, date = EXCLUDED.date, date_end = EXCLUDED.date_end, codes = EXCLUDED.codes,
        identifiers = EXCLUDED.identifiers, search_text = EXCLUDED.search_text, content = EXCLUDED.content,
        source_updated = EXCLUDED.source_updated, episode = EXCLUDED.episode, source_table = EXCLUDED.source_table,
        phones = EXCLUDED.phones,
        signature = EXCLUDED.signature, signature_reason = EXCLUDED.signature_reason,
        delivery_id = EXCLUDED.delivery_id, updated_at = EXCLUDED.updated_at
    -- Rows left out of the result, for the caller to explain: a move to another patient (contract §3.2:
    -- allowed once the record was removed as entered-in-error), or an older version arriving late.
    WHERE (r.patient_id IS NOT DISTINCT FROM EXCLUDED.patient_id OR r.deleted)
        AND (EXCLUDED.source_updated IS NULL OR r.source_updated IS NULL
             OR EXCLUDED.source_updated >= r.source_updated)
    RETURNING r.id, r.resource_type, r.resource_id, r.version, r.patient_id, r.deleted, r.status, r.content,
        r.signature, r.signature_reason, (r.xmax = 0) AS created
),
history AS (
    INSERT INTO record_version (record_id, version, patient_id, deleted, status, content, signature,
        signature_reason, delivery_id, entry_index, recorded_at)
    SELECT w.id, w.version, w.patient_id, w.deleted, w.status, w.content, w.signature, w.signature_reason, $2,
        i.entry_index, $3
    FROM written w JOIN input i USING (resource_type, resource_id)
)
SELECT resource_type, resource_id, version, created FROM written
"""

_DELETE = """
WITH doomed AS (
    SELECT * FROM unnest($4::text[], $5::text[], $6::int[]) AS d(resource_type, resource_id, entry_index)
),
written AS (
    -- A removal is not what the hospital signed: its version is unsigned, whatever the record's was.
    UPDATE record AS r SET version = r.version + 1, deleted = true, delivery_id = $2, updated_at = $3,
        signature = 'unsigned', signature_reason = NULL
    FROM doomed d
    WHERE r.facility_id = $1 AND r.resource_type = d.resource_type AND r.resource_id = d.resource_id
    RETURNING r.id, r.resource_type, r.resource_id, r.version, r.patient_id, r.status, r.content, r.signature,
        r.signature_reason, d.entry_index
),
history AS (
    INSERT INTO record_version (record_id, version, patient_id, deleted, status, content, signature,
        signature_reason, delivery_id, entry_index, recorded_at)
    SELECT id, version, patient_id, true, status, content, signature, signature_reason, $2, entry_index, $3
    FROM written
)
SELECT resource_type, resource_id, version, false AS created FROM written
"""


async def upsert_records(
    connection: PgConnection, facility_id: int, delivery_id: int, now: datetime, rows: Sequence[RecordRow]
) -> dict[Key, Written]:
    """Insert or version every row; rows that would move a record to another patient are left out of the
    result (the caller refuses the delivery)."""
    if not rows:
        return {}
    payload = json.dumps([row.as_json() for row in rows], ensure_ascii=False, separators=(",", ":"))
    result = await connection.fetch(_UPSERT, facility_id, delivery_id, now, payload)
    return _written(result)


async def delete_records(
    connection: PgConnection,
    facility_id: int,
    delivery_id: int,
    now: datetime,
    targets: Sequence[tuple[Key, int]],
) -> dict[Key, Written]:
    """Mark records deleted (a new version); keys that match nothing are left out of the result."""
    if not targets:
        return {}
    result = await connection.fetch(
        _DELETE,
        facility_id,
        delivery_id,
        now,
        [key.resource_type for key, _ in targets],
        [key.resource_id for key, _ in targets],
        [index for _, index in targets],
    )
    return _written(result)


def _written(rows: Iterable[Any]) -> dict[Key, Written]:
    written = {}
    for row in rows:
        key = Key(row["resource_type"], row["resource_id"])
        written[key] = Written(key, row["version"], row["created"])
    return written
