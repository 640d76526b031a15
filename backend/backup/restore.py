"""`healthbook restore`: a `healthbook backup` file back into an empty database, all or nothing.

The archive is replayed by `psql` in one transaction: a damaged file, a full disk or a refused statement
leaves the database as it was (with `--force`, the old contents too). Ownership and grants are left out,
so a copy made under one role restores under another. Afterwards the tables are analysed (pg_restore
does not) and the access log's hash chain is checked, as an operator would next.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import asyncpg

from backend.audit.chain import ChainCheck, verify_chain
from backend.backup.dump import file_sha256
from backend.backup.server import server_facts
from backend.backup.tools import BackupError, first_error_line, installed_tools, libpq_target, tools_for
from backend.database._migrations import head_revision

_ARCHIVE_MAGIC = b"PGDMP"
_DUMPED_FROM = re.compile(r"Dumped from database version: (\d+)")
_DUMPED_BY = re.compile(r"Dumped by pg_dump version: (\d+)")
_TABLE_ENTRY = re.compile(r"^\d+; \d+ \d+ TABLE public (\w+) ", re.MULTILINE)  # a line of `pg_restore --list`
_OUR_TABLES = {"alembic_version", "access_event", "record"}
_LARGE_OBJECTS = re.compile(r"^\d+; \d+ \d+ BLOB", re.MULTILINE)  # BLOB, BLOBS, BLOB METADATA
# --force: what the database held goes in the same transaction as the restore that replaces it.
# A lock timeout: on a database still in use, better a clear failure than the app's queries queued behind
# the DROP (stop the app first: docs/operations.md). The archive's own header sets it back to 0.
_REPLACE_PUBLIC = (
    "SET client_min_messages = warning; SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS public CASCADE; "
    "CREATE SCHEMA public AUTHORIZATION pg_database_owner; GRANT USAGE ON SCHEMA public TO PUBLIC;"
)


class RestoreRefused(BackupError):
    """The target is not empty (without --force), or the file is no backup this server can take."""


@dataclass(frozen=True)
class RestoreReport:
    source: Path
    sha256: str
    dumped_from: int
    tables: int
    schema_revision: str | None
    access_log: ChainCheck

    def report(self) -> dict[str, Any]:
        return {
            "input": str(self.source),
            "sha256": self.sha256,
            "dumped_from": self.dumped_from,
            "tables": self.tables,
            "schema_revision": self.schema_revision,
            "migrations_pending": self.schema_revision != head_revision(),
            "access_log": self.access_log.report(),
        }


def restore(url: str, source: Path, *, force: bool = False) -> RestoreReport:
    _check_is_archive(source)
    facts = asyncio.run(server_facts(url))
    if facts.user_objects and not force:
        raise RestoreRefused(
            f"the database is not empty ({facts.user_objects} tables, functions or schemas); "
            "restore into an empty database, or add --force to replace its public schema"
        )
    dumped_from, dumped_by = _archive_versions(source)
    if dumped_from > facts.major:
        raise RestoreRefused(
            f"this backup is of PostgreSQL {dumped_from}; restore it into PostgreSQL {dumped_from} or newer "
            f"(this server is {facts.version})"
        )
    _replay(url, source, tools_for(max(facts.major, dumped_by)).bin_dir, force)
    tables, revision, chain = asyncio.run(_after_restore(url))
    return RestoreReport(source.resolve(), file_sha256(source), dumped_from, tables, revision, chain)


def _check_is_archive(source: Path) -> None:
    if not source.is_file():
        raise BackupError(f"{source}: no such file")
    with source.open("rb") as file:
        if file.read(len(_ARCHIVE_MAGIC)) != _ARCHIVE_MAGIC:
            raise RestoreRefused(f"{source} is not a file made by `healthbook backup` (a pg_dump custom archive)")


def _archive_versions(source: Path) -> tuple[int, int]:
    """The server version the archive was taken from, and the pg_dump version that wrote it; refused
    unless it is a health book's (another application's backup would replace ours under --force) and
    holds no large objects (pg_restore wraps those in a COMMIT of its own, which would end our one
    transaction halfway; the app never makes any)."""
    newest = max(installed_tools(), key=lambda tools: tools.major, default=None)
    if newest is None:
        raise BackupError("no pg_restore found (install postgresql-client)")
    listed = subprocess.run([newest.path("pg_restore"), "--list", str(source)], capture_output=True, text=True)
    dumped_from, dumped_by = _DUMPED_FROM.search(listed.stdout), _DUMPED_BY.search(listed.stdout)
    if listed.returncode != 0 or dumped_from is None or dumped_by is None:
        raise RestoreRefused(f"{source} cannot be read: {first_error_line(listed.stderr)}")
    tables = set(_TABLE_ENTRY.findall(listed.stdout))
    if not _OUR_TABLES.issubset(tables):
        raise RestoreRefused(f"{source} is a PostgreSQL backup, but not of a Sổ Sức Khỏe database")
    if _LARGE_OBJECTS.search(listed.stdout):
        raise RestoreRefused(f"{source} holds large objects, which no Sổ Sức Khỏe database has")
    return int(dumped_from.group(1)), int(dumped_by.group(1))


def _replay(url: str, source: Path, bin_dir: Path, force: bool) -> None:
    """pg_restore writes the archive out as SQL, which we pass to psql inside a transaction we open and
    commit ourselves: only once pg_restore has read the whole file without error. (psql's own
    `--single-transaction` would commit whatever a truncated file gave it.) psql stops at the first error;
    a psql that ends without COMMIT leaves the database unchanged."""
    dsn, env = libpq_target(url)
    with tempfile.TemporaryFile() as script_errors, tempfile.TemporaryFile() as sql_errors:
        psql = subprocess.Popen(
            [str(bin_dir / "psql"), "--no-psqlrc", "--quiet", "--no-password", "--set=ON_ERROR_STOP=1",
             "--file=-", f"--dbname={dsn}"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=sql_errors, env=env,
        )  # fmt: skip
        script = subprocess.Popen(
            [str(bin_dir / "pg_restore"), "--no-owner", "--no-acl", "--file=-", str(source)],
            stdout=subprocess.PIPE, stderr=script_errors,
        )  # fmt: skip
        assert psql.stdin is not None and script.stdout is not None
        try:
            psql.stdin.write(b"BEGIN;\n" + (_REPLACE_PUBLIC.encode() + b"\n" if force else b""))
            shutil.copyfileobj(script.stdout, psql.stdin, 1 << 20)
            read_whole_file = script.wait() == 0
            if read_whole_file:
                psql.stdin.write(b"COMMIT;\n")
                psql.stdin.close()
        except BrokenPipeError:  # psql stopped at an error and rolled back; its message says which
            script.kill()
            script.wait()
            read_whole_file = True
        if not read_whole_file:
            psql.kill()  # before any COMMIT: the connection drops, the transaction with it
            psql.wait()
            raise BackupError(f"the backup file is damaged: {_first_error(script_errors)}; nothing was restored")
        if psql.wait() != 0:
            raise BackupError(f"restore failed, nothing was changed: {_first_error(sql_errors)}")


def _first_error(output: IO[bytes]) -> str:
    output.seek(0)
    return first_error_line(output.read().decode(errors="replace"))


async def _after_restore(url: str) -> tuple[int, str | None, ChainCheck]:
    dsn, env = libpq_target(url)
    connection = await asyncpg.connect(dsn, password=env.get("PGPASSWORD"), timeout=10)
    try:
        await connection.execute("ANALYZE")  # pg_restore leaves the planner without statistics
        tables = int(await connection.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"))
        revision = await connection.fetchval("SELECT version_num FROM alembic_version")
        return tables, revision, await verify_chain(connection)
    finally:
        await connection.close()
