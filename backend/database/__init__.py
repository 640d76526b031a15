"""PostgreSQL: URLs, the engine and the per-request session, the embedded server, and migrations."""

from backend.database._embedded import EmbeddedPostgres
from backend.database._engine import Database, DatabaseUnreachable, provide_db_session
from backend.database._migrations import revision, upgrade
from backend.database._urls import redact_url, to_async_url

__all__ = [
    "Database",
    "DatabaseUnreachable",
    "EmbeddedPostgres",
    "provide_db_session",
    "redact_url",
    "revision",
    "to_async_url",
    "upgrade",
]
