"""Checking a patient's signatures again (contract §1 `healthbook verify --cccd`), from the bytes each
current record came in, as received: the delivery's body is kept for this. A result changes when the
certificate registry did (a certificate registered after the push; one removed), or when the rules did.

Each delivery is parsed and verified once, whatever number of the patient's records it holds. The new
result is written to the record and to its current version, which carries the verdict of its bytes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import anyio.to_thread

from backend.database import PgConnection
from backend.errors import ClientError
from backend.records.fhir.intake import mark_signatures
from backend.records.fhir.parse import parse_bundle
from backend.records.xml130.intake import envelope_signature
from backend.records.xml130.parsing import parse_push
from backend.signatures import UNSIGNED, Certificate, Trust, Verdict

_CURRENT = """
SELECT r.id, r.version, r.resource_type, r.served_id, r.signature, r.signature_reason, r.facility_id,
       v.entry_index, d.id AS delivery_id, d.kind, d.received_at, f.code AS facility_code
FROM record r
JOIN record_version v ON v.record_id = r.id AND v.version = r.version
JOIN delivery d ON d.id = v.delivery_id
JOIN facility f ON f.id = r.facility_id
WHERE r.patient_id = $1 AND NOT r.deleted
ORDER BY d.id, r.id
"""


@dataclass(frozen=True)
class Change:
    id: str  # `Type/id` as /book/fhir serves it
    was: str
    now: str


class Unreadable(Exception):
    """A delivery accepted once that today's intake no longer reads (its rules were tightened since)."""


async def recheck_signatures(
    connection: PgConnection, patient_id: UUID, certificates: dict[int, list[Certificate]]
) -> tuple[int, list[Change], list[int]]:
    """How many current records were checked, those whose result changed (now stored), and the deliveries
    that could not be read again (their records keep their result)."""
    rows = await connection.fetch(_CURRENT, patient_id)
    by_delivery: dict[int, list[Any]] = {}
    for row in rows:
        by_delivery.setdefault(row["delivery_id"], []).append(row)
    changes: list[Change] = []
    unreadable: list[int] = []
    for delivery_id, held in by_delivery.items():
        body = bytes(await connection.fetchval("SELECT body FROM delivery WHERE id = $1", delivery_id))
        first = held[0]
        keys = certificates.get(first["facility_id"], [])
        try:
            verdicts = await anyio.to_thread.run_sync(
                _verdicts, first["kind"], body, first["facility_code"], keys, first["received_at"]
            )
        except Unreadable:
            unreadable.append(delivery_id)
            continue
        for row in held:
            verdict = verdicts(row["entry_index"])
            if (verdict.result, verdict.reason) == (row["signature"], row["signature_reason"]):
                continue
            stored = await _store(connection, row["id"], row["version"], verdict)
            if stored and verdict.result != row["signature"]:
                changes.append(Change(f"{row['resource_type']}/{row['served_id']}", row["signature"], verdict.result))
    return len(rows), changes, unreadable


def _verdicts(
    kind: str, body: bytes, facility_code: str, certificates: Sequence[Certificate], received_at: datetime
) -> Callable[[int], Verdict]:
    """entry index → verdict, for one delivery (an XML envelope's verdict holds for all it yielded)."""
    try:
        if kind == "xml130":
            envelope = envelope_signature(body, parse_push(body, facility_code), Trust(certificates, received_at))
            return lambda _index: envelope
        entries = parse_bundle(body).entries
    except ClientError as error:
        raise Unreadable(str(error)) from error
    mark_signatures(entries, Trust(certificates, received_at))
    found = {entry.index: Verdict(entry.signature, entry.signature_reason) for entry in entries}
    return lambda index: found.get(index, UNSIGNED)


async def _store(connection: PgConnection, record_id: int, version: int, verdict: Verdict) -> bool:
    """False when a newer version arrived meanwhile (it carries its own verdict): nothing is changed."""
    updated = await connection.fetchval(
        "UPDATE record SET signature = $1, signature_reason = $2 WHERE id = $3 AND version = $4 RETURNING id",
        verdict.result,
        verdict.reason,
        record_id,
        version,
    )
    if updated is None:
        return False
    await connection.execute(
        "UPDATE record_version SET signature = $1, signature_reason = $2 WHERE record_id = $3 AND version = $4",
        verdict.result,
        verdict.reason,
        record_id,
        version,
    )
    return True
