"""The one read path: a reader who is not the patient leaves an access event, in the same transaction;
if the event cannot be written, nothing is read.

Check G1 (audit completeness, fail-closed) at the routes, from `app.routes`:

- Every route is classed, or `test_g1_every_route_is_classed_by_who_may_see_health_data_through_it`
  fails. A route only the patient may call (the C3 allow table, tests/integration/auth/
  test_function_level_access.py `ALLOW`, admits `patient` alone) reads the session's own book: the owner's
  reads are not logged, by design (contract §4: the access log is "every read of this patient's data by
  anyone else"; tests/integration/auth/test_get_routes_do_not_write.py checks that no GET writes an owner's
  access event, and check C1 that another patient's ids give nothing). Every other route is either in
  `READS_BY_OTHERS` (it hands a patient's health data to someone else: probed below) or in
  `NO_HEALTH_DATA_FOR_OTHERS`, with the reason. A new route that anyone but the patient may call must be
  put in one of the two.
- `test_g1_each_read_by_another_writes_exactly_one_complete_access_event`: each route of `READS_BY_OTHERS`,
  read twice, writes exactly one `access_event` per read, naming the person (`actor`), their role, their
  organisation (the reader's facility; none for a recipient outside, who names themself), the time (the
  clock's, in UTC), the resource types and ids (every record of the patient's book the answer carried,
  and nothing else but the document's own parts, which the location file's event names too: its
  Composition, Device and Organization; and no id the answer did not carry), the purpose and the
  channel. Reads are made twice, a minute apart: one event each.
- `test_g1_routes_said_to_show_no_health_data_show_none_to_others`: the GET and HEAD routes of
  `NO_HEALTH_DATA_FOR_OTHERS`, called by anyone, a receptionist and a facility admin while the patient's
  records and a live share are there, show nothing of the patient and write no access event.
- `test_g1_if_the_access_event_cannot_be_written_the_route_answers_5xx_with_no_health_data` (gap 14): with
  a trigger in the test's own database that refuses every insert into `access_event`, each route of
  `READS_BY_OTHERS` answers 5xx, its body holds none of the patient's data (no name, CCCD, diagnosis,
  medicine, record id, nor the encrypted document), and nothing of the read is kept (no event, no open
  counted); with the trigger dropped, the same request answers 200.

Not here: the operator's CLI reads (`healthbook book`, `healthbook verify`) have no route; they log as the
operator (tests/integration/test_cli.py, and `test_the_patient_reads_without_a_trace_and_others_leave_one`
below for the read path). `/view` is a static page: the link after `#` never reaches the server.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from litestar import Litestar

from backend.audit import Reader
from backend.database import raw_transaction
from backend.records.reads import find_patient, read_records
from backend.sharing.manifest import PURPOSE
from tests.integration.auth.test_function_level_access import ALLOW, PATIENT, app_routes, concrete
from tests.integration.sharing.conftest import app, client, clock, outbox, patient, settings, visit
from tests.integration.sharing.shl import RECIPIENT, decode_shlink, decrypt_jwe, fetch_manifest, make_share, path_of
from tests.support.clock import FakeClock
from tests.support.hospital import CCCD, FACILITY, count, fetch, own_database
from tests.support.patients import Client
from tests.support.staff import STAFF_COOKIE, add_member, post_form, signed_in_member

# The sharing tests' app, client and clock (the morning after the sample visit, `visit`), its SMS outbox
# and the sample patient signed in on an app (`patient`).
__all__ = ["app", "client", "clock", "outbox", "patient", "settings", "visit"]

# The sample patient's identity and health data, as any page or document would show them.
HEALTH_DATA = ("Nguyễn Văn An", CCCD, "001******345", "Penicillin", "Metformin", "E11.9", "Tăng huyết áp")
# What a share's document holds besides the patient's records: the document itself, its author (this
# service) and the sending facilities' names (from the registry).
MADE_FOR_THE_DOCUMENT = frozenset({"Composition", "Device", "Organization"})


@pytest.fixture
async def stored(visit: None) -> None:
    """The sample patient's visit, pushed by the sample hospital."""


@pytest.mark.usefixtures("stored")
async def test_the_patient_reads_without_a_trace_and_others_leave_one(app: Litestar) -> None:
    now = datetime.now(UTC)
    async with own_database(app) as database, raw_transaction(database) as connection:
        patient_id = await find_patient(connection, CCCD)
        assert patient_id is not None
        own = await read_records(connection, Reader.patient(patient_id), patient_id, now)
        assert len(own) == 10
        assert await connection.fetchval("SELECT count(*) FROM access_event") == 0

        operator = Reader.operator("ops@host", "audit request 42")
        seen = await read_records(connection, operator, patient_id, now, resource_types=["Condition"])
        assert {view.resource_type for view in seen} == {"Condition"}
        event = await connection.fetchrow("SELECT * FROM access_event")
        assert event is not None
        assert event["actor"] == "ops@host" and event["purpose"] == "audit request 42"
        assert event["resource_types"] == ["Condition"] and len(event["resource_ids"]) == 2


@pytest.mark.usefixtures("stored")
async def test_another_patients_reader_is_logged_even_with_the_patients_role(app: Litestar) -> None:
    now = datetime.now(UTC)
    async with own_database(app) as database, raw_transaction(database) as connection:
        patient_id = await find_patient(connection, CCCD)
        assert patient_id is not None
        stranger = Reader(actor="someone", role="patient", purpose="x", owner=None)
        with pytest.raises(ValueError, match="channel"):
            await read_records(connection, stranger, patient_id, now)


REFUSE = (
    "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'no'; END $$;"
    " CREATE TRIGGER refuse BEFORE INSERT ON access_event FOR EACH ROW EXECUTE FUNCTION refuse();"
)


@pytest.mark.usefixtures("stored")
async def test_if_the_access_event_cannot_be_written_nothing_is_returned(app: Litestar) -> None:
    now = datetime.now(UTC)
    async with own_database(app) as database:
        async with raw_transaction(database) as connection:
            await connection.execute(REFUSE)
        returned = None
        with pytest.raises(asyncpg.RaiseError):
            async with raw_transaction(database) as connection:
                patient_id = await find_patient(connection, CCCD)
                assert patient_id is not None
                returned = await read_records(connection, Reader.operator("ops", "why"), patient_id, now)
        assert returned is None
    assert await count(app, "access_event") == 0


# --- Check G1 at the routes ----------------------------------------------------------------------------------


@dataclass
class Setting:
    """The sample patient's records, a share of them (a summary), and a receptionist of the sample facility
    signed in (`desk`: their staff cookie)."""

    app: Litestar
    client: Client
    clock: FakeClock
    share: dict[str, Any]
    desk: str
    records: frozenset[str]  # `Type/id` of every record of the patient's book, as the patient reads it

    @property
    def payload(self) -> dict[str, Any]:
        return decode_shlink(self.share["shlink"])

    def as_desk(self) -> None:
        self.client.cookies.clear()
        self.client.cookies.set(STAFF_COOKIE, self.desk)

    def as_recipient(self) -> None:
        self.client.cookies.clear()


@pytest.fixture
async def setting(app: Litestar, client: Client, clock: FakeClock, patient: dict[str, str]) -> Setting:
    book = await client.get("/api/patient/v1/book/fhir", headers=patient)  # the owner's read: not logged
    assert book.status_code == 200, book.text
    records = frozenset(f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in book.json()["entry"])
    assert len(records) == 10
    share = await make_share(client, patient, expires_in=7200)
    member = await add_member(app, FACILITY, "le.tan", "receptionist")
    client.cookies.clear()
    desk = await signed_in_member(client, app, member)
    client.cookies.clear()
    assert await count(app, "access_event") == 0
    return Setting(app, client, clock, share, desk, records)


@dataclass(frozen=True)
class Expected:
    """Who the access event must name."""

    actor: str
    role: str
    channel: str
    facility: str | None  # the reader's facility code; None for a recipient outside, who names themself


@dataclass(frozen=True)
class Access:
    """One read, ready to be made again and again: the request, and the document its answer carries."""

    request: Callable[[], Awaitable[Any]]
    document: Callable[[Any], dict[str, Any] | None]
    expected: Expected


def entries(document: dict[str, Any]) -> set[str]:
    return {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in document["entry"]}


def embedded_document(setting: Setting) -> Callable[[Any], dict[str, Any]]:
    def document(answer: Any) -> dict[str, Any]:
        (file,) = answer.json()["files"]
        return dict(json.loads(decrypt_jwe(file["embedded"], setting.payload["key"])))

    return document


AS_RECIPIENT = Expected(RECIPIENT, "recipient", "shl", None)
AS_DESK = Expected("le.tan", "receptionist", "reception", FACILITY)


async def manifest_by_a_recipient(setting: Setting) -> Access:
    async def request() -> Any:
        setting.as_recipient()
        return await fetch_manifest(setting.client, setting.payload)

    return Access(request, embedded_document(setting), AS_RECIPIENT)


async def manifest_by_a_signed_in_receptionist(setting: Setting) -> Access:
    async def request() -> Any:
        setting.as_desk()  # whatever the body's `recipient` says: the staff member and their facility
        return await fetch_manifest(setting.client, setting.payload)

    return Access(request, embedded_document(setting), AS_DESK)


async def file_at_its_location(setting: Setting) -> Access:
    """A file too large to embed: the manifest that names its location is a read (one event, before the
    counting starts); each fetch of the file is another, logged as the recipient who asked for it."""
    setting.as_recipient()
    manifest = await fetch_manifest(setting.client, setting.payload, embeddedLengthMax=0)
    assert manifest.status_code == 200, manifest.text
    (file,) = manifest.json()["files"]
    location = path_of(file["location"])

    async def request() -> Any:
        setting.as_recipient()
        return await setting.client.get(location)

    def document(answer: Any) -> dict[str, Any]:
        return dict(json.loads(decrypt_jwe(answer.text, setting.payload["key"])))

    return Access(request, document, AS_RECIPIENT)


async def scan_at_the_desk(setting: Setting) -> Access:
    async def request() -> Any:
        setting.as_desk()
        return await post_form(setting.client, "/reception", scan=setting.share["viewer_url"])

    return Access(request, lambda answer: None, AS_DESK)  # a page: its records are checked by the ids logged


async def bundle_at_the_desk(setting: Setting) -> Access:
    async def request() -> Any:
        setting.as_desk()
        return await post_form(setting.client, "/reception/bundle", scan=setting.share["shlink"])

    return Access(request, lambda answer: dict(answer.json()), AS_DESK)


READS_BY_OTHERS: dict[str, dict[str, Callable[[Setting], Awaitable[Access]]]] = {
    # The manifest of a share (contract §5): anyone holding the link; a signed-in receptionist as themself.
    "POST /api/shl/{token}": {
        "a recipient": manifest_by_a_recipient,
        "a signed-in receptionist": manifest_by_a_signed_in_receptionist,
    },
    "GET /api/shl/files/{token}": {"a recipient": file_at_its_location},
    # The reception desk (contract §6): the page that shows a scanned share, and its FHIR Bundle.
    "POST /reception": {"a receptionist": scan_at_the_desk},
    "POST /reception/bundle": {"a receptionist": bundle_at_the_desk},
}

PUBLIC = "public, the same for everyone: the app shell, static files, health, the API description"
SIGN_IN = "signing in: a form, a code or tokens for the phone or person proven; at most the list of that "
SIGN_IN += "phone's books (name, masked CCCD) to the holder of its code: the patient's own way in (check A)"
DEMO_IDP = "the built-in demo identity provider (APP_ENV=dev only; none in prod): fictitious demo people, "
DEMO_IDP += "no health data"
STAFF_ACCOUNT = "staff accounts and sessions: usernames, passwords, TOTP keys, never a patient's data"
FACILITY_ADMIN = "the facility admin's page and actions: its delivery log (times, statuses, reasons, hashes), "
FACILITY_ADMIN += "its staff, its certificates and webhook secret; no patient's data"
HOSPITAL_PUSH = "a hospital's signed push: the answer is about what it sent itself (transaction-response, "
HOSPITAL_PUSH += "OperationOutcome), never stored data; C1 MATRIX shows another facility's push gets nothing"

NO_HEALTH_DATA_FOR_OTHERS: dict[str, str] = {
    **{
        route: PUBLIC
        for route in (
            "GET /",
            "GET /offline",
            "GET /manifest.webmanifest",
            "GET /sw.js",
            "GET /healthz",
            "POST /language",
            "GET /static/{file_path}",
            "HEAD /static/{file_path}",
            "GET /schema",
            "GET /schema/openapi.json",
            "GET /schema/openapi.yml",
            "GET /schema/openapi.yaml",
            "GET /schema/{path}",
            "GET /api/patient/v1/privacy-notice",
        )
    },
    "GET /view": "the receiving viewer: a static page; the link after `#` never reaches the server, and the "
    "viewer's manifest request is POST /api/shl/{token}",
    **{
        route: SIGN_IN
        for route in (
            "GET /login",
            "POST /login",
            "GET /login/code",
            "POST /login/code",
            "GET /login/oidc",
            "GET /login/oidc/callback",
            "POST /api/patient/v1/auth/otp",
            "POST /api/patient/v1/auth/otp/verify",
            "POST /api/patient/v1/auth/refresh",
            "POST /api/patient/v1/auth/oidc/token",
        )
    },
    **{
        route: DEMO_IDP
        for route in (
            "GET /demo-idp/.well-known/openid-configuration",
            "GET /demo-idp/jwks.json",
            "GET /demo-idp/authorize",
            "POST /api/demo-idp/token",
        )
    },
    **{route: STAFF_ACCOUNT for route in ("GET /staff/login", "POST /staff/login", "POST /staff/logout")},
    "GET /reception": "the desk's empty scan box: a share opens only through POST /reception",
    **{
        route: FACILITY_ADMIN
        for route in (
            "GET /staff/facility",
            "POST /staff/facility/webhook-secret",
            "POST /staff/facility/members/{username}/disable",
            "POST /staff/facility/members/{username}/password",
            "POST /staff/facility/members/{username}/totp",
        )
    },
    **{route: HOSPITAL_PUSH for route in ("POST /api/hospital/v1/{code}/fhir", "POST /api/hospital/v1/{code}/xml130")},
}


def reads_by_others() -> list[tuple[str, str]]:
    return [(route, who) for route, readers in READS_BY_OTHERS.items() for who in readers]


async def new_events(app: Litestar, after_id: int) -> list[Any]:
    return await fetch(
        app,
        "SELECT e.*, f.code AS facility_code FROM access_event e LEFT JOIN facility f ON f.id = e.facility_id"
        " WHERE e.id > $1 ORDER BY e.id",
        after_id,
    )


async def last_event_id(app: Litestar) -> int:
    (row,) = await fetch(app, "SELECT coalesce(max(id), 0) AS id FROM access_event")
    return int(row["id"])


def assert_shows_nothing_of_the_patient(answer: Any, setting: Setting) -> None:
    seen = answer.text + "\n" + "\n".join(f"{name}: {value}" for name, value in answer.headers.multi_items())
    shown = [marker for marker in (*HEALTH_DATA, *setting.records) if marker in seen]
    assert not shown, f"{answer.request.method} {answer.request.url.path} → {answer.status_code} shows {shown}"


def test_g1_every_route_is_classed_by_who_may_see_health_data_through_it(app: Litestar) -> None:
    """G1, the route list: every route of `app.routes` that anyone but the patient may call (by the C3
    allow table) is in READS_BY_OTHERS or NO_HEALTH_DATA_FOR_OTHERS, in one only; no entry is stale."""
    routes = set(app_routes(app))
    assert routes <= ALLOW.keys(), "routes the C3 allow table does not name: see test_function_level_access.py"
    owners = {route for route in routes if ALLOW[route] == PATIENT}
    others = routes - owners
    unclassed = sorted(others - READS_BY_OTHERS.keys() - NO_HEALTH_DATA_FOR_OTHERS.keys())
    assert not unclassed, (
        "routes someone other than the patient may call, in neither READS_BY_OTHERS (probe that each read "
        f"writes one access event) nor NO_HEALTH_DATA_FOR_OTHERS (say why it shows no health data): {unclassed}"
    )
    assert not READS_BY_OTHERS.keys() & NO_HEALTH_DATA_FOR_OTHERS.keys()
    stale = sorted((READS_BY_OTHERS.keys() | NO_HEALTH_DATA_FOR_OTHERS.keys()) - others)
    assert not stale, f"entries for routes that no longer exist, or that only the patient may call: {stale}"


@pytest.mark.parametrize(("route", "who"), reads_by_others(), ids=[f"{r} by {w}" for r, w in reads_by_others()])
async def test_g1_each_read_by_another_writes_exactly_one_complete_access_event(
    setting: Setting, route: str, who: str
) -> None:
    """G1: each read of the patient's records by someone else, through this route, writes exactly one
    access event, with the reader's name, role and facility, the clock's time in UTC, the purpose, the
    channel, and the resource types and ids of what the answer carried (see the module docstring)."""
    access = await READS_BY_OTHERS[route][who](setting)
    patient_id = (await fetch(setting.app, "SELECT id FROM patient WHERE cccd = $1", CCCD))[0]["id"]
    for read in (1, 2):
        setting.clock.advance(minutes=read)  # each read at a time of its own
        before = await last_event_id(setting.app)
        answer = await access.request()
        assert answer.status_code == 200, answer.text
        (event,) = await new_events(setting.app, before)  # exactly one per read
        expected = access.expected
        assert (event["actor"], event["actor_role"], event["channel"]) == (
            expected.actor,
            expected.role,
            expected.channel,
        )
        assert event["facility_code"] == expected.facility and event["patient_id"] == patient_id
        assert event["at"] == setting.clock.now and event["at"].utcoffset() == timedelta(0)
        assert event["purpose"] == PURPOSE
        logged = set(event["resource_ids"])
        assert len(event["resource_ids"]) == len(logged)
        assert setting.records <= logged  # a summary of this small book: every record of it
        assert {reference.split("/")[0] for reference in logged - setting.records} <= MADE_FOR_THE_DOCUMENT
        assert event["resource_types"] == sorted({reference.split("/")[0] for reference in logged})
        document = access.document(answer)
        if document is not None:  # what was logged is what the answer carried
            assert logged <= entries(document)
            made = entries(document) - setting.records
            assert {reference.split("/")[0] for reference in made} <= MADE_FOR_THE_DOCUMENT, made


async def test_g1_routes_said_to_show_no_health_data_show_none_to_others(
    setting: Setting, app: Litestar, client: Client
) -> None:
    """G1, the other side of the route list: while the patient's records and a live share are stored, the
    GET and HEAD routes said to show no health data show none of the patient's identity, diagnoses,
    medicines or record ids, in body or headers, to anyone, a receptionist or a facility admin (path
    parameters as test_function_level_access.py fills them), and write no access event."""
    member = await add_member(app, FACILITY, "quan.tri", "facility_admin")
    client.cookies.clear()
    admin = await signed_in_member(client, app, member)
    safe = sorted(route for route in NO_HEALTH_DATA_FOR_OTHERS if route.startswith(("GET ", "HEAD ")))
    assert len(safe) > 20
    for cookie in (None, setting.desk, admin):
        for route in safe:
            method, path = concrete(route)
            client.cookies.clear()
            if cookie is not None:
                client.cookies.set(STAFF_COOKIE, cookie)
            answer = await client.request(method, path, follow_redirects=False)
            assert answer.status_code < 500, (route, answer.text)
            assert_shows_nothing_of_the_patient(answer, setting)
    assert await count(app, "access_event") == 0


@pytest.mark.parametrize(("route", "who"), reads_by_others(), ids=[f"{r} by {w}" for r, w in reads_by_others()])
async def test_g1_if_the_access_event_cannot_be_written_the_route_answers_5xx_with_no_health_data(
    setting: Setting, route: str, who: str, app: Litestar
) -> None:
    """G1 fail-closed (gap 14): while a trigger refuses every insert into `access_event`, this read answers
    5xx with none of the patient's data, no manifest files or Bundle entries and no encrypted document,
    and keeps nothing of the read (no access event, no open counted); once the trigger is dropped, the
    same request answers 200 and writes its one event."""
    access = await READS_BY_OTHERS[route][who](setting)
    events, opens = await count(app, "access_event"), await count(app, "share_open")
    jwes = {row["jwe"] for row in await fetch(app, "SELECT jwe FROM share_file")}
    async with own_database(app) as database, raw_transaction(database) as connection:
        await connection.execute(REFUSE)
    try:
        answer = await access.request()
        assert answer.status_code >= 500, (answer.status_code, answer.text)
        assert_shows_nothing_of_the_patient(answer, setting)
        assert '"files"' not in answer.text and "entry" not in answer.text
        assert not [jwe for jwe in jwes if jwe in answer.text], "the encrypted document was sent"
        assert (await count(app, "access_event"), await count(app, "share_open")) == (events, opens)
    finally:
        async with own_database(app) as database, raw_transaction(database) as connection:
            await connection.execute("DROP TRIGGER refuse ON access_event; DROP FUNCTION refuse();")
    again = await access.request()
    assert again.status_code == 200, again.text
    assert await count(app, "access_event") == events + 1
