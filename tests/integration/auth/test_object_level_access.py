"""Check C1: object-level authorization over every route (OWASP API1; ASVS 8.2.2, 8.3.1; contract §3.1, §4).

Two patients at two hospitals: A (Nguyễn Văn An, the sample visit at facility 01929) and B (Trần Thị Bình,
at facility 01010). B is signed in twice, with an app's Bearer token and with a browser's session cookie,
and uses A's identifiers (A's book id, the `Type/id` of A's records as `/book/fhir` serves them, A's
sign-in challenge, A's facility code) in the path, the body and the query of every route. Nothing of A
may come back (A's name, CCCD, masked CCCD, insurance number, phone, book id or record ids), nothing of
A may change, and B's session stays on B's own book.

`MATRIX` below names every route that takes a parameter (a path parameter, a query parameter or a body
field, found by introspecting `app.routes`; and the query parameters a handler reads from
`request.query_params` itself, which the route table does not list, found in the handler's source) with
how B tries A's ids there and what must come back, or with the reason it is exempt. A route with a
parameter and no entry fails `test_c1_every_route_with_a_parameter_has_a_matrix_entry`: a new route must
say here how it is checked.

Not done here: the schemathesis `object_level_authorization` run of C1 (schemathesis is not installed).
"""

from __future__ import annotations

import inspect
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import msgspec
import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute

from backend.consent import NOTICE_VERSION
from backend.healthbook.sections import SECTIONS
from tests.integration.auth.test_function_level_access import logged_refusal
from tests.integration.sharing.page_probes import a_share_page_by_its_id
from tests.integration.sharing.shl import decode_shlink, path_of
from tests.support.clock import FakeClock
from tests.support.hospital import CCCD, FACILITY, Hospital, count, fetch, register, sample
from tests.support.patients import (
    CSRF_COOKIE,
    PHONE,
    PHONE_E164,
    SESSION_COOKIE,
    Client,
    Outbox,
    bearer,
    browser_cookies,
    issue_code,
    patient_uuid,
    push_patient,
    sign_in_app,
)
from tests.support.xml130 import XML, envelope, push_xml, sample_tables, with_field

BOOK = "/api/patient/v1/book"
BUNDLE = "/api/patient/v1/book/fhir"
SELECT = "/api/patient/v1/auth/select"

A_NAME = "Nguyễn Văn An"
A_MASKED_CCCD = "001******345"
A_INSURANCE_NUMBER = "DN4010123456789"
A_PATIENT = "Patient/bn-012345"  # A's Patient at facility A, as facility A refers to it
A_ENCOUNTER = "Encounter/kb-20251002-01"  # one of facility A's own ids for A's records

FACILITY_B = "01010"
B_CCCD, B_NAME, B_PHONE = "079085054321", "Trần Thị Bình", "0987 654 321"
B_PHONE_E164 = "+84987654321"
B_PATIENT = "Patient/bn-054321"  # B at facility B, as push_patient names B

SIGN_OUT_ROUTES = ("POST /logout", "POST /logout/everywhere", "POST /api/patient/v1/auth/logout")
OTP_INTERVAL = 61  # seconds: one code a minute per phone (check A4)


# --- The two patients -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """One way B calls: an app with a Bearer token, or a browser with its session cookie. Both carry B's
    CSRF token, so a refusal here is the object check's, never the CSRF check's."""

    name: str
    headers: dict[str, str]


@dataclass
class World:
    app: Litestar
    client: Client
    clock: FakeClock
    outbox: Outbox
    facility_a: Hospital
    facility_b: Hospital
    a_book: str
    b_book: str
    a_token: str
    a_bundle: dict[str, Any]
    b_callers: tuple[Caller, ...]  # B's app (Bearer) and B's browser (cookie)

    @property
    def a_served_ids(self) -> list[str]:
        """`Type/id` of every record of A, as `/book/fhir` serves them."""
        return [f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in self.a_bundle["entry"]]

    @property
    def a_markers(self) -> set[str]:
        """What must never reach B: A's identity and every identifier of A's data."""
        served = self.a_served_ids
        return {
            A_NAME,
            CCCD,
            A_MASKED_CCCD,
            A_INSURANCE_NUMBER,
            PHONE_E164,
            PHONE.replace(" ", ""),  # spaced, it is also the example the sign-in page gives for any phone
            self.a_book,
            *served,
            *(key.split("/", 1)[1] for key in served),
        }

    async def call(self, caller: Caller | None, method: str, path: str, **options: Any) -> Any:
        """One request with exactly this caller's credentials (the client's own cookie jar is emptied)."""
        self.client.cookies.clear()
        headers = {**(caller.headers if caller else {}), **options.pop("headers", {})}
        return await self.client.request(method, path, headers=headers, follow_redirects=False, **options)

    async def a_bundle_now(self) -> dict[str, Any]:
        response = await self.call(None, "GET", BUNDLE, headers=bearer(self.a_token))
        assert response.status_code == 200, response.text
        return dict(response.json())


def assert_nothing_of_a(world: World, response: Any, *, reflected: tuple[str, ...] = ()) -> None:
    """Neither the body nor any header (a `Location`, a cookie) holds anything of A. Pages echo their own
    path (the language switch returns there), and `reflected` are values B sent itself that the route
    may show again (a form keeping what was typed): B learns nothing from seeing its own request."""
    seen = response.text + "\n" + "\n".join(f"{name}: {value}" for name, value in response.headers.multi_items())
    seen = seen.replace(f'name="next" value="{unquote(response.request.url.path)}"', "")
    leaked = sorted(marker for marker in world.a_markers - set(reflected) if marker in seen)
    assert not leaked, f"{response.request.method} {response.request.url} → {response.status_code} shows {leaked}"
    assert response.status_code < 500, response.text


def assert_same_answer(for_a: Any, for_nothing: Any) -> None:
    """A's id answers exactly as an id of nothing at all: not even a hint that A's exists (what differs on
    every page aside: its request id and its script nonce)."""
    per_request = re.compile(r"[0-9a-f]{32}|nonce=\"[^\"]*\"")
    assert for_a.status_code == for_nothing.status_code, (for_a.text, for_nothing.text)
    assert per_request.sub("", for_a.text) == per_request.sub("", for_nothing.text)


async def assert_b_reads_only_b(world: World) -> None:
    for caller in world.b_callers:
        response = await world.call(caller, "GET", BOOK)
        assert response.status_code == 200, (caller.name, response.text)
        assert response.json()["patient"]["name"] == B_NAME, caller.name
        assert_nothing_of_a(world, response)


async def assert_a_untouched(world: World) -> None:
    """A's book is exactly what it was, and A is still signed in."""
    now = await world.a_bundle_now()
    assert {**now, "timestamp": None} == {**world.a_bundle, "timestamp": None}


async def sign_in_browser(client: Client, outbox: Outbox, phone: str) -> Caller:
    """The web sign-in forms, as a browser without JavaScript; that browser, as a caller."""
    session, csrf = await browser_cookies(client, outbox, phone)
    return Caller("cookie", {"Cookie": f"{SESSION_COOKIE}={session}; {CSRF_COOKIE}={csrf}", "X-CSRF-Token": csrf})


@pytest.fixture
async def world(app: Litestar, client: Client, clock: FakeClock, outbox: Outbox) -> World:
    facility_a = Hospital(client, FACILITY, await register(app, FACILITY))
    pushed = await facility_a.push(sample("fhir-visit-bundle.json"), timestamp=int(clock.now.timestamp()))
    assert pushed.status_code == 200, pushed.text  # A's visit: the sample patient
    facility_b = Hospital(client, FACILITY_B, await register(app, FACILITY_B, "Trạm y tế phường Bình"))
    await push_patient(facility_b, B_CCCD, B_NAME, B_PHONE, timestamp=int(clock.now.timestamp()))
    a_token = str((await sign_in_app(client, outbox))["access_token"])
    b_token = str((await sign_in_app(client, outbox, B_PHONE))["access_token"])
    clock.advance(seconds=OTP_INTERVAL)  # B's second code, for the browser
    browser = await sign_in_browser(client, outbox, B_PHONE)
    csrf = browser.headers["X-CSRF-Token"]
    app_caller = Caller("bearer", {**bearer(b_token), "Cookie": f"{CSRF_COOKIE}={csrf}", "X-CSRF-Token": csrf})
    built = World(
        app=app,
        client=client,
        clock=clock,
        outbox=outbox,
        facility_a=facility_a,
        facility_b=facility_b,
        a_book=await patient_uuid(app, CCCD),
        b_book=await patient_uuid(app, B_CCCD),
        a_token=a_token,
        a_bundle={},
        b_callers=(app_caller, browser),
    )
    built.a_bundle = await built.a_bundle_now()
    assert len(built.a_served_ids) == 10
    await assert_b_reads_only_b(built)
    return built


# --- How B tries A's ids, route by route --------------------------------------------------------------------


async def select_a_book(world: World) -> None:
    for caller in world.b_callers:
        opened = await world.call(caller, "POST", SELECT, json={"book_id": world.a_book})
        assert opened.status_code == 404, (caller.name, opened.text)
        assert_nothing_of_a(world, opened, reflected=(world.a_book,))
        assert_same_answer(opened, await world.call(caller, "POST", SELECT, json={"book_id": str(uuid.uuid4())}))
        # A's id in the query next to B's own in the body: the body decides, and it is B's own book.
        own = await world.call(caller, "POST", SELECT, json={"book_id": world.b_book}, params=query_of_a(world))
        assert own.status_code == 200, (caller.name, own.text)
        assert own.json()["book"]["id"] == world.b_book
        assert_nothing_of_a(world, own)


async def choose_a_book_on_the_page(world: World) -> None:
    for caller in world.b_callers:
        opened = await world.call(caller, "POST", "/login/choose", data={"book": world.a_book})
        assert opened.status_code == 404, (caller.name, opened.text)
        assert_nothing_of_a(world, opened)
        assert_same_answer(opened, await world.call(caller, "POST", "/login/choose", data={"book": str(uuid.uuid4())}))
        # Extra fields naming A's book are ignored: B's own book opens.
        own = {"book": world.b_book, "book_id": world.a_book, "patient_id": world.a_book}
        opened = await world.call(caller, "POST", "/login/choose", data=own, params=query_of_a(world))
        assert (opened.status_code, opened.headers.get("location")) == (303, "/book"), opened.text
        assert_nothing_of_a(world, opened)


async def activate_with_a_ids(world: World) -> None:
    """The activation code is a secret a hospital prints for its patient: holding it is the authority
    (so A's real code is not tried). A's ids in its place open nothing. Ten tries here (2 callers x 5):
    the per-phone limit answers 429 from the eleventh wrong code in an hour, which is another check."""
    for caller in world.b_callers:
        for guess in (world.a_book, CCCD):
            api = await world.call(caller, "POST", "/api/patient/v1/auth/activate", json={"code": guess})
            page = await world.call(caller, "POST", "/activate", data={"code": guess, "book": world.a_book})
            assert (api.status_code, page.status_code) == (400, 400), (caller.name, api.text, page.text)
            assert_nothing_of_a(world, api)
            assert_nothing_of_a(world, page)
        nothing = await world.call(caller, "POST", "/api/patient/v1/auth/activate", json={"code": str(uuid.uuid4())})
        assert_same_answer(api, nothing)
    assert await count(world.app, "book_access", f"phone = '{B_PHONE_E164}'") == 0


async def refresh_with_a_ids(world: World) -> None:
    """A refresh token is a credential, not a name for anything: A's ids in its place answer 401."""
    for caller in world.b_callers:
        for guess in (world.a_book, world.a_served_ids[0]):
            refreshed = await world.call(caller, "POST", "/api/patient/v1/auth/refresh", json={"refresh_token": guess})
            assert refreshed.status_code == 401, (caller.name, refreshed.text)
            assert "access_token" not in refreshed.json()
            assert_nothing_of_a(world, refreshed)


async def ask_a_code_for_a_phone(world: World) -> None:
    """B may ask for a code for A's phone (anyone may: check A6), but learns nothing of A, and the code
    goes to A's phone only."""
    world.clock.advance(seconds=OTP_INTERVAL)
    b_messages = len([m for m in world.outbox.messages() if m["to"] == B_PHONE_E164])
    a_messages = len([m for m in world.outbox.messages() if m["to"] == PHONE_E164])
    sent = await world.call(world.b_callers[0], "POST", "/api/patient/v1/auth/otp", json={"phone": PHONE})
    assert sent.status_code == 202, sent.text
    assert set(sent.json()) == {"challenge_id", "expires_in"}
    assert_nothing_of_a(world, sent, reflected=(PHONE,))
    world.clock.advance(seconds=OTP_INTERVAL)
    page = await world.call(world.b_callers[1], "POST", "/login", data={"phone": PHONE})
    assert page.status_code == 303 and page.headers["location"].startswith("/login/code?c="), page.text
    assert_nothing_of_a(world, page, reflected=(PHONE,))
    assert len([m for m in world.outbox.messages() if m["to"] == PHONE_E164]) == a_messages + 2
    assert len([m for m in world.outbox.messages() if m["to"] == B_PHONE_E164]) == b_messages


async def verify_b_code_against_a_challenge(world: World) -> None:
    """A challenge for A's phone (B can get its id: it asked for it) with B's own valid code: refused,
    no session. B's code is bound to B's challenge, as A's is to A's (check A3)."""
    world.clock.advance(seconds=OTP_INTERVAL)
    for_a = await world.call(None, "POST", "/api/patient/v1/auth/otp", json={"phone": PHONE})
    a_challenge = for_a.json()["challenge_id"]
    b_sent = await world.call(None, "POST", "/api/patient/v1/auth/otp", json={"phone": B_PHONE})
    assert (for_a.status_code, b_sent.status_code) == (202, 202), (for_a.text, b_sent.text)
    b_code = world.outbox.last_code(B_PHONE_E164)
    sessions = await count(world.app, "auth_session")
    for caller in world.b_callers:
        api = await world.call(
            caller, "POST", "/api/patient/v1/auth/otp/verify", json={"challenge_id": a_challenge, "code": b_code}
        )
        assert api.status_code == 400 and "access_token" not in api.json(), api.text
        assert_nothing_of_a(world, api)
        page = await world.call(caller, "POST", "/login/code", data={"challenge": a_challenge, "code": b_code})
        assert page.status_code == 400, page.text
        assert SESSION_COOKIE not in page.headers.get("set-cookie", "")
        assert_nothing_of_a(world, page)
        shown = await world.call(caller, "GET", "/login/code", params={"c": a_challenge})
        assert shown.status_code == 200
        assert_nothing_of_a(world, shown)
    assert await count(world.app, "auth_session") == sessions


async def consent_for_a(world: World) -> None:
    """Consent is recorded for the session's own book, whatever the body names."""
    for caller in world.b_callers:
        api = await world.call(
            caller,
            "POST",
            "/api/patient/v1/consent",
            json={"version": NOTICE_VERSION, "patient_id": world.a_book, "book_id": world.a_book},
            params=query_of_a(world),
        )
        assert api.status_code == 204, api.text
        page = await world.call(
            caller, "POST", "/consent", data={"accept": "1", "book": world.a_book, "patient_id": world.a_book}
        )
        assert (page.status_code, page.headers.get("location")) == (303, "/book"), page.text
        assert_nothing_of_a(world, api)
        assert_nothing_of_a(world, page)
    assert await count(world.app, "consent", f"patient_id = '{world.a_book}'") == 0
    assert await count(world.app, "consent", f"patient_id = '{world.b_book}'") == 1


async def forget_a_phone(world: World) -> None:
    """A confirmed A's own phone on A's book (an activation code). B asks to forget that phone: the book
    is always the session's own, so there is nothing of B's to forget: 404, and A's confirmation stays."""
    code = await issue_code(world.app, CCCD)
    activated = await world.call(
        None, "POST", "/api/patient/v1/auth/activate", json={"code": code}, headers=bearer(world.a_token)
    )
    assert activated.status_code == 200, activated.text
    confirmed = f"patient_id = '{world.a_book}' AND phone = '{PHONE_E164}'"
    assert await count(world.app, "book_access", confirmed) == 1
    for caller in world.b_callers:
        for phone in (PHONE, PHONE_E164):
            form = {"phone": phone, "book": world.a_book, "patient_id": world.a_book}
            forgotten = await world.call(caller, "POST", "/settings/phones/forget", data=form, params=query_of_a(world))
            assert forgotten.status_code == 404, (caller.name, forgotten.text)
            assert_nothing_of_a(world, forgotten)
        nobody = await world.call(caller, "POST", "/settings/phones/forget", data={"phone": "0911 000 111"})
        assert_same_answer(forgotten, nobody)
    assert await count(world.app, "book_access", confirmed) == 1


async def give_consent(world: World, *callers: Caller) -> None:
    """The book's pages first ask for consent (a 303 to it, not the page): given, for each caller."""
    notice = await world.call(None, "GET", "/api/patient/v1/privacy-notice")
    for caller in callers:
        consent = await world.call(
            caller, "POST", "/api/patient/v1/consent", json={"version": notice.json()["version"]}
        )
        assert consent.status_code == 204, consent.text


# The days of A's visit (2 October 2025), as the narrowing form sends them.
A_VISIT_DAYS = {"since": "2025-10-01", "until": "2025-10-31"}


async def read_sections_with_a_ids(world: World) -> None:
    """Every part of the book, as B, narrowed by A's facility, the days of A's visit and A's words, with
    A's ids in the query: B's own records or nothing, never A's."""
    await give_consent(world, *world.b_callers)
    for caller in world.b_callers:
        for section in (*SECTIONS, "Patient", world.a_book):
            query = {**query_of_a(world), "facility": FACILITY, **A_VISIT_DAYS, "q": "Nguyễn"}
            page = await world.call(caller, "GET", f"/book/{section}", params=query)
            assert page.status_code == (200 if section in SECTIONS else 404), (caller.name, section, page.text[:300])
            assert_nothing_of_a(world, page, reflected=("Nguyễn",))


# Words of A's records: A's allergy, A's lab test, A's follow-up visit, A's prescription's code.
A_WORDS = ("Penicillin", "Hemoglobin", "Tái khám", "84g7vsu")
B_WORDS = "phường Bình"  # in the name of B's facility, which the search reads with each of its records
FOUND = 'id="found-'  # a part of the book with matches, on the search page


async def search_with_a_words(world: World) -> None:
    """The whole-book search (`q`, `facility`, `since`, `until`, read from the query string) as B, for
    words of A's records, narrowed by A's facility and the days of A's visit, with A's ids in the query:
    no part of the book has a match, and nothing of A is shown (the word itself aside: B typed it).
    Controls, so that this nothing means something: A, narrowed to A's facility, finds every one of those
    words in A's own book; and B finds B's own visit by its facility's name unless narrowed to A's facility."""
    a_caller = Caller("A's app", bearer(world.a_token))
    await give_consent(world, a_caller, *world.b_callers)
    for word in A_WORDS:
        query = {"q": word, "facility": FACILITY}
        own = await world.call(a_caller, "GET", "/book/search", params=query)
        assert own.status_code == 200 and FOUND in own.text, (word, own.text[:300])
        for caller in world.b_callers:
            for narrowed in ({"q": word}, query, {**query_of_a(world), **query, **A_VISIT_DAYS}):
                found = await world.call(caller, "GET", "/book/search", params=narrowed)
                assert found.status_code == 200, (caller.name, found.text[:300])
                assert FOUND not in found.text, (caller.name, narrowed)
                assert_nothing_of_a(world, found, reflected=(word,))
    for caller in world.b_callers:
        mine = await world.call(caller, "GET", "/book/search", params={"q": B_WORDS, "facility": FACILITY_B})
        assert mine.status_code == 200 and FOUND in mine.text, (caller.name, mine.text[:300])
        at_a = await world.call(caller, "GET", "/book/search", params={"q": B_WORDS, "facility": FACILITY})
        assert FOUND not in at_a.text, caller.name
        assert_nothing_of_a(world, mine)
        assert_nothing_of_a(world, at_a)


async def a_appointment_in_a_calendar(world: World) -> None:
    """A's appointment as a calendar file, asked for by B: the same 404 as an appointment of nobody."""
    appointments = [served.split("/", 1)[1] for served in world.a_served_ids if served.startswith("Appointment/")]
    assert appointments, "the sample visit has a follow-up appointment"
    for caller in world.b_callers:
        for appointment_id in appointments:
            answer = await world.call(caller, "GET", f"/book/calendar/{appointment_id}")
            assert answer.status_code == 404, (caller.name, answer.text[:300])
            assert_nothing_of_a(world, answer, reflected=(appointment_id,))
            nobody = await world.call(caller, "GET", "/book/calendar/01929-nobody")
            assert nobody.status_code == 404  # the page names its own path (the language switch): the ids aside,
            per_request = re.compile(r"[0-9a-f]{32}|nonce=\"[^\"]*\"")  # the same page
            same = [per_request.sub("", text) for text in (answer.text.replace(appointment_id, "ID"), nobody.text)]
            assert same[0] == same[1].replace("01929-nobody", "ID")


async def a_document_file(world: World) -> None:
    """A's document file (facility A pushes one for A: a DocumentReference with its text inline, and one
    pointing at a Binary), asked for by B: the same 404 as a document of nobody, and not a byte of it."""
    secret = "R2nhuqV5IHJhIHZp4buHbiBj4bunYSBBOiBiw60gbeG6rXQ="  # base64 of "Giấy ra viện của A: bí mật"
    patient = json.loads(sample("fhir-visit-bundle.json"))["entry"][0]
    binary_url = "urn:uuid:3d5e7f90-1a2b-4c3d-8e4f-5a6b7c8d9e0f"
    document = {
        "resourceType": "DocumentReference",
        "status": "current",
        "subject": {"reference": patient["fullUrl"]},
        "content": [
            {"attachment": {"contentType": "text/plain", "title": "giấy ra viện", "data": secret}},
            {"attachment": {"contentType": "text/plain", "url": binary_url}},
        ],
    }
    binary = {"resourceType": "Binary", "contentType": "text/plain", "data": secret}
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            patient,
            {
                "fullUrl": binary_url,
                "resource": {**binary, "id": "gx-a"},
                "request": {"method": "POST", "url": "Binary"},
            },
            {"resource": {**document, "id": "tl-a"}, "request": {"method": "POST", "url": "DocumentReference"}},
        ],
    }
    pushed = await world.facility_a.push(bundle, timestamp=int(world.clock.now.timestamp()))
    assert pushed.status_code == 200, pushed.text
    world.a_bundle = await world.a_bundle_now()  # A's book now holds the document and its Binary
    documents = [s.split("/", 1)[1] for s in world.a_served_ids if s.startswith(("DocumentReference/", "Binary/"))]
    assert len(documents) == 2
    # A reads it (so the 404s below are B's, not a broken route).
    a_caller = Caller("A's app", bearer(world.a_token))
    consented = await world.call(a_caller, "POST", "/api/patient/v1/consent", json={"version": NOTICE_VERSION})
    assert consented.status_code == 204, consented.text
    for part in ("0", "1"):
        own = await world.call(a_caller, "GET", f"/book/documents/{FACILITY}-tl-a/file", params={"part": part})
        assert own.status_code == 200 and own.text == "Giấy ra viện của A: bí mật", own.text
    per_request = re.compile(r"[0-9a-f]{32}|nonce=\"[^\"]*\"")
    for caller in world.b_callers:
        for document_id in documents:
            for part in ("0", "1"):
                answer = await world.call(caller, "GET", f"/book/documents/{document_id}/file", params={"part": part})
                assert answer.status_code == 404, (caller.name, answer.text[:300])
                assert "bí mật" not in answer.text
                assert_nothing_of_a(world, answer, reflected=(document_id,))
                nobody = await world.call(
                    caller, "GET", f"/book/documents/{FACILITY}-nobody/file", params={"part": part}
                )
                assert nobody.status_code == 404
                same = [per_request.sub("", text) for text in (answer.text.replace(document_id, "ID"), nobody.text)]
                assert same[0] == same[1].replace(f"{FACILITY}-nobody", "ID")


async def push_to_a_code_with_b_secret(world: World, kind: str, body: bytes, content_type: str) -> None:
    """`{code}` is authenticated by that facility's own secret: B's secret at A's code, A's at B's, and
    a patient's Bearer token at either, are all 401 with nothing written (check E1)."""
    before = {table: await count(world.app, table) for table in ("record", "record_version", "delivery")}
    forged = [
        Hospital(world.client, FACILITY, world.facility_b.secret),
        Hospital(world.client, FACILITY_B, world.facility_a.secret),
    ]
    for hospital in forged:
        refused = await hospital.push(
            body, kind=kind, content_type=content_type, timestamp=int(world.clock.now.timestamp())
        )
        assert refused.status_code == 401, (hospital.code, refused.text)
        assert_nothing_of_a(world, refused)
    for caller in world.b_callers:
        refused = await world.call(
            caller, "POST", f"/api/hospital/v1/{FACILITY}/{kind}", content=body, headers={"content-type": content_type}
        )
        assert refused.status_code == 401, refused.text
        assert_nothing_of_a(world, refused)
    assert {table: await count(world.app, table) for table in before} == before


def encounter_bundle(encounter_id: str, subject: str) -> dict[str, Any]:
    """One encounter, of the patient `subject` names (`Patient/bn-054321`: B, as facility B knows B)."""
    encounter = {
        "resourceType": "Encounter",
        "id": encounter_id,
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": subject},
        "period": {"start": "2025-10-03T08:00:00+07:00"},
    }
    entry = {"resource": encounter, "request": {"method": "PUT", "url": f"Encounter/{encounter_id}"}}
    return {"resourceType": "Bundle", "type": "transaction", "entry": [entry]}


async def fhir_push_naming_a(world: World) -> None:
    body = json.dumps(encounter_bundle("kb-b", B_PATIENT)).encode()
    await push_to_a_code_with_b_secret(world, "fhir", body, "application/fhir+json")
    timestamp = int(world.clock.now.timestamp())
    # Facility B names A's Patient by facility A's id: it resolves only among B's own resources → 422.
    records = await count(world.app, "record")
    by_a_id = await world.facility_b.push(encounter_bundle("kb-b", A_PATIENT), timestamp=timestamp)
    assert by_a_id.status_code == 422, by_a_id.text
    assert_nothing_of_a(world, by_a_id, reflected=(A_PATIENT,))
    assert await count(world.app, "record") == records
    # Facility B reuses facility A's own id for an encounter of its own patient: a record of facility B,
    # filed under B; A's encounter of that id is untouched (checked after every probe).
    local_id = A_ENCOUNTER.split("/")[1]
    reused = await world.facility_b.push(encounter_bundle(local_id, B_PATIENT), timestamp=timestamp)
    assert reused.status_code == 200, reused.text
    assert_nothing_of_a(world, reused)
    (row,) = await fetch(
        world.app,
        "SELECT p.cccd FROM record r JOIN facility f ON f.id = r.facility_id JOIN patient p ON p.id = r.patient_id"
        " WHERE f.code = $1 AND r.resource_type = 'Encounter' AND r.resource_id = $2",
        FACILITY_B,
        local_id,
    )
    assert row["cccd"] == B_CCCD
    # Facility B deletes by facility A's ids and business identifiers, and updates by A's identifier:
    # conditional entries match this facility's own resources only, so A's records stay as they were.
    letter = {"system": "urn:vn:cskcb:01929:giay-hen-kham-lai", "value": "GH-95405"}  # A's appointment
    by_identifier = f"Appointment?identifier={letter['system']}|{letter['value']}"
    appointment = {
        "resourceType": "Appointment",
        "status": "booked",
        "identifier": [letter],
        "start": "2025-10-20T08:00:00+07:00",
        "end": "2025-10-20T08:30:00+07:00",
        "participant": [{"actor": {"reference": B_PATIENT}, "status": "accepted"}],
    }
    for entries, status, outcome in (
        # B's own encounter of that id (pushed above) is the one deleted: its version 2.
        ([{"request": {"method": "DELETE", "url": A_ENCOUNTER}}], 200, f"{A_ENCOUNTER}/_history/2"),
        ([{"request": {"method": "DELETE", "url": by_identifier}}], 422, "the condition matches no record"),
        ([{"resource": appointment, "request": {"method": "PUT", "url": by_identifier}}], 200, "201 Created"),
    ):
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
        answer = await world.facility_b.push(bundle, timestamp=timestamp)
        assert answer.status_code == status and outcome in answer.text, answer.text
        assert_nothing_of_a(world, answer, reflected=(A_ENCOUNTER,))
        await assert_a_untouched(world)


def as_sent_by(table: str, code: str, **fields: str) -> str:
    """A sample table (sent by 01002, about A) as facility `code` sends it, with `fields` changed."""
    table = with_field(table, "MA_CSKCB", code) if "<MA_CSKCB>" in table else table
    for name, value in fields.items():
        table = with_field(table, name, value)
    return table


def issue_at(response: Any) -> list[str]:
    return [expression for issue in response.json()["issue"] for expression in issue.get("expression", [])]


async def xml_push_naming_a(world: World) -> None:
    # Sent by facility A: the sample's sender (01002) refers A on to facility A; here A refers A on to it.
    tables = {kind: as_sent_by(table.replace(FACILITY, "01002"), FACILITY) for kind, table in sample_tables().items()}
    a_episode = envelope(list(tables.items()), code=FACILITY)
    await push_to_a_code_with_b_secret(world, "xml130", a_episode, XML)
    # Facility A files an episode of A's (MA_LK, the episode's id, is the facility's own).
    timestamp = int(world.clock.now.timestamp())
    stored = await push_xml(world.facility_a, a_episode, timestamp=timestamp)
    assert stored.status_code == 200, stored.text
    world.a_bundle = await world.a_bundle_now()  # A's book now holds the episode's records too
    records = await count(world.app, "record")
    # Facility B sends a bare table for A's episode: episodes are (facility, MA_LK), B has none → 422.
    refused = await push_xml(world.facility_b, tables["XML2"].encode(), timestamp=timestamp)
    assert refused.status_code == 422 and issue_at(refused) == ["XML2[0].MA_LK"], refused.text
    assert_nothing_of_a(world, refused)
    # Facility B names facility A as the sender, in the envelope or in a table: 422 (contract §3.3).
    for body in (
        envelope([("XML1", tables["XML1"])], code=FACILITY),
        envelope([("XML1", tables["XML1"])], code=FACILITY_B),
        as_sent_by(tables["XML2"], FACILITY, MA_CSKCB=FACILITY).encode(),
    ):
        refused = await push_xml(world.facility_b, body, timestamp=timestamp)
        assert refused.status_code == 422, refused.text
        assert_nothing_of_a(world, refused, reflected=(CCCD, A_NAME, A_INSURANCE_NUMBER))  # B sent them
    assert await count(world.app, "record") == records
    # Facility B has an episode of B's own under the same MA_LK: B's bare table goes to B, not to A.
    b_xml1 = as_sent_by(
        sample_tables()["XML1"],
        FACILITY_B,
        HO_TEN=B_NAME,
        SO_CCCD=B_CCCD,
        DIEN_THOAI=B_PHONE.replace(" ", ""),
        MA_THE_BHYT="DN4790850543210",
    )
    b_episode = await push_xml(world.facility_b, envelope([("XML1", b_xml1)], code=FACILITY_B), timestamp=timestamp)
    assert b_episode.status_code == 200, b_episode.text
    b_bare = await push_xml(world.facility_b, tables["XML2"].encode(), timestamp=timestamp)
    assert b_bare.status_code == 200, b_bare.text
    assert_nothing_of_a(world, b_bare)
    filed = await fetch(
        world.app,
        "SELECT DISTINCT p.cccd FROM record r JOIN facility f ON f.id = r.facility_id"
        " JOIN patient p ON p.id = r.patient_id WHERE f.code = $1",
        FACILITY_B,
    )
    assert [row["cccd"] for row in filed] == [B_CCCD]


async def asset_named_by_a_ids(world: World) -> None:
    await paths_named_by_a_ids(world, "/static")


async def schema_named_by_a_ids(world: World) -> None:
    await paths_named_by_a_ids(world, "/schema")


async def paths_named_by_a_ids(world: World, prefix: str) -> None:
    """Public files, the same for everyone: A's ids as file names find nothing."""
    for caller in (*world.b_callers, None):
        for name in (world.a_book, *world.a_served_ids[:3], f"fhir/{world.a_served_ids[0]}"):
            for method in ("GET", "HEAD"):
                found = await world.call(caller, method, f"{prefix}/{name}")
                assert found.status_code in (404, 405), (method, prefix, name, found.status_code)
                assert_nothing_of_a(world, found)


async def end_a_session(world: World) -> None:
    """B names A's session (its row id, which B could only guess) to end, with A's ids in the query: the
    session is not B's phone's, so 404 like a session of nobody, and A stays signed in."""
    (a_session,) = await fetch(
        world.app, "SELECT id FROM auth_session WHERE phone = $1 AND revoked_at IS NULL", PHONE_E164
    )
    for caller in world.b_callers:
        for value in (str(a_session["id"]), world.a_book):
            form = {"session": value, "patient_id": world.a_book}
            ended = await world.call(caller, "POST", "/settings/sessions/end", data=form, params=query_of_a(world))
            assert ended.status_code == 404, (caller.name, ended.text)
            assert_nothing_of_a(world, ended)
        nobody = await world.call(caller, "POST", "/settings/sessions/end", data={"session": str(uuid.uuid4())})
        assert_same_answer(ended, nobody)
    assert await count(world.app, "auth_session", f"phone = '{PHONE_E164}' AND revoked_at IS NULL") == 1


async def withdraw_a_consent(world: World) -> None:
    """A consented; B withdraws with A's book id in extra fields and in the query: B's own consent is what
    goes (there is none: nothing happens), A's stays."""
    given = await world.call(
        None, "POST", "/api/patient/v1/consent", json={"version": NOTICE_VERSION}, headers=bearer(world.a_token)
    )
    assert given.status_code == 204, given.text
    for caller in world.b_callers:
        form = {"confirm": "1", "patient_id": world.a_book, "book": world.a_book}
        withdrawn = await world.call(caller, "POST", "/settings/consent/withdraw", data=form, params=query_of_a(world))
        assert (withdrawn.status_code, withdrawn.headers.get("location")) == (303, "/settings"), withdrawn.text
        assert_nothing_of_a(world, withdrawn)
    assert await count(world.app, "consent", f"patient_id = '{world.a_book}'") == 1


async def national_id_sign_in_with_a_ids(world: World) -> None:
    """B starts the national-ID sign-in with A's ids as the native app's redirect, state and challenge,
    returns to the callback with A's ids as the code and state, and redeems A's ids as an app's handoff
    code: refused each time, showing nothing of A, and no session, book confirmation or handoff made."""
    sessions_before = await count(world.app, "auth_session")
    for caller in world.b_callers:
        as_app = {
            "app_redirect_uri": world.a_book,
            "app_state": world.a_book,
            "code_challenge": world.a_book,
            "code_challenge_method": "S256",
        }
        started = await world.call(caller, "GET", "/login/oidc", params=as_app)
        assert started.status_code == 400, started.text
        assert_nothing_of_a(world, started)
        plain = await world.call(caller, "GET", "/login/oidc", params=query_of_a(world))
        assert plain.status_code == 302, plain.text
        assert_nothing_of_a(world, plain)
        returned = await world.call(
            caller, "GET", "/login/oidc/callback", params={"code": world.a_book, "state": world.a_book}
        )
        assert returned.status_code == 400, returned.text
        assert_nothing_of_a(world, returned)
        redeemed = await world.call(
            caller,
            "POST",
            "/api/patient/v1/auth/oidc/token",
            json={"code": world.a_book, "code_verifier": world.a_book},
        )
        assert redeemed.status_code == 400, redeemed.text
        assert_nothing_of_a(world, redeemed)
    assert await count(world.app, "auth_session") == sessions_before
    assert await count(world.app, "book_access") == 0
    assert await count(world.app, "oidc_handoff") == 0


async def demo_provider_with_a_ids(world: World) -> None:
    """The demo identity provider given A's ids as the client, the redirect, and A's CCCD as the person
    picked: an unknown client gets the provider's own error page and no redirect carrying a code; A's ids
    as a code at the token endpoint get an OAuth error and no token."""
    for caller in world.b_callers:
        authorize = {
            "response_type": "code",
            "client_id": world.a_book,
            "redirect_uri": f"https://testserver.local/{world.a_book}",
            "scope": "openid",
            "state": world.a_book,
            "nonce": world.a_book,
            "code_challenge": world.a_book,
            "code_challenge_method": "S256",
            "person": CCCD,
        }
        picked = await world.call(caller, "GET", "/demo-idp/authorize", params=authorize)
        assert picked.status_code == 400 and "location" not in picked.headers, picked.text
        assert_nothing_of_a(world, picked, reflected=(world.a_book,))
        token = await world.call(
            caller,
            "POST",
            "/api/demo-idp/token",
            data={"grant_type": "authorization_code", "code": world.a_book, "code_verifier": world.a_book},
        )
        assert token.status_code in (400, 401), token.text
        assert "id_token" not in token.text
        assert_nothing_of_a(world, token)


SHARES = "/api/patient/v1/shares"


async def share_a_records(world: World) -> None:
    """B shares A's records (A's served ids), naming A's book in extra fields and the query: 404 like a
    record of nobody, and no share is made. With the extra fields alone, B's own book is what is shared."""
    for caller in world.b_callers:
        body = {"label": "x", "expires_in": 60, "record_ids": world.a_served_ids[:3], "patient_id": world.a_book}
        refused = await world.call(caller, "POST", SHARES, json=body, params=query_of_a(world))
        assert refused.status_code == 404, (caller.name, refused.text)
        assert_nothing_of_a(world, refused)
        nobody = await world.call(caller, "POST", SHARES, json={**body, "record_ids": ["Condition/01010-nobody"]})
        assert_same_answer(refused, nobody)
    assert await count(world.app, "share") == 0
    for caller in world.b_callers:
        body = {"label": "x", "expires_in": 60, "patient_id": world.a_book, "book_id": world.a_book}
        own = await world.call(caller, "POST", SHARES, json=body, params=query_of_a(world))
        assert own.status_code == 201, (caller.name, own.text)
        assert_nothing_of_a(world, own)
    assert await count(world.app, "share", f"patient_id = '{world.a_book}'") == 0
    assert await count(world.app, "share", f"patient_id = '{world.b_book}'") == 2


async def a_share_by_its_id(world: World) -> None:
    """A makes a share and a recipient opens it. B revokes it and asks for its QR code by A's share id
    (and by A's book id): 404 like a share of nobody. B's shares list and access log hold nothing of
    A's, and A's share stays active."""
    a_app = bearer(world.a_token)
    made = await world.call(None, "POST", SHARES, json={"label": "A", "expires_in": 3600}, headers=a_app)
    assert made.status_code == 201, made.text
    share_id = made.json()["id"]
    manifest = path_of(decode_shlink(made.json()["shlink"])["url"])
    opened = await world.call(None, "POST", manifest, json={"recipient": "Dr"})
    assert opened.status_code == 200, opened.text
    for caller in world.b_callers:
        for value in (share_id, world.a_book):
            for method, path in (("DELETE", f"{SHARES}/{value}"), ("GET", f"{SHARES}/{value}/qr.svg")):
                answer = await world.call(caller, method, path, params=query_of_a(world))
                assert answer.status_code == 404, (caller.name, method, answer.text)
                assert_nothing_of_a(world, answer)
                assert_same_answer(answer, await world.call(caller, method, path.replace(value, str(uuid.uuid4()))))
        listed = await world.call(caller, "GET", SHARES, params=query_of_a(world))
        assert listed.status_code == 200 and share_id not in listed.text, listed.text
        for lang in ("en", "vi"):
            query = {**query_of_a(world), "lang": lang}
            log = await world.call(caller, "GET", "/api/patient/v1/access-log", params=query)
            assert log.json() == {"events": []}, log.text
    mine = await world.call(None, "GET", SHARES, headers=a_app)
    assert [share["status"] for share in mine.json()["shares"]] == ["active"]


# --- The matrix -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    inputs: frozenset[str]  # `path.x`, `query.x`, `body.x`; `body.*` for a form or raw body
    how: str  # how B tries A's ids
    expect: str  # what must come back
    run: Callable[[World], Awaitable[None]]


@dataclass(frozen=True)
class Exempt:
    inputs: frozenset[str]
    reason: str


def inputs(*names: str) -> frozenset[str]:
    return frozenset(names)


MATRIX: dict[str, Probe | Exempt] = {
    "POST /api/patient/v1/shares": Probe(
        inputs("body.label", "body.expires_in", "body.passcode", "body.record_ids"),
        how="A's served record ids as `record_ids`, extra `patient_id` / `book_id` = A's book id, A's ids in the query",
        expect="404 like a record of nobody, no share row; with the extra fields alone, a share of B's own book",
        run=share_a_records,
    ),
    "DELETE /api/patient/v1/shares/{share_id}": Probe(
        inputs("path.share_id"),
        how="A's share id (A made one, a recipient opened it) and A's book id, A's ids in the query",
        expect="404 like a share of nobody; A's share stays active; B's list and access log hold nothing of A",
        run=a_share_by_its_id,
    ),
    "GET /api/patient/v1/shares/{share_id}/qr.svg": Probe(
        inputs("path.share_id"),
        how="A's share id and A's book id",
        expect="404 like a share of nobody, no QR code",
        run=a_share_by_its_id,
    ),
    "GET /shares/{share_id}": Probe(
        inputs("path.share_id"),
        how="A's share id (A made one) and A's book id, as an app and as a browser, A's ids in the query",
        expect="404 exactly as for a share of nobody, no key; A's share stays active",
        run=a_share_page_by_its_id,
    ),
    "POST /shares/{share_id}/revoke": Probe(
        inputs("path.share_id"),
        how="A's share id and A's book id, with B's CSRF token",
        expect="404 exactly as for a share of nobody; A's link still opens",
        run=a_share_page_by_its_id,
    ),
    "POST /api/shl/{token}": Exempt(
        inputs("path.token", "body.recipient", "body.passcode", "body.embedded_length_max"),
        reason="public by design (contract §5): the 256-bit token is the capability the patient handed out; A's "
        "book and record ids as the token find nothing (404, swept by the path-and-query test); "
        "tests/integration/sharing/ tests expiry, revocation, passcodes and the access log",
    ),
    "GET /api/shl/files/{token}": Exempt(
        inputs("path.token"),
        reason="public by design: a location URL's own 256-bit token, valid an hour at most, is the capability; "
        "A's ids as the token find nothing (404)",
    ),
    "POST /api/patient/v1/auth/select": Probe(
        inputs("body.book_id"),
        how="A's book id in the body; A's ids in the query next to B's own book id",
        expect="404 and B's session stays on B's book; the query is ignored",
        run=select_a_book,
    ),
    "POST /login/choose": Probe(
        inputs("body.*", "body.book"),
        how="the page form's `book` = A's book id; an extra `book_id` = A's book id",
        expect="404 page; the extra field is ignored (B's own book opens)",
        run=choose_a_book_on_the_page,
    ),
    "POST /api/patient/v1/auth/activate": Probe(
        inputs("body.code"),
        how="A's book id or CCCD as the activation code",
        expect="400, no book confirmed for B's phone",
        run=activate_with_a_ids,
    ),
    "POST /activate": Probe(
        inputs("body.*", "body.code"),
        how="the page form with A's book id or CCCD as the code, and `book` = A's book id",
        expect="400 page, no book confirmed for B's phone",
        run=activate_with_a_ids,
    ),
    "POST /api/patient/v1/auth/refresh": Probe(
        inputs("body.refresh_token"),
        how="A's book id or a served record id as the refresh token",
        expect="401, no tokens",
        run=refresh_with_a_ids,
    ),
    "POST /api/patient/v1/auth/otp": Probe(
        inputs("body.phone"),
        how="A's phone number",
        expect="202 with only challenge_id and expires_in; the code goes to A's phone, none to B's",
        run=ask_a_code_for_a_phone,
    ),
    "POST /login": Probe(
        inputs("body.*", "body.phone"),
        how="the phone form with A's phone number",
        expect="303 to the code form; the code goes to A's phone, none to B's",
        run=ask_a_code_for_a_phone,
    ),
    "POST /api/patient/v1/auth/otp/verify": Probe(
        inputs("body.challenge_id", "body.code"),
        how="a challenge for A's phone with B's own valid code",
        expect="400, no session",
        run=verify_b_code_against_a_challenge,
    ),
    "POST /login/code": Probe(
        inputs("body.*", "body.challenge", "body.code"),
        how="the code form with a challenge for A's phone and B's own valid code",
        expect="400 page, no session cookie",
        run=verify_b_code_against_a_challenge,
    ),
    "GET /login/code": Probe(
        inputs("query.c"),
        how="?c= a challenge for A's phone",
        expect="the code form, showing nothing of A",
        run=verify_b_code_against_a_challenge,
    ),
    "POST /api/patient/v1/consent": Probe(
        inputs("body.version"),
        how="extra `patient_id` / `book_id` = A's book id in the body, and A's ids in the query",
        expect="204 for B's own book; no consent row for A",
        run=consent_for_a,
    ),
    "POST /consent": Probe(
        inputs("body.*", "body.accept"),
        how="the consent form with extra `book` / `patient_id` = A's book id",
        expect="303 to /book; no consent row for A",
        run=consent_for_a,
    ),
    "POST /api/hospital/v1/{code}/fhir": Probe(
        inputs("path.code", "body.*"),
        how="facility B's secret at A's code (and A's at B's, and B's Bearer token); B's push naming A's "
        "Patient by facility A's id; B reusing facility A's id for an encounter of its own, deleting by it, "
        "and deleting / updating by the identifier of A's appointment letter",
        expect="401 with nothing written; 422 with nothing stored; B's own records only, A's untouched",
        run=fhir_push_naming_a,
    ),
    "POST /api/hospital/v1/{code}/xml130": Probe(
        inputs("path.code", "body.*"),
        how="facility B's secret at A's code (and the reverse, and B's Bearer token); a bare table for "
        "A's episode (MA_LK) sent by facility B; facility A's code as MACSKCB / MA_CSKCB at B's URL",
        expect="401 with nothing written; 422 with nothing stored",
        run=xml_push_naming_a,
    ),
    "GET /static/{file_path}": Probe(
        inputs("path.file_path"),
        how="A's book id and served record ids as file names",
        expect="404: public assets, the same for everyone, hold no patient data",
        run=asset_named_by_a_ids,
    ),
    "HEAD /static/{file_path}": Probe(
        inputs("path.file_path"),
        how="A's book id and served record ids as file names",
        expect="404",
        run=asset_named_by_a_ids,
    ),
    "GET /schema/{path}": Probe(
        inputs("path.path"),
        how="A's book id and served record ids as the OpenAPI viewer's name",
        expect="404: the API description holds no patient data",
        run=schema_named_by_a_ids,
    ),
    "POST /settings/phones/forget": Probe(
        inputs("body.*", "body.phone"),
        how="A's phone, confirmed on A's book, with extra `book` / `patient_id` = A's book id",
        expect="404; A's confirmation stays",
        run=forget_a_phone,
    ),
    "GET /book/{section_name}": Probe(
        inputs("path.section_name", "query.facility", "query.since", "query.until", "query.q"),
        how="every section (and A's book id as a section) narrowed by A's facility, the days of A's visit "
        "and A's words, A's ids in the query",
        expect="200 with B's own records only (404 for what is not a section); nothing of A",
        run=read_sections_with_a_ids,
    ),
    "GET /book/search": Probe(
        inputs("query.facility", "query.since", "query.until", "query.q"),
        how="words of A's records (which A finds in A's book), narrowed by A's facility and the days of A's "
        "visit, with A's ids in the query",
        expect="200 with no part of the book matching; nothing of A; B's own visit found when B searches it",
        run=search_with_a_words,
    ),
    "GET /api/patient/v1/access-log": Probe(
        inputs("query.lang"),
        how="`lang=en` / `vi` with A's ids in the query, after a recipient opened A's share",
        expect="B's own access log: no event",
        run=a_share_by_its_id,
    ),
    "GET /api/patient/v1/privacy-notice": Exempt(
        inputs("query.lang"),
        reason="public: the same notice text for anyone, in one of two languages; `lang` names no object",
    ),
    "GET /book/calendar/{appointment_id}": Probe(
        inputs("path.appointment_id"),
        how="A's appointment ids, as served by A's /book/fhir",
        expect="404, the same as for an appointment of nobody",
        run=a_appointment_in_a_calendar,
    ),
    "GET /book/{section_name}/{document_id}/file": Probe(
        inputs("path.section_name", "path.document_id", "query.part"),
        how="A's document ids (and the id of the Binary one of them points at), as served by A's /book/fhir, "
        "with each attachment's `part`",
        expect="404, the same as for a document of nobody; not a byte of the file",
        run=a_document_file,
    ),
    "POST /language": Exempt(
        inputs("body.*"),
        reason="`lang` and `next` are a language choice and a local path: no object of anyone's",
    ),
    "POST /settings/sessions/end": Probe(
        inputs("body.*", "body.session"),
        how="A's session id (and A's book id) as `session`, an extra `patient_id` and A's ids in the query",
        expect="404, the same as for a session of nobody; A's session stays live",
        run=end_a_session,
    ),
    "POST /settings/consent/withdraw": Probe(
        inputs("body.*", "body.confirm"),
        how="the confirmed form with extra `patient_id` / `book` = A's book id, and A's ids in the query",
        expect="303 to /settings; A's consent row stays",
        run=withdraw_a_consent,
    ),
    "POST /settings/account/close": Exempt(
        inputs("body.*", "body.confirm"),
        reason="acts on the session's own book and phone only, reading no id from the request; closing B's "
        "account would end the sessions this harness keeps for B, so the probe (A's ids in extra fields and "
        "the query are ignored, A's consent and sessions untouched) is "
        "test_settings_account.py::test_another_patients_ids_in_the_form_are_ignored",
    ),
    "GET /login/oidc": Probe(
        inputs("query.app_redirect_uri", "query.app_state", "query.code_challenge", "query.code_challenge_method"),
        how="A's book id as a native app's redirect URI, state and PKCE challenge; A's ids in the query",
        expect="400 page for the foreign redirect; else 302 to the provider; nothing of A either way",
        run=national_id_sign_in_with_a_ids,
    ),
    "GET /login/oidc/callback": Probe(
        inputs("query.code", "query.state", "query.error"),
        how="A's book id as the code and the state, without the flow's cookie",
        expect="400 page, no session",
        run=national_id_sign_in_with_a_ids,
    ),
    "POST /api/patient/v1/auth/oidc/token": Probe(
        inputs("body.code", "body.code_verifier"),
        how="A's book id as an app's handoff code and PKCE verifier",
        expect="400, no tokens, no session",
        run=national_id_sign_in_with_a_ids,
    ),
    "GET /demo-idp/authorize": Probe(
        inputs(
            "query.response_type",
            "query.client_id",
            "query.redirect_uri",
            "query.scope",
            "query.state",
            "query.nonce",
            "query.code_challenge",
            "query.code_challenge_method",
            "query.person",
        ),
        how="A's book id as client, redirect, state, nonce and challenge; A's CCCD as the person picked",
        expect="400 page from the provider, no redirect, no code",
        run=demo_provider_with_a_ids,
    ),
    "POST /api/demo-idp/token": Probe(
        inputs("body.*"),
        how="A's book id as the authorization code and verifier",
        expect="an OAuth error (400/401), no ID token",
        run=demo_provider_with_a_ids,
    ),
    # Staff routes: a patient is refused every one (check C3, test_function_level_access.py); how far a
    # staff member reaches (their own facility only) is tested in tests/integration/staff/.
    "POST /staff/login": Exempt(
        inputs("body.*"),
        reason="a username, password and TOTP code: no patient's object; wrong ones are refused alike",
    ),
    **{
        route: Exempt(
            inputs("body.*"),
            reason="staff only; takes no patient's id: the scanned link (token and key) is the capability, and"
            " the share's own gate answers (tests/integration/reception)",
        )
        for route in ("POST /reception", "POST /reception/bundle")
    },
    **{
        f"POST /staff/facility/members/{{username}}/{action}": Exempt(
            inputs("path.username"),
            reason="facility admins only; another facility's member answers 404 (tests/integration/staff)",
        )
        for action in ("disable", "password", "totp")
    },
}


# --- Route introspection --------------------------------------------------------------------------------


def normalized(path: str) -> str:
    """`/api/hospital/v1/{code:str}/fhir` → `/api/hospital/v1/{code}/fhir`."""
    return re.sub(r"\{(\w+):[^}]+\}", r"{\1}", path)


def body_fields(annotation: Any) -> set[str]:
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return {f"body.{field.name}" for field in msgspec.structs.fields(annotation)}
    return {"body.*"}  # a form or a mapping: any field name; the entry lists the ones the handler reads


_QUERY_GET = re.compile(r"""query_params\.get\(\s*["'](\w+)["']""")
_QUERY_HANDED_ON = re.compile(r"(\w+)\(\s*request\.query_params\s*\)")
_GET = re.compile(r"""\.get\(\s*["'](\w+)["']""")


def names_read_from_query(handler: Any) -> set[str]:
    """The query parameters a handler reads from `request.query_params` itself, which the route table does
    not list: each `request.query_params.get("name")` in its source, and each `.get("name")` of a function
    it hands `request.query_params` to (`narrowing_from`). A handler reading the query any other way fails
    here, so that this function learns the new way rather than missing its names."""
    source = inspect.getsource(handler.fn)
    names = set(_QUERY_GET.findall(source))
    handed_on = _QUERY_HANDED_ON.findall(source)
    for helper in handed_on:
        names |= set(_GET.findall(inspect.getsource(handler.fn.__globals__[helper])))
    understood = len(_QUERY_GET.findall(source)) + len(handed_on)
    assert source.count("query_params") == understood, f"{handler.fn.__qualname__}: teach names_read_from_query"
    assert "query_string" not in source and ".url.query" not in source, handler.fn.__qualname__
    return names


def route_inputs(app: Litestar) -> dict[str, frozenset[str]]:
    """`METHOD /path` → the parameters its handler takes, for every route (OPTIONS aside: Litestar's own):
    those it declares, and those it reads from `request.query_params` (`names_read_from_query`)."""
    found: dict[str, frozenset[str]] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            found[f"ASGI {normalized(route.path)}"] = frozenset({"unknown"})
            continue
        for handler in route.route_handlers:
            model = handler.create_kwargs_model(path_parameters=route.path_parameters)
            names = {f"path.{p.field_alias}" for p in model.expected_path_params}
            names |= {f"query.{p.field_alias}" for p in model.expected_query_params}
            names |= {f"query.{name}" for name in names_read_from_query(handler)}
            if handler.parsed_data_field is not None:
                names |= body_fields(handler.parsed_data_field.annotation)
            for method in sorted(set(handler.http_methods) - {"OPTIONS"}):
                found[f"{method} {normalized(route.path)}"] = frozenset(names)
    return found


def concrete(path: str, world: World) -> str:
    """A route's path with A's ids in its parameters: A's facility code for `{code}`, A's book id else."""
    return re.sub(r"\{(\w+)\}", lambda m: FACILITY if m.group(1) == "code" else world.a_book, path)


def query_of_a(world: World) -> dict[str, str | list[str]]:
    """A's ids under every name a route might read them by, filters and sorts included."""
    served = world.a_served_ids
    return {
        "book_id": world.a_book,
        "patient_id": world.a_book,
        "patient": f"Patient/{world.a_book}",
        "id": world.a_book,
        "_id": served[0],
        "record_id": served[0],
        "record_ids": served,
        "subject": served[0],
        "cccd": CCCD,
        "identifier": f"http://fhir.ehealth.gov.vn/core/sid/national_id|{CCCD}",
        "sort": "patient_id",
        "_sort": "-patient_id",
        "order": f"id,{world.a_book}",
    }


# --- The tests ------------------------------------------------------------------------------------------


async def test_c1_every_route_with_a_parameter_has_a_matrix_entry(app: Litestar) -> None:
    routes = route_inputs(app)
    with_parameters = {key: names for key, names in routes.items() if names}
    missing = sorted(set(with_parameters) - set(MATRIX))
    assert not missing, f"routes with parameters but no MATRIX entry (say how B tries A's ids there): {missing}"
    uncovered = {
        key: sorted(names - MATRIX[key].inputs)
        for key, names in with_parameters.items()
        if not names <= MATRIX[key].inputs
    }
    assert not uncovered, f"MATRIX entries that do not cover these parameters yet: {uncovered}"
    stale = sorted(set(MATRIX) - set(routes))
    assert not stale, f"MATRIX entries for routes that no longer exist: {stale}"
    for key, entry in MATRIX.items():
        assert (entry.how and entry.expect) if isinstance(entry, Probe) else entry.reason, key


@pytest.mark.parametrize("route", sorted(key for key, entry in MATRIX.items() if isinstance(entry, Probe)))
async def test_c1_b_uses_a_ids_on_a_route_of_the_matrix(world: World, route: str) -> None:
    entry = MATRIX[route]
    assert isinstance(entry, Probe)
    await entry.run(world)
    await assert_a_untouched(world)
    await assert_b_reads_only_b(world)


async def test_c1_every_route_given_a_ids_in_path_and_query_shows_b_nothing_of_a(world: World) -> None:
    """Every route and method (sign-out aside, tested below), A's ids in every path parameter, appended as
    a path segment, and under every likely name in the query, with no body: nothing of A comes back."""
    routes = [key for key in route_inputs(world.app) if not key.startswith("ASGI ") and key not in SIGN_OUT_ROUTES]
    assert len(routes) > 20
    for key in sorted(routes):
        method, pattern = key.split(" ", 1)
        path = concrete(pattern, world)
        for caller in world.b_callers:
            for target, query in (
                (path, query_of_a(world)),
                (f"{path.rstrip('/')}/{world.a_book}", {}),
                (f"{path.rstrip('/')}/{world.a_served_ids[1]}", {}),
            ):
                response = await world.call(caller, method, target, params=query)
                assert_nothing_of_a(world, response)
    await assert_a_untouched(world)
    await assert_b_reads_only_b(world)


async def test_c1_no_route_accepts_served_record_ids_without_a_probe(world: World) -> None:
    """Contract §4: the `Type/id` values `/book/fhir` serves are accepted only by `record_ids` of a share,
    which does not exist yet (see the TODO above MATRIX): today no route takes a record, share or other
    object id but the ones the MATRIX probes. A route that starts taking one (`record_ids`, a share's
    `{id}`) fails here until the MATRIX has a probe for it, an exemption is not enough. And the `fullUrl`
    each entry of `/book/fhir` carries is not a route that would serve the record to anyone."""
    record_like = re.compile(r"record|resource|served|^ids?$|_ids?$|share|entry|consent|audit|event")
    takers = {
        key: sorted(name for name in names if record_like.search(name.split(".", 1)[1]))
        for key, names in route_inputs(world.app).items()
    }
    unprobed = {key: names for key, names in takers.items() if names and not isinstance(MATRIX.get(key), Probe)}
    assert not unprobed, f"routes taking object ids with no probe in MATRIX: {unprobed}"
    for entry in world.a_bundle["entry"]:
        path = "/" + entry["fullUrl"].split("://", 1)[1].split("/", 1)[1]
        for caller in world.b_callers:
            response = await world.call(caller, "GET", path)
            assert response.status_code == 404, (path, response.status_code)
            assert_nothing_of_a(world, response)
    for served in world.a_served_ids:
        for prefix in (BUNDLE, BOOK, "/api/patient/v1/records", "/fhir"):
            response = await world.call(world.b_callers[0], "GET", f"{prefix}/{served}")
            assert response.status_code == 404, (prefix, served, response.status_code)
            assert_nothing_of_a(world, response)


async def test_c1_b_signing_out_ends_only_b_sessions(world: World) -> None:
    """The routes without parameters that act on "my" sessions act on B's only, whatever the query says."""
    for key in SIGN_OUT_ROUTES:
        assert key in route_inputs(world.app), key
    bearer_caller, cookie_caller = world.b_callers
    out = await world.call(bearer_caller, "POST", "/api/patient/v1/auth/logout", params=query_of_a(world))
    assert out.status_code == 204, out.text
    assert (await world.call(bearer_caller, "GET", BOOK)).status_code == 401
    assert (await world.call(cookie_caller, "GET", BOOK)).status_code == 200
    out = await world.call(cookie_caller, "POST", "/logout", data={"patient_id": world.a_book})
    assert out.status_code == 303, out.text
    assert (await world.call(cookie_caller, "GET", BOOK)).status_code == 401
    await assert_a_untouched(world)
    # A browser of B's again, then "sign out everywhere": every session of B's phone, none of A's.
    world.clock.advance(seconds=OTP_INTERVAL)
    browser = await sign_in_browser(world.client, world.outbox, B_PHONE)
    out = await world.call(browser, "POST", "/logout/everywhere", data={"book": world.a_book}, params=query_of_a(world))
    assert out.status_code == 303, out.text
    assert_nothing_of_a(world, out)
    assert (await world.call(browser, "GET", BOOK)).status_code == 401
    await assert_a_untouched(world)


# --- Check G1: B's refused attempts at A's objects are logged ---------------------------------------------


async def b_asks_for_a_share_and_a_session_of_a(world: World) -> list[Any]:
    """A makes a share; B (as an app and as a browser, consented, so that pages answer rather than send B
    to consent) asks for it by its id on every route that takes a share id, and ends A's session by its id:
    each a 404. The answers."""
    a_app = bearer(world.a_token)
    made = await world.call(None, "POST", SHARES, json={"label": "A", "expires_in": 3600}, headers=a_app)
    assert made.status_code == 201, made.text
    share_id = made.json()["id"]
    (a_session,) = await fetch(
        world.app, "SELECT id::text FROM auth_session WHERE phone = $1 AND revoked_at IS NULL", PHONE_E164
    )
    await give_consent(world, *world.b_callers)
    answers = []
    for caller in world.b_callers:
        for method, path, form in (
            ("DELETE", f"{SHARES}/{share_id}", None),
            ("GET", f"{SHARES}/{share_id}/qr.svg", None),
            ("GET", f"/shares/{share_id}", None),
            ("POST", f"/shares/{share_id}/revoke", None),
            ("POST", "/settings/sessions/end", {"session": a_session["id"]}),
        ):
            answer = await world.call(caller, method, path, data=form)
            assert answer.status_code == 404, (caller.name, method, path, answer.text[:300])
            answers.append(answer)
    return answers


async def test_g1_b_refused_a_share_or_a_session_of_a_is_logged(world: World, caplog: pytest.LogCaptureFixture) -> None:
    """Each of B's 404s at A's share (the API's revoke and QR code, the share page and its stop button) and
    at A's session (ending it from B's settings) leaves an access line with the method, the path and 404,
    and a `client error` line with the path and 404 (`logged_refusal`). Who was refused: the next test."""
    for answer in await b_asks_for_a_share_and_a_session_of_a(world):
        logged_refusal(caplog, answer, 404)


async def test_g1_a_refused_attempt_at_a_object_names_b_session(world: World, caplog: pytest.LogCaptureFixture) -> None:
    """The same 404s: a line of each refused request names one of B's sessions by its id (the
    `auth_session` row's, as `auth.signed_in` names it; never the cookie or the token)."""
    b_sessions = await fetch(world.app, "SELECT id::text FROM auth_session WHERE phone = $1", B_PHONE_E164)
    named = {row["id"] for row in b_sessions}
    assert len(named) == 2
    for answer in await b_asks_for_a_share_and_a_session_of_a(world):
        events = logged_refusal(caplog, answer, 404)
        assert [event for event in events if event.get("session") in named], (answer.request.url.path, events)
