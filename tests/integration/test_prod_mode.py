"""`APP_ENV=prod`: HSTS, no public schema, JSON logs; and in any mode, no traceback for a client error."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from backend.app import create_app
from tests.conftest import make_settings

PROD = {
    "APP_ENV": "prod",
    "SECRET_KEY": "p" * 48,
    "DATA_KEYS": "k1:" + base64.b64encode(b"d" * 32).decode(),
    "SMS_BACKEND": "file:/dev/null",
    "BASE_URL": "https://sosuckhoe.example.vn",
}


async def test_prod_sends_hsts_and_hides_the_schema(database_url: str, var_dir: Path) -> None:
    app = create_app(make_settings(var_dir, DATABASE_URL=database_url, **PROD))
    async with AsyncTestClient(app, base_url="https://testserver.local") as client:
        page = await client.get("/")
        schema = await client.get("/schema/openapi.json")
    assert page.headers["strict-transport-security"].startswith("max-age=")
    assert "upgrade-insecure-requests" in page.headers["content-security-policy"]
    assert schema.status_code == 404


async def test_prod_can_publish_the_schema_when_asked(database_url: str, var_dir: Path) -> None:
    app = create_app(make_settings(var_dir, DATABASE_URL=database_url, OPENAPI_PUBLIC="1", **PROD))
    async with AsyncTestClient(app, base_url="https://testserver.local") as client:
        assert (await client.get("/schema/openapi.json")).status_code == 200


async def test_prod_logs_are_json_lines_with_the_request_id(
    database_url: str, var_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(make_settings(var_dir, DATABASE_URL=database_url, **PROD))
    async with AsyncTestClient(app, base_url="https://testserver.local") as client:
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
    async with AsyncTestClient(app, base_url="https://testserver.local") as client:
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
    async with AsyncTestClient(app, base_url="https://testserver.local") as client:
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
