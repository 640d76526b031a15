"""PostgreSQL: URLs, the engine and the per-request session, the embedded server, and migrations."""

from backend.database._embedded import EmbeddedPostgres
from backend.database._engine import Database, DatabaseUnreachable, provide_db_session
from backend.database._migrations import revision, upgrade
from backend.database._raw import PgConnection, driver_connection, raw_transaction
from backend.database._urls import redact_url, to_async_url

__all__ = [
    "Database",
    "DatabaseUnreachable",
    "EmbeddedPostgres",
    "PgConnection",
    "driver_connection",
    "provide_db_session",
    "raw_transaction",
    "redact_url",
    "revision",
    "to_async_url",
    "upgrade",
]
