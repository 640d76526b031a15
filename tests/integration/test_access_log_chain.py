"""Check G2, its first two points: the access log is append-only for everyone, superusers included, and
a hash chain over its events finds a changed, removed or slipped-in event (`healthbook audit verify`,
contract §1). The design, and what it cannot catch: `backend/audit/chain.py`.

Tampering is done as an attacker with the database's superuser would: `ALTER TABLE … DISABLE TRIGGER ALL`,
change, enable again. The tests connect as `postgres`, a superuser (the first test checks that)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from backend.audit import Reader, log_access
from backend.audit.chain import GENESIS, PURGE_STEPS, canonical, event_hash, verify_chain
from backend.database import upgrade
from backend.records.reads import read_stored_records
from tests.integration.test_cli import run_healthbook
from tests.support import databases
from tests.support.databases import connected

CCCD = "001090012345"
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
DESK = Reader(actor="le.tan", role="receptionist", purpose="tiếp đón", channel="reception")


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """The test's database, as the superuser; one patient in it."""
    async with connected(database_url) as connection:
        await connection.execute("INSERT INTO patient (id, cccd) VALUES ($1, $2)", uuid.uuid4(), CCCD)
        yield connection


async def patient(connection: asyncpg.Connection) -> uuid.UUID:
    found = await connection.fetchval("SELECT id FROM patient WHERE cccd = $1", CCCD)
    assert isinstance(found, uuid.UUID)
    return found


async def log(connection: asyncpg.Connection, count: int, reader: Reader = DESK) -> list[int]:
    """`count` reads logged as the read paths log them, each in its own transaction; their ids."""
    patient_id = await patient(connection)
    for n in range(count):
        async with connection.transaction():
            await log_access(
                connection, reader, patient_id, ["Condition", "Patient"], [f"Condition/c-{n}"], NOW + timedelta(n)
            )
    return [row["id"] for row in await connection.fetch("SELECT id FROM access_event ORDER BY id")]


@asynccontextmanager
async def triggers_off(connection: asyncpg.Connection) -> AsyncIterator[None]:
    await connection.execute("ALTER TABLE access_event DISABLE TRIGGER ALL")
    try:
        yield
    finally:
        await connection.execute("ALTER TABLE access_event ENABLE TRIGGER ALL")


async def check(connection: asyncpg.Connection, batch: int = 2000) -> tuple[int, int | None]:
    result = await verify_chain(connection, batch)
    return result.events, result.first_bad


# --- Append-only ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE access_event SET actor = 'someone else'",
        "UPDATE access_event SET purpose = purpose WHERE id = $1",
        "DELETE FROM access_event WHERE id = $1",
        "DELETE FROM access_event WHERE false",  # refused even when it would touch nothing
        "TRUNCATE access_event CASCADE",
        "UPDATE access_chain SET last_id = 0",
        "DELETE FROM access_chain",
        "TRUNCATE access_chain",
    ],
)
async def test_g2_update_delete_and_truncate_fail_even_for_a_superuser(db: asyncpg.Connection, statement: str) -> None:
    """G2: UPDATE, DELETE or TRUNCATE on `access_event` fails, also for a superuser connection (a trigger
    that raises); the chain's head cannot be moved by hand either."""
    assert await db.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user") is True
    ids = await log(db, 2)
    before = [dict(row) for row in await db.fetch("SELECT * FROM access_event ORDER BY id")]
    arguments = [ids[0]] if "$1" in statement else []
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match=r"append-only|moved by the access_event trigger"):
        await db.execute(statement, *arguments)
    # Replica mode skips ordinary triggers, and any superuser may set it without DDL: these still hold.
    await db.execute("SET session_replication_role = replica")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match=r"append-only|moved by the access_event trigger"):
        await db.execute(statement, *arguments)
    await db.execute("SET session_replication_role = origin")
    assert [dict(row) for row in await db.fetch("SELECT * FROM access_event ORDER BY id")] == before
    assert await check(db) == (2, None)


# --- The chain -----------------------------------------------------------------------------------------


async def test_g2_events_link_in_id_order_and_sql_and_python_hash_alike(db: asyncpg.Connection) -> None:
    """G2: every event's hash is sha256(previous hash || canonical bytes), whoever computes it: the
    trigger, in any session time zone, over awkward values, and `backend/audit/chain.py`."""
    await db.execute("SET TIME ZONE 'Asia/Ho_Chi_Minh'")
    patient_id = await patient(db)
    facility = await db.fetchval(
        "INSERT INTO facility (code, name, webhook_secret) VALUES ('01929', 'Bệnh viện', 'x') RETURNING id"
    )
    awkward = [
        Reader(actor="", role="~", purpose="3:abc#", channel="shl"),
        Reader(actor="BS. Trần Hữu Nghĩa 👩‍⚕️", role="recipient", purpose="kha\u0301m", channel="shl"),
        Reader(actor="le.tan", role="receptionist", purpose="x", channel="reception", facility_id=facility),
    ]
    for n, reader in enumerate(awkward):
        at = datetime(2026, 1, 1, 23, 59, 59, 999999, tzinfo=UTC) + timedelta(microseconds=n)
        await log_access(db, reader, patient_id, [] if n == 0 else ["A", "", "B"], ["", "~", "1#"][:n], at)
    rows = await db.fetch("SELECT e.*, access_event_canonical(e) AS sql_bytes FROM access_event e ORDER BY id")
    previous = GENESIS
    for row in rows:
        assert bytes(row["sql_bytes"]) == canonical(row)
        assert row["prev_hash"] == previous and row["hash"] == event_hash(previous, row)
        previous = row["hash"]
    head = await db.fetchrow("SELECT last_id, last_hash FROM access_chain")
    assert head is not None and (head["last_id"], head["last_hash"]) == (rows[-1]["id"], previous)
    assert await check(db) == (3, None)


async def test_g2_a_changed_field_is_found_at_its_event(db: asyncpg.Connection) -> None:
    """G2: a hash chain detects a tampered row: one actor changed behind disabled triggers."""
    ids = await log(db, 5)
    async with triggers_off(db):
        await db.execute("UPDATE access_event SET actor = 'nobody' WHERE id = $1", ids[2])
    assert await check(db) == (2, ids[2])


async def test_g2_a_changed_event_whose_hash_was_recomputed_is_found_at_the_next(db: asyncpg.Connection) -> None:
    """G2: an attacker who also recomputes the changed row's hash breaks the link to the row after it."""
    ids = await log(db, 5)
    async with triggers_off(db):
        await db.execute("UPDATE access_event SET purpose = 'routine' WHERE id = $1", ids[2])
        await db.execute(
            "UPDATE access_event e SET hash = sha256(e.prev_hash || access_event_canonical(e)) WHERE id = $1", ids[2]
        )
    assert await check(db) == (3, ids[3])


async def test_g2_removed_events_are_found_in_the_middle_and_at_the_end(db: asyncpg.Connection) -> None:
    """G2: a row deleted from the middle (the next row no longer links to its predecessor), then the
    newest row (the log no longer ends where the chain's head says)."""
    ids = await log(db, 5)
    async with triggers_off(db):
        await db.execute("DELETE FROM access_event WHERE id = $1", ids[-1])
    assert await check(db) == (4, ids[-1])
    async with triggers_off(db):
        await db.execute("DELETE FROM access_event WHERE id = $1", ids[1])
    assert await check(db) == (1, ids[2])


async def test_g2_an_event_slipped_in_behind_the_trigger_is_found(db: asyncpg.Connection) -> None:
    """G2: a row inserted with the triggers off, its link and hash computed correctly, is still not on the
    chain the head records."""
    ids = await log(db, 3)
    last = await db.fetchrow("SELECT * FROM access_event WHERE id = $1", ids[-1])
    assert last is not None
    forged = {**dict(last), "id": ids[-1] + 1, "actor": "forger", "prev_hash": last["hash"]}
    forged["hash"] = event_hash(last["hash"], forged)
    columns = list(forged)
    async with triggers_off(db):
        await db.execute(
            f"INSERT INTO access_event ({', '.join(columns)})"  # noqa: S608 - the table's own column names
            f" VALUES ({', '.join(f'${n}' for n in range(1, len(columns) + 1))})",
            *forged.values(),
        )
    assert await check(db) == (3, ids[-1] + 1)


async def test_g2_the_walk_reads_in_batches(db: asyncpg.Connection) -> None:
    """G2: verification streams the log a batch at a time and still finds a tampered row in a later batch."""
    ids = await log(db, 10)
    assert await check(db, batch=3) == (10, None)
    async with triggers_off(db):
        await db.execute("UPDATE access_event SET resource_ids = '{}' WHERE id = $1", ids[7])
    assert await check(db, batch=3) == (7, ids[7])


async def test_g2_twenty_parallel_transactions_make_one_chain(database_url: str, db: asyncpg.Connection) -> None:
    """G2: many transactions logging at once make one chain with no fork; rolled-back ones leave no gap."""
    patient_id = await patient(db)
    together = asyncio.Barrier(20)

    async def read(n: int) -> None:
        async with connected(database_url) as connection:
            await together.wait()
            try:
                async with connection.transaction():
                    await log_access(connection, DESK, patient_id, ["Patient"], [f"Patient/{n}"], NOW)
                    await asyncio.sleep(0.002 * (n % 4))  # the rest of the request, holding the turn
                    if n % 5 == 0:
                        raise RuntimeError("the read failed after logging")
            except RuntimeError:
                pass

    await asyncio.gather(*(read(n) for n in range(20)))
    rows = await db.fetch("SELECT id, prev_hash, hash, resource_ids FROM access_event ORDER BY id")
    assert sorted(row["resource_ids"][0] for row in rows) == sorted(f"Patient/{n}" for n in range(20) if n % 5)
    assert len({row["prev_hash"] for row in rows}) == 16  # no two events link to the same one
    assert await check(db) == (16, None)


async def test_g2_repeatable_read_inserters_fail_rather_than_fork(database_url: str, db: asyncpg.Connection) -> None:
    """G2: a transaction whose snapshot predates another's insert cannot link to a stale head: it fails
    with a serialization error (retryable), and the chain stays one line."""
    patient_id = await patient(db)
    async with connected(database_url) as first, connected(database_url) as second:
        one = first.transaction(isolation="repeatable_read")
        two = second.transaction(isolation="repeatable_read")
        await one.start()
        await two.start()
        await first.fetchval("SELECT count(*) FROM access_event")  # both snapshots taken now
        await second.fetchval("SELECT count(*) FROM access_event")
        await log_access(first, DESK, patient_id, ["Patient"], [], NOW)
        waiting = asyncio.create_task(log_access(second, DESK, patient_id, ["Patient"], [], NOW))
        await asyncio.sleep(0.1)
        await one.commit()
        with pytest.raises(asyncpg.SerializationError):
            await waiting
        await two.rollback()
    assert await check(db) == (1, None)


# --- Existing events, and the retention purge ----------------------------------------------------------


@contextmanager
def empty_database(test_server: databases.TestServer, number: int) -> Iterator[str]:
    name = asyncio.run(databases.create_test_database(test_server, "template0", number))
    try:
        yield test_server.url_for(name)
    finally:
        asyncio.run(databases.drop_database(test_server, name))


def test_g2_the_migration_chains_the_events_already_logged(test_server: databases.TestServer) -> None:
    """G2: events logged before the chain existed are chained, in id order, by migration 0013."""
    with empty_database(test_server, 900_000 + uuid.uuid4().int % 99_999) as url:
        upgrade(url, "0012")

        async def before() -> None:
            async with connected(url) as connection:
                patient_id = uuid.uuid4()
                await connection.execute("INSERT INTO patient (id, cccd) VALUES ($1, $2)", patient_id, CCCD)
                for n in range(4):
                    await connection.execute(
                        "INSERT INTO access_event (at, patient_id, actor, actor_role, channel, purpose,"
                        " resource_types, resource_ids) VALUES ($1, $2, $3, 'operator', 'operator', 'kiểm tra',"
                        " $4, '{}')",
                        NOW + timedelta(minutes=n),
                        patient_id,
                        f"ops{n}@host",
                        ["Patient"] * n,
                    )

        async def after() -> tuple[tuple[int, int | None], Any]:
            async with connected(url) as connection:
                return await check(connection), await connection.fetchval("SELECT last_id FROM access_chain")

        asyncio.run(before())
        upgrade(url)
        assert asyncio.run(after()) == ((4, None), 4)


async def test_g2_the_documented_retention_purge_keeps_the_chain_verifiable(db: asyncpg.Connection) -> None:
    """G2 and retention: the operator's purge (PURGE_STEPS, documented in backend/audit/chain.py) removes
    events older than the cutoff and moves the anchor, so the rest still verifies and new events chain on;
    removing old events any other way is found."""
    ids = await log(db, 6)  # one a day from NOW
    async with db.transaction():
        for step in PURGE_STEPS:
            await db.execute(step, *([NOW + timedelta(days=2)] if "$1" in step else []))
    assert [row["id"] for row in await db.fetch("SELECT id FROM access_event ORDER BY id")] == ids[2:]
    anchor = await db.fetchrow("SELECT anchor_id, anchored_at FROM access_chain")
    assert anchor is not None and anchor["anchor_id"] == ids[1] and anchor["anchored_at"] is not None
    assert await check(db) == (4, None)
    await log(db, 1)
    assert await check(db) == (5, None)
    async with triggers_off(db):
        await db.execute("DELETE FROM access_event WHERE id = $1", ids[2])
    assert await check(db) == (0, ids[3])


# --- The command ---------------------------------------------------------------------------------------


def test_g2_audit_verify_answers_as_the_contract_says(database_url: str, var_dir: Path) -> None:
    """G2, contract §1: `healthbook audit verify` counts the events of real reads (the record store's read
    path, as `healthbook book` reads, and the desk's) and exits 0 with `{"events": N, "ok": true}`; after
    a tamper, exits 1 with `{"ok": false, "first_bad": ID}` on stdout."""

    async def setup() -> None:
        async with connected(database_url) as connection:
            await connection.execute("INSERT INTO patient (id, cccd) VALUES ($1, $2)", uuid.uuid4(), CCCD)
            await log(connection, 2)
            async with connection.transaction():
                operator = Reader.operator("ops@host", "operator export (healthbook book)")
                await read_stored_records(connection, operator, await patient(connection), NOW)

    asyncio.run(setup())
    verified = run_healthbook("audit", "verify", var_dir=var_dir, DATABASE_URL=database_url)
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.strip() == '{"events": 3, "ok": true}'

    async def tamper() -> int:
        async with connected(database_url) as connection:
            last = await connection.fetchrow("SELECT id, actor FROM access_event ORDER BY id DESC LIMIT 1")
            assert last is not None and last["actor"] == "ops@host"  # the operator's read
            async with triggers_off(connection):
                await connection.execute("UPDATE access_event SET purpose = 'nothing to see' WHERE id = $1", last["id"])
            return int(last["id"])

    bad = asyncio.run(tamper())
    broken = run_healthbook("audit", "verify", var_dir=var_dir, DATABASE_URL=database_url)
    assert broken.returncode == 1, broken.stderr
    assert json.loads(broken.stdout) == {"ok": False, "first_bad": bad}
