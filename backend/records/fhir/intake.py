"""The FHIR intake (contract §3.2): a checked bundle in, records and history out, in the caller's
transaction; the answer is a `transaction-response` Bundle, one entry per input entry, in order."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from backend.database import PgConnection
from backend.records.fhir.authorship import check_meta_source
from backend.records.fhir.parse import Entry, ParsedBundle, parse_bundle
from backend.records.fhir.patients import check_cccds
from backend.records.fhir.writing import Outcome, store_entries
from backend.records.keys import Sender
from backend.signatures import NO_TRUST, Trust, verify_bundle


class FhirIntake:
    kind = "fhir"
    media_types = ("application/fhir+json", "application/json")
    response_media_type = "application/fhir+json"

    def parse(self, body: bytes, facility_code: str, trust: Trust = NO_TRUST) -> ParsedBundle:
        """Everything that can be checked without the database, signatures included (contract §3.4): each
        signed entry is `verified` or `invalid` with the reason, and is stored either way."""
        parsed = parse_bundle(body)
        check_cccds(parsed.entries)
        check_meta_source(parsed.entries, facility_code)
        mark_signatures(parsed.entries, trust)
        return parsed

    async def write(
        self, connection: PgConnection, sender: Sender, delivery_id: int, parsed: ParsedBundle, now: datetime
    ) -> dict[str, Any]:
        outcomes = await store_entries(connection, sender, delivery_id, parsed.entries, now)
        return _transaction_response(parsed.entries, outcomes, now)


def mark_signatures(entries: list[Entry], trust: Trust) -> None:
    """Each entry's signature state, from the bundle's signature Provenances, over the resources as sent."""
    as_sent = [_as_sent(entry) for entry in entries]
    for index, verdict in verify_bundle(as_sent, trust.certificates, trust.received_at).items():
        entries[index].signature, entries[index].signature_reason = verdict.result, verdict.reason


def _as_sent(entry: Entry) -> dict[str, Any]:
    sent: dict[str, Any] = {"request": {"method": entry.method}}
    if entry.full_url is not None:
        sent["fullUrl"] = entry.full_url
    if entry.resource is not None:
        sent["resource"] = entry.resource
    return sent


def _transaction_response(entries: list[Entry], outcomes: dict[int, Outcome], now: datetime) -> dict[str, Any]:
    stamp = now.isoformat()
    response_entries = []
    for entry in entries:
        outcome = outcomes[entry.index]
        key, version = outcome.key, outcome.version
        status = "201 Created" if outcome.created else "200 OK"
        response_entries.append(
            {
                "response": {
                    "status": status,
                    "location": f"{key.resource_type}/{key.resource_id}/_history/{version}",
                    "etag": f'W/"{version}"',
                    "lastModified": stamp,
                }
            }
        )
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": response_entries}
