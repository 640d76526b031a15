"""Inputs an independent review found making 5xx, misfiling records or bypassing authorship; each now
has a definite, tested answer."""

from __future__ import annotations

import copy
import json
from datetime import date, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.demo._visits import demo_pushes
from tests.support.concurrency import concurrent_client, push, released_together
from tests.support.hospital import CCCD, Hospital, count, fetch, sample, sample_json, webhook_headers

NATIONAL_ID = "http://fhir.ehealth.gov.vn/core/sid/national_id"


def visit() -> dict[str, Any]:
    return sample_json("fhir-visit-bundle.json")


def transaction(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def post(resource: dict[str, Any], full_url: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"resource": resource, "request": {"method": "POST", "url": resource["resourceType"]}}
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def observation(identifier: str, **fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": identifier,
        "status": "final",
        "code": {"text": "x"},
        "subject": {"identifier": {"system": NATIONAL_ID, "value": CCCD}},
        **fields,
    }


async def test_crossing_puts_and_deletes_do_not_deadlock(
    app: Litestar, client: AsyncTestClient[Litestar], hospital: Hospital
) -> None:
    assert (await hospital.push(transaction(post(observation("obs-a")), post(observation("obs-b"))))).status_code == 200
    first = transaction(post(observation("obs-a")), {"request": {"method": "DELETE", "url": "Observation/obs-b"}})
    second = transaction(post(observation("obs-b")), {"request": {"method": "DELETE", "url": "Observation/obs-a"}})
    async with concurrent_client(client) as raw:
        for _ in range(15):
            pushes = [push(raw, hospital, json.dumps(bundle).encode()) for bundle in (first, second)]
            responses = await released_together(app, "delivery", pushes)
            assert [r.status_code for r in responses] == [200, 200], [r.text[:200] for r in responses]


@pytest.mark.parametrize("bundle_type", [[], {}, 7, None])
async def test_a_bundle_type_of_the_wrong_kind_is_422(hospital: Hospital, bundle_type: Any) -> None:
    bundle = visit()
    bundle["type"] = bundle_type
    assert (await hospital.push(bundle)).status_code == 422


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (["entry", 1, "resource", "period", "start"], "0001-01-01"),
        (["entry", 1, "resource", "period", "start"], "0001-01-01T00:00:00+14:00"),
        (["entry", 1, "resource", "period", "end"], "9999"),
        (["entry", 1, "resource", "period", "end"], "9999-12-31"),
        (["entry", 5, "resource", "authoredOn"], "9999-12-01"),
    ],
)
async def test_dates_at_the_edges_of_time_are_stored(hospital: Hospital, path: list[Any], value: str) -> None:
    bundle = visit()
    node: Any = bundle
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    assert (await hospital.push(bundle)).status_code == 200


async def test_a_nul_character_anywhere_is_422(app: Litestar, hospital: Hospital) -> None:
    bundle = visit()
    bundle["entry"][7]["resource"]["code"]["text"] = "a\u0000b"
    assert (await hospital.push(bundle)).status_code == 422
    bundle = visit()
    bundle["entry"][0]["request"]["url"] = "Patient?identifier=a|\u0000"
    assert (await hospital.push(bundle)).status_code == 422
    assert await count(app, "record") == 0


async def test_an_unauthenticated_nul_in_the_path_is_401(hospital: Hospital) -> None:
    body = sample("fhir-visit-bundle.json")
    response = await hospital.client.post(
        "/api/hospital/v1/%00/fhir", content=body, headers=webhook_headers(hospital.secret, body)
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    "resource",
    [
        {
            "resourceType": "Provenance",
            "recorded": "2025-10-02T10:50:00+07:00",
            "agent": [{"who": {"reference": "Organization/01929"}}],
            "target": [{"identifier": {"system": NATIONAL_ID, "value": "123"}}],
        },
        {
            "resourceType": "Binary",
            "contentType": "text/plain",
            "data": "eA==",
            "securityContext": {"identifier": {"system": NATIONAL_ID, "value": "x"}},
        },
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "x"},
            "subject": {"reference": "Group/g1", "identifier": {"system": NATIONAL_ID, "value": "abc"}},
        },
    ],
)
async def test_a_short_cccd_in_any_patient_slot_is_422(app: Litestar, hospital: Hospital, resource: Any) -> None:
    response = await hospital.push(transaction(post(resource)))
    assert response.status_code == 422, response.text
    assert await count(app, "patient") == 0


async def test_a_long_chain_of_subjects_is_refused_without_recursing(hospital: Hospital) -> None:
    entries = []
    for number in range(990):
        entries.append(
            post(
                observation(f"o{number}", subject={"reference": f"urn:uuid:00000000-0000-4000-8000-{number + 1:012d}"}),
                f"urn:uuid:00000000-0000-4000-8000-{number:012d}",
            )
        )
    entries[-1]["resource"]["subject"] = {"identifier": {"system": NATIONAL_ID, "value": CCCD}}
    response = await hospital.push(transaction(*entries))
    assert response.status_code == 422  # a subject must be a Patient: an Observation is not one


async def test_a_matched_if_none_exist_files_what_points_at_it_under_the_stored_patient(
    app: Litestar, hospital: Hospital
) -> None:
    assert (await hospital.push(visit())).status_code == 200  # Patient/bn-012345, CCCD 001090012345
    impostor = copy.deepcopy(visit()["entry"][0]["resource"])
    impostor["identifier"][0]["value"] = "079195000111"
    impostor.pop("id")
    bundle = transaction(
        {
            "fullUrl": "urn:uuid:11111111-1111-4111-8111-111111111111",
            "resource": impostor,
            "request": {"method": "POST", "url": "Patient", "ifNoneExist": f"identifier={NATIONAL_ID}|{CCCD}"},
        },
        post(observation("obs-x", subject={"reference": "urn:uuid:11111111-1111-4111-8111-111111111111"})),
    )
    response = await hospital.push(bundle)
    assert response.status_code == 200
    rows = await fetch(
        app,
        "SELECT p.cccd, r.content->'subject'->>'reference' AS subject FROM record r"
        " JOIN patient p ON p.id = r.patient_id WHERE r.resource_id = 'obs-x'",
    )
    assert [(row["cccd"], row["subject"]) for row in rows] == [(CCCD, "Patient/01929-bn-012345")]
    assert await count(app, "patient") == 1  # the impostor's CCCD was never registered


async def test_a_stored_organization_named_like_another_facility_does_not_author(
    app: Litestar, hospital: Hospital
) -> None:
    organization = {"resourceType": "Organization", "id": "01002", "name": "Bệnh viện Hữu Nghị"}
    assert (
        await hospital.push(
            transaction({"resource": organization, "request": {"method": "PUT", "url": "Organization/01002"}})
        )
    ).status_code == 200
    bundle = visit()
    bundle["entry"][5]["resource"]["requester"] = {"reference": "Organization/01002"}
    assert (await hospital.push(bundle)).status_code == 422


async def test_an_organization_carrying_another_facilitys_code_does_not_author(hospital: Hospital) -> None:
    bundle = visit()
    bundle["entry"].append(
        post(
            {
                "resourceType": "Organization",
                "id": "org-other",
                "identifier": [{"system": "urn:vn:cskcb", "value": "01002"}],
            },
            "urn:uuid:22222222-2222-4222-8222-222222222222",
        )
    )
    bundle["entry"][5]["resource"]["requester"] = {"reference": "urn:uuid:22222222-2222-4222-8222-222222222222"}
    assert (await hospital.push(bundle)).status_code == 422
    bundle = visit()
    bundle["entry"][5]["resource"]["requester"] = {"identifier": {"value": "01002"}}  # no type: still a code
    assert (await hospital.push(bundle)).status_code == 422


@pytest.mark.parametrize(
    "resource_type",
    [
        "Element",
        "Extension",
        "Resource",
        "DomainResource",
        "Bundle",
        "Parameters",
        "OperationOutcome",
        "SubscriptionTopic",
    ],
)
async def test_only_r4_resources_may_be_pushed(app: Litestar, hospital: Hospital, resource_type: str) -> None:
    response = await hospital.push(transaction(post({"resourceType": resource_type, "id": "x"})))
    assert response.status_code == 422
    assert await count(app, "record") == 0


async def test_two_entries_with_one_full_url_are_422(hospital: Hospital) -> None:
    bundle = visit()
    bundle["entry"][3]["fullUrl"] = bundle["entry"][2]["fullUrl"]
    response = await hospital.push(bundle)
    assert response.status_code == 422
    assert response.json()["issue"][0]["expression"] == ["Bundle.entry[3].fullUrl"]


async def test_long_ids_get_distinct_served_ids(app: Litestar, hospital: Hospital) -> None:
    await hospital.push(transaction(post(observation("a" * 60)), post(observation("b" * 60))))
    rows = await fetch(app, "SELECT served_id FROM record")
    assert len({row["served_id"] for row in rows}) == 2


async def test_an_older_version_arriving_late_does_not_replace_a_newer_one(app: Litestar, hospital: Hospital) -> None:
    newer = observation("obs-e4", meta={"lastUpdated": "2025-10-03T09:00:00+07:00"}, status="amended")
    older = observation("obs-e4", meta={"lastUpdated": "2025-10-02T09:00:00+07:00"}, status="preliminary")
    assert (await hospital.push(transaction(post(newer)))).status_code == 200
    response = await hospital.push(transaction(post(older)))
    assert response.status_code == 200
    assert response.json()["entry"][0]["response"]["location"] == "Observation/obs-e4/_history/1"
    rows = await fetch(app, "SELECT status, version FROM record WHERE resource_id = 'obs-e4'")
    assert [(row["status"], row["version"]) for row in rows] == [("amended", 1)]
    # Without meta.lastUpdated, the later delivery wins.
    assert (await hospital.push(transaction(post(observation("obs-e4", status="final"))))).status_code == 200
    rows = await fetch(app, "SELECT status, version FROM record WHERE resource_id = 'obs-e4'")
    assert [(row["status"], row["version"]) for row in rows] == [("final", 2)]


async def test_a_record_removed_in_error_may_be_sent_again_for_the_right_patient(
    app: Litestar, hospital: Hospital
) -> None:
    wrong = observation("obs-mixup")
    assert (await hospital.push(transaction(post(wrong)))).status_code == 200
    right = observation("obs-mixup", subject={"identifier": {"system": NATIONAL_ID, "value": "079195000111"}})
    assert (await hospital.push(transaction(post(right)))).status_code == 422  # still the other patient's
    removed = {**wrong, "status": "entered-in-error"}
    assert (await hospital.push(transaction(post(removed)))).status_code == 200
    assert (await hospital.push(transaction(post(right)))).status_code == 200
    rows = await fetch(
        app,
        "SELECT p.cccd, r.deleted FROM record r JOIN patient p ON p.id = r.patient_id"
        " WHERE r.resource_id = 'obs-mixup'",
    )
    assert [(row["cccd"], row["deleted"]) for row in rows] == [("079195000111", False)]


async def test_references_to_what_the_bundle_deletes_or_to_unknown_versions_are_422(hospital: Hospital) -> None:
    assert (await hospital.push(visit())).status_code == 200
    bundle = transaction(
        {"request": {"method": "DELETE", "url": "Encounter/kb-20251002-01"}},
        post(observation("obs-y", encounter={"reference": "Encounter/kb-20251002-01"})),
    )
    assert (await hospital.push(bundle)).status_code == 422
    ok = transaction(post(observation("obs-z", encounter={"reference": "Encounter/kb-20251002-01/_history/1"})))
    assert (await hospital.push(ok)).status_code == 200
    future = transaction(post(observation("obs-z", encounter={"reference": "Encounter/kb-20251002-01/_history/9"})))
    assert (await hospital.push(future)).status_code == 422


async def test_refusals_never_log_a_cccd(app: Litestar, hospital: Hospital) -> None:
    bundle = visit()
    bundle["entry"][0]["resource"]["identifier"][0]["value"] = "0010900123456"
    response = await hospital.push(bundle)
    assert response.status_code == 422 and "0010900123456" not in response.text
    reasons = await fetch(app, "SELECT reason FROM delivery")
    assert all("0010900123456" not in (row["reason"] or "") for row in reasons)


def test_the_demo_keeps_its_ids_from_one_day_to_the_next() -> None:
    def ids(day: date) -> set[str]:
        return {
            f"{p.facility}/{e['resource']['resourceType']}/{e['resource']['id']}"
            for p in demo_pushes(day)
            for e in p.bundle["entry"]
        }

    today = date(2026, 11, 26)
    assert ids(today) == ids(today + timedelta(days=1))
