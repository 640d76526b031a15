"""Check C3: function-level authorization (OWASP API5; ASVS 8.2.1, 8.4.1). Every role × every route,
against the allow table below.

Roles: anonymous; a patient (the browser's session cookie: the JSON API takes it too, contract §4); a
receptionist and a facility admin (the staff cookie); a hospital client (Standard Webhooks signatures of
facility A). Every caller also carries a valid CSRF cookie and token, so a refusal here is the route's
own authorization check, never the CSRF check's. The operator's CLI is not a web role: it has no route.

A role a route does not admit must be refused: `401` or `403`, or, on a page, the page form of `401` (a
redirect to the sign-in page that role would use: `/login` or `/staff/login`; `HX-Redirect` for htmx).
A role a route admits must not be refused on a GET (POSTs are not replayed as the admitted role here:
their effects are each feature's own tests). `test_every_route_has_an_allow_entry` fails for a route
the table does not name: a new route must say here who may call it.

A hospital A client signing for hospital B's URL is refused like any stranger (check E1 tests the rest).

Check G1, "failed authorization attempts are logged", for these refusals: each leaves its lines in the log
(`logged_refusal`), and a line of the refused request names who was refused (the staff member's id, the
session's id: never a secret).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute

from backend.web.requests import loggable_path
from tests.support.hospital import FACILITY, OTHER_FACILITY, fetch, register, webhook_headers
from tests.support.patients import CSRF_COOKIE, PHONE, SESSION_COOKIE, Client, Outbox, browser_cookies
from tests.support.staff import STAFF_COOKIE, add_member, signed_in_member

ANYONE = frozenset({"anonymous", "patient", "receptionist", "facility_admin", "hospital"})
PATIENT = frozenset({"patient"})
DESK = frozenset({"receptionist", "facility_admin"})  # a small clinic's admin also works the desk
ADMIN = frozenset({"facility_admin"})
HOSPITAL = frozenset({"hospital"})

ALLOW: dict[str, frozenset[str]] = {
    # The app shell, health, static files and the API description: public by nature.
    "GET /": ANYONE,
    "GET /offline": ANYONE,
    "GET /manifest.webmanifest": ANYONE,
    "GET /sw.js": ANYONE,
    "GET /healthz": ANYONE,
    "POST /language": ANYONE,
    "GET /static/{file_path}": ANYONE,
    "HEAD /static/{file_path}": ANYONE,
    "GET /schema": ANYONE,  # dev only; prod hides it (test_prod_mode)
    "GET /schema/openapi.json": ANYONE,
    "GET /schema/openapi.yml": ANYONE,
    "GET /schema/openapi.yaml": ANYONE,
    "GET /schema/{path}": ANYONE,
    # Signing in: reached before anyone is signed in; each checks its own proof (code, token, password).
    "GET /login": ANYONE,
    "POST /login": ANYONE,
    "GET /login/code": ANYONE,
    "POST /login/code": ANYONE,
    "GET /login/oidc": ANYONE,
    "GET /login/oidc/callback": ANYONE,
    "POST /api/patient/v1/auth/otp": ANYONE,
    "POST /api/patient/v1/auth/otp/verify": ANYONE,
    "POST /api/patient/v1/auth/refresh": ANYONE,  # the refresh token is the credential
    "POST /api/patient/v1/auth/oidc/token": ANYONE,  # the one-time handoff code and PKCE verifier are
    "GET /api/patient/v1/privacy-notice": ANYONE,
    "GET /staff/login": ANYONE,
    "POST /staff/login": ANYONE,
    "GET /view": ANYONE,  # the receiving viewer: a static page, the link after `#` never reaches us
    # The built-in demo identity provider (APP_ENV=dev only): a stand-in for the national one.
    "GET /demo-idp/.well-known/openid-configuration": ANYONE,
    "GET /demo-idp/jwks.json": ANYONE,
    "GET /demo-idp/authorize": ANYONE,
    "POST /api/demo-idp/token": ANYONE,  # the client secret and code are the credential
    # The patient's own book and account.
    "POST /api/patient/v1/auth/activate": PATIENT,
    "POST /api/patient/v1/auth/logout": PATIENT,
    "POST /api/patient/v1/auth/select": PATIENT,
    "POST /api/patient/v1/consent": PATIENT,
    "GET /api/patient/v1/book": PATIENT,
    "GET /api/patient/v1/book/fhir": PATIENT,
    "GET /activate": PATIENT,
    "POST /activate": PATIENT,
    "GET /login/choose": PATIENT,
    "POST /login/choose": PATIENT,
    "POST /logout": PATIENT,
    "POST /logout/everywhere": PATIENT,
    "GET /consent": PATIENT,
    "POST /consent": PATIENT,
    "GET /book": PATIENT,
    "GET /book/search": PATIENT,
    "GET /book/{section_name}": PATIENT,
    "GET /book/calendar/{appointment_id}": PATIENT,
    "GET /book/{section_name}/{document_id}/file": PATIENT,
    "GET /settings": PATIENT,
    "POST /settings/phones/forget": PATIENT,
    "POST /settings/sessions/end": PATIENT,
    "POST /settings/consent/withdraw": PATIENT,
    "GET /settings/account/close": PATIENT,
    "POST /settings/account/close": PATIENT,
    # Hospital staff.
    "GET /reception": DESK,
    "POST /reception": DESK,
    "POST /reception/bundle": DESK,
    "POST /staff/logout": DESK,
    "GET /staff/facility": ADMIN,
    "POST /staff/facility/webhook-secret": ADMIN,
    "POST /staff/facility/members/{username}/disable": ADMIN,
    "POST /staff/facility/members/{username}/password": ADMIN,
    "POST /staff/facility/members/{username}/totp": ADMIN,
    # The patient's shares and access log (contract §4).
    "POST /api/patient/v1/shares": PATIENT,
    "GET /api/patient/v1/shares": PATIENT,
    "DELETE /api/patient/v1/shares/{share_id}": PATIENT,
    "GET /api/patient/v1/shares/{share_id}/qr.svg": PATIENT,
    "GET /api/patient/v1/access-log": PATIENT,
    # The patient's sharing pages (contract §6).
    "GET /shares": PATIENT,
    "POST /shares": PATIENT,
    "GET /shares/{share_id}": PATIENT,
    "POST /shares/{share_id}/revoke": PATIENT,
    "GET /access-log": PATIENT,
    # SMART Health Links (contract §5): public; the token in the path is the capability.
    "POST /api/shl/{token}": ANYONE,
    "GET /api/shl/files/{token}": ANYONE,
    # Hospitals push, signed.
    "POST /api/hospital/v1/{code}/fhir": HOSPITAL,
    "POST /api/hospital/v1/{code}/xml130": HOSPITAL,
}

PARAMETERS = {
    "code": FACILITY,
    "username": "le.tan",
    "section_name": "prescriptions",
    "file_path": "css/app.css",
}
SIGN_IN_PAGES = ("/login", "/staff/login")


def normalized(path: str) -> str:
    return re.sub(r"\{(\w+):[^}]+\}", r"{\1}", path)


def app_routes(app: Litestar) -> Iterator[str]:
    for route in app.routes:
        assert isinstance(route, HTTPRoute), f"{route.path}: a non-HTTP route needs a row here"
        for handler in route.route_handlers:
            for method in sorted(set(handler.http_methods) - {"OPTIONS"}):
                yield f"{method} {normalized(route.path)}"


def concrete(route: str) -> tuple[str, str]:
    method, path = route.split(" ", 1)
    return method, re.sub(r"\{(\w+)\}", lambda m: PARAMETERS.get(m.group(1), "x-unknown-id"), path)


@dataclass(frozen=True)
class Caller:
    role: str
    cookies: dict[str, str]
    hospital_secret: str | None = None


def test_every_route_has_an_allow_entry(app: Litestar) -> None:
    routes = set(app_routes(app))
    assert sorted(routes - ALLOW.keys()) == [], "routes without an allow entry"
    assert sorted(ALLOW.keys() - routes) == [], "allow entries for routes that no longer exist"


@pytest.fixture
async def callers(app: Litestar, client: Client, outbox: Outbox, visit: None) -> dict[str, Caller]:
    session, csrf = await browser_cookies(client, outbox, PHONE)
    staff = {}
    for username, role in (("le.tan", "receptionist"), ("quan.tri", "facility_admin")):
        member = await add_member(app, FACILITY, username, role)
        client.cookies.clear()
        staff[role] = await signed_in_member(client, app, member)
    client.cookies.clear()
    hospital_secret = await register(app, OTHER_FACILITY)  # the client pushes as this facility
    return {
        "anonymous": Caller("anonymous", {CSRF_COOKIE: csrf}),
        "patient": Caller("patient", {SESSION_COOKIE: session, CSRF_COOKIE: csrf}),
        "receptionist": Caller("receptionist", {STAFF_COOKIE: staff["receptionist"], CSRF_COOKIE: csrf}),
        "facility_admin": Caller("facility_admin", {STAFF_COOKIE: staff["facility_admin"], CSRF_COOKIE: csrf}),
        "hospital": Caller("hospital", {CSRF_COOKIE: csrf}, hospital_secret=hospital_secret),
    }


async def call(
    client: Client, caller: Caller, route: str, *, facility_of_secret: str = OTHER_FACILITY
) -> tuple[int, str]:
    response = await send(client, caller, route, facility_of_secret=facility_of_secret)
    return response.status_code, where_to(response)


def where_to(response: httpx.Response) -> str:
    return response.headers.get("location") or response.headers.get("hx-redirect") or ""


async def send(
    client: Client, caller: Caller, route: str, *, facility_of_secret: str = OTHER_FACILITY
) -> httpx.Response:
    method, path = concrete(route)
    if caller.hospital_secret is not None and path.startswith("/api/hospital/"):
        path = path.replace(f"/v1/{FACILITY}/", f"/v1/{facility_of_secret}/")
    body = json.dumps({}).encode()
    headers = {"x-csrf-token": caller.cookies[CSRF_COOKIE], "content-type": "application/json"}
    if caller.hospital_secret is not None:  # signed, with the JSON type every route here reads
        headers = webhook_headers(caller.hospital_secret, body) | headers
    client.cookies.clear()
    for name, value in caller.cookies.items():
        client.cookies.set(name, value)
    content = body if method not in ("GET", "HEAD") else None
    return await client.request(method, path, content=content, headers=headers, follow_redirects=False)


def refused(status: int, where: str) -> bool:
    return status in (401, 403) or (status in (204, 303) and where in SIGN_IN_PAGES)


async def test_every_role_is_refused_every_route_it_is_not_allowed(
    app: Litestar, client: Client, callers: dict[str, Caller]
) -> None:
    let_through = []
    for route in sorted(set(app_routes(app))):
        for role, caller in callers.items():
            if role in ALLOW[route]:
                continue
            status, where = await call(client, caller, route)
            if not refused(status, where):
                let_through.append(f"{role} {route} → {status} {where}")
    assert let_through == []


async def test_every_role_admitted_to_a_page_is_let_in(
    app: Litestar, client: Client, callers: dict[str, Caller]
) -> None:
    shut_out = []
    for route in sorted(set(app_routes(app))):
        if not route.startswith(("GET ", "HEAD ")) or ALLOW[route] == ANYONE:
            continue
        for role in sorted(ALLOW[route]):
            status, where = await call(client, callers[role], route)
            if refused(status, where):
                shut_out.append(f"{role} {route} → {status} {where}")
    assert shut_out == []


async def test_a_hospital_cannot_push_to_another_hospitals_address(client: Client, callers: dict[str, Caller]) -> None:
    hospital = callers["hospital"]
    for route in ("POST /api/hospital/v1/{code}/fhir", "POST /api/hospital/v1/{code}/xml130"):
        status, _ = await call(client, hospital, route, facility_of_secret=FACILITY)  # signed as one, sent to the other
        assert status == 401


# --- Check G1: refusals are logged -------------------------------------------------------------------------


def logged_during(caplog: pytest.LogCaptureFixture, response: httpx.Response) -> list[dict[str, Any]]:
    """The structlog events logged while `response`'s request was handled (by its `X-Request-ID`)."""
    request_id = response.headers["x-request-id"]
    events = [record.msg for record in caplog.records if isinstance(record.msg, dict)]
    return [event for event in events if event.get("request_id") == request_id]


def logged_refusal(caplog: pytest.LogCaptureFixture, response: httpx.Response, refused: int) -> list[dict[str, Any]]:
    """What the log holds of a refused request: the access line (`healthbook.access` `request`: method,
    path, and the status sent, a redirect to the sign-in page included) and the error line
    (`healthbook.errors` `client error`: the path and the refusal's own status, `refused`), both naming the
    path as logs keep it (`loggable_path`). All the events of that request are returned."""
    events = logged_during(caplog, response)
    path = loggable_path(response.request.url.path)
    access = {
        "event": "request",
        "logger": "healthbook.access",
        "method": response.request.method,
        "path": path,
        "status": response.status_code,
    }
    error = {"event": "client error", "logger": "healthbook.errors", "path": path, "status": refused}
    lines = [event for event in events if any(event.items() >= wanted.items() for wanted in (access, error))]
    assert len(lines) == 2, (response.request.method, path, response.status_code, events)
    return events


async def test_g1_every_refusal_of_a_role_is_logged_with_its_route_and_status(
    app: Litestar, client: Client, callers: dict[str, Caller], caplog: pytest.LogCaptureFixture
) -> None:
    """Every call `test_every_role_is_refused_every_route_it_is_not_allowed` makes (every role, every route
    it may not call) leaves one access line with the method, the path and the status sent, and one
    `client error` line with the path and the refusal's own status: 401 (a redirect to the sign-in page
    is logged as the 401 it stands for) or 403. Who was refused: the next test."""
    refusals = 0
    for route in sorted(set(app_routes(app))):
        for role, caller in callers.items():
            if role in ALLOW[route]:
                continue
            response = await send(client, caller, route)
            assert refused(response.status_code, where_to(response)), (role, route, response.status_code)
            as_401 = response.status_code in (401, 204, 303)  # a redirect to the sign-in page stands for a 401
            logged_refusal(caplog, response, 401 if as_401 else 403)
            refusals += 1
    assert refusals > 100


async def test_g1_a_refusal_of_a_role_names_who_was_refused(
    app: Litestar, client: Client, callers: dict[str, Caller], caplog: pytest.LogCaptureFixture
) -> None:
    """A signed-in receptionist is refused the facility admin's page and actions (403, check C3): the
    refusal is logged (`logged_refusal`), and a line of that request names the receptionist by their
    staff id (not by anything secret: no password, TOTP code or cookie)."""
    (member,) = await fetch(app, "SELECT id FROM staff_member WHERE username = 'le.tan'")
    for route in ("GET /staff/facility", "POST /staff/facility/webhook-secret"):
        response = await send(client, callers["receptionist"], route)
        assert response.status_code == 403, (route, response.text)
        events = logged_refusal(caplog, response, 403)
        assert [event for event in events if str(event.get("staff")) == str(member["id"])], (route, events)
