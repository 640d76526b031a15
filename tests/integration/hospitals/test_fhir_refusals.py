"""Every kind of bad push is refused with an OperationOutcome that points at the entry, stores no
clinical data, and leaves one row in the delivery log. No input makes a 5xx."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from litestar import Litestar

from tests.support.hospital import Hospital, count, fetch, sample, sample_json


async def assert_refused(app: Litestar, response: Any, status: int, expression: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("application/fhir+json")
    outcome: dict[str, Any] = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert all(issue["severity"] == "error" for issue in outcome["issue"])
    if expression is not None:
        found = [e for issue in outcome["issue"] for e in issue.get("expression", [])]
        assert expression in found, found
    for table in ("record", "record_version", "patient"):
        assert await count(app, table) == 0, f"{table} was written"
    refusals = await fetch(app, "SELECT status, body, response FROM delivery WHERE NOT accepted")
    assert refusals and refusals[-1]["status"] == status and refusals[-1]["body"] is None
    assert await count(app, "delivery", "accepted") == 0
    return outcome


def visit() -> dict[str, Any]:
    return sample_json("fhir-visit-bundle.json")


def with_change(path: list[Any], value: Any) -> dict[str, Any]:
    bundle = visit()
    node: Any = bundle
    for step in path[:-1]:
        node = node[step]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return bundle


async def test_the_invalid_fhir_sample(app: Litestar, hospital: Hospital) -> None:
    response = await hospital.push(sample("bad-invalid-fhir.json"))
    await assert_refused(app, response, 422, "Bundle.entry[1].resource.status")


async def test_the_no_patient_sample(app: Litestar, hospital: Hospital) -> None:
    response = await hospital.push(sample("bad-no-patient.json"))
    await assert_refused(app, response, 422)


async def test_the_not_a_bundle_sample(app: Litestar, hospital: Hospital) -> None:
    await assert_refused(app, await hospital.push(sample("bad-not-a-bundle.json")), 400)


@pytest.mark.parametrize(
    "body",
    [b"", b"{not json", b"[1, 2]", b"\xff\xfe\x00garbage", b'"a string"', b"null", b'{"resourceType": "Bundle"'],
)
async def test_bodies_that_are_not_a_json_bundle(app: Litestar, hospital: Hospital, body: bytes) -> None:
    await assert_refused(app, await hospital.push(body), 400)


@pytest.mark.parametrize(
    ("change", "expression"),
    [
        ((["entry", 1, "resource", "status"], "banana"), "Bundle.entry[1].resource.status"),
        ((["entry", 5, "resource", "intent"], "wish"), "Bundle.entry[5].resource.intent"),
        (
            (["entry", 2, "resource", "clinicalStatus", "coding", 0, "code"], "maybe"),
            "Bundle.entry[2].resource.clinicalStatus.coding[0].code",
        ),
        ((["entry", 1, "resource", "period", "start"], 20251002), "Bundle.entry[1].resource.period.start"),
        ((["entry", 1, "resource", "unknownElement"], "x"), "Bundle.entry[1].resource.unknownElement"),
        ((["entry", 7, "resource", "valueQuantity", "value"], "7.2"), "Bundle.entry[7].resource.valueQuantity.value"),
        ((["entry", 0, "resource", "active"], "yes"), "Bundle.entry[0].resource.active"),
        ((["entry", 1, "resource", "id"], "bad id!"), "Bundle.entry[1].resource.id"),
        ((["entry", 1, "resource", "resourceType"], "Banana"), "Bundle.entry[1].resource.resourceType"),
        ((["entry", 1, "resource", "resourceType"], 42), None),
        ((["entry", 1, "resource", "status"], KeyError), "Bundle.entry[1].resource.status"),
        ((["type"], "searchset"), "Bundle.type"),
        ((["entry"], []), "Bundle.entry"),
        ((["entry", 1, "request", "method"], "PATCH"), "Bundle.entry[1].request.method"),
        ((["entry", 1, "request"], KeyError), "Bundle.entry[1].request"),
        ((["entry", 1, "resource", "id"], "x" * 65), "Bundle.entry[1].resource.id"),
    ],
)
async def test_invalid_fhir_is_refused_and_located(
    app: Litestar, hospital: Hospital, change: tuple[list[Any], Any], expression: str | None
) -> None:
    await assert_refused(app, await hospital.push(with_change(*change)), 422, expression)


async def test_deep_nesting_is_refused(app: Litestar, hospital: Hospital) -> None:
    bundle = visit()
    nested: dict[str, Any] = {"url": "x"}
    for _ in range(200):
        nested = {"url": "x", "extension": [nested]}
    bundle["entry"][1]["resource"]["extension"] = [nested]
    await assert_refused(app, await hospital.push(bundle), 422)
    deeper = b'{"resourceType": "Bundle", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    await assert_refused(app, await hospital.push(deeper), 422)


@pytest.mark.parametrize(
    ("entry", "field", "reference"),
    [
        (1, "subject", "urn:uuid:00000000-0000-0000-0000-000000000000"),
        (1, "subject", "Patient/never-stored"),
        (1, "subject", "https://other-server.example/fhir/Patient/1"),
        (2, "encounter", "Encounter/kb-unknown"),
        (1, "serviceProvider", "Organization/not-a-code"),
    ],
)
async def test_unresolved_references_are_refused(
    app: Litestar, hospital: Hospital, entry: int, field: str, reference: str
) -> None:
    bundle = with_change(["entry", entry, "resource", field], {"reference": reference})
    await assert_refused(app, await hospital.push(bundle), 422, f"Bundle.entry[{entry}].resource.{field}")


@pytest.mark.parametrize("cccd", ["00109001234", "0010900123456", "00109001234A", "123456789"])
async def test_a_cccd_that_is_not_12_digits_is_refused(app: Litestar, hospital: Hospital, cccd: str) -> None:
    bundle = with_change(["entry", 0, "resource", "identifier", 0, "value"], cccd)
    bundle["entry"][0]["request"]["url"] = f"Patient?identifier=http://fhir.ehealth.gov.vn/core/sid/national_id|{cccd}"
    await assert_refused(app, await hospital.push(bundle), 422, "Bundle.entry[0].resource.identifier[0].value")


async def test_a_patient_without_a_cccd_cannot_file_records(app: Litestar, hospital: Hospital) -> None:
    bundle = visit()
    bundle["entry"][0]["resource"]["identifier"] = bundle["entry"][0]["resource"]["identifier"][1:]
    bundle["entry"][0]["request"] = {"method": "PUT", "url": "Patient/bn-012345"}
    await assert_refused(app, await hospital.push(bundle), 422)


@pytest.mark.parametrize(
    ("entry", "field", "value"),
    [
        (5, "requester", {"reference": "Organization/01002"}),
        (1, "serviceProvider", {"reference": "Organization/01002"}),
        (1, "meta", {"source": "urn:vn:cskcb:01002"}),
        (4, "recorder", {"type": "Organization", "identifier": {"value": "01002"}}),
    ],
)
async def test_authorship_by_another_facility_is_refused(
    app: Litestar, hospital: Hospital, entry: int, field: str, value: Any
) -> None:
    bundle = with_change(["entry", entry, "resource", field], value)
    outcome = await assert_refused(app, await hospital.push(bundle), 422)
    assert outcome["issue"][0]["code"] == "forbidden"


async def test_destinations_may_name_any_facility(app: Litestar, hospital: Hospital) -> None:
    response = await hospital.push(visit())  # the referral's performer is Organization/01002
    assert response.status_code == 200
    source = with_change(["entry", 1, "resource", "meta"], {"source": "urn:vn:cskcb:01929"})
    assert (await hospital.push(source)).status_code == 200


async def test_a_conditional_put_matching_two_records_is_412(app: Litestar, hospital: Hospital) -> None:
    patient = visit()["entry"][0]["resource"]
    twins = [copy.deepcopy(patient), copy.deepcopy(patient)]
    twins[1]["id"] = "bn-duplicate"
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": twin, "request": {"method": "PUT", "url": f"Patient/{twin['id']}"}} for twin in twins],
    }
    assert (await hospital.push(bundle)).status_code == 200
    response = await hospital.push(visit())  # its first entry: PUT Patient?identifier=…|001090012345
    assert response.status_code == 412
    assert response.json()["issue"][0]["expression"] == ["Bundle.entry[0].request"]
    assert await count(app, "record") == 2 and await count(app, "record_version") == 2


async def test_a_new_version_may_not_move_a_record_to_another_patient(app: Litestar, hospital: Hospital) -> None:
    assert (await hospital.push(visit())).status_code == 200
    moved = visit()
    moved["entry"][0]["resource"]["identifier"][0]["value"] = "079195000111"
    moved["entry"][0]["resource"]["id"] = "bn-other"
    moved["entry"][0]["request"] = {"method": "PUT", "url": "Patient/bn-other"}
    response = await hospital.push(moved)  # the encounter and the rest now point at another person
    assert response.status_code == 422
    assert "entered-in-error" in response.json()["issue"][0]["diagnostics"]
    assert await count(app, "record_version") == 10  # nothing of the refused push
    assert await count(app, "patient") == 1


async def test_deleting_what_was_never_stored_is_refused(app: Litestar, hospital: Hospital) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"request": {"method": "DELETE", "url": "Condition/never"}}],
    }
    await assert_refused(app, await hospital.push(bundle), 422, "Bundle.entry[0].request.url")


async def test_the_same_resource_twice_in_one_bundle_is_refused(app: Litestar, hospital: Hospital) -> None:
    bundle = visit()
    bundle["entry"].append(copy.deepcopy(bundle["entry"][2]))
    bundle["entry"][-1]["fullUrl"] = "urn:uuid:11111111-2222-4333-8444-555555555555"
    await assert_refused(app, await hospital.push(bundle), 422)


async def test_wrong_content_type_is_415(app: Litestar, hospital: Hospital) -> None:
    response = await hospital.push(sample("fhir-visit-bundle.json"), content_type="text/plain")
    await assert_refused(app, response, 415)


async def test_a_body_over_10_mb_is_413(app: Litestar, hospital: Hospital) -> None:
    bundle = visit()
    bundle["entry"][1]["resource"]["text"] = {"status": "generated", "div": "<div>" + "x" * 10_500_000 + "</div>"}
    response = await hospital.push(json.dumps(bundle).encode())
    assert response.status_code == 413
    assert response.json()["resourceType"] == "OperationOutcome"
    assert await count(app, "record") == 0
