"""Hospitals push FHIR: stored once, versioned, corrected, idempotent, and never crossing facilities."""

from __future__ import annotations

import copy
import json
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.support.concurrency import concurrent_client, push, released_together
from tests.support.hospital import CCCD, Hospital, count, fetch, sample, sample_json

Client = AsyncTestClient[Litestar]


def locations(response: Any) -> list[str]:
    return [entry["response"]["location"] for entry in response.json()["entry"]]


def statuses(response: Any) -> list[str]:
    return [entry["response"]["status"] for entry in response.json()["entry"]]


async def current(app: Litestar, facility: str = "01929") -> dict[str, Any]:
    rows = await fetch(
        app,
        "SELECT r.resource_type, r.resource_id, r.version, r.deleted, r.status, r.served_id, r.content,"
        " r.identifiers, r.signature, p.cccd FROM record r JOIN facility f ON f.id = r.facility_id"
        " LEFT JOIN patient p ON p.id = r.patient_id WHERE f.code = $1",
        facility,
    )
    return {f"{row['resource_type']}/{row['resource_id']}": row for row in rows}


async def test_a_visit_bundle_is_stored_with_its_index_and_history(app: Litestar, hospital: Hospital) -> None:
    response = await hospital.push(sample("fhir-visit-bundle.json"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    assert body["resourceType"] == "Bundle" and body["type"] == "transaction-response"
    assert statuses(response) == ["201 Created"] * 10
    assert locations(response)[0] == "Patient/bn-012345/_history/1"
    assert locations(response)[5] == "MedicationRequest/dt-84g7vsu-1/_history/1"

    records = await current(app)
    assert len(records) == 10
    assert {row["cccd"] for row in records.values()} == {CCCD}
    assert all(row["signature"] == "unsigned" and row["version"] == 1 for row in records.values())
    encounter = records["Encounter/kb-20251002-01"]["content"]
    encounter = json.loads(encounter) if isinstance(encounter, str) else encounter
    # urn:uuid references are resolved to served ids, unique across facilities.
    assert encounter["id"] == "01929-kb-20251002-01"
    assert encounter["subject"]["reference"] == "Patient/01929-bn-012345"
    assert encounter["serviceProvider"]["reference"] == "Organization/01929"  # a facility by code
    line = records["MedicationRequest/dt-84g7vsu-1"]
    assert "urn:vn:moh:ma-don-thuoc|0192984g7vsu-C" in line["identifiers"] and "0192984g7vsu-C" in line["identifiers"]
    assert await count(app, "record_version") == 10
    assert await count(app, "delivery", "accepted AND body IS NOT NULL") == 1


async def test_the_same_webhook_id_and_body_is_answered_again_and_stores_nothing(
    app: Litestar, hospital: Hospital
) -> None:
    body = sample("fhir-visit-bundle.json")
    first = await hospital.push(body, webhook_id="msg_visit_1")
    again = await hospital.push(body, webhook_id="msg_visit_1")
    assert again.status_code == 200 and again.content == first.content
    assert await count(app, "record_version") == 10
    assert await count(app, "delivery") == 1


async def test_the_same_webhook_id_with_another_body_is_a_conflict(app: Litestar, hospital: Hospital) -> None:
    await hospital.push(sample("fhir-visit-bundle.json"), webhook_id="msg_reused")
    response = await hospital.push(sample("fhir-correction-bundle.json"), webhook_id="msg_reused")
    assert response.status_code == 409
    assert response.json()["resourceType"] == "OperationOutcome"
    assert await count(app, "record_version") == 10
    refused = await fetch(app, "SELECT status, reason, body FROM delivery WHERE NOT accepted")
    assert [(row["status"], row["body"]) for row in refused] == [(409, None)]


async def test_a_repeat_push_makes_new_versions_not_duplicates(app: Litestar, hospital: Hospital) -> None:
    await hospital.push(sample("fhir-visit-bundle.json"))
    response = await hospital.push(sample("fhir-visit-bundle.json"))  # a new webhook-id: a new delivery
    assert response.status_code == 200
    assert statuses(response) == ["200 OK"] * 10
    assert locations(response)[0] == "Patient/bn-012345/_history/2"  # the conditional PUT found the patient
    assert len(await current(app)) == 10
    assert await count(app, "patient") == 1
    assert await count(app, "record_version") == 20


async def test_corrections_take_effect_and_history_keeps_the_old_versions(app: Litestar, hospital: Hospital) -> None:
    await hospital.push(sample("fhir-visit-bundle.json"))
    response = await hospital.push(sample("fhir-correction-bundle.json"))
    assert response.status_code == 200, response.text
    assert statuses(response) == ["200 OK", "200 OK"]
    records = await current(app)
    cancelled = records["MedicationRequest/dt-84g7vsu-2"]
    assert cancelled["status"] == "cancelled" and not cancelled["deleted"] and cancelled["version"] == 2
    mistaken = records["Observation/xn-hba1c"]
    assert mistaken["deleted"] and mistaken["status"] == "entered-in-error"
    history = await fetch(
        app,
        "SELECT v.version, v.deleted FROM record_version v JOIN record r ON r.id = v.record_id"
        " WHERE r.resource_id = 'xn-hba1c' ORDER BY v.version",
    )
    assert [(row["version"], row["deleted"]) for row in history] == [(1, False), (2, True)]
    # The correction references the patient by CCCD (a logical reference): it is filed under the same person.
    assert cancelled["cccd"] == CCCD


async def test_a_delete_entry_removes_the_record_and_history_keeps_it(app: Litestar, hospital: Hospital) -> None:
    await hospital.push(sample("fhir-visit-bundle.json"))
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"request": {"method": "DELETE", "url": "AllergyIntolerance/du-penicillin"}}],
    }
    response = await hospital.push(bundle)
    assert response.status_code == 200, response.text
    assert locations(response) == ["AllergyIntolerance/du-penicillin/_history/2"]
    assert (await current(app))["AllergyIntolerance/du-penicillin"]["deleted"]


async def test_another_facility_with_the_same_ids_makes_other_records(
    app: Litestar, hospital: Hospital, other_hospital: Hospital
) -> None:
    await hospital.push(sample("fhir-visit-bundle.json"))
    bundle = sample_json("fhir-visit-bundle.json")
    for entry in bundle["entry"]:  # the other facility authors its own copy
        text = json.dumps(entry["resource"]).replace("Organization/01929", "Organization/01002")
        entry["resource"] = json.loads(text)
        if entry["resource"]["resourceType"] == "ServiceRequest":
            entry["resource"]["performer"] = [{"reference": "Organization/01929"}]
    response = await other_hospital.push(bundle)
    assert response.status_code == 200, response.text
    assert statuses(response) == ["201 Created"] * 10  # new resources, not versions of 01929's
    first, second = await current(app, "01929"), await current(app, "01002")
    assert all(row["version"] == 1 for row in first.values())
    assert second["Encounter/kb-20251002-01"]["served_id"] == "01002-kb-20251002-01"
    assert await count(app, "patient") == 1  # one person, two facilities


async def test_an_entry_without_an_id_is_named_by_its_content(app: Litestar, hospital: Hospital) -> None:
    await hospital.push(sample("fhir-visit-bundle.json"))
    provenance = {
        "resourceType": "Provenance",
        "target": [{"reference": "Encounter/kb-20251002-01"}],
        "recorded": "2025-10-02T10:50:00+07:00",
        "agent": [{"who": {"reference": "Organization/01929"}}],
    }
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": provenance, "request": {"method": "POST", "url": "Provenance"}}],
    }
    first, second = await hospital.push(bundle), await hospital.push(bundle)
    assert statuses(first) == ["201 Created"] and statuses(second) == ["200 OK"]
    assert locations(first)[0].split("/")[1] == locations(second)[0].split("/")[1]  # the same resource
    assert len(locations(first)[0].split("/")[1]) == 64  # SHA-256 of its canonical JSON
    stored = [row for key, row in (await current(app)).items() if key.startswith("Provenance/")]
    assert len(stored) == 1 and stored[0]["cccd"] == CCCD  # filed under its target's patient


async def test_a_large_atomic_bundle_with_a_conditional_patient_is_accepted(app: Litestar, hospital: Hospital) -> None:
    visit = sample_json("fhir-visit-bundle.json")
    patient, observation = visit["entry"][0], visit["entry"][7]
    entries = [patient]
    for number in range(499):
        entry = copy.deepcopy(observation)
        entry["fullUrl"] = f"urn:uuid:00000000-0000-4000-8000-{number:012d}"
        entry["resource"]["id"] = f"xn-{number}"
        entry["resource"].pop("encounter")
        entries.append(entry)
    response = await hospital.push({"resourceType": "Bundle", "type": "transaction", "entry": entries})
    assert response.status_code == 200, response.text[:500]
    assert len(response.json()["entry"]) == 500
    assert await count(app, "record") == 500


async def test_parallel_deliveries_of_one_webhook_id_have_exactly_one_effect(
    app: Litestar, client: Client, hospital: Hospital
) -> None:
    body = sample("fhir-visit-bundle.json")
    async with concurrent_client(client) as raw:
        pushes = [push(raw, hospital, body, webhook_id="msg_parallel") for _ in range(20)]
        responses = await released_together(app, "delivery", pushes)
    assert {response.status_code for response in responses} == {200}
    assert len({response.content for response in responses}) == 1  # the duplicates get the stored answer
    assert statuses(responses[0]) == ["201 Created"] * 10
    assert await count(app, "record_version") == 10
    assert await count(app, "delivery") == 1


async def test_parallel_deliveries_for_one_patient_all_succeed(
    app: Litestar, client: Client, hospital: Hospital
) -> None:
    body = sample("fhir-visit-bundle.json")
    async with concurrent_client(client) as raw:
        responses = await released_together(app, "delivery", [push(raw, hospital, body) for _ in range(8)])
    assert [response.status_code for response in responses] == [200] * 8, [r.text[:200] for r in responses]
    assert await count(app, "patient") == 1
    assert await count(app, "record") == 10 and await count(app, "record_version") == 80
    versions = await fetch(app, "SELECT max(version) AS v FROM record")
    assert versions[0]["v"] == 8


async def test_collection_and_batch_bundles_are_stored_too(app: Litestar, hospital: Hospital) -> None:
    bundle = sample_json("fhir-visit-bundle.json")
    for bundle_type in ("collection", "batch", "document"):
        variant = copy.deepcopy(bundle)
        variant["type"] = bundle_type
        if bundle_type in ("collection", "document"):
            for entry in variant["entry"]:
                entry.pop("request")
        response = await hospital.push(variant)
        assert response.status_code == 200, (bundle_type, response.text[:300])
    assert await count(app, "record") == 10
