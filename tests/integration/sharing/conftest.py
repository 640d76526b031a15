from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.app import create_app
from backend.settings import Settings
from tests.conftest import make_settings
from tests.support.clock import FakeClock
from tests.support.cookies import check_set_cookies
from tests.support.hospital import FACILITY, Hospital, register, sample
from tests.support.patients import Outbox


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    return Outbox(tmp_path / "sms.jsonl")


@pytest.fixture
def settings(var_dir: Path, database_url: str, outbox: Outbox) -> Settings:
    return make_settings(var_dir, DATABASE_URL=database_url, SMS_BACKEND=f"file:{outbox.path}")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(settings: Settings, clock: FakeClock) -> Litestar:
    return create_app(settings, clock=clock)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app, base_url="https://testserver.local") as test_client:
        test_client.event_hooks["response"].append(check_set_cookies)  # check B2, on every response
        yield test_client


@pytest.fixture
async def visit(app: Litestar, client: AsyncTestClient[Litestar], clock: FakeClock) -> None:
    """The sample patient's visit, pushed by the sample hospital (signed at the test clock's time)."""
    hospital = Hospital(client, FACILITY, await register(app, FACILITY))
    response = await hospital.push(sample("fhir-visit-bundle.json"), timestamp=int(clock.now.timestamp()))
    assert response.status_code == 200, response.text
