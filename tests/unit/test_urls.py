"""Database URLs as operators write them."""

from __future__ import annotations

import pytest

from backend.database import redact_url, to_async_url
from backend.settings import SettingsError


@pytest.mark.parametrize(
    "raw",
    ["postgresql://u:p@db:5432/hb", "postgres://u:p@db:5432/hb", "postgresql+asyncpg://u:p@db:5432/hb"],
)
def test_postgres_urls_become_asyncpg_urls(raw: str) -> None:
    url = to_async_url(raw)
    assert url.drivername == "postgresql+asyncpg"
    assert (url.host, url.port, url.database, url.password) == ("db", 5432, "hb", "p")


def test_libpq_sslmode_becomes_asyncpg_ssl() -> None:
    url = to_async_url("postgresql://u@db/hb?sslmode=require")
    assert dict(url.query) == {"ssl": "require"}


def test_unix_socket_urls_keep_their_host_directory() -> None:
    url = to_async_url("postgresql://postgres:@/postgres?host=/work/var/pg")
    assert url.query["host"] == "/work/var/pg"


@pytest.mark.parametrize("raw", ["mysql://u@db/hb", "sqlite:///x.db", "::not a url::"])
def test_other_databases_are_refused(raw: str) -> None:
    with pytest.raises(SettingsError, match="DATABASE_URL"):
        to_async_url(raw)


def test_redacted_urls_hide_the_password() -> None:
    shown = redact_url("postgresql+asyncpg://hb:s3cret@db:5432/hb")
    assert "s3cret" not in shown and shown.startswith("postgresql://hb:***@db:5432/hb")
