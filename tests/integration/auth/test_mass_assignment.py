"""Check C2: mass assignment (OWASP API3 BOPLA; ASVS 8.2.3, 15.3.1, 15.3.3; contract §4, §6).

Every route that writes (POST, PUT, PATCH, DELETE in `app.routes`) has an entry in `WRITES`: a probe, or
the reason it has none. A writing route without an entry, or an entry for a route that is gone, fails
`test_c2_every_writing_route_has_an_entry`. There is no PUT or PATCH route today, and no route that
edits a share: a share is made, or stopped.

A probe makes the route's own request, as a patient's app, a patient's browser, a staff member, a phone
signing in or a recipient would, plus fields no body or form of ours has: `patient_id`, `owner_id`,
`book_id`, `hospital_id`, `facility_id`, `facility_code`, `facility`, `role` (`facility_admin`),
`verified`, `read_only` (false), `meta` (nested in JSON, flattened as `meta.source` in forms). Where the
route makes or stops a share, also the share's `id` (B's share), `status`, `expires_at` (2099, years
past the 30 days a share may last), `passcode_failures` (10, which would lock the link), `revoked_at`,
`token`, `token_hash`; where it signs in or out, `session_id` (B's), `kind`, `expires_at`, `phone` (B's),
`attempts`, `client_ip`; for staff, `username` and `staff_id` (the other facility's admin), `disabled_at`,
`password`, `password_hash`, `totp_secret`; where a read is logged, `actor`, `actor_role`, `channel`,
`purpose`, `resource_ids`. The values are another patient's (B's book, share, phone, session) or
another facility's (its code, its numeric id, its admin). On most routes they are in the query string
too.

What each probe asserts: the request is answered as it is without the extra fields (no route refuses
them or fails on them), and the whole database is compared before and after (every table's
`fingerprint_query`; in the tables whose fingerprint changed, every row by primary key, as JSON): the
list of rows added, removed and changed, with the columns that changed, is exactly the intended one
(`summary`), and those rows hold what the route's own fields and the caller's session give, never the
extra fields' values. `assert_nothing_foreign_changed` adds, for every probe: no changed row, before
or after, is B's, names B, or is the other facility's or its admin's.

`test_c2_a_pushed_resource_cannot_claim_another_source_or_a_signature`: the hospital-side `meta` of a
pushed resource (another facility as `meta.source`; a verified-signature tag, a `versionId` and a
`lastUpdated` of the sender's choosing).

`test_c2_patient_api_answers_hold_no_internal_fields` is C2's second half: every answer of a realistic
flow (it must call every `/api/patient/v1/` route of `app.routes`, or it fails; the manifest and file of
a share, and the patient's pages too) is swept: no JSON key naming a hash, HMAC, secret, password,
sealed value or SHA-256, nor an internal id (`patient_id`, `facility_id`, `staff_id`, `session_id`,
`delivery_id`); in the body and headers, no hash or HMAC stored in the database (hex, base64,
base64url), no stored sealed or hashed secret, no value sealed under DATA_KEYS (`<keyid>.<base64url>`),
and nothing of patient B (book id, share id, CCCD, name, phone, record ids).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute

from backend.consent import NOTICE_VERSION
from backend.database import raw_transaction
from backend.settings import Settings
from backend.sharing.manifest import PURPOSE
from tests.conftest import make_settings
from tests.integration.auth.test_object_level_access import Caller, normalized, sign_in_browser
from tests.integration.oidc.steps import BASE_URL, pkce_pair, query_of, sign_in
from tests.integration.sharing.conftest import app, client, clock, outbox, patient, visit
from tests.integration.sharing.shl import decode_shlink, fetch_manifest, path_of
from tests.support.clock import FakeClock
from tests.support.databases import fingerprint_query
from tests.support.hospital import (
    CCCD,
    FACILITY,
    OTHER_FACILITY,
    Hospital,
    fetch,
    own_database,
    register,
    rotate,
    sample,
)
from tests.support.patients import (
    CSRF_COOKIE,
    PHONE,
    PHONE_E164,
    Client,
    Outbox,
    bearer,
    issue_code,
    patient_uuid,
    push_patient,
    sign_in_app,
)
from tests.support.staff import STAFF_COOKIE, add_member, signed_in_member, totp

# The sharing tests' app, client and clock (the morning after the sample visit), SMS outbox, the sample
# patient A signed in on an app (`patient`), with `settings` below: BASE_URL is the test client's origin,
# so the national ID sign-in's redirects come back to it.
__all__ = ["app", "client", "clock", "outbox", "patient", "visit"]

B_CCCD, B_NAME, B_PHONE, B_PHONE_E164 = "079085054321", "Trần Thị Bình", "0987 654 321", "+84987654321"
SHARED_PHONE = "0977 111 222"  # given by a hospital for two people: it opens both books, read-only
SHARED_CCCDS = ("001216007711", "001216007722")
RELATIVE_PHONE = "0911 222 333"  # a phone no hospital gave, confirmed on A's book with an activation code
NEVER = "2099-12-31T00:00:00Z"  # far past the 30 days a share may last
WRITING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
AN_OIDC = CCCD  # Nguyễn Văn An is a person of the demo identity provider too


@pytest.fixture
def settings(var_dir: Path, database_url: str, outbox: Outbox) -> Settings:
    return make_settings(var_dir, DATABASE_URL=database_url, SMS_BACKEND=f"file:{outbox.path}", BASE_URL=BASE_URL)


# --- The database, before and after ------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One row added (`before` None), removed (`after` None) or changed, in `table`."""

    table: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    @property
    def columns(self) -> list[str]:
        if self.before is None or self.after is None:
            return []
        return sorted(column for column in self.after if self.after[column] != self.before.get(column))

    @property
    def row(self) -> dict[str, Any]:
        row = self.after if self.after is not None else self.before
        assert row is not None
        return row

    def __str__(self) -> str:
        if self.before is None:
            return f"{self.table} +"
        if self.after is None:
            return f"{self.table} -"
        return f"{self.table} ~{','.join(self.columns)}"


@dataclass(frozen=True)
class Snapshot:
    digests: dict[str, tuple[int, str]]  # table → its `fingerprint_query` (rows, md5 of every row as text)
    rows: dict[str, dict[str, dict[str, Any]]]  # table → primary key → the row, as JSON


_PRIMARY_KEYS = """
SELECT c.relname AS name, array_agg(a.attname::text ORDER BY a.attnum) AS key
FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey)
WHERE i.indisprimary AND n.nspname = 'public' AND c.relkind = 'r' GROUP BY c.relname
"""


async def snapshot(app: Litestar) -> Snapshot:
    digests: dict[str, tuple[int, str]] = {}
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    async with own_database(app) as database, raw_transaction(database) as connection:
        for table in await connection.fetch(_PRIMARY_KEYS):
            name, key = table["name"], list(table["key"])
            digest = await connection.fetchrow(fingerprint_query(name))
            assert digest is not None
            digests[name] = (int(digest["n"]), str(digest["digest"]))
            # The table name comes from the catalogue, never from a request.
            found = await connection.fetch(f'SELECT to_jsonb(t)::text AS row FROM public."{name}" t')  # noqa: S608
            loaded = [json.loads(item["row"]) for item in found]
            rows[name] = {json.dumps([row[column] for column in key]): row for row in loaded}
    return Snapshot(digests, rows)


def changes_between(before: Snapshot, after: Snapshot) -> list[Change]:
    """Every row added, removed or changed, in the tables whose fingerprint changed."""
    assert before.digests.keys() == after.digests.keys(), "a table came or went"
    found: list[Change] = []
    for table in sorted(name for name in after.digests if after.digests[name] != before.digests[name]):
        was, now = before.rows[table], after.rows[table]
        for key in sorted(was.keys() | now.keys()):
            if was.get(key) != now.get(key):
                found.append(Change(table, was.get(key), now.get(key)))
    return found


def summary(changes: list[Change]) -> list[str]:
    return sorted(str(change) for change in changes)


# --- Who is there ----------------------------------------------------------------------------------------------


@dataclass
class World:
    app: Litestar
    client: Client
    clock: FakeClock
    outbox: Outbox
    csrf: str
    a_book: str
    a_app: Caller  # A's app: Bearer token (and the CSRF pair, so no refusal here is the CSRF check's)
    a_browser: Caller  # A's browser: the session cookie and the CSRF pair
    b_book: str
    b_share: str
    b_sessions: list[str]
    other_facility_id: int
    facility_id: int
    staff: dict[str, dict[str, Any]] = field(default_factory=dict)  # username → the account as made
    foreign_staff: set[int] = field(default_factory=set)  # the other facility's members

    async def call(self, caller: Caller | None, method: str, path: str, **options: Any) -> Any:
        """One request with exactly this caller's credentials (the client's own cookie jar is emptied)."""
        self.client.cookies.clear()
        headers = {**(caller.headers if caller else {}), **options.pop("headers", {})}
        return await self.client.request(method, path, headers=headers, follow_redirects=False, **options)

    async def wrote(self, request: Awaitable[Any]) -> tuple[Any, list[Change]]:
        """The answer to `request`, and every row it changed."""
        before = await snapshot(self.app)
        response = await request
        changes = changes_between(before, await snapshot(self.app))
        assert_nothing_foreign_changed(self, changes)
        return response, changes

    def staff_caller(self, cookie: str) -> Caller:
        return Caller(
            "staff", {"Cookie": f"{STAFF_COOKIE}={cookie}; {CSRF_COOKIE}={self.csrf}", "X-CSRF-Token": self.csrf}
        )

    async def member(self, facility: str, username: str, role: str) -> dict[str, Any]:
        if username not in self.staff:
            self.staff[username] = await add_member(self.app, facility, username, role)
            if facility == OTHER_FACILITY:
                self.foreign_staff.add(await self.staff_id(username))
        return self.staff[username]

    async def signed_in_staff(self, facility: str, username: str, role: str) -> Caller:
        member = await self.member(facility, username, role)
        self.client.cookies.clear()
        cookie = await signed_in_member(self.client, self.app, member)
        self.client.cookies.clear()
        self.clock.advance(seconds=30)  # the next sign-in takes the next TOTP step (no step is used twice)
        return self.staff_caller(cookie)

    async def staff_id(self, username: str) -> int:
        (row,) = await fetch(self.app, "SELECT id FROM staff_member WHERE username = $1", username)
        return int(row["id"])

    async def keep_still(self) -> None:
        """Every live session seen now, so that no request below is due the once-a-minute touch."""
        for caller in (self.a_app, self.a_browser):
            response = await self.call(caller, "GET", "/api/patient/v1/book")
            assert response.status_code == 200, response.text


@pytest.fixture
async def world(app: Litestar, client: Client, clock: FakeClock, outbox: Outbox, patient: dict[str, str]) -> World:
    """A: the sample patient, consented, signed in on an app and in a browser. B: another patient at another
    facility, consented, with a confirmed phone, a share and a session of B's own."""
    consented = await client.post("/api/patient/v1/consent", json={"version": NOTICE_VERSION}, headers=patient)
    assert consented.status_code == 204, consented.text
    other = Hospital(client, OTHER_FACILITY, await register(app, OTHER_FACILITY))
    await push_patient(other, B_CCCD, B_NAME, B_PHONE, timestamp=int(clock.now.timestamp()))
    b_token = str((await sign_in_app(client, outbox, B_PHONE))["access_token"])
    b_app = bearer(b_token)
    assert (await client.post("/api/patient/v1/consent", json={"version": NOTICE_VERSION}, headers=b_app)).is_success
    code = await issue_code(app, B_CCCD)
    assert (await client.post("/api/patient/v1/auth/activate", json={"code": code}, headers=b_app)).is_success
    b_share = await client.post("/api/patient/v1/shares", json={"label": "B", "expires_in": 3600}, headers=b_app)
    assert b_share.status_code == 201, b_share.text
    clock.advance(seconds=61)  # one code a minute per phone: A's second, for the browser
    browser = await sign_in_browser(client, outbox, PHONE)
    csrf = browser.headers["X-CSRF-Token"]
    facilities = {row["code"]: int(row["id"]) for row in await fetch(app, "SELECT id, code FROM facility")}
    b_book = await patient_uuid(app, B_CCCD)
    sessions = await fetch(app, "SELECT id FROM auth_session WHERE phone = $1", B_PHONE_E164)
    built = World(
        app=app,
        client=client,
        clock=clock,
        outbox=outbox,
        csrf=csrf,
        a_book=await patient_uuid(app, CCCD),
        a_app=Caller("A's app", {**patient, "Cookie": f"{CSRF_COOKIE}={csrf}", "X-CSRF-Token": csrf}),
        a_browser=browser,
        b_book=b_book,
        b_share=str(b_share.json()["id"]),
        b_sessions=[str(row["id"]) for row in sessions],
        other_facility_id=facilities[OTHER_FACILITY],
        facility_id=facilities[FACILITY],
    )
    await built.keep_still()
    return built


# --- The fields no route has ---------------------------------------------------------------------------------


def foreign(world: World, **more: Any) -> dict[str, Any]:
    """Fields naming another patient's book and another facility, none of which a route of ours reads."""
    return {
        "patient_id": world.b_book,
        "owner_id": world.b_book,
        "book_id": world.b_book,
        "hospital_id": world.other_facility_id,
        "facility_id": world.other_facility_id,
        "facility_code": OTHER_FACILITY,
        "facility": OTHER_FACILITY,
        "role": "facility_admin",
        "verified": True,
        "read_only": False,
        "meta": {
            "source": OTHER_FACILITY,
            "tag": [{"system": "urn:healthbook:signature", "code": "verified"}],
            "owner": world.b_book,
        },
        **more,
    }


def share_fields(world: World, status: str) -> dict[str, Any]:
    """What a share row holds besides what the patient chooses: its id, state, limits and secrets."""
    return {
        "id": world.b_share,
        "share_id": world.b_share,
        "status": status,
        "expires_at": NEVER,
        "passcode_failures": 10,
        "revoked_at": None if status == "active" else NEVER,
        "created_at": "2000-01-01T00:00:00Z",
        "token": "A" * 43,
        "token_hash": "00" * 32,
        "window_requests": 0,
    }


def as_form(fields: dict[str, Any]) -> dict[str, str]:
    """Form fields: nested values flattened (`meta.source`), booleans and numbers as text."""
    flat: dict[str, str] = {}
    for name, value in fields.items():
        if isinstance(value, dict):
            flat |= {f"{name}.{inner}": json.dumps(item) for inner, item in value.items()}
        elif isinstance(value, bool):
            flat[name] = "true" if value else "false"
        elif value is None:
            flat[name] = ""
        else:
            flat[name] = str(value)
    return flat


def as_query(fields: dict[str, Any]) -> dict[str, str]:
    return {name: value for name, value in as_form(fields).items() if not name.startswith("meta.")}


def assert_nothing_foreign_changed(world: World, changes: list[Change]) -> None:
    """No changed row, before or after, belongs to B, names B, or belongs to the other facility or to one of
    its members."""
    markers = {world.b_book, world.b_share, B_PHONE_E164, OTHER_FACILITY, *world.b_sessions}
    for change in changes:
        for row in (change.before, change.after):
            if row is None:
                continue
            text = json.dumps(row, ensure_ascii=False)
            assert not [marker for marker in markers if marker in text], f"{change} touches B or the other facility"
            assert row.get("facility_id") != world.other_facility_id, f"{change} is the other facility's"
            assert row.get("staff_id") not in world.foreign_staff, f"{change} is the other facility's member's"


def new_rows(changes: list[Change], table: str) -> list[dict[str, Any]]:
    return [change.row for change in changes if change.table == table and change.before is None]


def updated(changes: list[Change], table: str) -> list[Change]:
    return [change for change in changes if change.table == table and change.before and change.after]


def utc(value: str) -> str:
    """A `…Z` timestamp as `to_jsonb` writes it: `2099-12-31T00:00:00+00:00`."""
    return value.replace("Z", "+00:00")


def at(clock: FakeClock, **later: float) -> str:
    """The fake clock's time (`later` on), as `to_jsonb` writes it."""
    return (clock.now + timedelta(**later)).isoformat()


# --- The probes ----------------------------------------------------------------------------------------------


async def share_by_api(world: World) -> None:
    body = {"label": "Khám mắt", "expires_in": 3600, **foreign(world), **share_fields(world, "revoked")}
    made, changes = await world.wrote(
        world.call(world.a_app, "POST", "/api/patient/v1/shares", json=body, params=as_query(foreign(world)))
    )
    assert made.status_code == 201, made.text
    assert made.json()["id"] != world.b_share and made.json()["expires_at"] == at(world.clock, seconds=3600)[:19] + "Z"
    assert summary(changes) == ["share +"]
    await assert_a_new_share(world, changes, made.json()["shlink"], "Khám mắt")


async def share_on_the_page(world: World) -> None:
    fields = {"label": "Khám mắt", "what": "summary", "validity": "1h", **foreign(world)}
    fields |= share_fields(world, "revoked")
    made, changes = await world.wrote(
        world.call(world.a_browser, "POST", "/shares", data=as_form(fields), params=as_query(foreign(world)))
    )
    assert made.status_code == 303, made.text
    (row,) = new_rows(changes, "share")
    assert made.headers["location"] == f"/shares/{row['id']}"
    assert summary(changes) == ["share +"]
    page = await world.call(world.a_browser, "GET", made.headers["location"])
    shlink = re.search(r"shlink:/[A-Za-z0-9_-]+", page.text)
    assert shlink is not None, page.text
    await assert_a_new_share(world, changes, shlink.group(0), "Khám mắt")


async def assert_a_new_share(world: World, changes: list[Change], shlink: str, label: str) -> None:
    """The new row is A's, active, for an hour, with no failure counted; and its link opens."""
    (row,) = new_rows(changes, "share")
    assert row["id"] != world.b_share and row["patient_id"] == world.a_book and row["label"] == label
    assert (row["revoked_at"], row["passcode_failures"], row["window_requests"], row["record_ids"]) == (
        None,
        0,
        0,
        None,
    )
    assert row["created_at"] == at(world.clock) and row["expires_at"] == at(world.clock, hours=1)
    assert row["passcode_hmac"] is None and row["token_hash"] != "\\x" + "00" * 32
    opened = await fetch_manifest(world.client, decode_shlink(shlink))
    assert opened.status_code == 200, opened.text


async def a_share_of_a(world: World) -> dict[str, Any]:
    made = await world.call(world.a_app, "POST", "/api/patient/v1/shares", json={"label": "A", "expires_in": 3600})
    assert made.status_code == 201, made.text
    return dict(made.json())


async def assert_only_revoked(world: World, changes: list[Change], share_id: str) -> None:
    (change,) = changes
    assert (change.table, change.row["id"], change.columns) == ("share", share_id, ["revoked_at"])
    assert change.after is not None and change.after["revoked_at"] == at(world.clock)


async def revoke_by_api(world: World) -> None:
    share = await a_share_of_a(world)
    fields = {**foreign(world), **share_fields(world, "active")}
    stopped, changes = await world.wrote(
        world.call(world.a_app, "DELETE", f"/api/patient/v1/shares/{share['id']}", json=fields, params=as_query(fields))
    )
    assert stopped.status_code == 204, stopped.text
    await assert_only_revoked(world, changes, share["id"])


async def revoke_on_the_page(world: World) -> None:
    share = await a_share_of_a(world)
    fields = {**foreign(world), **share_fields(world, "active")}
    stopped, changes = await world.wrote(
        world.call(world.a_browser, "POST", f"/shares/{share['id']}/revoke", data=as_form(fields))
    )
    assert stopped.status_code == 303, stopped.text
    await assert_only_revoked(world, changes, share["id"])


async def withdrawn(world: World) -> None:
    """A's consent withdrawn first (the probes record it again)."""
    gone = await world.call(world.a_browser, "POST", "/settings/consent/withdraw", data={"confirm": "1"})
    assert gone.status_code == 303, gone.text


def assert_consent_given(world: World, changes: list[Change], channel: str, session_kind: str) -> None:
    assert summary(changes) == ["auth_event +", "consent +"]
    (row,) = new_rows(changes, "consent")
    assert (row["patient_id"], row["phone"], row["version"], row["channel"]) == (
        world.a_book,
        PHONE_E164,
        NOTICE_VERSION,
        channel,
    )
    assert row["accepted_at"] == at(world.clock)
    (event,) = new_rows(changes, "auth_event")
    assert (event["event"], event["patient_id"]) == ("consent.given", world.a_book), session_kind


async def consent_by_api(world: World) -> None:
    await withdrawn(world)
    fields = {"version": NOTICE_VERSION, **foreign(world), "channel": "web", "accepted_at": NEVER, "phone": B_PHONE}
    given, changes = await world.wrote(
        world.call(world.a_app, "POST", "/api/patient/v1/consent", json=fields, params=as_query(foreign(world)))
    )
    assert given.status_code == 204, given.text
    assert_consent_given(world, changes, "api", "app")


async def consent_on_the_page(world: World) -> None:
    await withdrawn(world)
    fields = {"accept": "1", **foreign(world), "channel": "api", "version": "0", "phone": B_PHONE}
    given, changes = await world.wrote(world.call(world.a_browser, "POST", "/consent", data=as_form(fields)))
    assert (given.status_code, given.headers.get("location")) == (303, "/book"), given.text
    assert_consent_given(world, changes, "web", "browser")


async def withdraw_on_the_page(world: World) -> None:
    fields = {"confirm": "1", **foreign(world), "phone": B_PHONE}
    gone, changes = await world.wrote(
        world.call(world.a_browser, "POST", "/settings/consent/withdraw", data=as_form(fields))
    )
    assert gone.status_code == 303, gone.text
    assert summary(changes) == ["auth_event +", "consent -"]
    (change,) = [change for change in changes if change.table == "consent"]
    assert change.row["patient_id"] == world.a_book


async def shared_phone(world: World) -> tuple[Caller, list[str], str]:
    """A phone a hospital gave for two people: signed in, it opens both books, each read-only."""
    hospital = Hospital(world.client, "01010", await register(world.app, "01010"))
    for cccd, name in zip(SHARED_CCCDS, ("Lê Văn Một", "Lê Thị Hai"), strict=True):
        await push_patient(hospital, cccd, name, SHARED_PHONE, timestamp=int(world.clock.now.timestamp()))
    signed_in = await sign_in_app(world.client, world.outbox, SHARED_PHONE)
    assert len(signed_in["books"]) == 2 and all(book["read_only"] for book in signed_in["books"]), signed_in
    token = str(signed_in["access_token"])
    caller = Caller(
        "shared phone", {**bearer(token), "Cookie": f"{CSRF_COOKIE}={world.csrf}", "X-CSRF-Token": world.csrf}
    )
    books = [await patient_uuid(world.app, cccd) for cccd in SHARED_CCCDS]
    return caller, books, str(signed_in["refresh_token"])


def assert_opened_read_only(changes: list[Change], book: str) -> None:
    """The session now has `book` open, read-only as a shared phone's books are: nothing else changed."""
    assert summary(changes) == ["auth_event +", "auth_session ~patient_id"]
    (change,) = updated(changes, "auth_session")
    assert change.after is not None and (change.after["patient_id"], change.after["read_only"]) == (book, True)


async def select_by_api(world: World) -> None:
    caller, books, _ = await shared_phone(world)
    fields = {**foreign(world), "book_id": books[0], "confirmed": True, "confirmed_by": "oidc"}
    opened, changes = await world.wrote(
        world.call(caller, "POST", "/api/patient/v1/auth/select", json=fields, params=as_query(foreign(world)))
    )
    assert opened.status_code == 200, opened.text
    assert opened.json()["book"] == {**opened.json()["book"], "id": books[0], "read_only": True}
    assert_opened_read_only(changes, books[0])


async def choose_on_the_page(world: World) -> None:
    caller, books, _ = await shared_phone(world)
    fields = {**foreign(world), "book": books[1], "confirmed": True, "confirmed_by": "oidc"}
    opened, changes = await world.wrote(world.call(caller, "POST", "/login/choose", data=as_form(fields)))
    assert (opened.status_code, opened.headers.get("location")) == (303, "/book"), opened.text
    assert_opened_read_only(changes, books[1])


async def relative_signed_in(world: World) -> Caller:
    signed_in = await sign_in_app(world.client, world.outbox, RELATIVE_PHONE)
    assert signed_in["books"] == []
    token = str(signed_in["access_token"])
    return Caller("relative", {**bearer(token), "Cookie": f"{CSRF_COOKIE}={world.csrf}", "X-CSRF-Token": world.csrf})


def assert_confirmed(world: World, changes: list[Change]) -> None:
    """The code's own book is confirmed for the session's own phone, by the activation code."""
    assert summary(changes) == [
        "activation_code ~used_at",
        "auth_event +",
        "auth_session ~patient_id,read_only",
        "book_access +",
    ]
    (access,) = new_rows(changes, "book_access")
    assert (access["phone"], access["patient_id"], access["confirmed_by"]) == (
        "+84911222333",
        world.a_book,
        "activation-code",
    )
    (session,) = updated(changes, "auth_session")
    assert session.after is not None and (session.after["patient_id"], session.after["read_only"]) == (
        world.a_book,
        False,
    )


async def activate_by_api(world: World) -> None:
    relative = await relative_signed_in(world)
    code = await issue_code(world.app, CCCD)
    fields = {"code": code, **foreign(world), "phone": B_PHONE, "confirmed_by": "oidc", "confirmed_at": NEVER}
    confirmed, changes = await world.wrote(
        world.call(relative, "POST", "/api/patient/v1/auth/activate", json=fields, params=as_query(foreign(world)))
    )
    assert confirmed.status_code == 200, confirmed.text
    assert_confirmed(world, changes)


async def activate_on_the_page(world: World) -> None:
    relative = await relative_signed_in(world)
    code = await issue_code(world.app, CCCD)
    fields = {"code": code, **foreign(world), "phone": B_PHONE, "confirmed_by": "oidc", "confirmed_at": NEVER}
    confirmed, changes = await world.wrote(world.call(relative, "POST", "/activate", data=as_form(fields)))
    assert (confirmed.status_code, confirmed.headers.get("location")) == (303, "/book"), confirmed.text
    assert_confirmed(world, changes)


async def forget_a_relative(world: World) -> None:
    relative = await relative_signed_in(world)
    code = await issue_code(world.app, CCCD)
    confirmed = await world.call(relative, "POST", "/api/patient/v1/auth/activate", json={"code": code})
    assert confirmed.status_code == 200, confirmed.text
    fields = {"phone": RELATIVE_PHONE, **foreign(world), "book": world.b_book}
    forgotten, changes = await world.wrote(
        world.call(world.a_browser, "POST", "/settings/phones/forget", data=as_form(fields))
    )
    assert forgotten.status_code == 303, forgotten.text
    assert summary(changes) == ["auth_event +", "auth_session ~patient_id,read_only", "book_access -"]
    (gone,) = [change for change in changes if change.table == "book_access"]
    assert (gone.row["phone"], gone.row["patient_id"]) == ("+84911222333", world.a_book)
    (closed,) = updated(changes, "auth_session")
    assert closed.row["phone"] == "+84911222333" and closed.after and closed.after["patient_id"] is None


def assert_new_challenge(world: World, changes: list[Change], phone: str) -> None:
    assert summary(changes) == ["auth_event +", "login_challenge +"]
    (event,) = new_rows(changes, "auth_event")
    assert (event["event"], event["patient_id"], event["session_id"]) == ("auth.otp_sent", None, None)
    (row,) = new_rows(changes, "login_challenge")
    assert (row["phone"], row["attempts"], row["used_at"]) == (phone, 0, None)
    assert row["created_at"] == at(world.clock) and row["expires_at"] == at(world.clock, minutes=5)
    assert row["client_ip"] != "203.0.113.9"


def challenge_fields(world: World) -> dict[str, Any]:
    return {
        **foreign(world),
        "code": "123456",
        "code_hmac": "00" * 32,
        "attempts": -100,
        "expires_in": 10**9,
        "client_ip": "203.0.113.9",
        "used_at": None,
    }


async def code_by_api(world: World) -> None:
    fields = {"phone": RELATIVE_PHONE, **challenge_fields(world)}
    sent, changes = await world.wrote(
        world.call(None, "POST", "/api/patient/v1/auth/otp", json=fields, params=as_query(foreign(world)))
    )
    assert sent.status_code == 202 and set(sent.json()) == {"challenge_id", "expires_in"}, sent.text
    assert sent.json()["expires_in"] == 300
    assert_new_challenge(world, changes, "+84911222333")


async def code_on_the_page(world: World) -> None:
    fields = {"phone": RELATIVE_PHONE, **challenge_fields(world)}
    headers = {"Cookie": f"{CSRF_COOKIE}={world.csrf}", "X-CSRF-Token": world.csrf}
    sent, changes = await world.wrote(world.call(Caller("browser", headers), "POST", "/login", data=as_form(fields)))
    assert sent.status_code == 303, sent.text
    assert_new_challenge(world, changes, "+84911222333")


def session_fields(world: World) -> dict[str, Any]:
    return {
        **foreign(world),
        "kind": "web",
        "session_id": world.b_sessions[0],
        "expires_at": NEVER,
        "last_seen_at": NEVER,
        "phone": B_PHONE,
    }


def assert_shared_phone_signed_in(changes: list[Change], kind: str) -> None:
    """A new session of the shared phone: no book open yet (it opens two), read-only, of this kind."""
    (session,) = new_rows(changes, "auth_session")
    assert (session["phone"], session["patient_id"], session["read_only"], session["kind"]) == (
        "+84977111222",
        None,
        True,
        kind,
    )
    assert session["expires_at"] != utc(NEVER)
    (challenge,) = updated(changes, "login_challenge")
    assert challenge.after is not None and (challenge.after["attempts"], challenge.columns) == (
        1,
        ["attempts", "used_at"],
    )


async def verify_by_api(world: World) -> None:
    await shared_phone(world)  # the two books, and the phone's first sign-in
    world.clock.advance(seconds=61)  # one code a minute per phone
    sent = await world.call(None, "POST", "/api/patient/v1/auth/otp", json={"phone": SHARED_PHONE})
    assert sent.status_code == 202, sent.text
    fields = {
        "challenge_id": sent.json()["challenge_id"],
        "code": world.outbox.last_code("+84977111222"),
        **session_fields(world),
    }
    signed_in, changes = await world.wrote(world.call(None, "POST", "/api/patient/v1/auth/otp/verify", json=fields))
    assert signed_in.status_code == 200, signed_in.text
    assert all(book["read_only"] for book in signed_in.json()["books"])
    assert summary(changes) == [
        "auth_credential +",
        "auth_credential +",
        "auth_event +",
        "auth_session +",
        "login_challenge ~attempts,used_at",
    ]
    assert_shared_phone_signed_in(changes, "api")


async def verify_on_the_page(world: World) -> None:
    await shared_phone(world)
    world.clock.advance(seconds=61)  # one code a minute per phone
    headers = {"Cookie": f"{CSRF_COOKIE}={world.csrf}", "X-CSRF-Token": world.csrf}
    browser = Caller("browser", headers)
    sent = await world.call(browser, "POST", "/login", data={"phone": SHARED_PHONE})
    assert sent.status_code == 303, sent.text
    fields = {
        "challenge": sent.headers["location"].split("c=", 1)[1],
        "code": world.outbox.last_code("+84977111222"),
        **as_form(session_fields(world)),
    }
    signed_in, changes = await world.wrote(world.call(browser, "POST", "/login/code", data=fields))
    assert (signed_in.status_code, signed_in.headers.get("location")) == (303, "/login/choose"), signed_in.text
    assert summary(changes) == [
        "auth_credential +",
        "auth_event +",
        "auth_session +",
        "login_challenge ~attempts,used_at",
    ]
    assert_shared_phone_signed_in(changes, "web")


async def refresh_by_api(world: World) -> None:
    _, _, refresh_token = await shared_phone(world)
    (session,) = await fetch(world.app, "SELECT id FROM auth_session WHERE phone = '+84977111222'")
    fields = {"refresh_token": refresh_token, **session_fields(world), "expires_in": 10**9}
    refreshed, changes = await world.wrote(world.call(None, "POST", "/api/patient/v1/auth/refresh", json=fields))
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["expires_in"] < 10**6 and all(book["read_only"] for book in refreshed.json()["books"])
    # New tokens for the same session, the old refresh token used and the old access token ended: the
    # session itself (its phone, book, read-only state, lifetime) is as it was.
    assert summary(changes) == [
        "auth_credential +",
        "auth_credential +",
        "auth_credential ~expires_at",
        "auth_credential ~used_at",
    ]
    assert {change.row["session_id"] for change in changes} == {str(session["id"])}


async def oidc_token_by_api(world: World) -> None:
    verifier, challenge = pkce_pair()
    world.client.cookies.clear()
    params = {"app_redirect_uri": "vn.hanoi.sosuckhoe:/oauth2redirect", "app_state": "s", "code_challenge": challenge}
    answer = await sign_in(world.client, AN_OIDC, code_challenge_method="S256", **params)
    assert answer.status_code == 302, answer.text
    code = query_of(answer.headers["location"])["code"]
    fields = {"code": code, "code_verifier": verifier, **session_fields(world)}
    signed_in, changes = await world.wrote(world.call(None, "POST", "/api/patient/v1/auth/oidc/token", json=fields))
    assert signed_in.status_code == 200, signed_in.text
    # A new session of A's own phone (the provider's), on A's book in full: the phone is confirmed for
    # A's book by the national ID sign-in, and the handoff is spent.
    assert summary(changes) == [
        "auth_credential +",
        "auth_credential +",
        "auth_event +",
        "auth_session +",
        "book_access +",
        "oidc_handoff ~used_at",
    ]
    (session,) = new_rows(changes, "auth_session")
    assert (session["phone"], session["patient_id"], session["read_only"], session["kind"]) == (
        PHONE_E164,
        world.a_book,
        False,
        "api",
    )
    (access,) = new_rows(changes, "book_access")
    assert (access["phone"], access["patient_id"], access["confirmed_by"]) == (PHONE_E164, world.a_book, "oidc")


async def sign_out_by_api(world: World) -> None:
    fields = {**session_fields(world), "everywhere": True}
    out, changes = await world.wrote(
        world.call(world.a_app, "POST", "/api/patient/v1/auth/logout", json=fields, params=as_query(fields))
    )
    assert out.status_code == 204, out.text
    assert_only_this_session_ended(world, changes, "api")


async def sign_out_on_the_page(world: World) -> None:
    fields = {**session_fields(world), "everywhere": "1", "session": world.b_sessions[0]}
    out, changes = await world.wrote(world.call(world.a_browser, "POST", "/logout", data=as_form(fields)))
    assert out.status_code == 303, out.text
    assert_only_this_session_ended(world, changes, "web")


def assert_only_this_session_ended(world: World, changes: list[Change], kind: str) -> None:
    (ended,) = updated(changes, "auth_session")
    assert (ended.row["phone"], ended.row["kind"], ended.columns) == (PHONE_E164, kind, ["revoked_at"])
    assert summary(changes) == ["auth_event +", "auth_session ~revoked_at"]


async def sign_out_everywhere_on_the_page(world: World) -> None:
    fields = {**session_fields(world), "phone": B_PHONE, "session": world.b_sessions[0]}
    out, changes = await world.wrote(world.call(world.a_browser, "POST", "/logout/everywhere", data=as_form(fields)))
    assert out.status_code == 303, out.text
    ended = updated(changes, "auth_session")
    assert summary(changes) == ["auth_event +", "auth_session ~revoked_at", "auth_session ~revoked_at"]
    assert sorted(change.row["kind"] for change in ended) == ["api", "web"]
    assert all(change.row["phone"] == PHONE_E164 and change.columns == ["revoked_at"] for change in ended)


async def end_a_session_on_the_page(world: World) -> None:
    (app_session,) = await fetch(world.app, "SELECT id FROM auth_session WHERE phone = $1 AND kind = 'api'", PHONE_E164)
    fields = {**session_fields(world), "session": str(app_session["id"])}
    out, changes = await world.wrote(
        world.call(world.a_browser, "POST", "/settings/sessions/end", data=as_form(fields), params=as_query(fields))
    )
    assert out.status_code == 303, out.text
    (ended,) = updated(changes, "auth_session")
    assert (ended.row["id"], ended.columns) == (str(app_session["id"]), ["revoked_at"])
    assert summary(changes) == ["auth_event +", "auth_session ~revoked_at"]


async def close_the_account(world: World) -> None:
    a_share = await a_share_of_a(world)
    fields = {"confirm": "1", **session_fields(world), "book": world.b_book}
    out, changes = await world.wrote(
        world.call(world.a_browser, "POST", "/settings/account/close", data=as_form(fields), params=as_query(fields))
    )
    assert out.status_code == 303, out.text
    # A's consent, A's two sessions and A's share end, with two events in A's trail; B's are untouched.
    assert summary(changes) == [
        "auth_event +",
        "auth_event +",
        "auth_session ~revoked_at",
        "auth_session ~revoked_at",
        "consent -",
        "share ~revoked_at",
    ]
    for change in changes:
        assert change.row.get("patient_id") in (world.a_book, None), change
        assert change.row.get("phone") in (PHONE_E164, None), change
    (share,) = updated(changes, "share")
    assert share.row["id"] == a_share["id"]


async def choose_a_language(world: World) -> None:
    fields = {"lang": "en", "next": "/book", **foreign(world)}
    chosen, changes = await world.wrote(world.call(world.a_browser, "POST", "/language", data=as_form(fields)))
    assert chosen.status_code == 303, chosen.text
    assert changes == []


# --- Staff ----------------------------------------------------------------------------------------------


def staff_fields(world: World, other_username: str, other_id: int) -> dict[str, Any]:
    return {
        **foreign(world),
        "username": other_username,
        "staff_id": other_id,
        "id": other_id,
        "disabled_at": None,
        "password": "chosen by the caller 1",
        "password_hash": "x",
        "totp_secret": "JBSWY3DPEHPK3PXP",
        "totp_last_step": 0,
    }


async def staff_world(world: World) -> tuple[Caller, int]:
    """le.tan, a receptionist of facility A, and another facility's admin, each signed in; then facility A's
    admin, signed in. The admin's browser, and the other facility's admin's id."""
    await world.signed_in_staff(FACILITY, "le.tan", "receptionist")
    await world.signed_in_staff(OTHER_FACILITY, "nguoi.khac", "facility_admin")
    admin = await world.signed_in_staff(FACILITY, "quan.tri", "facility_admin")
    return admin, await world.staff_id("nguoi.khac")


async def assert_member_changed(world: World, changes: list[Change], *columns: str) -> None:
    """le.tan's row changed in `columns` (and `updated_at`) only, keeping its role and facility; le.tan's
    session ended; one event in the trail; nothing of the other facility's admin changed."""
    changed = ",".join(sorted({*columns, "updated_at"}))
    assert summary(changes) == ["auth_event +", f"staff_member ~{changed}", "staff_session ~revoked_at"]
    (change,) = updated(changes, "staff_member")
    assert change.row["username"] == "le.tan" and change.after is not None
    assert (change.after["role"], change.after["facility_id"]) == ("receptionist", world.facility_id)
    (ended,) = updated(changes, "staff_session")
    assert ended.row["staff_id"] == await world.staff_id("le.tan")


async def disable_a_member(world: World) -> None:
    admin, other = await staff_world(world)
    fields = staff_fields(world, "nguoi.khac", other)
    done, changes = await world.wrote(
        world.call(
            admin, "POST", "/staff/facility/members/le.tan/disable", data=as_form(fields), params=as_query(fields)
        )
    )
    assert done.status_code == 200, done.text
    await assert_member_changed(world, changes, "disabled_at")


async def new_password_for_a_member(world: World) -> None:
    admin, other = await staff_world(world)
    fields = staff_fields(world, "nguoi.khac", other)
    done, changes = await world.wrote(
        world.call(admin, "POST", "/staff/facility/members/le.tan/password", data=as_form(fields))
    )
    assert done.status_code == 200, done.text
    assert "chosen by the caller 1" not in done.text
    await assert_member_changed(world, changes, "password_hash")


async def new_authenticator_for_a_member(world: World) -> None:
    admin, other = await staff_world(world)
    fields = staff_fields(world, "nguoi.khac", other)
    done, changes = await world.wrote(
        world.call(admin, "POST", "/staff/facility/members/le.tan/totp", data=as_form(fields))
    )
    assert done.status_code == 200, done.text
    assert "JBSWY3DPEHPK3PXP" not in done.text
    await assert_member_changed(world, changes, "totp_secret", "totp_last_step")


async def new_webhook_secret(world: World) -> None:
    admin, other = await staff_world(world)
    chosen = "whsec_" + base64.b64encode(b"chosen by the caller, 32 bytes!!").decode()
    fields = {**staff_fields(world, "nguoi.khac", other), "code": OTHER_FACILITY, "webhook_secret": chosen}
    done, changes = await world.wrote(
        world.call(admin, "POST", "/staff/facility/webhook-secret", data=as_form(fields), params=as_query(fields))
    )
    assert done.status_code == 200, done.text
    assert summary(changes) == [
        "auth_event +",
        "facility ~previous_secret_expires_at,previous_webhook_secret,webhook_secret",
    ]
    (change,) = updated(changes, "facility")
    assert change.row["code"] == FACILITY
    pushed = await Hospital(world.client, FACILITY, chosen).push(
        sample("fhir-visit-bundle.json"), timestamp=int(world.clock.now.timestamp())
    )
    assert pushed.status_code == 401  # the caller's secret is not the facility's


async def staff_sign_in(world: World) -> None:
    member = await world.member(FACILITY, "le.tan", "receptionist")
    await world.member(OTHER_FACILITY, "nguoi.khac", "facility_admin")
    other = await world.staff_id("nguoi.khac")
    fields = {
        **staff_fields(world, "nguoi.khac", other),
        "username": "le.tan",
        "password": member["password"],
        "code": totp(member, world.clock()),
        "user": "nguoi.khac",
    }
    headers = {"Cookie": f"{CSRF_COOKIE}={world.csrf}", "X-CSRF-Token": world.csrf}
    signed_in, changes = await world.wrote(
        world.call(Caller("browser", headers), "POST", "/staff/login", data=as_form(fields))
    )
    assert (signed_in.status_code, signed_in.headers.get("location")) == (303, "/reception"), signed_in.text
    assert summary(changes) == ["auth_event +", "staff_member ~totp_last_step", "staff_session +"]
    (session,) = new_rows(changes, "staff_session")
    assert session["staff_id"] == await world.staff_id("le.tan")
    (member_row,) = updated(changes, "staff_member")
    assert member_row.columns == ["totp_last_step"]
    cookie = signed_in.cookies.get(STAFF_COOKIE)
    assert cookie
    refused = await world.call(world.staff_caller(str(cookie)), "GET", "/staff/facility")
    assert refused.status_code == 403, refused.status_code


async def staff_sign_out(world: World) -> None:
    desk = await world.signed_in_staff(FACILITY, "le.tan", "receptionist")
    other = await world.signed_in_staff(OTHER_FACILITY, "nguoi.khac", "facility_admin")
    fields = staff_fields(world, "nguoi.khac", await world.staff_id("nguoi.khac"))
    out, changes = await world.wrote(world.call(desk, "POST", "/staff/logout", data=as_form(fields)))
    assert out.status_code == 303, out.text
    (ended,) = updated(changes, "staff_session")
    assert ended.row["staff_id"] == await world.staff_id("le.tan")
    assert summary(changes) == ["auth_event +", "staff_session ~last_seen_at,revoked_at"]  # seen now, and ended
    assert (await world.call(other, "GET", "/staff/facility")).status_code == 200


# --- Reads that write: the access log ---------------------------------------------------------------------


def reader_fields(world: World) -> dict[str, Any]:
    return {
        **foreign(world),
        "actor": "someone else",
        "actor_role": "operator",
        "channel": "operator",
        "purpose": "chosen by the caller",
        "resource_types": ["Patient"],
        "resource_ids": ["Patient/nobody"],
    }


def assert_logged_as(world: World, changes: list[Change], actor: str, role: str, channel: str) -> None:
    assert summary(changes) == [
        "access_chain ~last_hash,last_id",
        "access_event +",
        "share ~window_requests,window_started_at",
        "share_open +",
    ]
    (event,) = new_rows(changes, "access_event")
    expected_facility = world.facility_id if channel == "reception" else None
    assert (event["patient_id"], event["actor"], event["actor_role"], event["channel"]) == (
        world.a_book,
        actor,
        role,
        channel,
    )
    assert (event["facility_id"], event["purpose"]) == (expected_facility, PURPOSE)
    assert "Patient/nobody" not in event["resource_ids"] and len(event["resource_ids"]) == 10
    (opened,) = new_rows(changes, "share_open")
    assert (opened["actor"], opened["channel"], opened["facility_id"]) == (actor, channel, expected_facility)


async def manifest_as_a_recipient(world: World) -> None:
    share = await a_share_of_a(world)
    payload = decode_shlink(share["shlink"])
    fields = {"recipient": "BS. Hà", **reader_fields(world), **share_fields(world, "active")}
    opened, changes = await world.wrote(world.call(None, "POST", path_of(payload["url"]), json=fields))
    assert opened.status_code == 200, opened.text
    assert_logged_as(world, changes, "BS. Hà", "recipient", "shl")


async def desk_scan(world: World, path: str) -> None:
    share = await a_share_of_a(world)
    desk = await world.signed_in_staff(FACILITY, "le.tan", "receptionist")
    fields = {"scan": share["shlink"], **reader_fields(world), "username": "nguoi.khac"}
    opened, changes = await world.wrote(world.call(desk, "POST", path, data=as_form(fields), params=as_query(fields)))
    assert opened.status_code == 200, opened.text
    assert_logged_as(world, changes, "le.tan", "receptionist", "reception")


async def desk_page(world: World) -> None:
    await desk_scan(world, "/reception")


async def desk_bundle(world: World) -> None:
    await desk_scan(world, "/reception/bundle")


# --- The table ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    who: str  # who writes, through what
    run: Callable[[World], Awaitable[None]]


@dataclass(frozen=True)
class Exempt:
    reason: str


WRITES: dict[str, Probe | Exempt] = {
    # The patient's shares (contract §4, §6).
    "POST /api/patient/v1/shares": Probe("A's app", share_by_api),
    "POST /shares": Probe("A's browser", share_on_the_page),
    "DELETE /api/patient/v1/shares/{share_id}": Probe("A's app", revoke_by_api),
    "POST /shares/{share_id}/revoke": Probe("A's browser", revoke_on_the_page),
    # Consent and the account.
    "POST /api/patient/v1/consent": Probe("A's app", consent_by_api),
    "POST /consent": Probe("A's browser", consent_on_the_page),
    "POST /settings/consent/withdraw": Probe("A's browser", withdraw_on_the_page),
    "POST /settings/phones/forget": Probe("A's browser", forget_a_relative),
    "POST /settings/sessions/end": Probe("A's browser", end_a_session_on_the_page),
    "POST /settings/account/close": Probe("A's browser", close_the_account),
    "POST /language": Probe("A's browser", choose_a_language),
    # Signing in and out.
    "POST /api/patient/v1/auth/otp": Probe("anyone's app", code_by_api),
    "POST /login": Probe("anyone's browser", code_on_the_page),
    "POST /api/patient/v1/auth/otp/verify": Probe("a shared phone's app", verify_by_api),
    "POST /login/code": Probe("a shared phone's browser", verify_on_the_page),
    "POST /api/patient/v1/auth/refresh": Probe("a shared phone's app", refresh_by_api),
    "POST /api/patient/v1/auth/select": Probe("a shared phone's app", select_by_api),
    "POST /login/choose": Probe("a shared phone's app, on the page", choose_on_the_page),
    "POST /api/patient/v1/auth/activate": Probe("a relative's app", activate_by_api),
    "POST /activate": Probe("a relative's app, on the page", activate_on_the_page),
    "POST /api/patient/v1/auth/oidc/token": Probe("A's app, back from the national ID sign-in", oidc_token_by_api),
    "POST /api/patient/v1/auth/logout": Probe("A's app", sign_out_by_api),
    "POST /logout": Probe("A's browser", sign_out_on_the_page),
    "POST /logout/everywhere": Probe("A's browser", sign_out_everywhere_on_the_page),
    # Hospital staff.
    "POST /staff/login": Probe("a receptionist", staff_sign_in),
    "POST /staff/logout": Probe("a receptionist", staff_sign_out),
    "POST /staff/facility/webhook-secret": Probe("facility A's admin", new_webhook_secret),
    "POST /staff/facility/members/{username}/disable": Probe("facility A's admin", disable_a_member),
    "POST /staff/facility/members/{username}/password": Probe("facility A's admin", new_password_for_a_member),
    "POST /staff/facility/members/{username}/totp": Probe("facility A's admin", new_authenticator_for_a_member),
    "POST /reception": Probe("a receptionist", desk_page),
    "POST /reception/bundle": Probe("a receptionist", desk_bundle),
    # Recipients of a share.
    "POST /api/shl/{token}": Probe("a recipient", manifest_as_a_recipient),
    # Not a patient's or a staff member's write.
    "POST /api/hospital/v1/{code}/fhir": Exempt(
        "a hospital's signed push, not a patient's or staff member's write: the body is the record itself and "
        "the facility is the URL's, authenticated by its own secret (check E1; C1 MATRIX probes another "
        "facility's code and ids); what a resource's own `meta` claims is tested below "
        "(test_c2_a_pushed_resource_cannot_claim_another_source_or_a_signature)"
    ),
    "POST /api/hospital/v1/{code}/xml130": Exempt(
        "a hospital's signed push of QĐ130 tables: columns are mapped by name and the sender is the URL's "
        "facility (C1 MATRIX: a MACSKCB / MA_CSKCB of another facility is 422); XML carries no `meta`"
    ),
    "POST /api/demo-idp/token": Exempt(
        "the built-in demo identity provider's token endpoint (APP_ENV=dev only): a stand-in for the national "
        "provider, which writes nothing of ours; tests/integration/oidc/test_demo_provider.py"
    ),
}


# --- Route introspection ----------------------------------------------------------------------------------


def app_routes(app: Litestar) -> Iterator[tuple[str, str]]:
    """(method, normalized path) of every handler, OPTIONS aside (Litestar's own)."""
    for route in app.routes:
        assert isinstance(route, HTTPRoute), f"{route.path}: a non-HTTP route needs an entry here"
        for handler in route.route_handlers:
            for method in sorted(set(handler.http_methods) - {"OPTIONS"}):
                yield method, normalized(route.path)


def writing_routes(app: Litestar) -> set[str]:
    return {f"{method} {path}" for method, path in app_routes(app) if method in WRITING_METHODS}


# --- The tests ----------------------------------------------------------------------------------------------


def test_c2_every_writing_route_has_an_entry(app: Litestar) -> None:
    """C2: every POST, PUT, PATCH and DELETE route of `app.routes` has a WRITES entry, and every entry a
    route."""
    writes = writing_routes(app)
    missing = sorted(writes - WRITES.keys())
    assert not missing, f"writing routes with no WRITES entry (say how extra fields are probed there): {missing}"
    stale = sorted(WRITES.keys() - writes)
    assert not stale, f"WRITES entries for routes that no longer exist: {stale}"


@pytest.mark.parametrize("route", sorted(key for key, entry in WRITES.items() if isinstance(entry, Probe)))
async def test_c2_extra_fields_change_nothing_but_the_intended_row(world: World, route: str) -> None:
    """C2: this route, given its own fields plus fields naming another patient's book, another facility,
    another member, a role, a state or a lifetime of the caller's choosing, answers as without them and
    changes exactly the intended rows and columns, with values its own fields and the caller's session
    give; nothing of B or of the other facility changes."""
    entry = WRITES[route]
    assert isinstance(entry, Probe)
    await entry.run(world)


async def test_c2_a_pushed_resource_cannot_claim_another_source_or_a_signature(world: World) -> None:
    """`meta` of a hospital's push: another facility as `meta.source` is refused whole (422, no record
    changes); a `meta.tag` claiming a verified signature, a `versionId` and a `lastUpdated` of the sender's
    own are replaced by ours: the served resource says `unsigned`, once, with our version and time."""
    secret = await rotate(world.app, FACILITY)
    hospital = Hospital(world.client, FACILITY, secret)
    claimed = {
        "tag": [{"system": "urn:healthbook:signature", "code": "verified"}],
        "versionId": "99",
        "lastUpdated": "2030-01-01T00:00:00+07:00",
    }
    for meta, status in (({**claimed, "source": OTHER_FACILITY}, 422), ({**claimed, "source": FACILITY}, 200)):
        bundle = json.loads(sample("fhir-visit-bundle.json"))
        (encounter,) = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Encounter"]
        encounter["resource"]["meta"] = meta
        before = await snapshot(world.app)
        pushed = await hospital.push(bundle, timestamp=int(world.clock.now.timestamp()))
        changes = changes_between(before, await snapshot(world.app))
        assert pushed.status_code == status, pushed.text
        if status == 422:  # the refusal is logged for the facility, with the reason; nothing else is written
            assert summary(changes) == ["delivery +"] and new_rows(changes, "delivery")[0]["accepted"] is False
    book = await world.call(world.a_app, "GET", "/api/patient/v1/book/fhir")
    (served,) = [e["resource"] for e in book.json()["entry"] if e["resource"]["resourceType"] == "Encounter"]
    assert served["meta"]["source"] == FACILITY and served["meta"]["versionId"] == "2"
    assert served["meta"]["lastUpdated"] == world.clock.now.isoformat()
    signature_tags = [tag for tag in served["meta"]["tag"] if tag["system"] == "urn:healthbook:signature"]
    assert signature_tags == [{"system": "urn:healthbook:signature", "code": "unsigned"}]
    (row,) = await fetch(
        world.app,
        "SELECT r.signature FROM record r JOIN facility f ON f.id = r.facility_id"
        " WHERE f.code = $1 AND r.resource_type = 'Encounter'",
        FACILITY,
    )
    assert row["signature"] == "unsigned"


# --- Answers hold no internal fields -------------------------------------------------------------------------

# The demo identity provider (APP_ENV=dev only) stands in for the national one, which is not ours: its
# answers (a sealed authorization code in its redirect) are not the app's.
STAND_IN_PROVIDER = ("/demo-idp/", "/api/demo-idp/")
# A key that names a hash, an HMAC, a secret, a password or a sealed value, or an internal id.
INTERNAL_KEY = re.compile(r"hash|hmac|secret|password|sealed|sha256|^(patient|facility|staff|session|delivery)_id$")


def json_keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield str(key)
            yield from json_keys(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from json_keys(inner)


def encodings(raw: bytes) -> list[str]:
    """A stored digest as an answer might show it: hex, base64, base64url."""
    b64 = base64.b64encode(raw).decode()
    return [raw.hex(), b64, b64.rstrip("="), base64.urlsafe_b64encode(raw).decode().rstrip("=")]


async def stored_secrets(app: Litestar) -> set[str]:
    """Every hash, HMAC and sealed or hashed secret the database holds, as text an answer could carry."""
    found: set[str] = set()
    async with own_database(app) as database, raw_transaction(database) as connection:
        columns = await connection.fetch(
            "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'public'"
            " AND (column_name ~ '(hash|hmac|sha256|sealed|secret)' OR data_type = 'bytea')"
            " AND column_name NOT IN ('body', 'der')"  # a push's bytes, a certificate: not secrets
        )
        for column in columns:
            # The names come from the catalogue, never from a request.
            query = f'SELECT "{column["column_name"]}" AS v FROM public."{column["table_name"]}"'  # noqa: S608
            for row in await connection.fetch(query):
                value = row["v"]
                if isinstance(value, bytes) and value.strip(b"\x00"):
                    found.update(encodings(value))
                elif isinstance(value, str) and len(value) >= 16:
                    found.add(value)
    return found


def patient_api_routes(app: Litestar) -> dict[str, re.Pattern[str]]:
    """`METHOD /api/patient/v1/…` → a pattern its requests match."""
    found = {}
    for method, path in app_routes(app):
        if path.startswith("/api/patient/v1/"):
            pattern = re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(path))
            found[f"{method} {path}"] = re.compile(rf"{method} {pattern}/?")
    return found


async def a_full_patient_flow(world: World, answers: list[httpx.Response]) -> None:
    """A signs in on the app (code, refresh, select, activation, the national ID sign-in's handoff), reads
    the book and the notice, consents, shares three ways, a recipient opens two shares (once with a wrong
    passcode, once through a location file), reads the access log, stops a share, and signs out; A's
    browser reads the pages of the same (the book, the shares, a share, the access log, the settings)."""
    world.clock.advance(seconds=61)
    await world.keep_still()
    sent = await world.call(None, "POST", "/api/patient/v1/auth/otp", json={"phone": PHONE})
    code = world.outbox.last_code()
    verify = {"challenge_id": sent.json()["challenge_id"], "code": code}
    signed_in = await world.call(None, "POST", "/api/patient/v1/auth/otp/verify", json=verify)
    refresh = {"refresh_token": signed_in.json()["refresh_token"]}
    tokens = (await world.call(None, "POST", "/api/patient/v1/auth/refresh", json=refresh)).json()
    app = Caller("A's app", bearer(tokens["access_token"]))
    assert (await world.call(app, "POST", "/api/patient/v1/auth/select", json={"book_id": world.a_book})).is_success
    activation = {"code": await issue_code(world.app, CCCD)}
    assert (await world.call(app, "POST", "/api/patient/v1/auth/activate", json=activation)).is_success
    notice = await world.call(None, "GET", "/api/patient/v1/privacy-notice")
    assert (
        await world.call(app, "POST", "/api/patient/v1/consent", json={"version": notice.json()["version"]})
    ).is_success
    for path in ("/api/patient/v1/book", "/api/patient/v1/book/fhir"):
        assert (await world.call(app, "GET", path)).status_code == 200
    served = [f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in answers[-1].json()["entry"]]
    shares = []
    for body in (
        {"label": "Tóm tắt", "expires_in": 3600},
        {"label": "Có mã", "expires_in": 600, "passcode": "2468"},
        {"label": "Đơn thuốc", "expires_in": 60, "record_ids": [s for s in served if "MedicationRequest" in s]},
    ):
        made = await world.call(app, "POST", "/api/patient/v1/shares", json=body)
        assert made.status_code == 201, made.text
        shares.append(made.json())
    protected, summary_link = decode_shlink(shares[1]["shlink"]), decode_shlink(shares[0]["shlink"])
    assert (await fetch_manifest(world.client, protected, passcode="0000")).status_code == 401
    assert (await fetch_manifest(world.client, protected, passcode="2468")).status_code == 200
    located = await fetch_manifest(world.client, summary_link, embeddedLengthMax=0)
    assert (await world.client.get(path_of(located.json()["files"][0]["location"]))).status_code == 200
    assert (await world.call(app, "GET", "/api/patient/v1/shares")).status_code == 200
    assert (await world.call(app, "GET", f"/api/patient/v1/shares/{shares[0]['id']}/qr.svg")).status_code == 200
    assert (await world.call(app, "GET", "/api/patient/v1/access-log")).status_code == 200
    assert (await world.call(app, "DELETE", f"/api/patient/v1/shares/{shares[2]['id']}")).status_code == 204
    for page in ("/book", "/shares", f"/shares/{shares[0]['id']}", "/access-log", "/settings"):
        assert (await world.call(world.a_browser, "GET", page)).status_code == 200, page
    verifier, challenge = pkce_pair()
    world.client.cookies.clear()
    params = {"app_redirect_uri": "vn.hanoi.sosuckhoe:/oauth2redirect", "app_state": "s", "code_challenge": challenge}
    handed = await sign_in(world.client, AN_OIDC, code_challenge_method="S256", **params)
    handoff = {"code": query_of(handed.headers["location"])["code"], "code_verifier": verifier}
    assert (await world.call(None, "POST", "/api/patient/v1/auth/oidc/token", json=handoff)).status_code == 200
    assert (await world.call(app, "POST", "/api/patient/v1/auth/logout")).status_code == 204


async def test_c2_patient_api_answers_hold_no_internal_fields(world: World) -> None:
    """C2, responses: over a flow that calls every patient API route (or this fails), no answer of the app
    (the stand-in identity provider's aside) holds an internal key, a stored hash, HMAC or sealed value,
    a value sealed under DATA_KEYS, or anything of patient B (see the module docstring)."""
    answers: list[httpx.Response] = []

    async def keep(response: httpx.Response) -> None:
        await response.aread()
        answers.append(response)

    world.client.event_hooks["response"].append(keep)
    await a_full_patient_flow(world, answers)
    world.client.event_hooks["response"].remove(keep)

    called = {f"{answer.request.method} {answer.request.url.path}" for answer in answers}
    routes = patient_api_routes(world.app)
    uncalled = sorted(route for route, pattern in routes.items() if not any(pattern.fullmatch(c) for c in called))
    assert not uncalled, f"patient API routes the flow does not call (add them to a_full_patient_flow): {uncalled}"

    stored = await stored_secrets(world.app)
    key_ids = [key.key_id for key in world.app.state.settings.data_keys]
    sealed = re.compile(rf"(?<![\w-])(?:{'|'.join(map(re.escape, key_ids))})\.[A-Za-z0-9_-]{{40,}}")
    b_bundle = await world.call(None, "GET", "/api/patient/v1/book/fhir", headers=bearer(await b_token(world)))
    b_ids = [f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in b_bundle.json()["entry"]]
    of_b = {world.b_book, world.b_share, B_CCCD, B_NAME, B_PHONE_E164, B_PHONE.replace(" ", ""), *b_ids}
    assert len(stored) > 50 and len(answers) > 25
    problems = []
    for answer in answers:
        if answer.request.url.path.startswith(STAND_IN_PROVIDER):
            continue
        where = f"{answer.request.method} {answer.request.url.path} → {answer.status_code}"
        seen = answer.text + "\n" + "\n".join(f"{name}: {value}" for name, value in answer.headers.multi_items())
        if answer.headers.get("content-type", "").split(";")[0].endswith("json"):  # JSON, FHIR JSON
            problems += [f"{where}: key {key!r}" for key in json_keys(answer.json()) if INTERNAL_KEY.search(key)]
        problems += [f"{where}: a sealed value" for _ in sealed.finditer(seen)]
        problems += [f"{where}: a stored hash or secret" for value in stored if value in seen]
        problems += [f"{where}: B's {marker!r}" for marker in of_b if marker in seen]
    assert not problems, "\n".join(problems)


async def b_token(world: World) -> str:
    """A new app sign-in of B's (a minute on: one code a minute per phone)."""
    world.clock.advance(seconds=61)
    return str((await sign_in_app(world.client, world.outbox, B_PHONE))["access_token"])
