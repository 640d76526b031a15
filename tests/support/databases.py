"""Where the tests' PostgreSQL is, and a clean database for every test.

Contract §1: `TEST_DATABASE_URL` if set; else the server on 127.0.0.1:5432 if it lets `postgres` in
without a password; else an embedded server under `var/test-pg`. Migrations run once into a template
database named after a hash of the migrations and models; each test gets a copy (`CREATE DATABASE …
TEMPLATE`, tens of milliseconds) that is dropped afterwards.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
import psutil
from sqlalchemy.engine import URL, make_url

from backend.backup.tools import libpq_target, tools_for
from backend.database import EmbeddedPostgres, upgrade
from backend.paths import ALEMBIC_DIR, ROOT

LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
TEST_DB_PREFIX = "hb_test_"
_TEMPLATE_LOCK = 0x5B5C_7E57
# Runs on other checkouts or machines may share the server: their databases are left alone unless they
# are plainly abandoned (this host's dead pids), or old.
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
_STALE_TEST_DATABASE = 24 * 3600
_STALE_TEMPLATE = 7 * 24 * 3600


@dataclass
class TestServer:
    """A PostgreSQL server the tests may create databases on."""

    admin_url: URL  # a database to connect to for CREATE/DROP DATABASE
    embedded: EmbeddedPostgres | None = None

    def url_for(self, database: str) -> str:
        return self.admin_url.set(database=database).render_as_string(hide_password=False)

    async def connect_admin(self) -> asyncpg.Connection:
        return await asyncpg.connect(_libpq(self.admin_url))


async def find_test_server() -> TestServer:
    explicit = os.environ.get("TEST_DATABASE_URL")
    if explicit:
        return TestServer(make_url(explicit))
    try:
        connection = await asyncpg.connect(LOCAL_SERVER, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        embedded = EmbeddedPostgres(ROOT / "var" / "test-pg")
        return TestServer(make_url(await asyncio.to_thread(embedded.start)), embedded)
    await connection.close()
    return TestServer(make_url(LOCAL_SERVER))


def schema_fingerprint() -> str:
    """Changes whenever a migration or a model changes, so a stale template is never reused."""
    digest = hashlib.sha256()
    for folder in (ALEMBIC_DIR, ROOT / "backend" / "models"):
        for path in sorted(folder.rglob("*.py")):
            digest.update(path.relative_to(ROOT).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


async def ensure_template(server: TestServer) -> str:
    """The migrated template database, built once per schema version (under a lock: runs may overlap)."""
    name = f"{TEST_DB_PREFIX}tpl_{schema_fingerprint()}"
    admin = await server.connect_admin()
    try:
        await admin.execute("SELECT pg_advisory_lock($1)", _TEMPLATE_LOCK)
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            building = f"{name}_building"
            await admin.execute(f'DROP DATABASE IF EXISTS "{building}"')
            await admin.execute(f'CREATE DATABASE "{building}"')
            await asyncio.to_thread(upgrade, server.url_for(building))
            await admin.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
            await _stamp(admin, name)
        await _drop_leftovers(admin, keep=name)
    finally:
        await admin.execute("SELECT pg_advisory_unlock($1)", _TEMPLATE_LOCK)
        await admin.close()
    return name


async def create_test_database(server: TestServer, template: str, number: int) -> str:
    name = f"{TEST_DB_PREFIX}{_HOST}_{os.getpid()}_{number}"
    admin = await server.connect_admin()
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        await _stamp(admin, name)
    finally:
        await admin.close()
    return name


async def drop_database(server: TestServer, name: str) -> None:
    admin = await server.connect_admin()
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def _stamp(admin: asyncpg.Connection, name: str) -> None:
    await admin.execute(f"COMMENT ON DATABASE \"{name}\" IS 'created {int(time.time())}'")


async def _drop_leftovers(admin: asyncpg.Connection, keep: str) -> None:
    """Test databases of this host's runs that died (their pid is gone); anything of ours that is old."""
    rows = await admin.fetch(
        "SELECT datname, shobj_description(oid, 'pg_database') AS note FROM pg_database WHERE datname LIKE $1",
        f"{TEST_DB_PREFIX}%",
    )
    now = time.time()
    for name, note in rows:
        if name == keep:
            continue
        created = re.fullmatch(r"created (\d+)", note or "")
        age = now - int(created.group(1)) if created else float("inf")
        is_template = name.startswith(f"{TEST_DB_PREFIX}tpl_")
        ours = re.fullmatch(rf"{TEST_DB_PREFIX}{_HOST}_(\d+)_\d+", name)
        abandoned = ours is not None and not psutil.pid_exists(int(ours.group(1)))
        if abandoned or age > (_STALE_TEMPLATE if is_template else _STALE_TEST_DATABASE):
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@asynccontextmanager
async def connected(url: str) -> AsyncIterator[asyncpg.Connection]:
    """One connection of the test's own to `url` (the superuser's), closed afterwards."""
    connection = await asyncpg.connect(url)
    try:
        yield connection
    finally:
        await connection.close()


def plain_dump(database_url: str, server_major: int) -> str:
    """The whole database as `pg_dump --format=plain` writes it, by the client tools that fit the server."""
    dsn, env = libpq_target(database_url)
    dumped = subprocess.run(
        [tools_for(server_major).path("pg_dump"), "--format=plain", "--no-password", f"--dbname={dsn}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dumped.returncode == 0, dumped.stderr
    return dumped.stdout


def fingerprint_query(table: str, where: str = "TRUE") -> str:
    """A table's row count `n` and the MD5 `digest` of all its rows as text, whatever their order on disk."""
    return (
        "SELECT count(*) AS n, md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) AS digest"  # noqa: S608 - test code
        f' FROM "{table}" t WHERE {where}'
    )


def _libpq(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)
