"""Database URLs as operators write them, turned into what SQLAlchemy's asyncpg dialect expects."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from backend.settings import SettingsError

_POSTGRES_SCHEMES = {
    "postgres",
    "postgresql",
    "postgresql+asyncpg",
    "postgresql+psycopg",
    "postgresql+psycopg2",
}


def to_async_url(raw: str) -> URL:
    """`postgresql://…` (or `postgres://`, `postgresql+asyncpg://`) → a `postgresql+asyncpg` URL.

    libpq's `sslmode` becomes asyncpg's `ssl`, so URLs copied from a managed database keep working.
    """
    try:
        url = make_url(raw)
    except ArgumentError as exc:
        raise SettingsError("DATABASE_URL is not a URL (postgresql://user:password@host:5432/name)") from exc
    if url.drivername not in _POSTGRES_SCHEMES:
        raise SettingsError(f"DATABASE_URL must be a postgresql:// URL, not {url.drivername}://")
    query = dict(url.query)
    if "sslmode" in query:
        query["ssl"] = query.pop("sslmode")
    return url.set(drivername="postgresql+asyncpg", query=query)


def redact_url(url: URL | str) -> str:
    """The URL without its password, fit for a log line or an error message."""
    parsed = url if isinstance(url, URL) else make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=True)
