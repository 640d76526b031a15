"""Receiving a hospital push, whatever its format: idempotency, one transaction, and the delivery log.

The FHIR and the QĐ130 XML intakes differ only in how they parse and what they write; this module owns
everything else (contract §3.2, which §3.3 repeats): a repeated `webhook-id` with the same body gets the
stored answer again and changes nothing; with another body it is a `409`; a refused delivery leaves one
row in the delivery log and none of its clinical data.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

import anyio
import anyio.to_thread

from backend.database import Database, PgConnection, raw_transaction
from backend.errors import ClientError, Conflict, UnsupportedMediaType
from backend.hospitals import deliveries
from backend.hospitals.registry import FacilityRef
from backend.records.keys import Sender
from backend.signatures import NO_TRUST, Trust
from backend.signatures.registry import facility_certificates

Parsed = TypeVar("Parsed")

PARSED_AT_ONCE = 2  # per worker; bench/load.py: a burst of 20 pushes no longer stalls book reads


class Intake(Protocol[Parsed]):
    @property
    def kind(self) -> str: ...

    @property
    def media_types(self) -> tuple[str, ...]: ...

    @property
    def response_media_type(self) -> str: ...

    def parse(self, body: bytes, facility_code: str, trust: Trust = NO_TRUST) -> Parsed: ...

    async def write(
        self, connection: PgConnection, sender: Sender, delivery_id: int, parsed: Parsed, now: datetime
    ) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Answer:
    """The body of a `200` answer, byte for byte the same when a delivery is repeated."""

    body: str
    media_type: str


@dataclass(frozen=True)
class Push:
    """One authenticated delivery, as received."""

    facility: FacilityRef
    webhook_id: str
    media_type: str
    body: bytes
    received_at: datetime

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


async def receive(database: Database, intake: Intake[Any], push: Push) -> Answer:
    try:
        return await _receive(database, intake, push)
    except ClientError as error:
        await deliveries.record_refusal(
            database,
            push.facility.id,
            push.webhook_id,
            intake.kind,
            error.status_code,
            error.message,
            push.sha256,
            push.received_at,
        )
        raise


async def _receive(database: Database, intake: Intake[Any], push: Push) -> Answer:
    facility, sha256 = push.facility, push.sha256
    async with raw_transaction(database) as connection:
        earlier = await deliveries.find_accepted(connection, facility.id, push.webhook_id)
        certificates = await facility_certificates(connection, facility.id)
    if earlier is not None:
        return _replay(earlier, sha256, intake)
    if push.media_type not in intake.media_types:
        raise UnsupportedMediaType(
            f"Content-Type must be {' or '.join(intake.media_types)}, not {push.media_type or 'none'}"
        )

    # Outside the transaction (no locks held while checking), and off the event loop: a 10 MB bundle
    # takes seconds to validate (and its signatures to verify), and health checks must not wait for it.
    trust = Trust(certificates, push.received_at)
    parsed = await anyio.to_thread.run_sync(intake.parse, push.body, facility.code, trust, limiter=_parsers())
    async with raw_transaction(database) as connection:
        delivery_id = await deliveries.claim(
            connection, facility.id, push.webhook_id, intake.kind, push.body, sha256, push.received_at
        )
        if delivery_id is not None:
            sender = Sender(facility.id, facility.code)
            response = await intake.write(connection, sender, delivery_id, parsed, push.received_at)
            answer = json.dumps(response, ensure_ascii=False, separators=(",", ":"))
            await deliveries.complete(connection, delivery_id, answer)
            return Answer(answer, intake.response_media_type)
    # A concurrent delivery with this webhook-id committed first: answer as it was answered.
    async with raw_transaction(database) as connection:
        earlier = await deliveries.find_accepted(connection, facility.id, push.webhook_id)
    assert earlier is not None
    return _replay(earlier, sha256, intake)


def _replay(earlier: deliveries.AcceptedDelivery, sha256: str, intake: Intake[Any]) -> Answer:
    if earlier.body_sha256 != sha256:
        raise Conflict("this webhook-id was already used for a different body; use a new webhook-id")
    return Answer(earlier.response, intake.response_media_type)


@functools.cache
def _parsers() -> anyio.CapacityLimiter:
    """At most two pushes parsed at once per process (a worker): parsing is pure Python, and a burst of
    twenty in twenty threads would take the interpreter's lock from the event loop that answers everyone
    else. Made at first use, inside the worker's event loop."""
    return anyio.CapacityLimiter(PARSED_AT_ONCE)
