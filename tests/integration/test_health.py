"""`GET /healthz` (contract §6)."""

from __future__ import annotations

from pathlib import Path

from litestar.testing import AsyncTestClient

from backend.app import create_app
from tests.conftest import make_settings


async def test_healthz_reports_the_database(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


async def test_healthz_is_503_when_the_database_is_unreachable(var_dir: Path) -> None:
    settings = make_settings(var_dir, DATABASE_URL="postgresql://postgres@127.0.0.1:1/none")
    async with AsyncTestClient(create_app(settings), base_url="https://testserver.local") as client:
        response = await client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "unreachable"}
