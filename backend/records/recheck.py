"""Checking a patient's signatures again (contract §1 `healthbook verify --cccd`), from the bytes each
current record came in, as received: the delivery's body is kept for this. A result changes when the
certificate registry did (a certificate registered after the push; one removed), or when the rules did.

Each delivery is parsed and verified once, whatever number of the patient's records it holds. The new
result is written to the record and to its current version, which carries the verdict of its bytes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import anyio.to_thread

from backend.database import PgConnection
from backend.records.fhir.intake import mark_signatures
from backend.records.fhir.parse import parse_bundle
from backend.records.xml130.intake import envelope_signature
from backend.records.xml130.parsing import parse_push
from backend.signatures import UNSIGNED, Certificate, Verdict

_CURRENT = """
SELECT r.id, r.version, r.resource_type, r.served_id, r.signature, r.signature_reason, r.facility_id,
       v.entry_index, d.id AS delivery_id, d.kind, f.code AS facility_code
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


async def recheck_signatures(
    connection: PgConnection, patient_id: UUID, certificates: dict[int, list[Certificate]]
) -> tuple[int, list[Change]]:
    """How many current records were checked, and those whose result changed (now stored)."""
    rows = await connection.fetch(_CURRENT, patient_id)
    by_delivery: dict[int, list[Any]] = {}
    for row in rows:
        by_delivery.setdefault(row["delivery_id"], []).append(row)
    changes: list[Change] = []
    for delivery_id, held in by_delivery.items():
        body = bytes(await connection.fetchval("SELECT body FROM delivery WHERE id = $1", delivery_id))
        first = held[0]
        keys = certificates.get(first["facility_id"], [])
        verdicts = await anyio.to_thread.run_sync(_verdicts, first["kind"], body, first["facility_code"], keys)
        for row in held:
            verdict = verdicts(row["entry_index"])
            if (verdict.result, verdict.reason) == (row["signature"], row["signature_reason"]):
                continue
            await _store(connection, row["id"], row["version"], verdict)
            if verdict.result != row["signature"]:
                changes.append(Change(f"{row['resource_type']}/{row['served_id']}", row["signature"], verdict.result))
    return len(rows), changes


def _verdicts(kind: str, body: bytes, facility_code: str, certificates: Sequence[Certificate]) -> Any:
    """entry index → verdict, for one delivery (an XML envelope's verdict holds for all it yielded)."""
    if kind == "xml130":
        envelope = envelope_signature(body, parse_push(body, facility_code), certificates)
        return lambda _index: envelope
    entries = parse_bundle(body).entries
    mark_signatures(entries, certificates)
    found = {entry.index: Verdict(entry.signature, entry.signature_reason) for entry in entries}
    return lambda index: found.get(index, UNSIGNED)


async def _store(connection: PgConnection, record_id: int, version: int, verdict: Verdict) -> None:
    await connection.execute(
        "UPDATE record SET signature = $1, signature_reason = $2 WHERE id = $3 AND version = $4",
        verdict.result,
        verdict.reason,
        record_id,
        version,
    )
    await connection.execute(
        "UPDATE record_version SET signature = $1, signature_reason = $2 WHERE record_id = $3 AND version = $4",
        verdict.result,
        verdict.reason,
        record_id,
        version,
    )
