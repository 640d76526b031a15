"""The QĐ130 XML intake (contract §3.3): tables in, the same FHIR records the FHIR intake writes out.

An episode is (MA_CSKCB, MA_LK); the facility is the sender. A push carrying table XMLn of an episode
replaces what earlier pushes made from XMLn of that episode. A table without XML1 beside it is filed
to the patient of the episode stored earlier; an unknown episode is refused.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import partial
from typing import Any

import anyio.to_thread

from backend.clock import VIETNAM
from backend.database import PgConnection
from backend.errors import Unprocessable
from backend.records.fhir.parse import Entry
from backend.records.fhir.writing import store_entries
from backend.records.keys import Key, Sender
from backend.records.xml130.conversion import checked_records, in_xml_terms
from backend.records.xml130.episodes import episode_facts, lock_episodes, records_of_a_moved_episode
from backend.records.xml130.mapping import Episode
from backend.records.xml130.parsing import ParsedXml, parse_push
from backend.signatures import NO_TRUST, UNSIGNED, VERIFIED, Trust, Verdict, invalid, verify_envelope


def envelope_signature(body: bytes, parsed: ParsedXml, trust: Trust) -> Verdict:
    """A bare table (no envelope) carries no signature; an envelope's is checked at its NGAYLAP (an empty
    `CHUKYDONVI` is unsigned; anything else in it must be a valid signature). NGAYLAP is not itself signed
    apart from the envelope: a day after the push arrived says nothing true."""
    if not parsed.received.envelope:
        return UNSIGNED
    signed_on = date.fromisoformat(parsed.signed_on) if parsed.signed_on else None
    verdict = verify_envelope(body, trust.certificates, signed_on)
    arrived = trust.received_at.astimezone(VIETNAM).date() if trust.received_at else None
    if verdict == VERIFIED and signed_on and arrived and signed_on > arrived:
        return invalid("signed after the push was received (NGAYLAP is in the future)")
    return verdict


class Xml130Intake:
    kind = "xml130"
    media_types = ("application/xml", "text/xml")
    response_media_type = "application/json"

    def parse(self, body: bytes, facility_code: str, trust: Trust = NO_TRUST) -> ParsedXml:
        """The envelope and every field the mapping reads, checked without the database; and its signature
        (contract §3.4: the whole envelope's, which every record it yields takes, Patient included)."""
        parsed = parse_push(body, facility_code)
        parsed.signature = envelope_signature(body, parsed, trust)
        return parsed

    async def write(
        self, connection: PgConnection, sender: Sender, delivery_id: int, parsed: ParsedXml, now: datetime
    ) -> dict[str, Any]:
        episodes = parsed.episodes()
        await lock_episodes(connection, sender, episodes)  # before the first look at what they hold
        facts: dict[str, Episode] = {}
        moved: list[Key] = []
        for ma_lk, rows in episodes.items():
            facts[ma_lk] = await episode_facts(connection, sender, ma_lk, rows, parsed.signed_on)
            moved += await records_of_a_moved_episode(connection, sender, ma_lk, facts[ma_lk])
        records, entries = await anyio.to_thread.run_sync(partial(checked_records, episodes, facts))
        for entry in entries:
            entry.signature, entry.signature_reason = parsed.signature.result, parsed.signature.reason
        if moved:  # XML1 names another patient: what was filed under the first one leaves their book
            removals = [
                Entry(index, "DELETE", key.resource_type, key.resource_id, None, None)
                for index, key in enumerate(moved)
            ]
            await store_entries(connection, sender, delivery_id, removals, now)
        try:
            outcomes = await store_entries(connection, sender, delivery_id, entries, now, replacing=parsed.replacing())
        except Unprocessable as error:
            raise in_xml_terms(error, records) from None
        answer = []
        for entry, (item, ma_lk) in zip(entries, records, strict=True):
            outcome = outcomes[entry.index]
            location = f"{outcome.key.resource_type}/{outcome.key.resource_id}/_history/{outcome.version}"
            answer.append({"table": item.table, "ma_lk": ma_lk, "location": location})
        return {"records": answer}
