"""Fixtures of the national ID sign-in tests: those of tests/integration/auth/conftest.py, with `BASE_URL`
the test client's own origin, so that the provider's redirects come back to it with its cookies."""

from __future__ import annotations

from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.settings import Settings
from tests.conftest import make_settings
from tests.integration.auth.conftest import app, client, clock, outbox
from tests.integration.oidc.steps import BASE_URL
from tests.support.clock import FakeClock
from tests.support.hospital import FACILITY, Hospital, register, sample
from tests.support.patients import Outbox


@pytest.fixture
def settings(var_dir: Path, database_url: str, outbox: Outbox) -> Settings:
    return make_settings(var_dir, DATABASE_URL=database_url, SMS_BACKEND=f"file:{outbox.path}", BASE_URL=BASE_URL)


@pytest.fixture
async def hospital(app: Litestar, client: AsyncTestClient[Litestar]) -> Hospital:
    return Hospital(client, FACILITY, await register(app, FACILITY))


@pytest.fixture
async def visit(hospital: Hospital, clock: FakeClock) -> None:
    """The sample patient's visit (Nguyễn Văn An, a demo person too), pushed by the sample hospital."""
    response = await hospital.push(sample("fhir-visit-bundle.json"), timestamp=int(clock.now.timestamp()))
    assert response.status_code == 200, response.text


__all__ = ["app", "client", "clock", "hospital", "outbox", "settings", "visit"]
