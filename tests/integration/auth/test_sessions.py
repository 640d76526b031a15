"""Sessions and tokens (checks B1–B5, C1; contract §4 refresh and logout)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from litestar import Litestar

from tests.support.clock import FakeClock
from tests.support.hospital import Hospital, count, fetch, register
from tests.support.patients import PHONE, Client, Outbox, bearer, push_patient, sign_in_app

pytestmark = pytest.mark.usefixtures("visit")


async def sign_in_web(client: Client, outbox: Outbox, phone: str = PHONE) -> Any:
    """The web flow: the phone form, then the code form; returns the last response (a redirect)."""
    page = await client.get("/login")
    csrf = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    sent = await client.post("/login", data={"phone": phone, "_csrf_token": csrf.group(1)}, follow_redirects=False)
    assert sent.status_code == 303, sent.text
    challenge = sent.headers["location"].split("c=")[1]
    from backend.phones import normalize_phone

    code = outbox.last_code(normalize_phone(phone) or "")
    return await client.post(
        "/login/code", data={"challenge": challenge, "code": code, "_csrf_token": csrf.group(1)}, follow_redirects=False
    )


def session_cookie(response: Any) -> str:
    header = next(
        value for name, value in response.headers.multi_items() if name == "set-cookie" and "session=" in value
    )
    return str(header)


async def test_b1_a_session_id_chosen_by_a_client_is_never_used(client: Client, outbox: Outbox) -> None:
    client.cookies.set("__Host-session", "attacker-chosen-value", domain="testserver.local")
    signed_in = await sign_in_web(client, outbox)
    assert signed_in.status_code == 303
    cookie = session_cookie(signed_in)
    assert "attacker-chosen-value" not in cookie and cookie.startswith("__Host-session=")
    client.cookies.clear()
    client.cookies.set("__Host-session", "attacker-chosen-value", domain="testserver.local")
    assert (await client.get("/api/patient/v1/book")).status_code == 401


async def test_b2_session_cookie_flags(client: Client, outbox: Outbox) -> None:
    signed_in = await sign_in_web(client, outbox)
    cookie = session_cookie(signed_in)
    for flag in ("Secure", "HttpOnly", "Path=/", "SameSite=lax"):
        assert flag.lower() in cookie.lower(), cookie
    assert "domain" not in cookie.lower()


async def test_first_sign_in_asks_for_consent_then_shows_the_book(
    client: Client, outbox: Outbox, app: Litestar
) -> None:
    signed_in = await sign_in_web(client, outbox)
    assert signed_in.headers["location"] == "/book"  # the one gate: it asks for consent first
    gate = await client.get("/book", follow_redirects=False)
    assert (gate.status_code, gate.headers["location"]) == (303, "/consent")
    consent = await client.get("/consent")
    assert consent.status_code == 200 and 'name="accept"' in consent.text
    token = re.search(r'name="_csrf_token" value="([^"]+)"', consent.text)
    assert token is not None
    accepted = await client.post(
        "/consent", data={"accept": "1", "_csrf_token": token.group(1)}, follow_redirects=False
    )
    assert accepted.headers["location"] == "/book"
    book = await client.get("/book")
    assert book.status_code == 200 and "Nguyễn Văn An" in book.text and "Penicillin" in book.text
    assert book.headers["cache-control"] == "no-store"
    assert await count(app, "consent") == 1
    # The next sign-in goes straight to the book.
    client.cookies.clear()
    again = await sign_in_web_after_a_minute(client, outbox, app)
    assert again.headers["location"] == "/book"


async def sign_in_web_after_a_minute(client: Client, outbox: Outbox, app: Litestar) -> Any:
    app.state.clock.advance(seconds=61)
    return await sign_in_web(client, outbox)


async def test_b3_idle_and_absolute_timeouts(client: Client, outbox: Outbox, clock: FakeClock) -> None:
    await sign_in_web(client, outbox)
    clock.advance(minutes=29)
    assert (await client.get("/api/patient/v1/book")).status_code == 200
    clock.advance(minutes=31)
    assert (await client.get("/api/patient/v1/book")).status_code == 401  # idle for 31 minutes
    assert (await client.get("/book", follow_redirects=False)).headers["location"] == "/login"

    client.cookies.clear()
    await sign_in_web(client, outbox)
    for _ in range(36):  # active every 20 minutes for 12 hours
        clock.advance(minutes=20)
        status = (await client.get("/api/patient/v1/book")).status_code
    assert status == 401


async def test_b4_logout_everywhere_and_replay(client: Client, outbox: Outbox, clock: FakeClock, app: Litestar) -> None:
    app_answer = await sign_in_app(client, outbox)
    clock.advance(seconds=61)
    signed_in = await sign_in_web(client, outbox)
    web_cookie = session_cookie(signed_in).split(";")[0].split("=", 1)[1]
    page = await client.get("/settings")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    out = await client.post("/logout/everywhere", data={"_csrf_token": token.group(1)}, follow_redirects=False)
    assert out.status_code == 303
    client.cookies.clear()
    client.cookies.set("__Host-session", web_cookie, domain="testserver.local")
    assert (await client.get("/api/patient/v1/book")).status_code == 401  # the old cookie, replayed
    client.cookies.clear()
    assert (await client.get("/api/patient/v1/book", headers=bearer(app_answer["access_token"]))).status_code == 401
    refreshed = await client.post("/api/patient/v1/auth/refresh", json={"refresh_token": app_answer["refresh_token"]})
    assert refreshed.status_code == 401
    assert await count(app, "auth_event", "event = 'auth.signed_out_everywhere'") == 1


async def test_b5_csrf_on_pages_and_on_cookie_authenticated_api_calls(client: Client, outbox: Outbox) -> None:
    await sign_in_web(client, outbox)
    assert (await client.post("/logout", data={})).status_code == 403
    page = await client.get("/settings")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    foreign = await client.post(
        "/logout", data={"_csrf_token": token.group(1)}, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    # The cookie authenticates the API call: the token is required there too.
    assert (await client.post("/api/patient/v1/auth/logout")).status_code == 403
    assert (
        await client.post("/api/patient/v1/auth/logout", headers={"X-CSRF-Token": token.group(1)})
    ).status_code == 204


async def test_refresh_rotates_and_a_reused_refresh_token_ends_the_session(client: Client, outbox: Outbox) -> None:
    first = await sign_in_app(client, outbox)
    second = await client.post("/api/patient/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    renewed = second.json()
    assert renewed["refresh_token"] != first["refresh_token"] and renewed["books"]
    assert (await client.get("/api/patient/v1/book", headers=bearer(first["access_token"]))).status_code == 401
    assert (await client.get("/api/patient/v1/book", headers=bearer(renewed["access_token"]))).status_code == 200
    reused = await client.post("/api/patient/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reused.status_code == 401  # copied: the whole session ends
    assert (await client.get("/api/patient/v1/book", headers=bearer(renewed["access_token"]))).status_code == 401


async def test_logout_revokes_the_access_and_refresh_tokens(client: Client, outbox: Outbox) -> None:
    answer = await sign_in_app(client, outbox)
    assert (await client.post("/api/patient/v1/auth/logout", headers=bearer(answer["access_token"]))).status_code == 204
    assert (await client.get("/api/patient/v1/book", headers=bearer(answer["access_token"]))).status_code == 401
    refreshed = await client.post("/api/patient/v1/auth/refresh", json={"refresh_token": answer["refresh_token"]})
    assert refreshed.status_code == 401


async def test_access_tokens_expire(client: Client, outbox: Outbox, clock: FakeClock) -> None:
    answer = await sign_in_app(client, outbox)
    clock.advance(minutes=11)
    assert (await client.get("/api/patient/v1/book", headers=bearer(answer["access_token"]))).status_code == 401
    refreshed = await client.post("/api/patient/v1/auth/refresh", json={"refresh_token": answer["refresh_token"]})
    assert refreshed.status_code == 200


async def test_c1_one_patients_token_never_reads_anothers_book(
    app: Litestar, client: Client, outbox: Outbox, clock: FakeClock
) -> None:
    other = Hospital(client, "01002", await register(app, "01002"))
    await push_patient(other, "079195000111", "Trần Văn Bình", "0933 111 222")
    bình = await sign_in_app(client, outbox, "0933 111 222")
    clock.advance(seconds=61)
    an = await sign_in_app(client, outbox)
    an_book = an["books"][0]["id"]
    headers = bearer(bình["access_token"])
    overview = (await client.get("/api/patient/v1/book", headers=headers)).json()
    assert overview["patient"]["name"] == "Trần Văn Bình" and "Nguyễn" not in str(overview)
    bundle = (await client.get("/api/patient/v1/book/fhir", headers=headers)).json()
    assert all("001090012345" not in str(entry) for entry in bundle["entry"])
    assert (
        await client.post("/api/patient/v1/auth/select", json={"book_id": an_book}, headers=headers)
    ).status_code == 404
    assert (
        await client.post("/api/patient/v1/consent", json={"version": "2026-11-01"}, headers=headers)
    ).status_code == 204
    rows = await fetch(app, "SELECT p.cccd FROM consent c JOIN patient p ON p.id = c.patient_id")
    assert [row["cccd"] for row in rows] == ["079195000111"]
