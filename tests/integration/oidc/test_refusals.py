"""Check A7 through the built-in demo provider, end to end: a mismatched `state`, a flow cookie used twice,
missing or expired, a code from another sign-in (its PKCE verifier is not ours), an expired code, the
provider's own refusal, and `plain` PKCE. Each time: no session, a readable page, and an
`auth.oidc_failed` event saying why (never a token or a code)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Litestar

from tests.integration.oidc.steps import (
    AN,
    FLOW_COOKIE,
    SESSION_COOKIE,
    back,
    last_failure,
    pick,
    query_of,
    start,
)
from tests.support.clock import FakeClock
from tests.support.hospital import count, fetch
from tests.support.patients import Client


async def assert_refused(app: Litestar, answer: Any, status: int, reason: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert "/login/oidc" in answer.text and 'role="alert"' in answer.text  # says so, and offers to try again
    assert SESSION_COOKIE not in answer.headers.get("set-cookie", "")
    assert await count(app, "auth_session") == 0
    assert await last_failure(app) == reason
    for event in await fetch(app, "SELECT detail FROM auth_event"):
        assert "eyJ" not in (event["detail"] or "")  # no JWT, ever


def with_query(url: str, **changes: str) -> str:
    base, _, _ = url.partition("?")
    return f"{base}?{urlencode({**query_of(url), **changes})}"


async def test_a7_a_mismatched_state_is_refused(app: Litestar, client: Client) -> None:
    callback = await pick(client, await start(client), AN)
    answer = await back(client, with_query(callback, state="not-the-state-we-sent"))
    await assert_refused(app, answer, 400, "state mismatch")


async def test_a7_a_missing_state_is_refused(app: Litestar, client: Client) -> None:
    callback = await pick(client, await start(client), AN)
    query = query_of(callback)
    answer = await back(client, f"/login/oidc/callback?code={query['code']}")
    await assert_refused(app, answer, 400, "state mismatch")


async def test_a7_the_flow_cookie_is_single_use(app: Litestar, client: Client) -> None:
    authorize = await start(client)
    flow_cookie = str(client.cookies.get(FLOW_COOKIE))
    callback = await pick(client, authorize, AN)
    first = await back(client, callback)
    assert (first.status_code, first.headers["location"]) == (303, "/book")
    client.cookies.clear()
    client.cookies.set(FLOW_COOKIE, flow_cookie, domain="testserver.local")  # the same browser, replayed
    replayed = await back(client, callback)
    assert replayed.status_code == 400 and SESSION_COOKIE not in replayed.headers.get("set-cookie", "")
    assert await count(app, "auth_session") == 1
    assert await last_failure(app) == "sign-in already used"


async def test_a7_a_callback_without_the_flow_cookie_is_refused(app: Litestar, client: Client) -> None:
    callback = await pick(client, await start(client), AN)
    client.cookies.delete(FLOW_COOKIE)
    await assert_refused(app, await back(client, callback), 400, "no sign-in cookie")


async def test_a7_a_flow_older_than_ten_minutes_is_refused(app: Litestar, client: Client, clock: FakeClock) -> None:
    callback = await pick(client, await start(client), AN)
    clock.advance(minutes=10, seconds=1)
    await assert_refused(app, await back(client, callback), 400, "sign-in expired")


async def test_a7_an_expired_code_is_refused_by_the_provider(app: Litestar, client: Client, clock: FakeClock) -> None:
    callback = await pick(client, await start(client), AN)
    clock.advance(seconds=61)
    await assert_refused(app, await back(client, callback), 400, "token endpoint: invalid_grant")


async def test_a7_a_code_issued_to_another_sign_in_fails_its_pkce_check(app: Litestar, client: Client) -> None:
    """The code of sign-in A, brought back to this browser's sign-in B: the provider wants A's verifier."""
    stolen = query_of(await pick(client, await start(client), AN))["code"]
    own = await pick(client, await start(client), AN)  # the browser's flow is now B
    answer = await back(client, with_query(own, code=stolen))
    await assert_refused(app, answer, 400, "token endpoint: invalid_grant")


async def test_a7_the_provider_refusing_is_a_refusal(app: Litestar, client: Client) -> None:
    authorize = await start(client)
    page = await client.get(authorize)
    cancel = next(link for link in page.text.split('href="')[1:] if "error=access_denied" in link).split('"')[0]
    went_back = await client.get(cancel.replace("&amp;", "&"), follow_redirects=False)
    await assert_refused(app, went_back, 400, "provider error: access_denied")


async def test_a7_plain_pkce_is_refused_by_the_provider(app: Litestar, client: Client) -> None:
    authorize = await start(client)
    verifier = "a" * 43
    tampered = with_query(authorize, code_challenge_method="plain", code_challenge=verifier)
    answer = await client.get(tampered, follow_redirects=False)
    assert answer.status_code == 302 and query_of(answer.headers["location"])["error"] == "invalid_request"
    await assert_refused(app, await back(client, answer.headers["location"]), 400, "provider error: invalid_request")


async def test_the_refusal_page_reads_in_english_and_vietnamese(client: Client) -> None:
    callback = await pick(client, await start(client), AN)
    client.cookies.set("lang", "en", domain="testserver.local")
    english = await back(client, with_query(callback, state="wrong"))
    assert "National ID sign-in refused" in english.text and 'lang="en"' in english.text
    callback = await pick(client, await start(client), AN)
    client.cookies.delete("lang")
    vietnamese = await back(client, with_query(callback, state="wrong"))
    assert vietnamese.status_code == 400 and 'lang="vi"' in vietnamese.text


async def test_a_callback_with_nothing_at_all_is_refused(app: Litestar, client: Client) -> None:
    await assert_refused(app, await client.get("/login/oidc/callback"), 400, "no sign-in cookie")
