"""The national ID sign-in in a browser, end to end through the built-in demo provider (contract §6
`/login/oidc`; docs/identity.md "National ID sign-in"): PKCE S256, `state` and `nonce` on the way out;
on the way back a new session on the person's book, in full, and `/book` asking for consent once."""

from __future__ import annotations

import hashlib
from http.cookies import SimpleCookie

import httpx
import pytest
from litestar import Litestar

from backend.identity_provider.people import find_person
from tests.integration.oidc.steps import (
    AN,
    BASE_URL,
    FLOW_COOKIE,
    MOTHER,
    NEW_PERSON,
    NO_PHONE,
    SESSION_COOKIE,
    SON,
    events,
    pick,
    query_of,
    sign_in,
    start,
)
from tests.support.hospital import OTHER_FACILITY, Hospital, count, fetch, register
from tests.support.patients import Client, Outbox, browser_cookies, patient_uuid, push_patient

MOTHER_PHONE = "0987 654 321"


def set_cookie(response: httpx.Response, name: str) -> SimpleCookie:
    parsed = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            parsed.load(header)
    return parsed


async def accept_consent(client: Client) -> None:
    page = await client.get("/consent")
    token = page.text.split('name="_csrf_token" value="', 1)[1].split('"', 1)[0]
    accepted = await client.post("/consent", data={"accept": "1", "_csrf_token": token}, follow_redirects=False)
    assert (accepted.status_code, accepted.headers["location"]) == (303, "/book"), accepted.text


async def test_login_oidc_sends_the_browser_off_with_pkce_s256_state_and_nonce(app: Litestar, client: Client) -> None:
    response = await client.get("/login/oidc", follow_redirects=False)
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(f"{BASE_URL}/demo-idp/authorize?")
    sent = query_of(location)
    assert sent["response_type"] == "code" and sent["client_id"]
    assert sent["redirect_uri"] == f"{BASE_URL}/login/oidc/callback"
    assert "openid" in sent["scope"].split()
    assert sent["code_challenge_method"] == "S256" and len(sent["code_challenge"]) == 43
    assert len(sent["state"]) >= 32 and len(sent["nonce"]) >= 32 and sent["state"] != sent["nonce"]
    cookie = set_cookie(response, FLOW_COOKIE)[FLOW_COOKIE]
    assert cookie["httponly"] and cookie["secure"] and cookie["samesite"].lower() == "lax" and cookie["path"] == "/"
    assert cookie["max-age"] == "600"
    (flow,) = await fetch(app, "SELECT * FROM oidc_flow")
    stored = " ".join(str(value) for value in flow.values())
    assert sent["state"] not in stored and sent["nonce"] not in stored and cookie.value not in stored


async def test_a_boosted_link_is_told_to_navigate_there_itself(client: Client) -> None:
    response = await client.get("/login/oidc", headers={"HX-Request": "true"}, follow_redirects=False)
    assert response.status_code == 204
    assert response.headers["hx-redirect"].startswith(f"{BASE_URL}/demo-idp/authorize?")
    assert FLOW_COOKIE in response.headers["set-cookie"]


async def test_the_demo_provider_lists_the_demo_people(client: Client) -> None:
    authorize = await start(client)
    client.cookies.set("lang", "en", domain="testserver.local")
    page = await client.get(authorize)
    assert page.status_code == 200
    for name in ("Nguyễn Văn An", "Trần Thị Bích Ngọc", "Hoàng Thu Mai", "Vũ Đức Long"):
        assert name in page.text
    assert "Demo identity provider" in page.text and "+8491****678" in page.text


@pytest.mark.usefixtures("visit")
async def test_a_demo_person_signs_in_and_lands_on_the_book_after_consent(app: Litestar, client: Client) -> None:
    answer = await sign_in(client, AN)
    assert (answer.status_code, answer.headers["location"]) == (303, "/book")
    assert set_cookie(answer, SESSION_COOKIE)[SESSION_COOKIE].value
    assert set_cookie(answer, FLOW_COOKIE)[FLOW_COOKIE]["max-age"] == "0"  # used up
    assert (await client.get("/book", follow_redirects=False)).headers["location"] == "/consent"
    await accept_consent(client)
    book = await client.get("/book")
    assert book.status_code == 200 and "Nguyễn Văn An" in book.text
    overview = await client.get("/api/patient/v1/book")
    assert overview.json()["read_only"] is False
    (signed_in,) = await events(app, "auth.oidc_signed_in")
    assert signed_in["detail"] == "web, phone claim" and signed_in["phone_masked"] == "+8491****678"
    (access,) = await fetch(app, "SELECT phone, confirmed_by FROM book_access")
    assert dict(access) == {"phone": "+84912345678", "confirmed_by": "oidc"}


async def test_a_read_only_book_becomes_full_for_the_phone_signed_in_before(
    app: Litestar, client: Client, outbox: Outbox, hospital: Hospital
) -> None:
    """The mother's phone is on her own book and her son's: both read-only after the SMS sign-in. The
    national ID confirms her own book for that phone, in a new session; her son's stays read-only."""
    other = Hospital(client, OTHER_FACILITY, await register(app, OTHER_FACILITY))
    await push_patient(hospital, MOTHER, "Trần Thị Bích Ngọc", MOTHER_PHONE)
    await push_patient(other, SON, "Lê Minh Khôi", MOTHER_PHONE)
    session, csrf = await browser_cookies(client, outbox, MOTHER_PHONE)
    client.cookies.set(SESSION_COOKIE, session, domain="testserver.local")
    client.cookies.set("__Host-csrf", csrf, domain="testserver.local")
    assert (await client.get("/api/patient/v1/book")).status_code == 404  # two books: none open yet
    answer = await sign_in(client, MOTHER)
    assert (answer.status_code, answer.headers["location"]) == (303, "/book")
    new_session = set_cookie(answer, SESSION_COOKIE)[SESSION_COOKIE].value
    assert new_session and new_session != session
    sessions = await fetch(app, "SELECT phone, patient_id, read_only, revoked_at FROM auth_session ORDER BY created_at")
    assert [row["revoked_at"] is not None for row in sessions] == [True, False]
    assert sessions[1]["phone"] == "+84987654321" and sessions[1]["read_only"] is False
    assert str(sessions[1]["patient_id"]) == await patient_uuid(app, MOTHER)
    (signed_in,) = await events(app, "auth.oidc_signed_in")
    assert signed_in["detail"] == "web, phone session"
    choose = await client.get("/api/patient/v1/book")
    assert choose.status_code == 200 and choose.json()["read_only"] is False
    refreshed = await fetch(
        app,
        "SELECT p.cccd FROM book_access a JOIN patient p ON p.id = a.patient_id WHERE a.phone = '+84987654321'",
    )
    assert [row["cccd"] for row in refreshed] == [MOTHER]  # the son's book is not confirmed by it


async def test_signing_in_on_someone_elses_phone_confirms_nothing_for_that_phone(
    app: Litestar, client: Client, outbox: Outbox, hospital: Hospital
) -> None:
    """A visitor signs in with her national ID in a browser the phone's owner signed in to by SMS, on a
    phone no hospital gave for her: her book opens in a new session under her own phone, and the owner's
    phone gets no confirmation of it (its owner could otherwise open her book in full, shares and all,
    for a year)."""
    await push_patient(hospital, MOTHER, "Trần Thị Bích Ngọc", MOTHER_PHONE)
    session, csrf = await browser_cookies(client, outbox, MOTHER_PHONE)
    client.cookies.set(SESSION_COOKIE, session, domain="testserver.local")
    client.cookies.set("__Host-csrf", csrf, domain="testserver.local")
    answer = await sign_in(client, NEW_PERSON)
    assert answer.status_code == 303
    assert await count(app, "book_access", "phone = '+84987654321'") == 0
    (signed_in,) = await events(app, "auth.oidc_signed_in")
    assert signed_in["detail"] != "web, phone session"
    live = await fetch(app, "SELECT phone FROM auth_session WHERE revoked_at IS NULL")
    assert [row["phone"] for row in live] != ["+84987654321"]


async def test_a_cccd_no_hospital_sent_creates_the_account_and_opens_an_empty_book(
    app: Litestar, client: Client
) -> None:
    assert await count(app, "patient") == 0
    answer = await sign_in(client, NEW_PERSON)
    assert (answer.status_code, answer.headers["location"]) == (303, "/book")
    (patient,) = await fetch(app, "SELECT id, cccd FROM patient")
    assert patient["cccd"] == NEW_PERSON
    (signed_in,) = await events(app, "auth.oidc_signed_in")
    assert signed_in["detail"] == "web, phone claim, new account" and signed_in["patient_id"] == patient["id"]
    await accept_consent(client)
    assert (await client.get("/book")).status_code == 200
    overview = await client.get("/api/patient/v1/book")
    assert overview.status_code == 200 and overview.json()["read_only"] is False


async def test_without_a_phone_claim_the_session_runs_under_an_account_key(app: Litestar, client: Client) -> None:
    answer = await sign_in(client, NO_PHONE)
    assert answer.status_code == 303
    person = find_person(NO_PHONE)
    assert person is not None
    expected = "oidc:" + hashlib.sha256(f"{BASE_URL}/demo-idp|{person.subject}".encode()).hexdigest()[:24]
    (session,) = await fetch(app, "SELECT phone, read_only FROM auth_session")
    assert dict(session) == {"phone": expected, "read_only": False}
    (signed_in,) = await events(app, "auth.oidc_signed_in")
    assert signed_in["phone_masked"] == f"oidc:…{expected[-4:]}" and signed_in["detail"].startswith("web, account key")
    # The next sign-in of the same person finds the same account.
    client.cookies.clear()
    assert (await sign_in(client, NO_PHONE)).status_code == 303
    assert await count(app, "book_access", f"phone = '{expected}'") == 1


@pytest.mark.usefixtures("visit")
async def test_b1_a_session_id_planted_before_signing_in_is_never_used(app: Litestar, client: Client) -> None:
    planted = "attacker-chosen-session-id-0123456789abcdef"
    client.cookies.set(SESSION_COOKIE, planted, domain="testserver.local")
    answer = await sign_in(client, AN)
    issued = set_cookie(answer, SESSION_COOKIE)[SESSION_COOKIE].value
    assert issued and issued != planted
    client.cookies.clear()
    refused = await client.get("/api/patient/v1/book", headers={"Cookie": f"{SESSION_COOKIE}={planted}"})
    assert refused.status_code == 401
    planted_hash = hashlib.sha256(planted.encode()).digest()
    assert await fetch(app, "SELECT 1 FROM auth_credential WHERE token_hash = $1", planted_hash) == []


async def test_the_provider_page_is_reached_only_through_our_start(client: Client) -> None:
    """A pick on the provider's page without a flow of this browser signs nobody in."""
    authorize = await start(client)
    callback = await pick(client, authorize, AN)
    client.cookies.clear()
    answer = await client.get(callback, follow_redirects=False)
    assert answer.status_code == 400 and SESSION_COOKIE not in answer.headers.get("set-cookie", "")
