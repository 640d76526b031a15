"""The book's Bundle is written from stored JSON text without parsing it: it must say exactly what the
parsed form says."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from backend.records.reads import StoredRecordText, StoredRecordView
from backend.records.served import collection_bundle_json, served_resource, served_resource_json

WHEN = datetime(2025, 10, 2, 3, 30, tzinfo=UTC)


def stored(content: dict[str, Any], signature: str = "verified") -> tuple[StoredRecordText, StoredRecordView]:
    meta = content.get("meta", {})
    rest = {key: value for key, value in content.items() if key != "meta"}
    text = StoredRecordText("01929-x", "Condition", "01929", 3, WHEN, signature, meta, json.dumps(rest))
    view = StoredRecordView("01929-x", "Condition", "01929", "BV", 3, WHEN, signature, None, None, None, content)
    return text, view


def test_the_served_json_says_what_the_served_resource_says_with_our_meta_in_front() -> None:
    content = {
        "resourceType": "Condition",
        "id": "01929-x",
        "meta": {"profile": ["http://x/p"], "tag": [{"system": "urn:healthbook:signature", "code": "verified"}]},
        "note": [{"text": 'a "quoted" <b>note</b> ở Hà Nội'}],
    }
    text, view = stored(content, signature="invalid")
    served = json.loads(served_resource_json(text))
    assert served == served_resource(view)
    assert next(iter(served)) == "meta"
    # The sender's own signature tag is not kept: ours says what we found.
    assert served["meta"]["tag"] == [{"system": "urn:healthbook:signature", "code": "invalid"}]
    assert served["meta"] | {"profile": ["http://x/p"]} == served["meta"] and served["meta"]["versionId"] == "3"


def test_a_stored_object_with_nothing_but_meta_is_still_valid_json() -> None:
    text, _ = stored({})
    assert json.loads(served_resource_json(text._replace(body="{}")))["meta"]["source"] == "01929"


def test_the_bundle_is_a_collection_with_a_full_url_per_entry() -> None:
    text, _ = stored({"resourceType": "Condition", "id": "01929-x"})
    bundle = json.loads(collection_bundle_json([text, text], "https://sosuckhoe.example", WHEN))
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    assert [entry["fullUrl"] for entry in bundle["entry"]] == ["https://sosuckhoe.example/fhir/Condition/01929-x"] * 2
    assert bundle["entry"][0]["resource"]["resourceType"] == "Condition"


def test_anything_but_an_object_stored_still_makes_valid_json() -> None:
    text, _ = stored({})
    for odd in ("[]", '"x"', "null"):
        assert json.loads(served_resource_json(text._replace(body=odd)))["meta"]["versionId"] == "3"
