"""`APP_ENV=prod`: HSTS, no public schema, no debug, JSON logs; and in any mode, no traceback for a client error.

The apps here are built per test (prod settings), so the shared `client` fixture's B2 hook does not reach
them: every client here is made by `checked_client`, which checks each `Set-Cookie` the same way.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest
from litestar import Litestar, get
from litestar.testing import AsyncTestClient

from backend.app import create_app
from tests.conftest import make_settings
from tests.support.cookies import check_set_cookies
from tests.support.hospital import FACILITY, Hospital, register, sample
from tests.support.patients import PHONE, Outbox, browser_cookies
from tests.support.staff import add_member, signed_in_member

PROD = {
    "APP_ENV": "prod",
    "SECRET_KEY": "p" * 48,
    "DATA_KEYS": "k1:" + base64.b64encode(b"d" * 32).decode(),
    "SMS_BACKEND": "file:/dev/null",
    "BASE_URL": "https://sosuckhoe.example.vn",
}
ONE_YEAR = 365 * 24 * 3600
# A stack trace, in any of the forms a framework or a debug page would print it.
TRACE_MARKERS = ("Traceback", 'File "', "RuntimeError", "CANARY", ".py", "line ")


def checked_client(app: Litestar) -> AsyncTestClient[Litestar]:
    """A test client (https, so `Secure` cookies are kept) whose every response passes check B2."""
    client = AsyncTestClient(app, base_url="https://testserver.local")
    client.event_hooks["response"].append(check_set_cookies)
    return client


def crash_routes(app: Litestar) -> None:
    """A page and an API route that raise, as a bug would (the local is what a debug page would show)."""

    @get("/crash-for-test", sync_to_thread=False)
    def crash_page() -> None:
        diagnosis = "CANARY-LOCAL-E11.9"  # a local that must not reach the log or the answer
        raise RuntimeError(f"boom {len(diagnosis)}")

    @get("/api/patient/v1/crash-for-test", sync_to_thread=False)
    def crash_api() -> None:
        diagnosis = "CANARY-LOCAL-E11.9"
        raise RuntimeError(f"boom {len(diagnosis)}")

    app.register(crash_page)
    app.register(crash_api)


def assert_hsts(response: httpx.Response) -> None:
    """HSTS for at least a year, subdomains included (check F3; RFC 6797 directives are case-insensitive)."""
    where = f"{response.request.method} {response.request.url.path} → {response.status_code}"
    hsts = response.headers.get("strict-transport-security")
    assert hsts, where
    directives = [part.strip() for part in hsts.split(";")]
    (max_age,) = [part for part in directives if part.lower().startswith("max-age=")]
    assert int(max_age.split("=", 1)[1].strip('"')) >= ONE_YEAR, where
    assert "includesubdomains" in [part.lower() for part in directives], where


async def test_prod_sends_hsts_and_hides_the_schema(database_url: str, var_dir: Path) -> None:
    """Check F3: in prod, HSTS with `max-age` ≥ 1 year and `includeSubDomains` on a page, an API answer (200
    and 401), a 404 (page and API), a refused form (403) and a crash (500, page and API); CSP upgrades
    insecure requests; and the OpenAPI document is not served."""
    app = create_app(make_settings(var_dir, DATABASE_URL=database_url, **PROD))
    crash_routes(app)
    async with checked_client(app) as client:
        page = await client.get("/")
        answers = {
            "page": page,
            "api": await client.get("/api/patient/v1/privacy-notice"),
            "api, not signed in": await client.get("/api/patient/v1/book"),
            "404 page": await client.get("/no-such-page"),
            "404 api": await client.get("/api/patient/v1/nothing-here"),
            "403 form": await client.post("/language", data={"lang": "en"}),
            "500 page": await client.get("/crash-for-test"),
            "500 api": await client.get("/api/patient/v1/crash-for-test"),
        }
        schema = await client.get("/schema/openapi.json")
    statuses = {name: answer.status_code for name, answer in answers.items()}
    assert statuses == {
        "page": 200,
        "api": 200,
        "api, not signed in": 401,
        "404 page": 404,
        "404 api": 404,
        "403 form": 403,
        "500 page": 500,
        "500 api": 500,
    }
    for answer in answers.values():
        assert_hsts(answer)
    assert "upgrade-insecure-requests" in page.headers["content-security-policy"]
    assert schema.status_code == 404


def schema_paths(app: Litestar) -> list[str]:
    """The paths of every route Litestar registers under `/schema` for `app`; a `{path}` route is probed with
    the names of the viewers Litestar can render (ours renders JSON and YAML only)."""
    paths: set[str] = set()
    for route in app.routes:
        if route.path == "/schema" or route.path.startswith("/schema/"):
            if "{" in route.path:
                prefix = route.path.split("{", 1)[0]
                paths.update(prefix + name for name in ("swagger", "redoc", "elements", "rapidoc", "scalar", "x"))
            else:
                paths.add(route.path)
    return sorted(paths)


async def test_prod_hides_every_schema_route_unless_asked(database_url: str, var_dir: Path) -> None:
    """Check F3: every route Litestar registers under `/schema` when the document is public (the document in
    JSON and YAML, `/schema` itself and its `{path}` viewers) answers 404 in prod without
    OPENAPI_PUBLIC=1, and no route under `/schema` is registered at all."""
    public = create_app(make_settings(var_dir, DATABASE_URL=database_url, OPENAPI_PUBLIC="1", **PROD))
    probes = schema_paths(public)
    assert {"/schema", "/schema/openapi.json", "/schema/openapi.yaml", "/schema/openapi.yml"} <= set(probes)
    hidden = create_app(make_settings(var_dir, DATABASE_URL=database_url, **PROD))
    assert schema_paths(hidden) == []
    async with checked_client(hidden) as client:
        answers = {path: (await client.get(path)).status_code for path in probes}
    assert answers == dict.fromkeys(probes, 404)


async def test_prod_can_publish_the_schema_when_asked(database_url: str, var_dir: Path) -> None:
    app = create_app(make_settings(var_dir, DATABASE_URL=database_url, OPENAPI_PUBLIC="1", **PROD))
    async with checked_client(app) as client:
        for path in ("/schema/openapi.json", "/schema/openapi.yaml", "/schema/openapi.yml"):
            assert (await client.get(path)).status_code == 200, path


async def test_prod_runs_without_debug_or_a_metrics_route(database_url: str, var_dir: Path) -> None:
    """Check F3: the prod app is not in debug mode (no debug error pages, no debugger on an exception), no
    route serves metrics or debug data (by path segment, and `/metrics`-style probes answer 404), and a crash
    answers 500 with no stack trace in the body, neither as a page nor as JSON."""
    app = create_app(make_settings(var_dir, DATABASE_URL=database_url, **PROD))
    assert app.debug is False and app.pdb_on_exception is False
    segments = {part.lower() for route in app.routes for part in route.path.split("/")}
    assert not segments & {"metrics", "prometheus", "debug", "_debug", "__debug__", "stats", "pprof", "actuator"}
    crash_routes(app)
    async with checked_client(app) as client:
        probes = {path: (await client.get(path)).status_code for path in ("/metrics", "/prometheus", "/debug")}
        crashes = [await client.get("/crash-for-test"), await client.get("/api/patient/v1/crash-for-test")]
    assert probes == dict.fromkeys(probes, 404)
    assert [crash.status_code for crash in crashes] == [500, 500]
    assert crashes[0].headers["content-type"].startswith("text/html")
    assert crashes[1].json()["error"] and set(crashes[1].json()) == {"error", "message", "issues"}
    for crash in crashes:
        for marker in TRACE_MARKERS:
            assert marker not in crash.text, (crash.request.url.path, marker)


async def test_b2_a_prod_sign_in_sets_only_cookies_that_pass_the_cookie_check(
    database_url: str, var_dir: Path, tmp_path: Path
) -> None:
    """Check B2 in prod: a patient's web sign-in and a staff member's sign-in set the CSRF, session and staff
    session cookies, and every `Set-Cookie` on the way passes `check_set_cookies` (the hook of `checked_client`
    fails the request otherwise)."""
    outbox = Outbox(tmp_path / "sms.jsonl")
    app = create_app(
        make_settings(var_dir, DATABASE_URL=database_url, **{**PROD, "SMS_BACKEND": f"file:{outbox.path}"})
    )
    set_cookies: list[str] = []

    async def collect(response: httpx.Response) -> None:
        set_cookies.extend(response.headers.get_list("set-cookie"))

    async with checked_client(app) as client:
        client.event_hooks["response"].append(collect)
        hospital = Hospital(client, FACILITY, await register(app, FACILITY))
        assert (await hospital.push(sample("fhir-visit-bundle.json"))).status_code == 200
        session, _ = await browser_cookies(client, outbox, PHONE)
        client.cookies.set("__Host-session", session)
        gate = await client.get("/book", follow_redirects=False)
        assert (gate.status_code, gate.headers["location"]) == (303, "/consent")  # signed in: asked to consent
        client.cookies.clear()
        await signed_in_member(client, app, await add_member(app, FACILITY, "le.tan", "receptionist"))
    names = {header.split("=", 1)[0] for header in set_cookies}
    assert {"__Host-csrf", "__Host-session", "__Host-staff-session"} <= names, names


async def test_prod_logs_are_json_lines_with_the_request_id(
    database_url: str, var_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(make_settings(var_dir, DATABASE_URL=database_url, **PROD))
    async with checked_client(app) as client:
        response = await client.get("/offline?code=123456")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("event") == "request"]
    assert access and access[-1]["request_id"] == response.headers["x-request-id"]
    assert access[-1]["path"] == "/offline" and "123456" not in json.dumps(lines)  # no query strings


@pytest.mark.parametrize("app_env", ["dev", "prod"])
async def test_client_errors_log_no_traceback(
    database_url: str, var_dir: Path, capsys: pytest.CaptureFixture[str], app_env: str
) -> None:
    environ = PROD if app_env == "prod" else {}
    app = create_app(make_settings(var_dir, DATABASE_URL=database_url, **environ))
    async with checked_client(app) as client:
        assert (await client.get("/no-such-page")).status_code == 404
        assert (await client.post("/language", data={"lang": "en"})).status_code == 403
        assert (await client.post("/api/hospital/v1/01929/fhir", content=b"x" * 11_000_000)).status_code in (
            404,
            405,
            413,
        )
    logged = capsys.readouterr().err
    assert "client error" in logged
    assert "Traceback" not in logged and "exc_info" not in logged and '"exception"' not in logged


@pytest.mark.parametrize("app_env", ["dev", "prod"])
async def test_a_crash_logs_its_traceback_but_no_locals_cookies_or_tokens(
    database_url: str, var_dir: Path, capsys: pytest.CaptureFixture[str], app_env: str
) -> None:
    from litestar import get

    @get("/crash-for-test", sync_to_thread=False)
    def crash() -> None:
        diagnosis = "CANARY-LOCAL-E11.9"  # a local that must not reach the log
        raise RuntimeError(f"boom {len(diagnosis)}")

    environ = PROD if app_env == "prod" else {}
    app = create_app(make_settings(var_dir, DATABASE_URL=database_url, **environ))
    app.register(crash)
    async with checked_client(app) as client:
        response = await client.get(
            "/crash-for-test?otp=CANARY-QUERY",
            headers={"Authorization": "Bearer CANARY-TOKEN", "Cookie": "__Host-session=CANARY-COOKIE"},
        )
    assert response.status_code == 500 and "CANARY" not in response.text
    logged = capsys.readouterr().err
    assert "RuntimeError" in logged and "boom" in logged
    assert "CANARY" not in logged


async def test_the_access_log_records_the_status_actually_sent(
    capsys: pytest.CaptureFixture[str],
    client: AsyncTestClient,  # type: ignore[type-arg]
) -> None:
    await client.get("/")
    assert (await client.post("/language", data={"lang": "en"})).status_code == 403
    assert (await client.get("/nowhere")).status_code == 404
    logged = capsys.readouterr().err
    assert "path=/language" in logged and "status=403" in logged
    assert "path=/nowhere" in logged and "status=404" in logged
    assert "status=500" not in logged
