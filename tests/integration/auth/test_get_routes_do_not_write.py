"""Check B5, its second half: no GET changes state (ASVS 3.5.3; the route table is checked for GET handlers
that write). A browser follows links and prefetches on its own, and another site can make it GET any URL
with its cookies: a GET that writes is a write anyone can trigger.

Every GET and HEAD route of `app.routes` is called anonymously, as the patient (an app's Bearer token, and
a browser's session cookie) and as a phone that opens no book, and the whole database is compared before
and after: every table of the public schema, by its row count and a content hash, or row by row for the
three tables that hold the bookkeeping below. The only writes allowed are that documented bookkeeping:

- `auth_session.last_seen_at` of the caller's own session, set to now, at most once a minute
  (`backend/auth/sessions.py` `resolve()`): idle timeouts need it. The first test keeps the fake clock
  still after every session was last seen, so not even that may change; the second moves it a minute
  before each call, so the touch is due, and then allows that one column of that one row to change, and
  nothing at all on a second call in the same minute.
- With a due touch only, what the caller's session may open now, when a hospital has changed it since:
  the session's `patient_id` / `read_only` and one `auth.book_access_changed` sign-in event (the third
  test says why that is the server's doing, not the request's).
- `access_event` rows for a read of a patient's data by someone other than that patient: the access log
  is written on reads by design (contract §4). A patient reading their own book must not write one. No
  caller here reads anyone else's data, so today no row may appear at all; the rule is written out for
  GET routes to come (a recipient fetching a shared file).

OPTIONS is Litestar's own handler on every route and reads nothing: it is not called. The two GETs of
the OpenID Connect sign-in write by protocol (`WRITE_BY_PROTOCOL` below says why that is safe).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute

from backend.consent import NOTICE_VERSION
from backend.database import Database, raw_transaction
from backend.phones import normalize_phone
from tests.support.clock import FakeClock
from tests.support.hospital import OTHER_FACILITY, Hospital, fetch, own_database, register
from tests.support.patients import (
    CSRF_COOKIE,
    PHONE,
    PHONE_E164,
    SESSION_COOKIE,
    Client,
    Outbox,
    bearer,
    browser_cookies,
    push_patient,
    sign_in_app,
)

SAFE_METHODS = ("GET", "HEAD")
NO_BOOK_PHONE = "0911 000 111"  # a phone no hospital gave: signs in, reads nothing
LAST_SEEN = "last_seen_at"
# A table's row count and one hash over all its rows (as JSON), in a stable order.
HASHED = "SELECT count(*) AS n, md5(coalesce(string_agg(r, E'\\n' ORDER BY r), '')) AS h FROM ({rows}) AS rows"


# --- Who calls ------------------------------------------------------------------------------------------


@dataclass
class Caller:
    name: str
    headers: dict[str, str]
    session_id: str | None = None  # the auth_session row this caller's credential belongs to
    refresh_token: str | None = None  # app callers: new tokens when the clock has moved past the old ones


@dataclass
class Setup:
    app: Litestar
    client: Client
    clock: FakeClock
    callers: tuple[Caller, ...]
    challenge_id: str  # a real sign-in challenge, for `/login/code?c=`
    database: Database  # the test's own handle, for the snapshots

    async def call(self, caller: Caller, method: str, path: str) -> Any:
        """One request with exactly this caller's credentials (the client's own cookie jar is emptied)."""
        self.client.cookies.clear()
        return await self.client.request(method, path, headers=caller.headers, follow_redirects=False)

    async def refresh(self, caller: Caller) -> None:
        """An app's new access token, as an app does when the old one has expired; not a GET."""
        if caller.refresh_token is None:
            return
        self.client.cookies.clear()
        answer = await self.client.post("/api/patient/v1/auth/refresh", json={"refresh_token": caller.refresh_token})
        assert answer.status_code == 200, answer.text
        caller.headers = bearer(answer.json()["access_token"])
        caller.refresh_token = answer.json()["refresh_token"]

    async def keep_alive(self, caller: Caller) -> None:
        """Seen now: a browser idle for 30 minutes is signed out, and the clock moves a minute a call."""
        if caller.session_id is not None:
            response = await self.call(caller, "GET", "/api/patient/v1/book")
            assert response.status_code in (200, 404), (caller.name, response.text)


async def session_of(app: Litestar, phone: str, kind: str) -> str:
    (row,) = await fetch(
        app, "SELECT id FROM auth_session WHERE phone = $1 AND kind = $2 AND revoked_at IS NULL", phone, kind
    )
    return str(row["id"])


async def sign_in_browser(client: Client, outbox: Outbox, phone: str) -> dict[str, str]:
    """The web sign-in forms; the browser's headers afterwards (its session and CSRF cookies)."""
    session, csrf = await browser_cookies(client, outbox, phone)
    return {"Cookie": f"{SESSION_COOKIE}={session}; {CSRF_COOKIE}={csrf}"}


@pytest.fixture
async def setup(app: Litestar, client: Client, clock: FakeClock, outbox: Outbox, visit: None) -> AsyncIterator[Setup]:
    """The sample patient (one visit's records), consented, signed in on an app and in a browser; a phone
    that opens no book, signed in on an app; and nobody."""
    patient = await sign_in_app(client, outbox)
    consent = await client.post(
        "/api/patient/v1/consent", json={"version": NOTICE_VERSION}, headers=bearer(patient["access_token"])
    )
    assert consent.status_code == 204, consent.text  # so `/book` shows the book, not the consent form
    nobody = await sign_in_app(client, outbox, NO_BOOK_PHONE)
    assert nobody["books"] == []
    clock.advance(seconds=61)  # one code a minute per phone: the patient's second, for the browser
    browser = await sign_in_browser(client, outbox, PHONE)
    no_book_phone = normalize_phone(NO_BOOK_PHONE) or ""
    callers = (
        Caller("anonymous", {}),
        Caller(
            "patient app (Bearer)",
            bearer(patient["access_token"]),
            await session_of(app, PHONE_E164, "api"),
            patient["refresh_token"],
        ),
        Caller("patient browser (cookie)", browser, await session_of(app, PHONE_E164, "web")),
        Caller(
            "no-book app (Bearer)",
            bearer(nobody["access_token"]),
            await session_of(app, no_book_phone, "api"),
            nobody["refresh_token"],
        ),
    )
    challenges = await fetch(app, "SELECT id FROM login_challenge ORDER BY created_at DESC LIMIT 1")
    async with own_database(app) as database:
        built = Setup(app, client, clock, callers, str(challenges[0]["id"]), database)
        for caller in callers:
            await built.keep_alive(caller)  # every session seen now: with the clock still, no touch is due
        yield built


# --- The GET routes, with their parameters filled ---------------------------------------------------------


def normalized(path: str) -> str:
    """`/static/{file_path:path}` → `/static/{file_path}`."""
    return re.sub(r"\{(\w+):[^}]+\}", r"{\1}", path)


# A URL for each safe route whose path takes a parameter, with a real value where there is one. A new
# GET route with a path parameter fails `safe_requests` until it is filled in here.
FILLED: Mapping[str, Callable[[Setup], str]] = {
    "/static/{file_path}": lambda setup: str(setup.app.state.assets.url("css/app.css")),  # a real asset
    "/schema/{path}": lambda setup: "/schema/swagger",  # no such viewer here (JSON and YAML only): a 404
    "/book/{section_name}": lambda setup: "/book/results?q=hba1c&facility=01929&since=2020-01-01",
    "/book/calendar/{appointment_id}": lambda setup: "/book/calendar/01929-hk-20251002",  # the sample's letter
    "/book/{section_name}/{document_id}/file": lambda setup: "/book/documents/01929-tl-1/file?part=0",  # none here
    # No share in this setup: an id of nobody (404), a location token of no file (404). A real file's fetch
    # writes one access_event row, the recipient's read, which `access_log_changes` already allows.
    "/api/patient/v1/shares/{share_id}/qr.svg": lambda setup: f"/api/patient/v1/shares/{uuid.UUID(int=1)}/qr.svg",
    "/api/shl/files/{token}": lambda setup: "/api/shl/files/" + "A" * 43,
    "/shares/{share_id}": lambda setup: f"/shares/{uuid.UUID(int=1)}",  # no share in this setup: 404
}
# Query parameters a safe route reads, filled with real values.
QUERIES: Mapping[str, Callable[[Setup], str]] = {
    "/login/code": lambda setup: f"c={setup.challenge_id}",
}
# GETs that write by protocol, not by choice: OpenID Connect starts a sign-in with a GET (contract §6:
# `/login/oidc` answers 302 with `state`, `nonce` and a PKCE challenge, whose secrets wait server-side in
# one `oidc_flow` row) and the provider sends the browser back with a GET. Neither can be used by another
# site to change anything of anyone's: the callback acts only for the browser holding the flow's own
# `__Host-` cookie and burns that flow; it writes the sign-in (or its refusal, `auth.oidc_failed`) like the
# POST sign-ins do. Their writes are tested in tests/integration/oidc/.
WRITE_BY_PROTOCOL = frozenset({"/login/oidc", "/login/oidc/callback"})


def safe_requests(setup: Setup) -> list[tuple[str, str]]:
    """(method, URL) for every GET and HEAD handler of the route table."""
    requests: list[tuple[str, str]] = []
    unfilled: list[str] = []
    for route in setup.app.routes:
        assert isinstance(route, HTTPRoute), f"a route that is not HTTP: {route.path}: say here how it is checked"
        pattern = normalized(route.path)
        methods = sorted({m for handler in route.route_handlers for m in handler.http_methods} & set(SAFE_METHODS))
        if not methods or pattern in WRITE_BY_PROTOCOL:
            continue
        if route.path_parameters and pattern not in FILLED:
            unfilled.append(pattern)
            continue
        url = FILLED[pattern](setup) if route.path_parameters else pattern
        if pattern in QUERIES:
            url += ("&" if "?" in url else "?") + QUERIES[pattern](setup)
        requests.extend((method, url) for method in methods)
    assert not unfilled, f"GET routes with path parameters to fill in FILLED (a real id if there is one): {unfilled}"
    return requests


# --- The database, before and after ----------------------------------------------------------------------

# Tables with bookkeeping a GET may write: compared row by row under the rules of `changes`. Every other
# table of the public schema is compared whole (row count and content hash).
ROW_BY_ROW = {"auth_session": "id", "access_event": "id", "auth_event": "id"}


@dataclass(frozen=True)
class Snapshot:
    tables: dict[str, tuple[int, str]]  # table → (rows, md5 over its rows)
    rows: dict[str, dict[str, dict[str, Any]]]  # ROW_BY_ROW table → its rows by id


@dataclass(frozen=True)
class Allowed:
    """The bookkeeping one call may write: see the module docstring and the third test."""

    caller: Caller
    caller_patient: Any  # the patient whose book the caller has open, if any
    touch_at: datetime | None = None  # the caller's session may be touched to this time
    recheck: bool = False  # and may record what it can open now (patient_id, read_only, one event)


async def snapshot(database: Database) -> Snapshot:
    tables: dict[str, tuple[int, str]] = {}
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    async with raw_transaction(database) as connection:
        names = await connection.fetch(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name"
        )
        for row in names:
            table = row["table_name"]
            # The table name comes from the catalogue, never from a request.
            if table in ROW_BY_ROW:
                found = await connection.fetch(f'SELECT * FROM public."{table}"')  # noqa: S608
                rows[table] = {str(item[ROW_BY_ROW[table]]): dict(item) for item in found}
                continue
            every_row = f'SELECT to_jsonb(t)::text AS r FROM public."{table}" t'  # noqa: S608
            hashed = await connection.fetchrow(HASHED.format(rows=every_row))
            assert hashed is not None
            tables[table] = (int(hashed["n"]), str(hashed["h"]))
    return Snapshot(tables, rows)


async def patient_of(database: Database, session_id: str | None) -> Any:
    if session_id is None:
        return None
    async with raw_transaction(database) as connection:
        return await connection.fetchval("SELECT patient_id FROM auth_session WHERE id = $1::uuid", session_id)


def changes(before: Snapshot, after: Snapshot, allowed: Allowed) -> list[str]:
    """Everything that changed beyond the bookkeeping `allowed`."""
    found = [
        f"{table}: {before.tables.get(table, (0, ''))[0]} → {state[0]} rows, content changed"
        for table, state in after.tables.items()
        if before.tables.get(table) != state
    ]
    found += [f"{table} is gone" for table in (before.tables.keys() - after.tables.keys())]
    found += session_changes(before.rows["auth_session"], after.rows["auth_session"], allowed)
    found += access_log_changes(before.rows["access_event"], after.rows["access_event"], allowed)
    found += sign_in_log_changes(before.rows["auth_event"], after.rows["auth_event"], allowed)
    return found


def session_changes(before: dict[str, Any], after: dict[str, Any], allowed: Allowed) -> list[str]:
    """Only the caller's own session, only `last_seen_at` (to now, when due), and after a due touch only,
    what the session can open now."""
    found = [f"auth_session {key} added or removed" for key in before.keys() ^ after.keys()]
    for key in before.keys() & after.keys():
        changed = {column for column in after[key] if after[key][column] != before[key][column]}
        if not changed:
            continue
        permitted: set[str] = set()
        if key == allowed.caller.session_id and allowed.touch_at is not None and LAST_SEEN in changed:
            permitted = {LAST_SEEN} | ({"patient_id", "read_only"} if allowed.recheck else set())
            if after[key][LAST_SEEN] != allowed.touch_at:
                found.append(f"auth_session {key}: last_seen_at set to {after[key][LAST_SEEN]}, not now")
        if changed - permitted:
            found.append(f"auth_session {key}: {sorted(changed - permitted)} changed")
    return found


def access_log_changes(before: dict[str, Any], after: dict[str, Any], allowed: Allowed) -> list[str]:
    """Append-only; a new row only for a read by someone other than the patient whose data it is."""
    found = [f"access_event {key} changed or deleted" for key in before if after.get(key) != before[key]]
    for key in after.keys() - before.keys():
        event = after[key]
        if event["actor_role"] == "patient" or (
            allowed.caller_patient is not None and event["patient_id"] == allowed.caller_patient
        ):
            found.append(
                f"access_event {key}: the patient's own read was logged"
                f" (actor {event['actor']!r}, role {event['actor_role']!r}, channel {event['channel']!r})"
            )
    return found


def sign_in_log_changes(before: dict[str, Any], after: dict[str, Any], allowed: Allowed) -> list[str]:
    """No sign-in event, but the one that records a re-check of the caller's own session."""
    found = [f"auth_event {key} changed or deleted" for key in before if after.get(key) != before[key]]
    new = [after[key] for key in sorted(after.keys() - before.keys())]
    recorded = [
        event
        for event in new
        if allowed.recheck
        and event["event"] == "auth.book_access_changed"
        and str(event["session_id"]) == allowed.caller.session_id
    ]
    found += [f"auth_event {event['event']!r} written" for event in new if event not in recorded]
    if len(recorded) > 1:
        found.append(f"{len(recorded)} auth.book_access_changed events for one re-check")
    return found


# --- The tests ------------------------------------------------------------------------------------------


async def test_b5_no_get_or_head_route_writes_anything(setup: Setup) -> None:
    """The clock stands still, so no session is due a touch: every table must be exactly as it was."""
    requests = safe_requests(setup)
    assert len(requests) >= 15, requests
    failures: list[str] = []
    for method, url in requests:
        for caller in setup.callers:
            allowed = Allowed(caller, await patient_of(setup.database, caller.session_id))
            before = await snapshot(setup.database)
            response = await setup.call(caller, method, url)
            assert response.status_code < 500, (method, url, caller.name, response.text)
            after = await snapshot(setup.database)
            failures += [
                f"{method} {url} as {caller.name} ({response.status_code}): {change}"
                for change in changes(before, after, allowed)
            ]
    assert not failures, "GET routes that wrote:\n" + "\n".join(failures)


async def test_b5_a_due_session_touch_is_the_only_write_and_happens_once_a_minute(setup: Setup) -> None:
    """A minute on, the caller's session is due a touch: the first call may set its `last_seen_at` to now
    (and nothing else); a second call in the same minute writes nothing at all."""
    failures: list[str] = []
    touched: set[str] = set()
    for method, url in safe_requests(setup):
        for caller in setup.callers[1:]:  # the signed-in ones; anonymous has no session to touch
            setup.clock.advance(minutes=1)
            await setup.refresh(caller)
            patient = await patient_of(setup.database, caller.session_id)
            before = await snapshot(setup.database)
            first = await setup.call(caller, method, url)
            after_first = await snapshot(setup.database)
            second = await setup.call(caller, method, url)
            after_second = await snapshot(setup.database)
            assert first.status_code < 500 and second.status_code < 500, (method, url, caller.name)
            failures += [
                f"{method} {url} as {caller.name}, touch due: {change}"
                for change in changes(before, after_first, Allowed(caller, patient, touch_at=setup.clock.now))
            ]
            failures += [
                f"{method} {url} as {caller.name}, again in the same minute: {change}"
                for change in changes(after_first, after_second, Allowed(caller, patient))
            ]
            if after_first.rows["auth_session"] != before.rows["auth_session"]:
                touched.add(f"{method} {url}")
            await setup.keep_alive(caller)
    assert not failures, "GET routes that wrote more than the session touch:\n" + "\n".join(failures)
    # The touch is real (so the strict first test means something): the signed-in routes do it.
    assert {"GET /api/patient/v1/book", "GET /book", "GET /settings"} <= touched, touched


async def test_b5_a_due_touch_records_what_a_hospital_changed_and_nothing_else(
    setup: Setup, app: Litestar, client: Client
) -> None:
    """The one other exemption: when a hospital has changed what a phone may open since the session was
    last seen (here: the patient's mobile given for a second patient too, so the book is now shared and
    read-only), the due touch writes the session's new `patient_id` / `read_only` and one
    `auth.book_access_changed` event (`backend/auth/books.py` `recheck_open_book()`). That is the server
    applying the hospital's change at its first chance, not something the request asks for: any request
    a minute on does the same, and it can only follow the hospital's data. Nothing else may change, and
    a second call in the same minute writes nothing."""
    relative = Hospital(client, OTHER_FACILITY, await register(app, OTHER_FACILITY))
    await push_patient(relative, "001220098765", "Nguyễn Minh Châu", PHONE, timestamp=int(setup.clock.now.timestamp()))
    for caller in setup.callers[1:3]:  # the patient's app and browser
        setup.clock.advance(minutes=1)
        await setup.refresh(caller)
        patient = await patient_of(setup.database, caller.session_id)
        before = await snapshot(setup.database)
        first = await setup.call(caller, "GET", "/api/patient/v1/book")
        after_first = await snapshot(setup.database)
        second = await setup.call(caller, "GET", "/api/patient/v1/book")
        after_second = await snapshot(setup.database)
        assert (first.status_code, first.json()["read_only"]) == (200, True), first.text
        assert second.status_code == 200, second.text
        allowed = Allowed(caller, patient, touch_at=setup.clock.now, recheck=True)
        assert changes(before, after_first, allowed) == [], caller.name
        assert changes(after_first, after_second, Allowed(caller, patient)) == [], caller.name
        assert caller.session_id is not None
        assert after_first.rows["auth_session"][caller.session_id]["read_only"] is True
