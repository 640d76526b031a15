"""Native apps (RFC 8252): the national ID sign-in in the system browser, back to the app's redirect URI
with a one-time handoff code, redeemed with the app's own PKCE verifier at
`POST /api/patient/v1/auth/oidc/token` for contract §4's token answer."""

from __future__ import annotations

import pytest
from litestar import Litestar

from tests.integration.oidc.steps import (
    AN,
    MOTHER,
    SESSION_COOKIE,
    SON,
    events,
    last_failure,
    pkce_pair,
    query_of,
    sign_in,
)
from tests.support.clock import FakeClock
from tests.support.hospital import OTHER_FACILITY, Hospital, count, register
from tests.support.patients import Client, Outbox, bearer, patient_uuid, push_patient, sign_in_app

APP_URI = "vn.hanoi.sosuckhoe:/oauth2redirect"
TOKEN = "/api/patient/v1/auth/oidc/token"


async def handed_to_app(client: Client, cccd: str, redirect_uri: str = APP_URI) -> tuple[str, str]:
    """The handoff code the app receives, and its verifier."""
    verifier, challenge = pkce_pair()
    params = {
        "app_redirect_uri": redirect_uri,
        "app_state": "app-state-42",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    answer = await sign_in(client, cccd, **params)
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(f"{redirect_uri}?")
    assert SESSION_COOKIE not in answer.headers.get("set-cookie", "")  # the browser is not signed in
    returned = query_of(location)
    assert returned["state"] == "app-state-42"
    return returned["code"], verifier


@pytest.mark.usefixtures("visit")
async def test_the_app_signs_in_through_the_system_browser(app: Litestar, client: Client) -> None:
    code, verifier = await handed_to_app(client, AN)
    client.cookies.clear()  # the app is not the browser
    answer = await client.post(TOKEN, json={"code": code, "code_verifier": verifier})
    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    assert set(tokens) == {"access_token", "refresh_token", "token_type", "expires_in", "books"}
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] > 0
    (book,) = tokens["books"]
    assert book == {"id": await patient_uuid(app, AN), "name": "Nguyễn Văn An", "masked_cccd": "001******345",
                    "read_only": False}  # fmt: skip
    overview = await client.get("/api/patient/v1/book", headers=bearer(tokens["access_token"]))
    assert overview.status_code == 200 and overview.json()["read_only"] is False
    (verified,) = await events(app, "auth.oidc_verified")
    (signed_in,) = await events(app, "auth.oidc_signed_in")
    assert verified["detail"] == "app handoff, phone claim" and signed_in["detail"] == "api, phone claim"
    assert code not in str(verified["detail"]) + str(signed_in["detail"])


@pytest.mark.usefixtures("visit")
async def test_a_replayed_handoff_code_is_refused(app: Litestar, client: Client) -> None:
    code, verifier = await handed_to_app(client, AN)
    assert (await client.post(TOKEN, json={"code": code, "code_verifier": verifier})).status_code == 200
    replayed = await client.post(TOKEN, json={"code": code, "code_verifier": verifier})
    assert replayed.status_code == 400 and "access_token" not in replayed.json()
    assert await last_failure(app) == "handoff code unknown, used or expired"
    assert await count(app, "auth_session") == 1


@pytest.mark.usefixtures("visit")
async def test_a_wrong_verifier_is_refused_and_spends_the_code(app: Litestar, client: Client) -> None:
    code, verifier = await handed_to_app(client, AN)
    other_verifier, _ = pkce_pair()
    wrong = await client.post(TOKEN, json={"code": code, "code_verifier": other_verifier})
    assert wrong.status_code == 400 and await last_failure(app) == "handoff verifier mismatch"
    late = await client.post(TOKEN, json={"code": code, "code_verifier": verifier})
    assert late.status_code == 400 and await count(app, "auth_session") == 0


@pytest.mark.usefixtures("visit")
async def test_a_handoff_code_lives_sixty_seconds(app: Litestar, client: Client, clock: FakeClock) -> None:
    code, verifier = await handed_to_app(client, AN)
    clock.advance(seconds=61)
    assert (await client.post(TOKEN, json={"code": code, "code_verifier": verifier})).status_code == 400
    assert await last_failure(app) == "handoff code unknown, used or expired"


@pytest.mark.usefixtures("visit")
async def test_a_loopback_redirect_on_any_port_is_allowed(client: Client) -> None:
    code, verifier = await handed_to_app(client, AN, "http://127.0.0.1:49152/callback")
    assert (await client.post(TOKEN, json={"code": code, "code_verifier": verifier})).status_code == 200


async def test_an_app_signed_in_by_sms_confirms_the_book_for_its_phone(
    app: Litestar, client: Client, outbox: Outbox, hospital: Hospital
) -> None:
    """Rule 1 for apps: the app sends its Bearer token with the handoff code; the book is confirmed for
    the app's phone, and the app's old session ends."""
    other = Hospital(client, OTHER_FACILITY, await register(app, OTHER_FACILITY))
    await push_patient(hospital, MOTHER, "Trần Thị Bích Ngọc", "0987 654 321")
    await push_patient(other, SON, "Lê Minh Khôi", "0987 654 321")
    before = await sign_in_app(client, outbox, "0987 654 321")
    assert all(book["read_only"] for book in before["books"])
    code, verifier = await handed_to_app(client, MOTHER)
    client.cookies.clear()
    answer = await client.post(
        TOKEN, json={"code": code, "code_verifier": verifier}, headers=bearer(before["access_token"])
    )
    assert answer.status_code == 200, answer.text
    books = {book["name"]: book["read_only"] for book in answer.json()["books"]}
    assert books == {"Trần Thị Bích Ngọc": False, "Lê Minh Khôi": True}
    (signed_in,) = await events(app, "auth.oidc_signed_in")
    assert signed_in["detail"] == "api, phone session"
    old = await client.get("/api/patient/v1/book", headers=bearer(before["access_token"]))
    assert old.status_code == 401


async def test_the_token_route_takes_json_only(client: Client) -> None:
    answer = await client.post(TOKEN, content=b"code=x&code_verifier=y", headers={"content-type": "text/plain"})
    assert answer.status_code == 415
