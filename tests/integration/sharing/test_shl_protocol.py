"""Check D1 and D2 on the protocol routes (contract §5): an independent receiver opens our links; the
key never reaches a server or a log; expiry, revocation, passcodes (also guessed in parallel) and the
rate limit; every open in the patient's access log, a signed-in receptionist as themself."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from litestar import Litestar

from tests.integration.sharing.shl import (
    ACCESS_LOG,
    RECIPIENT,
    decode_shlink,
    fetch_manifest,
    make_share,
    path_of,
    receive,
)
from tests.support.clock import FakeClock
from tests.support.concurrency import concurrent_client, released_together
from tests.support.hospital import FACILITY, Hospital, count, fetch, rotate
from tests.support.patients import Client
from tests.support.staff import STAFF_COOKIE, add_member, signed_in_member


async def test_an_independent_receiver_opens_the_link_and_the_patient_sees_the_open(
    app: Litestar, client: Client, patient: dict[str, str], clock: FakeClock
) -> None:
    share = await make_share(client, patient)
    payload = decode_shlink(share["shlink"])
    assert set(payload) == {"url", "key", "exp", "flag", "label"}
    assert payload["url"].startswith(app.state.settings.base_url + "/") and len(payload["url"]) <= 128
    assert len(payload["key"]) == 43 and payload["flag"] == "" and payload["label"] == "Khám tim mạch"
    assert payload["exp"] == int(clock.now.timestamp()) + 3600
    assert share["viewer_url"] == f"{app.state.settings.base_url}/view#{share['shlink']}"
    for url in (payload["url"], share["qr_svg_url"], share["viewer_url"].split("#")[0]):
        assert payload["key"] not in url  # the key only ever after `#`

    document = await receive(client, share["shlink"])
    assert (document["resourceType"], document["type"]) == ("Bundle", "document")
    assert document["entry"][0]["resource"]["resourceType"] == "Composition"

    log = await client.get(ACCESS_LOG, headers=patient)
    (event,) = log.json()["events"]
    assert (event["actor"], event["channel"], event["facility"]) == (RECIPIENT, "shl", None)
    assert event["at"].endswith("Z") and event["what"] and event["purpose"]
    (row,) = await fetch(app, "SELECT at, purpose, resource_types FROM access_event")
    assert row["at"] == clock.now and row["purpose"] and row["resource_types"]


async def test_the_token_is_256_random_bits_stored_only_as_a_hash(
    app: Litestar, client: Client, patient: dict[str, str]
) -> None:
    payloads = [decode_shlink((await make_share(client, patient))["shlink"]) for _ in range(3)]
    tokens = [path_of(p["url"]).rsplit("/", 1)[1] for p in payloads]
    assert len(set(tokens)) == 3 and all(len(token) == 43 for token in tokens)  # 32 bytes, base64url
    rows = await fetch(app, "SELECT to_jsonb(s)::text AS row, token_hash FROM share s")
    dumped = "\n".join(row["row"] for row in rows)
    assert {bytes(row["token_hash"]) for row in rows} == {hashlib.sha256(t.encode()).digest() for t in tokens}
    for token, payload in zip(tokens, payloads, strict=True):
        assert token not in dumped and payload["key"] not in dumped


async def test_the_key_is_in_no_log_line(
    client: Client, patient: dict[str, str], caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    share = await make_share(client, patient, passcode="4711")
    key = decode_shlink(share["shlink"])["key"]
    await receive(client, share["shlink"], passcode="4711")
    await fetch_manifest(client, decode_shlink(share["shlink"]), passcode="wrong")
    await client.get("/api/patient/v1/shares", headers=patient)
    logged = caplog.text + capsys.readouterr().err
    assert "/api/shl/" in logged  # the requests were logged, without the key
    assert key not in logged and "4711" not in logged


async def test_expiry_and_revocation_answer_404_from_the_next_request(
    client: Client, patient: dict[str, str], clock: FakeClock
) -> None:
    expiring = decode_shlink((await make_share(client, patient, expires_in=60))["shlink"])
    revoked = await make_share(client, patient)
    assert (await fetch_manifest(client, expiring)).status_code == 200
    clock.advance(seconds=60)
    gone = await fetch_manifest(client, expiring)
    assert gone.status_code == 404
    assert (await fetch_manifest(client, decode_shlink(revoked["shlink"]))).status_code == 200
    deleted = await client.delete(f"/api/patient/v1/shares/{revoked['id']}", headers=patient)
    assert deleted.status_code == 204
    after = await fetch_manifest(client, decode_shlink(revoked["shlink"]))
    unknown = await client.post("/api/shl/" + "A" * 43, json={"recipient": RECIPIENT})
    assert after.status_code == unknown.status_code == 404
    assert after.json() == unknown.json() == gone.json()  # no hint which


async def test_passcodes_ten_wrong_disable_the_link(app: Litestar, client: Client, patient: dict[str, str]) -> None:
    share = await make_share(client, patient, passcode="4711")
    payload = decode_shlink(share["shlink"])
    assert payload["flag"] == "P"
    missing = await fetch_manifest(client, payload)
    assert (missing.status_code, missing.json()) == (401, {"remainingAttempts": 10})  # not counted
    assert (await receive(client, share["shlink"], passcode="4711"))["resourceType"] == "Bundle"
    for left in range(9, -1, -1):
        wrong = await fetch_manifest(client, payload, passcode=f"wrong-{left}")
        assert (wrong.status_code, wrong.json()) == (401, {"remainingAttempts": left})
    assert (await fetch_manifest(client, payload, passcode="4711")).status_code == 404
    assert [row["passcode_failures"] for row in await fetch(app, "SELECT passcode_failures FROM share")] == [10]
    listed = await client.get("/api/patient/v1/shares", headers=patient)
    assert listed.json()["shares"][0]["status"] == "disabled"


async def test_twenty_parallel_wrong_passcodes_count_ten_at_most(
    app: Litestar, client: Client, patient: dict[str, str]
) -> None:
    payload = decode_shlink((await make_share(client, patient, passcode="4711"))["shlink"])
    path = path_of(payload["url"])
    async with concurrent_client(client) as raw:
        guesses = [raw.post(path, json={"recipient": "x", "passcode": f"guess-{n}"}) for n in range(20)]
        answers = await released_together(app, "share", guesses)
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [401] * 10 + [404] * 10, statuses
    assert sorted(a.json()["remainingAttempts"] for a in answers if a.status_code == 401) == list(range(10))
    assert [row["passcode_failures"] for row in await fetch(app, "SELECT passcode_failures FROM share")] == [10]
    assert (await fetch_manifest(client, payload, passcode="4711")).status_code == 404


async def test_thirty_requests_a_minute_then_429(client: Client, patient: dict[str, str], clock: FakeClock) -> None:
    payload = decode_shlink((await make_share(client, patient, passcode="4711"))["shlink"])
    for _ in range(30):  # asked for the passcode: cheap, and not counted as a guess
        assert (await fetch_manifest(client, payload)).status_code == 401
    limited = await fetch_manifest(client, payload, passcode="4711")
    assert limited.status_code == 429 and 1 <= int(limited.headers["retry-after"]) <= 60
    clock.advance(seconds=60)
    assert (await fetch_manifest(client, payload, passcode="4711")).status_code == 200


async def test_a_file_too_large_to_embed_waits_an_hour_at_its_location(
    app: Litestar, client: Client, patient: dict[str, str], clock: FakeClock
) -> None:
    share = await make_share(client, patient, expires_in=7200)
    payload = decode_shlink(share["shlink"])
    manifest = await fetch_manifest(client, payload, embeddedLengthMax=100)
    (file,) = manifest.json()["files"]
    assert "embedded" not in file and file["location"].startswith(app.state.settings.base_url + "/")
    assert payload["key"] not in file["location"]
    document = await receive(client, share["shlink"], embeddedLengthMax=100)
    assert document["resourceType"] == "Bundle"
    opens = await count(app, "access_event")
    assert (await client.get(path_of(file["location"]))).status_code == 200
    assert await count(app, "access_event") == opens + 1  # the fetch is a read too
    # Another share's file, its share then revoked: gone at once.
    other = await make_share(client, patient)
    revoked = (await fetch_manifest(client, decode_shlink(other["shlink"]), embeddedLengthMax=0)).json()
    stopped = await client.delete(f"/api/patient/v1/shares/{other['id']}", headers=patient)
    assert stopped.status_code == 204, stopped.text
    assert (await client.get(path_of(revoked["files"][0]["location"]))).status_code == 404
    assert await count(app, "share_file", f"share_id = '{other['id']}'") == 0  # nothing of it stays readable
    for _ in range(8):  # a link keeps its newest few files, however often it is asked for them
        assert (await fetch_manifest(client, payload, embeddedLengthMax=0)).status_code == 200
    assert await count(app, "share_file", f"share_id = '{share['id']}'") == 5
    clock.advance(hours=1)
    assert (await client.get(path_of(file["location"]))).status_code == 404


async def test_a_signed_in_receptionist_is_logged_as_themself(
    app: Litestar, client: Client, patient: dict[str, str]
) -> None:
    share = await make_share(client, patient)
    member = await add_member(app, FACILITY, "le.tan", "receptionist")
    cookie = await signed_in_member(client, app, member)
    client.cookies.clear()
    body = {"recipient": "someone else entirely"}
    opened = await client.post(path_of(decode_shlink(share["shlink"])["url"]), json=body, headers=_cookie(cookie))
    assert opened.status_code == 200, opened.text
    (event,) = (await client.get(ACCESS_LOG, headers=patient)).json()["events"]
    assert (event["actor"], event["channel"], event["facility"]["code"]) == ("le.tan", "reception", FACILITY)
    (listed,) = (await client.get("/api/patient/v1/shares", headers=patient)).json()["shares"]
    assert listed["times_opened"] == 1 and listed["opened_by"][0]["actor"] == "le.tan"


async def test_receivers_on_other_origins_may_read_the_answers(client: Client, patient: dict[str, str]) -> None:
    path = path_of(decode_shlink((await make_share(client, patient))["shlink"])["url"])
    preflight = await client.options(
        path, headers={"Origin": "https://viewer.example", "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code < 300 and preflight.headers["access-control-allow-origin"] == "*"
    refused = await client.post(
        "/api/shl/" + "B" * 43, json={"recipient": "x"}, headers={"Origin": "https://x.example"}
    )
    assert refused.status_code == 404 and refused.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in refused.headers
    own_api = await client.get("/api/patient/v1/shares", headers={"Origin": "https://x.example"})
    assert "access-control-allow-origin" not in own_api.headers


async def test_bad_manifest_requests_are_4xx_and_count_nothing(
    app: Litestar, client: Client, patient: dict[str, str]
) -> None:
    path = path_of(decode_shlink((await make_share(client, patient))["shlink"])["url"])
    for body in ({}, {"recipient": ""}, {"recipient": "  "}, {"recipient": "x", "embeddedLengthMax": -1}):
        assert (await client.post(path, json=body)).status_code == 400, body
    assert (await client.post(path, content=b"recipient=x", headers={"content-type": "text/plain"})).status_code == 415
    assert await count(app, "access_event") == 0


async def test_a_picked_share_whose_records_are_all_gone_is_a_dead_link(
    app: Litestar, client: Client, patient: dict[str, str], clock: FakeClock
) -> None:
    picked = f"AllergyIntolerance/{FACILITY}-du-penicillin"
    assert picked in {
        f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in (await book_bundle(client, patient))
    }
    share = await make_share(client, patient, record_ids=[picked])
    hospital = Hospital(client, FACILITY, await rotate(app, FACILITY))
    deleted = await hospital.push(
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [{"request": {"method": "DELETE", "url": "AllergyIntolerance/du-penicillin"}}],
        },
        timestamp=int(clock.now.timestamp()),
    )
    assert deleted.status_code == 200, deleted.text
    gone = await fetch_manifest(client, decode_shlink(share["shlink"]))
    unknown = await client.post("/api/shl/" + "A" * 43, json={"recipient": RECIPIENT})
    assert (gone.status_code, gone.json()) == (404, unknown.json())  # no hint that the link itself lives
    assert await count(app, "access_event") == 0


async def book_bundle(client: Client, patient: dict[str, str]) -> list[dict[str, Any]]:
    answer = await client.get("/api/patient/v1/book/fhir", headers=patient)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["entry"])


def _cookie(staff_cookie: str) -> dict[str, str]:
    return {"Cookie": f"{STAFF_COOKIE}={staff_cookie}"}
