"""Records as they are served: the stored content plus our `meta` (version, time, the sending facility,
and the signature state as a tag), and the book as one FHIR `collection` Bundle (contract §1, §4).

The Bundle is written from the stored JSON text without parsing it (`read_stored_records`): our `meta`
goes in front of the stored members, which PostgreSQL has already printed as valid JSON."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec

from backend.records.reads import StoredRecordText, StoredRecordView

SIGNATURE_TAG_SYSTEM = "urn:healthbook:signature"


def served_meta(
    stored: dict[str, Any], version: int, updated_at: datetime, facility_code: str, signature: str
) -> dict[str, Any]:
    """The sender's `meta`, with our version, time and source, and our signature tag instead of any it sent."""
    meta = dict(stored)
    tags = [tag for tag in meta.get("tag") or [] if isinstance(tag, dict) and tag.get("system") != SIGNATURE_TAG_SYSTEM]
    tags.append({"system": SIGNATURE_TAG_SYSTEM, "code": signature})
    meta.update(versionId=str(version), lastUpdated=updated_at.isoformat(), source=facility_code, tag=tags)
    return meta


def served_resource(view: StoredRecordView) -> dict[str, Any]:
    meta = view.content.get("meta")
    return {
        **view.content,
        "meta": served_meta(
            meta if isinstance(meta, dict) else {}, view.version, view.updated_at, view.facility_code, view.signature
        ),
    }


def served_resource_json(record: StoredRecordText) -> bytes:
    meta = msgspec.json.encode(
        served_meta(record.meta, record.version, record.updated_at, record.facility_code, record.signature)
    )
    # The intake stores objects only; were anything else ever stored, the entry is still valid JSON.
    body = record.body if record.body.startswith("{") else "{}"
    rest = body.encode()[1:]  # after the opening brace
    return b'{"meta":' + meta + (b"," if rest.lstrip() != b"}" else b"") + rest


def collection_bundle_json(records: Sequence[StoredRecordText], base_url: str, now: datetime) -> bytes:
    return msgspec.json.encode(
        {
            "resourceType": "Bundle",
            "type": "collection",
            "timestamp": now.isoformat(),
            "entry": [
                {
                    "fullUrl": f"{base_url}/fhir/{record.reference}",
                    "resource": msgspec.Raw(served_resource_json(record)),
                }
                for record in records
            ],
        }
    )
