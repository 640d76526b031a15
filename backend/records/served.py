"""Records as they are served: the stored content plus our `meta` (version, time, the sending facility,
and the signature state as a tag), and the book as one FHIR `collection` Bundle (contract §1, §4)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from backend.records.reads import StoredRecordView

SIGNATURE_TAG_SYSTEM = "urn:healthbook:signature"


def served_resource(view: StoredRecordView) -> dict[str, Any]:
    resource = dict(view.content)
    meta = dict(resource.get("meta") or {})
    tags = [tag for tag in meta.get("tag") or [] if isinstance(tag, dict) and tag.get("system") != SIGNATURE_TAG_SYSTEM]
    tags.append({"system": SIGNATURE_TAG_SYSTEM, "code": view.signature})
    meta.update(
        versionId=str(view.version),
        lastUpdated=view.updated_at.isoformat(),
        source=view.facility_code,
        tag=tags,
    )
    resource["meta"] = meta
    return resource


def collection_bundle(views: Sequence[StoredRecordView], base_url: str, now: datetime) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": now.isoformat(),
        "entry": [
            {"fullUrl": f"{base_url}/fhir/{view.resource_type}/{view.served_id}", "resource": served_resource(view)}
            for view in views
        ],
    }
