"""`/settings`: the sessions signed in with this phone, and ending them (issue 7; checks B4, B5, C1).

The patient's phone is signed in twice, in a browser (the client's cookies) and in the app (a Bearer
token); another patient's phone is signed in on its own app. Sessions are named in forms by their row id,
which opens nothing; only the phone's own sessions can be ended."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar

from backend.clock import VIETNAM
from tests.integration.auth.test_web_pages import Forms, csrf_in, post_form, sign_in_web, submit_buttons
from tests.support.clock import FakeClock
from tests.support.hospital import OTHER_FACILITY, Hospital, count, fetch, register
from tests.support.patients import PHONE_E164, Client, Outbox, bearer, push_patient, sign_in_app

pytestmark = pytest.mark.usefixtures("visit")

OTHER_PHONE, OTHER_PHONE_E164 = "0987 654 321", "+84987654321"
BOOK = "/api/patient/v1/book"
SESSION_FIELD = re.compile(r'name="session" value="([^"]+)"')
VIETNAM_DATE_TIME = re.compile(r"\b\d{2}/\d{2}/\d{4} \d{2}:\d{2}\b")


async def session_ids(app: Litestar, phone: str, kind: str) -> list[str]:
    rows = await fetch(
        app,
        "SELECT id FROM auth_session WHERE phone = $1 AND kind = $2 AND revoked_at IS NULL ORDER BY created_at",
        phone,
        kind,
    )
    return [str(row["id"]) for row in rows]


async def events(app: Litestar, event: str) -> list[Any]:
    return await fetch(app, "SELECT * FROM auth_event WHERE event = $1 ORDER BY id", event)


async def browser_and_app(client: Client, outbox: Outbox, clock: FakeClock) -> str:
    """The patient signed in in the app, then (a minute on: one code a minute) in this browser; the app's
    access token."""
    token = str((await sign_in_app(client, outbox))["access_token"])
    clock.advance(seconds=61)
    await sign_in_web(client, outbox)
    return token


@pytest.fixture
async def other_phone(app: Litestar, client: Client, outbox: Outbox) -> str:
    """Another patient, at another facility, signed in on their app: their access token."""
    await push_patient(
        Hospital(client, OTHER_FACILITY, await register(app, OTHER_FACILITY)),
        "079085054321",
        "Trần Thị Bình",
        OTHER_PHONE,
    )
    return str((await sign_in_app(client, outbox, OTHER_PHONE))["access_token"])


async def test_the_page_lists_this_phones_sessions_only_and_marks_this_one(
    app: Litestar, client: Client, outbox: Outbox, clock: FakeClock, other_phone: str
) -> None:
    await browser_and_app(client, outbox, clock)
    now = clock.now.astimezone(VIETNAM).strftime("%d/%m/%Y %H:%M")  # dates as people in Vietnam write them
    minute_before = (clock.now - timedelta(seconds=61)).astimezone(VIETNAM).strftime("%d/%m/%Y %H:%M")
    page = await client.get("/settings")
    assert page.status_code == 200
    (browser,) = await session_ids(app, PHONE_E164, "web")
    (app_session,) = await session_ids(app, PHONE_E164, "api")
    (others,) = await session_ids(app, OTHER_PHONE_E164, "api")
    listed = page.text.split('id="sessions-heading"', 1)[1].split("</section>", 1)[0]
    assert listed.count('class="session"') == 2
    assert SESSION_FIELD.findall(listed) == [app_session, "all-others"]  # this one has no form of its own
    assert others not in page.text and browser not in page.text
    assert "đang dùng" in listed or "this one" in listed
    when = re.findall(r'<span class="hint">([^<]*)</span>', listed)
    assert [VIETNAM_DATE_TIME.findall(line) for line in when] == [[now, now], [minute_before, minute_before]]
    cookie = client.cookies.get("__Host-session")
    assert cookie and cookie not in page.text  # the row id is shown, never the credential


async def test_ending_the_app_session_kills_its_token_at_once_and_keeps_this_browser(
    app: Litestar, client: Client, outbox: Outbox, clock: FakeClock
) -> None:
    token = await browser_and_app(client, outbox, clock)
    assert (await client.get(BOOK, headers=bearer(token))).status_code == 200
    (app_session,) = await session_ids(app, PHONE_E164, "api")
    ended = await post_form(client, "/settings/sessions/end", session=app_session)
    assert (ended.status_code, ended.headers["location"]) == (303, "/settings")
    assert (await client.get(BOOK, headers=bearer(token))).status_code == 401
    assert (await client.get("/settings")).status_code == 200
    (event,) = await events(app, "auth.session_ended")
    assert event["detail"] == f"api {app_session}" and event["phone_masked"] == "+8491****678"
    (browser,) = await session_ids(app, PHONE_E164, "web")
    assert str(event["session_id"]) == browser


async def test_ending_another_browser_kills_its_cookie(
    app: Litestar, client: Client, outbox: Outbox, clock: FakeClock
) -> None:
    await sign_in_web(client, outbox)
    first_cookie = client.cookies.get("__Host-session")
    client.cookies.clear()
    clock.advance(seconds=61)
    await sign_in_web(client, outbox)
    first, _second = await session_ids(app, PHONE_E164, "web")
    page = await client.get("/settings")
    assert "Trình duyệt khác" in page.text or "Another browser" in page.text
    assert (await post_form(client, "/settings/sessions/end", session=first)).status_code == 303
    client.cookies.clear()
    client.cookies.set("__Host-session", first_cookie or "", domain="testserver.local")
    assert (await client.get(BOOK)).status_code == 401


async def test_sign_out_everywhere_else_keeps_this_one(
    app: Litestar, client: Client, outbox: Outbox, clock: FakeClock, other_phone: str
) -> None:
    second_token = str((await sign_in_app(client, outbox))["access_token"])  # the app on a second device
    clock.advance(seconds=61)
    token = await browser_and_app(client, outbox, clock)
    page = await client.get("/settings")
    (form,) = [
        form
        for form in Forms(page.text).with_action("/settings/sessions/end")
        if any(control.get("value") == "all-others" for control in form["controls"])
    ]
    assert form["attrs"]["method"] == "post" and submit_buttons(form)
    ended = await post_form(client, "/settings/sessions/end", session="all-others")
    assert ended.status_code == 303
    for dead in (token, second_token):
        assert (await client.get(BOOK, headers=bearer(dead))).status_code == 401
    assert (await client.get(BOOK)).status_code == 200  # this browser
    assert (await client.get(BOOK, headers=bearer(other_phone))).status_code == 200  # another phone's
    (event,) = await events(app, "auth.other_sessions_ended")
    assert event["detail"] == "2 sessions"
    assert "all-others" not in (await client.get("/settings")).text  # no one else left to sign out


async def test_another_phones_session_is_not_found_and_nothing_changes(
    app: Litestar, client: Client, outbox: Outbox, clock: FakeClock, other_phone: str
) -> None:
    await browser_and_app(client, outbox, clock)
    (theirs,) = await session_ids(app, OTHER_PHONE_E164, "api")
    (this_one,) = await session_ids(app, PHONE_E164, "web")
    revoked_before = await count(app, "auth_session", "revoked_at IS NOT NULL")
    events_before = await count(app, "auth_event")
    answers = [
        await post_form(client, "/settings/sessions/end", session=value)
        for value in (theirs, this_one, "not-a-uuid", "", "00000000-0000-0000-0000-000000000000")
    ]
    assert [answer.status_code for answer in answers] == [404] * 5
    per_request = re.compile(r"[0-9a-f]{32}|nonce=\"[^\"]*\"")  # a request id, a script nonce
    assert per_request.sub("", answers[0].text) == per_request.sub("", answers[4].text)  # not even a hint
    assert (await client.get(BOOK, headers=bearer(other_phone))).status_code == 200
    assert await count(app, "auth_session", "revoked_at IS NOT NULL") == revoked_before
    assert await count(app, "auth_event") == events_before


async def test_ending_a_session_needs_the_csrf_token(
    app: Litestar, client: Client, outbox: Outbox, clock: FakeClock
) -> None:
    token = await browser_and_app(client, outbox, clock)
    (app_session,) = await session_ids(app, PHONE_E164, "api")
    page = await client.get("/settings")
    refused = await client.post("/settings/sessions/end", data={"session": app_session}, follow_redirects=False)
    assert refused.status_code == 403
    foreign = await client.post(
        "/settings/sessions/end",
        data={"session": app_session, "_csrf_token": csrf_in(page.text)},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert foreign.status_code == 403
    assert (await client.get(BOOK, headers=bearer(token))).status_code == 200


async def test_an_idle_browser_is_not_listed(app: Litestar, client: Client, outbox: Outbox, clock: FakeClock) -> None:
    await sign_in_web(client, outbox)
    client.cookies.clear()
    clock.advance(minutes=31)  # that browser has been idle for 30 minutes: signed out
    token = str((await sign_in_app(client, outbox))["access_token"])
    clock.advance(seconds=61)
    await sign_in_web(client, outbox)
    page = await client.get("/settings")
    assert page.text.count('class="session"') == 2  # this browser and the app, not the idle one
    assert (await client.get(BOOK, headers=bearer(token))).status_code == 200
