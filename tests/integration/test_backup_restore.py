"""`healthbook backup` / `restore` (contract §1): the restore drill of check H1, on a small data set.

A database filled as in use (the demo's signed pushes, patients, an operator's read in the access log) is
backed up and restored into a fresh empty database: every table has the same rows (counts and per-table
checksums), the access log's chain verifies, the stored hospital signatures verify again, and a patient
signs in and reads their book from the copy. Refusals leave the target as it was.
"""

from __future__ import annotations

import json
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from backend.app import create_app
from backend.demo_people import PATIENTS
from tests.conftest import make_settings
from tests.integration.test_cli import run_healthbook
from tests.support.databases import connected, fingerprint_query
from tests.support.patients import Outbox, bearer, sign_in_app

# Every row of a table, as text, hashed in an order that does not depend on where the rows lie on disk.
_TABLE_CHECKSUM = (
    "SELECT count(*) AS rows, md5(string_agg(md5(t::text), '' ORDER BY md5(t::text))) AS sum FROM \"{}\" t"
)


def healthbook(var_dir: Path, database_url: str, *args: str) -> Any:
    result = run_healthbook(*args, var_dir=var_dir, DATABASE_URL=database_url)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def refused(var_dir: Path, database_url: str, *args: str) -> str:
    """The one line a refused command prints; it must print nothing on stdout."""
    result = run_healthbook(*args, var_dir=var_dir, DATABASE_URL=database_url)
    assert result.returncode == 1 and result.stdout == "", result
    return result.stderr.strip().splitlines()[-1]


async def table_checksums(url: str) -> dict[str, tuple[int, str]]:
    """Every table's row count and checksum."""
    async with connected(url) as connection:
        tables = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        sums = {}
        for (table,) in tables:
            row = await connection.fetchrow(fingerprint_query(table))
            assert row is not None
            sums[table] = (int(row["n"]), str(row["digest"]))
        return sums


@pytest.fixture
async def filled(database_url: str, var_dir: Path) -> AsyncIterator[str]:
    """The demo data set (signed and unsigned pushes from several hospitals), and an operator's read."""
    healthbook(var_dir, database_url, "demo")
    healthbook(var_dir, database_url, "book", "--cccd", PATIENTS[0].cccd)
    yield database_url


async def test_h1_a_backup_restores_into_an_empty_database_whole_and_serves(
    filled: str, empty_database_url: str, var_dir: Path, tmp_path: Path
) -> None:
    backup_file = tmp_path / "healthbook.dump"
    made = healthbook(var_dir, filled, "backup", "--output", str(backup_file))
    assert made["bytes"] == backup_file.stat().st_size > 0 and len(made["sha256"]) == 64
    assert stat.S_IMODE(backup_file.stat().st_mode) == 0o600  # everyone's health data: the owner's eyes only
    assert not (tmp_path / ".healthbook.dump.partial").exists()

    restored = healthbook(var_dir, empty_database_url, "restore", "--input", str(backup_file))
    assert restored["sha256"] == made["sha256"] and restored["migrations_pending"] is False
    assert restored["access_log"] == {"events": 1, "ok": True}

    original, copy = await table_checksums(filled), await table_checksums(empty_database_url)
    assert copy == original
    assert original["record"][0] > 200 and original["access_event"][0] == 1
    assert healthbook(var_dir, empty_database_url, "audit", "verify") == {"events": 1, "ok": True}
    # The bytes each hospital signed came along: the signatures check out again, as before.
    for patient in PATIENTS[:2]:
        checked = healthbook(var_dir, empty_database_url, "verify", "--cccd", patient.cccd)
        assert checked["checked"] > 0 and checked["changed"] == [], patient.cccd
    # The access log's guards came along too: the copy is as append-only as the original.
    async with connected(empty_database_url) as connection:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await connection.execute("DELETE FROM access_event")

    # And the copy serves: a patient signs in (a new session, in the copy only) and reads their book.
    outbox = tmp_path / "sms.jsonl"
    settings = make_settings(var_dir, DATABASE_URL=empty_database_url, SMS_BACKEND=f"file:{outbox}")
    async with AsyncTestClient(create_app(settings), base_url="https://testserver.local") as client:
        tokens = await sign_in_app(client, Outbox(outbox), PATIENTS[0].phone)
        book = await client.get("/api/patient/v1/book", headers=bearer(tokens["access_token"]))
    assert book.status_code == 200, book.text
    assert book.json()["patient"]["name"] == f"{PATIENTS[0].family} {PATIENTS[0].given}"
    assert book.json()["groups"]["prescriptions"]


async def test_h1_restore_refuses_a_database_in_use_unless_forced(
    filled: str, database_url: str, var_dir: Path, tmp_path: Path
) -> None:
    backup_file = tmp_path / "healthbook.dump"
    healthbook(var_dir, filled, "backup", "--output", str(backup_file))
    before = await table_checksums(filled)

    assert "not empty" in refused(var_dir, filled, "restore", "--input", str(backup_file))
    assert await table_checksums(filled) == before

    # --force replaces what the database holds, here with the same data: nothing lost, nothing doubled.
    healthbook(var_dir, filled, "restore", "--force", "--input", str(backup_file))
    assert await table_checksums(filled) == before


async def test_h1_a_damaged_or_foreign_file_changes_nothing(
    filled: str, empty_database_url: str, var_dir: Path, tmp_path: Path
) -> None:
    backup_file = tmp_path / "healthbook.dump"
    healthbook(var_dir, filled, "backup", "--output", str(backup_file))
    before = await table_checksums(filled)
    damaged = bytearray(backup_file.read_bytes())
    for offset in range(len(damaged) // 2, len(damaged) // 2 + 512):  # inside the compressed table data
        damaged[offset] ^= 0x5A
    (tmp_path / "damaged.dump").write_bytes(bytes(damaged))
    (tmp_path / "truncated.dump").write_bytes(backup_file.read_bytes()[: len(damaged) // 3])
    (tmp_path / "notes.txt").write_text("not a backup")

    # Damage found halfway through the data: --force's old contents stay, an empty database stays empty.
    assert "damaged" in refused(var_dir, filled, "restore", "--force", "--input", str(tmp_path / "damaged.dump"))
    assert await table_checksums(filled) == before
    assert "damaged" in refused(var_dir, empty_database_url, "restore", "--input", str(tmp_path / "damaged.dump"))
    assert await table_checksums(empty_database_url) == {}
    message = refused(var_dir, empty_database_url, "restore", "--input", str(tmp_path / "truncated.dump"))
    assert "cannot be read" in message or "damaged" in message, message
    assert await table_checksums(empty_database_url) == {}
    assert "not a file made by `healthbook backup`" in refused(
        var_dir, empty_database_url, "restore", "--input", str(tmp_path / "notes.txt")
    )
    assert "no such file" in refused(var_dir, empty_database_url, "restore", "--input", str(tmp_path / "absent"))
    assert "no such folder" in refused(var_dir, filled, "backup", "--output", str(tmp_path / "absent" / "x.dump"))


async def test_h1_a_copy_whose_access_log_was_tampered_with_restores_but_says_so(
    filled: str, empty_database_url: str, var_dir: Path, tmp_path: Path
) -> None:
    async with connected(filled) as connection:  # what only the tables' owner could do: change an event
        await connection.execute("ALTER TABLE access_event DISABLE TRIGGER access_event_append_only")
        await connection.execute("UPDATE access_event SET purpose = 'sửa lại'")
        await connection.execute("ALTER TABLE access_event ENABLE ALWAYS TRIGGER access_event_append_only")
    backup_file = tmp_path / "healthbook.dump"
    healthbook(var_dir, filled, "backup", "--output", str(backup_file))

    result = run_healthbook("restore", "--input", str(backup_file), var_dir=var_dir, DATABASE_URL=empty_database_url)
    assert result.returncode == 1 and "hash chain is broken" in result.stderr
    assert json.loads(result.stdout)["access_log"]["ok"] is False
    assert (await table_checksums(empty_database_url))["access_event"][0] == 1  # restored all the same


async def test_h1_another_databases_backup_or_one_with_large_objects_is_refused(
    filled: str, empty_database_url: str, var_dir: Path, tmp_path: Path
) -> None:
    """Only a health book's backup replaces a health book: another application's pg_dump would be replayed
    whole under --force; and large objects come with a COMMIT of pg_restore's own mid-stream."""
    async with connected(empty_database_url) as connection:
        await connection.execute("CREATE TABLE notes (id int PRIMARY KEY, body text)")
    foreign = tmp_path / "other-app.dump"
    healthbook(var_dir, empty_database_url, "backup", "--output", str(foreign))
    before = await table_checksums(filled)
    message = refused(var_dir, filled, "restore", "--force", "--input", str(foreign))
    assert "not of a Sổ Sức Khỏe database" in message
    assert await table_checksums(filled) == before

    async with connected(filled) as connection:
        await connection.execute("SELECT lo_from_bytea(0, 'x')")
    with_objects = tmp_path / "large-objects.dump"
    healthbook(var_dir, filled, "backup", "--output", str(with_objects))
    assert "large objects" in refused(var_dir, filled, "restore", "--force", "--input", str(with_objects))
    assert await table_checksums(filled) == before
