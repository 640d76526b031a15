"""Contract §3.1: every push is signed (Standard Webhooks); a bad signature stores nothing at all and is logged
(check E1: `assert_unauthorized`)."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from litestar import Litestar
from standardwebhooks import Webhook

from tests.support.cookies import check_set_cookies
from tests.support.hospital import FHIR_JSON, Hospital, count, rotate, sample, sign, webhook_headers

BODY = sample("fhir-visit-bundle.json")
URL = "/api/hospital/v1/01929/fhir"


async def assert_unauthorized(app: Litestar, response: httpx.Response, caplog: pytest.LogCaptureFixture) -> str:
    """Check E1 for one refused push: 401 with an OperationOutcome giving the server time; exactly one
    `webhook rejected` log line for this request (by its request id), naming the facility code and the
    reason, at INFO or WARNING, with no traceback and without the signature sent; and nothing written:
    no `delivery`, `record`, `record_version` or `patient` row. Returns the diagnostics."""
    assert response.status_code == 401
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    diagnostics = outcome["issue"][0]["diagnostics"]
    assert "server time 20" in diagnostics  # the sender can see its clock is off
    assert not [record for record in caplog.records if record.exc_info], "a refusal logs no traceback"
    events = logged_events(caplog, response.headers["x-request-id"])
    rejected = [event for event in events if event["event"] == "webhook rejected"]
    assert len(rejected) == 1, events
    (line,) = rejected
    assert line["facility"] == response.request.url.path.split("/")[4] and line["reason"], line
    assert line["level"] in ("info", "warning"), line
    assert not [event for event in events if event["level"] in ("error", "critical")], events
    signature = response.request.headers.get("webhook-signature", "")
    if len(signature) > 8:
        assert signature not in repr(events), "the signature sent is not logged"
    for table in ("delivery", "record", "record_version", "patient"):
        assert await count(app, table) == 0, table
    return str(diagnostics)


def logged_events(caplog: pytest.LogCaptureFixture, request_id: str) -> list[dict[str, Any]]:
    """The structlog events logged while handling this request (our loggers put the event dict in `msg`)."""
    return [
        record.msg
        for record in caplog.records
        if isinstance(record.msg, dict) and record.msg.get("request_id") == request_id
    ]


async def test_the_library_and_our_check_agree(hospital: Hospital) -> None:
    webhook_id, now = "msg_library", datetime.now(UTC)
    signature = Webhook(hospital.secret).sign(webhook_id, now, BODY.decode())
    assert signature == sign(hospital.secret, BODY, webhook_id, int(now.timestamp()))
    headers = {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
        "content-type": FHIR_JSON,
    }
    assert (await hospital.client.post(URL, content=BODY, headers=headers)).status_code == 200


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
async def test_a_missing_header_is_401(
    app: Litestar, hospital: Hospital, caplog: pytest.LogCaptureFixture, missing: str
) -> None:
    headers = webhook_headers(hospital.secret, BODY)
    del headers[missing]
    await assert_unauthorized(app, await hospital.client.post(URL, content=BODY, headers=headers), caplog)


@pytest.mark.parametrize(
    "signature",
    ["", "v1", "v1,", "v1,not base64!!", "v2,abc", "garbage", "v1a,c2lnbmF0dXJl", "v1," + "A" * 44],
)
async def test_a_malformed_or_wrong_signature_is_401(
    app: Litestar, hospital: Hospital, caplog: pytest.LogCaptureFixture, signature: str
) -> None:
    headers = webhook_headers(hospital.secret, BODY)
    headers["webhook-signature"] = signature
    await assert_unauthorized(app, await hospital.client.post(URL, content=BODY, headers=headers), caplog)


async def test_a_one_byte_change_of_the_body_is_401(
    app: Litestar, hospital: Hospital, caplog: pytest.LogCaptureFixture
) -> None:
    headers = webhook_headers(hospital.secret, BODY)
    changed = BODY.replace(b"001090012345", b"001090012346", 1)
    await assert_unauthorized(app, await hospital.client.post(URL, content=changed, headers=headers), caplog)


async def test_a_signature_over_reserialized_json_is_401(
    app: Litestar, hospital: Hospital, caplog: pytest.LogCaptureFixture
) -> None:
    import json

    reserialized = json.dumps(json.loads(BODY)).encode()
    headers = webhook_headers(hospital.secret, reserialized)
    await assert_unauthorized(app, await hospital.client.post(URL, content=BODY, headers=headers), caplog)


@pytest.mark.parametrize("offset", [-360, 360, -(10**6)])
async def test_a_stale_or_future_timestamp_is_401(
    app: Litestar, hospital: Hospital, caplog: pytest.LogCaptureFixture, offset: int
) -> None:
    headers = webhook_headers(hospital.secret, BODY, timestamp=int(time.time()) + offset)
    diagnostics = await assert_unauthorized(app, await hospital.client.post(URL, content=BODY, headers=headers), caplog)
    assert "server clock" in diagnostics


async def test_timestamps_within_five_minutes_are_accepted(hospital: Hospital) -> None:
    for offset in (-280, 280):
        response = await hospital.push(BODY, timestamp=int(time.time()) + offset)
        assert response.status_code == 200


@pytest.mark.parametrize("timestamp", ["1e9", "-5", "12.5", "now", "99999999999999999999"])
async def test_a_malformed_timestamp_is_401(
    app: Litestar, hospital: Hospital, caplog: pytest.LogCaptureFixture, timestamp: str
) -> None:
    headers = webhook_headers(hospital.secret, BODY)
    headers["webhook-timestamp"] = timestamp
    await assert_unauthorized(app, await hospital.client.post(URL, content=BODY, headers=headers), caplog)


async def test_an_unknown_facility_is_401(app: Litestar, hospital: Hospital, caplog: pytest.LogCaptureFixture) -> None:
    headers = webhook_headers(hospital.secret, BODY)
    response = await hospital.client.post("/api/hospital/v1/99999/fhir", content=BODY, headers=headers)
    await assert_unauthorized(app, response, caplog)


async def test_another_facilitys_secret_is_401(
    app: Litestar, hospital: Hospital, other_hospital: Hospital, caplog: pytest.LogCaptureFixture
) -> None:
    headers = webhook_headers(other_hospital.secret, BODY)
    await assert_unauthorized(app, await hospital.client.post(URL, content=BODY, headers=headers), caplog)


async def test_v1a_entries_are_ignored_and_any_v1_entry_may_match(hospital: Hospital) -> None:
    headers = webhook_headers(hospital.secret, BODY)
    good = headers["webhook-signature"]
    bogus = "v1," + base64.b64encode(b"x" * 32).decode()
    headers["webhook-signature"] = f"v1a,{base64.b64encode(b'y' * 64).decode()} {bogus} {good}"
    assert (await hospital.client.post(URL, content=BODY, headers=headers)).status_code == 200


async def test_both_secrets_work_during_rotation(app: Litestar, hospital: Hospital) -> None:
    new_secret = await rotate(app, hospital.code)
    assert new_secret != hospital.secret and new_secret.startswith("whsec_")
    assert (await hospital.push(BODY)).status_code == 200  # the previous secret, for 24 hours
    hospital.secret = new_secret
    assert (await hospital.push(BODY)).status_code == 200


async def test_authentication_comes_before_parsing(
    app: Litestar, hospital: Hospital, caplog: pytest.LogCaptureFixture
) -> None:
    headers = webhook_headers(hospital.secret, b"not json", content_type="text/plain")
    headers["webhook-signature"] = "v1," + base64.b64encode(b"z" * 32).decode()
    response = await hospital.client.post(URL, content=b"not json", headers=headers)
    await assert_unauthorized(app, response, caplog)  # not 400 or 415: nothing is looked at before the signature


async def test_the_previous_secret_stops_working_after_24_hours(settings: object) -> None:
    from datetime import timedelta

    from litestar.testing import AsyncTestClient

    from backend.app import create_app
    from tests.support.hospital import register

    now = [datetime.now(UTC)]
    app = create_app(settings, clock=lambda: now[0])  # type: ignore[arg-type]
    async with AsyncTestClient(app, base_url="https://testserver.local") as client:
        client.event_hooks["response"].append(check_set_cookies)  # check B2, as on the shared client fixture
        old = Hospital(client, "01929", await register(app, "01929"))
        new_secret = await rotate(app, "01929")
        now[0] += timedelta(hours=23)
        assert (await old.push(BODY, timestamp=int(now[0].timestamp()))).status_code == 200
        now[0] += timedelta(hours=2)
        assert (await old.push(BODY, timestamp=int(now[0].timestamp()))).status_code == 401
        fresh = Hospital(client, "01929", new_secret)
        assert (await fresh.push(BODY, timestamp=int(now[0].timestamp()))).status_code == 200
