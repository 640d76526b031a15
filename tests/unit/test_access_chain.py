"""The access log's canonical encoding (check G2: a hash chain detects a tampered row), pinned byte for
byte: the SQL trigger computes the same bytes (tests/integration/test_access_log_chain.py compares them
on real rows), so a change here is a change of the chain's format and needs a new version tag."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from backend.audit.chain import GENESIS, ChainCheck, canonical, event_hash, utc_text

PATIENT = uuid.UUID("2f1c7a52-8d0e-4c39-9b7a-5d2e1f0a9c44")


def event(**changes: Any) -> dict[str, Any]:
    return {
        "id": 7,
        "at": datetime(2026, 11, 26, 8, 30, 1, 5, tzinfo=UTC),
        "patient_id": PATIENT,
        "actor": "le.tan",
        "actor_role": "receptionist",
        "facility_id": 12,
        "channel": "reception",
        "purpose": "khám",
        "resource_types": ["Condition", "Patient"],
        "resource_ids": [],
        **changes,
    }


def test_the_encoding_is_length_prefixed_items_in_a_fixed_order() -> None:
    assert canonical(event()) == (
        b"26:healthbook.access_event.v1"
        b"1:7"
        b"27:2026-11-26T08:30:01.000005Z"
        b"36:2f1c7a52-8d0e-4c39-9b7a-5d2e1f0a9c44"
        b"6:le.tan"
        b"12:receptionist"
        b"2:12"
        b"9:reception"
        b"5:kh\xc3\xa1m"  # UTF-8 bytes are counted, not characters
        b"2#9:Condition7:Patient"
        b"0#"
    )


def test_the_hash_links_to_the_hash_before() -> None:
    first = event_hash(GENESIS, event())
    assert first == hashlib.sha256(bytes(32) + canonical(event())).digest()
    assert event_hash(first, event()) != first


def test_no_two_events_encode_alike() -> None:
    """Separators inside values, empty values, NULL and the NULL marker itself all stay distinct."""
    variants = [
        event(),
        event(facility_id=None),
        event(actor="le.tan6:receptionist", actor_role=""),
        event(actor="", actor_role="le.tan"),
        event(actor="~"),
        event(resource_types=["ConditionPatient"]),
        event(resource_types=["Condition", "Patient", ""]),
        event(resource_types=[], resource_ids=["Condition", "Patient"]),
        event(resource_types=["1#x"]),
        event(purpose="kha\u0301m"),  # the same word decomposed (NFD): other bytes, another event
        event(at=datetime(2026, 11, 26, 8, 30, 1, 6, tzinfo=UTC)),
        event(id=70),
    ]
    encoded = [canonical(variant) for variant in variants]
    assert len(set(encoded)) == len(encoded)


def test_times_are_written_in_utc_with_microseconds() -> None:
    hanoi = timezone(timedelta(hours=7))
    assert utc_text(datetime(2026, 11, 26, 15, 30, 1, tzinfo=hanoi)) == "2026-11-26T08:30:01.000000Z"
    assert utc_text(datetime(99, 1, 2, 3, 4, 5, 600, tzinfo=UTC)) == "0099-01-02T03:04:05.000600Z"
    same_moment = datetime(2026, 11, 26, 15, 30, 1, 5, tzinfo=hanoi)
    assert canonical(event(at=same_moment)) == canonical(event())


def test_the_contract_answer() -> None:
    assert ChainCheck(3, None).report() == {"events": 3, "ok": True}
    assert ChainCheck(2, 9).report() == {"ok": False, "first_bad": 9}
