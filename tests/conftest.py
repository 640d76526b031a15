"""Fixtures every test may use: settings, a clean database per test, the app and an HTTP client."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.app import create_app
from backend.settings import Settings, load_settings
from tests.support.cookies import check_set_cookies
from tests.support.databases import (
    TestServer,
    create_test_database,
    drop_database,
    ensure_template,
    find_test_server,
)
from tests.support.processes import (
    HEALTHBOOK,
    free_port,
    healthbook_env,
    start_healthbook,
    stop,
    wait_until_healthy,
)

# Tests build settings from their own environment; nothing from the developer's shell leaks in.
_ENV_KEYS = ("DATABASE_URL", "APP_ENV", "SECRET_KEY", "DATA_KEYS", "SMS_BACKEND", "BASE_URL", "OIDC_ISSUER")
_numbers = itertools.count()


@pytest.fixture(scope="session", autouse=True)
def _clean_environment() -> Iterator[None]:
    saved = {key: os.environ.pop(key) for key in _ENV_KEYS if key in os.environ}
    yield
    os.environ.update(saved)


@pytest.fixture(scope="session")
def var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("var")


@pytest.fixture(scope="session")
async def test_server() -> AsyncIterator[TestServer]:
    server = await find_test_server()
    yield server
    if server.embedded is not None:
        server.embedded.stop()


@pytest.fixture(scope="session")
async def template_database(test_server: TestServer) -> str:
    return await ensure_template(test_server)


@pytest.fixture
async def database_url(test_server: TestServer, template_database: str) -> AsyncIterator[str]:
    """A freshly migrated database of this test's own, dropped afterwards."""
    name = await create_test_database(test_server, template_database, next(_numbers))
    yield test_server.url_for(name)
    await drop_database(test_server, name)


@pytest.fixture
async def empty_database_url(test_server: TestServer) -> AsyncIterator[str]:
    """A database with nothing in it, not even the migrations (where a restore goes); dropped afterwards."""
    name = await create_test_database(test_server, "template0", next(_numbers))
    yield test_server.url_for(name)
    await drop_database(test_server, name)


def make_settings(var_dir: Path, **environ: str) -> Settings:
    return load_settings({"VAR_DIR": str(var_dir), "APP_ENV": "dev", "SMS_BACKEND": "console", **environ})


@contextmanager
def serving(database_url: str, var_dir: Path, log: Path, **environ: str) -> Iterator[str]:
    """`healthbook serve` on a free port over this database, with `environ` added; its base URL."""
    port = free_port()
    env = healthbook_env(var_dir, DATABASE_URL=database_url, PORT=str(port), **environ)
    process = start_healthbook("serve", env=env, log=log)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base_url, process, log)
        yield base_url
    finally:
        stop(process, signal.SIGTERM)


@pytest.fixture
def live_server(database_url: str, var_dir: Path, tmp_path: Path) -> Iterator[str]:
    with serving(database_url, var_dir, tmp_path / "server.log") as base_url:
        yield base_url


@pytest.fixture
def sms_outbox(tmp_path: Path) -> Path:
    """Where a live server's text messages go (`SMS_BACKEND=file:PATH`)."""
    return tmp_path / "sms.jsonl"


@pytest.fixture
def demo_server(database_url: str, var_dir: Path, tmp_path: Path, sms_outbox: Path) -> Iterator[str]:
    """A live server over the demo data set, its text messages in `sms_outbox`."""
    loaded = subprocess.run(
        [HEALTHBOOK, "demo"], env=healthbook_env(var_dir, DATABASE_URL=database_url), capture_output=True, timeout=300
    )
    assert loaded.returncode == 0, loaded.stderr.decode()
    with serving(database_url, var_dir, tmp_path / "server.log", SMS_BACKEND=f"file:{sms_outbox}") as base_url:
        yield base_url


@pytest.fixture
def settings(var_dir: Path, database_url: str) -> Settings:
    return make_settings(var_dir, DATABASE_URL=database_url)


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    # https: httpx keeps `Secure` (__Host-) cookies only for https URLs.
    async with AsyncTestClient(app, base_url="https://testserver.local") as test_client:
        test_client.event_hooks["response"].append(check_set_cookies)  # check B2, on every response
        yield test_client
