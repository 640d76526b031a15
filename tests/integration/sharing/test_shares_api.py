"""The patient's shares and access log through the API (contract §4): made from a summary or picked
records, listed with their opens, stopped; bad input refused whole (check C2); another patient's shares
and access events out of reach (checks C1, D2)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import segno
from litestar import Litestar

from backend.sharing.access_log import plain_words
from backend.sharing.qr import qr_svg
from tests.integration.sharing.shl import (
    ACCESS_LOG,
    RECIPIENT,
    SHARES,
    decode_shlink,
    fetch_manifest,
    make_share,
    patient_headers,
    receive,
)
from tests.support.clock import FakeClock
from tests.support.hospital import CCCD, OTHER_FACILITY, Hospital, count, fetch, register
from tests.support.patients import PHONE, Client, Outbox, bearer, push_patient

B_CCCD, B_PHONE = "079085054321", "0987 654 321"


async def served_ids(client: Client, headers: dict[str, str]) -> list[str]:
    bundle = (await client.get("/api/patient/v1/book/fhir", headers=headers)).json()
    return [f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]]


async def test_a_share_of_picked_records_lists_its_opens_and_stops(
    client: Client, patient: dict[str, str], clock: FakeClock
) -> None:
    picked = [served for served in await served_ids(client, patient) if served.startswith("MedicationRequest/")]
    share = await make_share(client, patient, record_ids=picked, label="  Nhà thuốc  ")
    assert set(share) == {"id", "shlink", "viewer_url", "qr_svg_url", "expires_at"}
    document = await receive(client, share["shlink"])
    shared = {e["resource"]["resourceType"] for e in document["entry"]}
    assert "MedicationRequest" in shared and "Encounter" not in shared
    clock.advance(minutes=5)
    listed = await client.get(SHARES, headers=patient)
    assert listed.status_code == 200 and listed.headers["cache-control"] == "no-store"
    (item,) = listed.json()["shares"]
    assert (item["id"], item["label"], item["status"], item["record_ids"]) == (
        share["id"],
        "Nhà thuốc",
        "active",
        picked,
    )
    assert item["times_opened"] == 1 and item["opened_by"][0]["actor"] == RECIPIENT
    assert item["shlink"] == share["shlink"]  # the patient's own view shows the link again
    assert (await client.delete(f"{SHARES}/{share['id']}", headers=patient)).status_code == 204
    (item,) = (await client.get(SHARES, headers=patient)).json()["shares"]
    assert item["status"] == "revoked" and "shlink" not in item and item["revoked_at"]
    assert (await fetch_manifest(client, decode_shlink(share["shlink"]))).status_code == 404


async def test_the_qr_code_is_the_viewer_url(client: Client, patient: dict[str, str]) -> None:
    share = await make_share(client, patient)
    path = share["qr_svg_url"].split("://", 1)[1].split("/", 1)[1]
    svg = await client.get("/" + path, headers=patient)
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.headers["cache-control"] == "no-store"
    assert svg.content == qr_svg(share["viewer_url"]) and svg.content.startswith(b"<svg")
    assert segno.make(share["viewer_url"], error="m", boost_error=False).error == "M"
    assert (await client.get("/" + path)).status_code == 401  # the patient's only


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"label": "x" * 41}, 422),
        ({"label": " "}, 422),
        ({"label": "a\u0000b"}, 422),
        ({"expires_in": 0}, 400),
        ({"expires_in": 30 * 24 * 3600 + 1}, 400),
        ({"expires_in": True}, 400),
        ({"passcode": "12"}, 400),
        ({"record_ids": []}, 400),
        ({"record_ids": ["not an id"]}, 400),
        ({"record_ids": ["MedicationRequest/01929-nobody"]}, 404),
    ],
)
async def test_bad_input_is_refused_whole(
    app: Litestar, client: Client, patient: dict[str, str], fields: dict[str, Any], status: int
) -> None:
    response = await client.post(SHARES, json={"label": "Khám", "expires_in": 3600, **fields}, headers=patient)
    assert response.status_code == status, response.text
    assert await count(app, "share") == 0


async def test_a_patient_alone_cannot_be_shared(app: Litestar, client: Client, patient: dict[str, str]) -> None:
    own = [served for served in await served_ids(client, patient) if served.startswith("Patient/")]
    response = await client.post(SHARES, json={"label": "x", "expires_in": 60, "record_ids": own}, headers=patient)
    assert response.status_code == 422, response.text
    assert await count(app, "share") == 0


async def test_another_patient_reaches_none_of_it(
    app: Litestar, client: Client, outbox: Outbox, patient: dict[str, str], clock: FakeClock
) -> None:
    hospital = Hospital(client, OTHER_FACILITY, await register(app, OTHER_FACILITY))
    await push_patient(hospital, B_CCCD, "Trần Thị Bình", B_PHONE, timestamp=int(clock.now.timestamp()))
    other = await patient_headers(client, outbox, B_PHONE)
    a_ids = await served_ids(client, patient)
    a_book = str((await fetch(app, "SELECT id FROM patient WHERE cccd = $1", CCCD))[0]["id"])
    share = await make_share(client, patient)
    await receive(client, share["shlink"])
    # B names A's records and A's book: 404 for the records, the extra field ignored.
    refused = await client.post(
        SHARES, json={"label": "x", "expires_in": 60, "record_ids": a_ids[1:3], "patient_id": a_book}, headers=other
    )
    assert refused.status_code == 404, refused.text
    b_share = await make_share(client, other, patient_id=a_book)
    assert await count(app, "share", f"patient_id = '{a_book}'") == 1  # A's own only
    assert (await client.get(SHARES, headers=other)).json()["shares"][0]["id"] == b_share["id"]
    # B revokes A's share, or asks for its QR code: the same 404 as a share of nobody; A's stays live.
    for share_id in (share["id"], str(uuid.uuid4()), "x-unknown-id"):
        assert (await client.delete(f"{SHARES}/{share_id}", headers=other)).status_code == 404
        assert (await client.get(f"{SHARES}/{share_id}/qr.svg", headers=other)).status_code == 404
    assert (await client.get(SHARES, headers=patient)).json()["shares"][0]["status"] == "active"
    assert (await client.get(ACCESS_LOG, headers=other)).json() == {"events": []}
    assert len((await client.get(ACCESS_LOG, headers=patient)).json()["events"]) == 1


async def test_a_read_only_book_reads_its_access_log_but_does_not_share(
    app: Litestar, client: Client, outbox: Outbox, patient: dict[str, str], clock: FakeClock
) -> None:
    share = await make_share(client, patient)
    await receive(client, share["shlink"])
    hospital = Hospital(client, OTHER_FACILITY, await register(app, OTHER_FACILITY))
    await push_patient(hospital, B_CCCD, "Nguyễn Minh Châu", PHONE, timestamp=int(clock.now.timestamp()))
    clock.advance(seconds=61)
    signed_in = await client.post("/api/patient/v1/auth/otp", json={"phone": PHONE})
    code = outbox.last_code()
    verified = await client.post(
        "/api/patient/v1/auth/otp/verify", json={"challenge_id": signed_in.json()["challenge_id"], "code": code}
    )
    headers = bearer(verified.json()["access_token"])
    book = next(b for b in verified.json()["books"] if b["masked_cccd"].endswith("345"))
    selected = await client.post("/api/patient/v1/auth/select", json={"book_id": book["id"]}, headers=headers)
    assert selected.json()["book"]["read_only"] is True
    assert (await client.post(SHARES, json={"label": "x", "expires_in": 60}, headers=headers)).status_code == 403
    assert (await client.get(SHARES, headers=headers)).status_code == 403
    assert (await client.delete(f"{SHARES}/{share['id']}", headers=headers)).status_code == 403
    events = (await client.get(ACCESS_LOG, headers=headers)).json()["events"]
    assert [event["actor"] for event in events] == [RECIPIENT]


async def test_the_access_log_is_newest_first_in_plain_words(
    app: Litestar, client: Client, patient: dict[str, str], clock: FakeClock
) -> None:
    share = await make_share(client, patient)
    await receive(client, share["shlink"])
    clock.advance(minutes=1)
    await client.post(decode_shlink(share["shlink"])["url"].split("testserver.local", 1)[-1], json={"recipient": "Y"})
    english = (await client.get(ACCESS_LOG, params={"lang": "en"}, headers=patient)).json()["events"]
    assert [event["actor"] for event in english] == ["Y", RECIPIENT]
    assert "prescriptions" in english[0]["what"] and "MedicationRequest" not in english[0]["what"]
    # Vietnamese unless asked otherwise, from the catalogue.
    vietnamese = (await client.get(ACCESS_LOG, headers=patient)).json()["events"]
    (newest,) = await fetch(app, "SELECT resource_types FROM access_event ORDER BY id DESC LIMIT 1")
    assert vietnamese[0]["what"] == plain_words(list(newest["resource_types"]), "vi")
