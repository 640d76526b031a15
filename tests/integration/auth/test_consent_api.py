"""The privacy notice and consent for apps (contract §4, Law 91/2025): apps show
`GET /api/patient/v1/privacy-notice` themselves and record the answer with `POST /api/patient/v1/consent`;
the JSON API does not gate on it."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar

from tests.support.clock import FakeClock
from tests.support.hospital import fetch
from tests.support.patients import PHONE_E164, Client, Outbox, bearer, sign_in_app

NOTICE = "/api/patient/v1/privacy-notice"
CONSENT = "/api/patient/v1/consent"
BOOK = "/api/patient/v1/book"

pytestmark = pytest.mark.usefixtures("visit")  # the sample patient, whose phone opens one book


async def current_version(client: Client) -> str:
    response = await client.get(NOTICE)
    assert response.status_code == 200, response.text
    return str(response.json()["version"])


async def access_token(client: Client, outbox: Outbox) -> str:
    return str((await sign_in_app(client, outbox))["access_token"])


async def consents(app: Litestar) -> list[Any]:
    return await fetch(app, "SELECT patient_id, phone, version, channel, accepted_at FROM consent ORDER BY id")


async def consent_events(app: Litestar) -> list[Any]:
    return await fetch(
        app,
        "SELECT at, phone_masked, patient_id, session_id, detail FROM auth_event"
        " WHERE event = 'consent.given' ORDER BY id",
    )


# --- The notice -----------------------------------------------------------------------------------------


async def test_the_privacy_notice_is_vietnamese_by_default_and_needs_no_sign_in(client: Client) -> None:
    response = await client.get(NOTICE)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"version", "text"}
    assert body["version"] and isinstance(body["version"], str)
    assert "dữ liệu sức khỏe" in body["text"]
    assert "Luật số 91/2025/QH15" in body["text"]


async def test_the_privacy_notice_is_english_with_lang_en(client: Client) -> None:
    vietnamese = (await client.get(NOTICE)).json()
    english = (await client.get(NOTICE, params={"lang": "en"})).json()
    assert set(english) == {"version", "text"}
    assert english["version"] == vietnamese["version"]
    assert english["text"] != vietnamese["text"]
    assert "health data" in english["text"] and "Law 91/2025/QH15" in english["text"]


async def test_an_unknown_language_gets_the_vietnamese_notice(client: Client) -> None:
    vietnamese = (await client.get(NOTICE)).json()
    assert (await client.get(NOTICE, params={"lang": "fr"})).json() == vietnamese


# --- Consenting -----------------------------------------------------------------------------------------


async def test_consent_to_the_current_version_answers_204_and_is_recorded(
    app: Litestar, client: Client, outbox: Outbox, clock: FakeClock
) -> None:
    version = await current_version(client)
    token = await access_token(client, outbox)
    response = await client.post(CONSENT, json={"version": version}, headers=bearer(token))
    assert response.status_code == 204, response.text
    assert response.content == b""
    (row,) = await consents(app)
    assert row["version"] == version
    assert row["channel"] == "api"
    assert row["phone"] == PHONE_E164
    assert row["accepted_at"] == clock.now
    overview = (await client.get(BOOK, headers=bearer(token))).json()
    assert str(row["patient_id"]) == overview["patient"]["id"]


async def test_consent_is_recorded_as_an_auth_event(
    app: Litestar, client: Client, outbox: Outbox, clock: FakeClock
) -> None:
    version = await current_version(client)
    token = await access_token(client, outbox)
    assert (await client.post(CONSENT, json={"version": version}, headers=bearer(token))).status_code == 204
    (event,) = await consent_events(app)
    (row,) = await consents(app)
    assert event["at"] == clock.now
    assert event["patient_id"] == row["patient_id"]
    assert event["session_id"] is not None
    assert event["phone_masked"] == "+8491****678"  # never the full number
    assert "api" in event["detail"] and version in event["detail"]


async def test_consent_to_another_version_is_refused_with_a_readable_422(
    app: Litestar, client: Client, outbox: Outbox
) -> None:
    version = await current_version(client)
    token = await access_token(client, outbox)
    response = await client.post(CONSENT, json={"version": "2020-01-01"}, headers=bearer(token))
    assert response.status_code == 422, response.text
    body = response.json()
    assert isinstance(body["message"], str) and version in body["message"]
    assert await consents(app) == []
    assert await consent_events(app) == []


async def test_consent_without_a_session_answers_401_json(app: Litestar, client: Client) -> None:
    version = await current_version(client)
    for headers in ({}, bearer("not-a-token")):
        response = await client.post(CONSENT, json={"version": version}, headers=headers, follow_redirects=False)
        assert response.status_code == 401, response.text
        assert response.headers["content-type"].startswith("application/json")
        assert "location" not in response.headers
    assert await consents(app) == []


async def test_consent_after_logout_answers_401(app: Litestar, client: Client, outbox: Outbox) -> None:
    version = await current_version(client)
    token = await access_token(client, outbox)
    assert (await client.post("/api/patient/v1/auth/logout", headers=bearer(token))).status_code == 204
    response = await client.post(CONSENT, json={"version": version}, headers=bearer(token))
    assert response.status_code == 401
    assert await consents(app) == []


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"{}", "application/json"),
        (b'{"versio": "2026-11-01"}', "application/json"),
        (b'{"version": 20261101}', "application/json"),
        (b'["2026-11-01"]', "application/json"),
        (b"", "application/json"),
    ],
    ids=["not-json", "empty-object", "misspelt-field", "number", "array", "no-body"],
)
async def test_a_malformed_consent_body_answers_400(
    app: Litestar, client: Client, outbox: Outbox, content: bytes, content_type: str
) -> None:
    token = await access_token(client, outbox)
    response = await client.post(CONSENT, content=content, headers={**bearer(token), "content-type": content_type})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert isinstance(response.json()["message"], str)
    assert await consents(app) == []


async def test_consenting_twice_is_harmless(app: Litestar, client: Client, outbox: Outbox, clock: FakeClock) -> None:
    version = await current_version(client)
    token = await access_token(client, outbox)
    first = await client.post(CONSENT, json={"version": version}, headers=bearer(token))
    first_time = clock.now
    clock.advance(minutes=1)
    second = await client.post(CONSENT, json={"version": version}, headers=bearer(token))
    assert (first.status_code, second.status_code) == (204, 204)
    rows = await consents(app)
    assert [(row["version"], row["channel"], row["phone"]) for row in rows] == [(version, "api", PHONE_E164)]
    assert rows[0]["accepted_at"] == first_time  # the first answer is the one that counts
    assert (await client.get(BOOK, headers=bearer(token))).status_code == 200


async def test_the_api_does_not_gate_the_book_on_consent(app: Litestar, client: Client, outbox: Outbox) -> None:
    token = await access_token(client, outbox)
    for path in (BOOK, f"{BOOK}/fhir"):
        response = await client.get(path, headers=bearer(token))
        assert response.status_code == 200, (path, response.text)
    overview = (await client.get(BOOK, headers=bearer(token))).json()
    assert overview["patient"]["name"] == "Nguyễn Văn An"
    assert overview["groups"]["allergies"]["total"] == 1
    assert await consents(app) == []


async def test_a_phone_without_a_book_cannot_consent_for_anyone(app: Litestar, client: Client, outbox: Outbox) -> None:
    version = await current_version(client)
    answer = await sign_in_app(client, outbox, "0987 000 111")  # a phone no hospital knows
    assert answer["books"] == []
    response = await client.post(CONSENT, json={"version": version}, headers=bearer(answer["access_token"]))
    assert response.status_code == 404, response.text
    assert await consents(app) == []
