"""Behind PgBouncer in transaction mode (issue 12: "works behind PgBouncer in transaction mode (asyncpg
statement cache off)"), with `DATABASE_POOLER=transaction`.

Three server connections serve every client: each transaction of the app may run on another one, and
two workers' transactions on the same one, so anything kept past a transaction (a prepared statement's
name, a setting sent at connect, a session's lock) would fail or leak here. The app runs as `healthbook
serve` with `WORKERS=2`; the operator commands run through the pooler too, or are refused there.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text

from backend.database import Database, raw_transaction, to_async_url
from backend.database import _engine as engine_module
from tests.conftest import serving
from tests.integration.sharing.shl import ACCESS_LOG, RECIPIENT, SHARES, decode_shlink, path_of
from tests.support.hospital import FACILITY, sample, webhook_headers
from tests.support.patients import Outbox, bearer, sign_in_app
from tests.support.pgbouncer import SERVER_CONNECTIONS, available, pgbouncer
from tests.support.processes import HEALTHBOOK, healthbook_env

POOLED = {"DATABASE_POOLER": "transaction"}
BOOK = "/api/patient/v1/book"


def require_pgbouncer() -> None:
    """Skipped with one line where pgbouncer is missing, except under CI, where it must run (.ci/run
    installs it)."""
    if not available():
        missing = "pgbouncer is not installed (apt-get install pgbouncer)"
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)


@pytest.fixture
def pooled_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    require_pgbouncer()
    folder = tmp_path / "pgbouncer"
    folder.mkdir()
    with pgbouncer(database_url, folder) as url:
        yield url


def healthbook(var_dir: Path, url: str, *args: str, **environ: str) -> subprocess.CompletedProcess[str]:
    env = healthbook_env(var_dir, DATABASE_URL=url, **environ)
    return subprocess.run([HEALTHBOOK, *args], env=env, capture_output=True, text=True, timeout=120)


def test_the_app_serves_everything_through_the_pooler_with_two_workers(
    pooled_url: str, var_dir: Path, tmp_path: Path
) -> None:
    """A facility registered by the CLI, pushes, an SMS sign-in, the book three ways, a share opened by a
    doctor and the access log, through the pooler; then forty requests at once on both workers, pushes and
    reads mixed, over three server connections: all answered, and the server logged no error."""
    added = healthbook(var_dir, pooled_url, "facility", "add", "--code", FACILITY, "--name", "Bệnh viện", **POOLED)
    assert added.returncode == 0, added.stderr
    secret = json.loads(added.stdout)["webhook_secret"]
    outbox, log = Outbox(tmp_path / "sms.jsonl"), tmp_path / "server.log"
    environ = {**POOLED, "WORKERS": "2", "SMS_BACKEND": f"file:{outbox.path}"}
    with serving(pooled_url, var_dir, log, **environ) as base_url:
        asyncio.run(_a_patients_day(base_url, secret, outbox))
    logged = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert [entry for entry in logged if entry.get("level") in ("error", "critical")] == []
    assert "prepared statement" not in log.read_text()


async def _a_patients_day(base_url: str, secret: str, outbox: Outbox) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:

        async def push() -> int:
            body = sample("fhir-visit-bundle.json")  # a new webhook-id each time: a delivery of its own
            headers = webhook_headers(secret, body)
            return (await client.post(f"/api/hospital/v1/{FACILITY}/fhir", content=body, headers=headers)).status_code

        assert await push() == 200
        signed_in = await sign_in_app(client, outbox)  # type: ignore[arg-type]  # an httpx client, as the app's
        assert [book["name"] for book in signed_in["books"]] == ["Nguyễn Văn An"]
        headers = bearer(signed_in["access_token"])
        for path in (BOOK, f"{BOOK}/fhir"):
            read = await client.get(path, headers=headers)
            assert read.status_code == 200, (path, read.text)

        made = await client.post(SHARES, json={"label": "Khám tim mạch", "expires_in": 3600}, headers=headers)
        assert made.status_code == 201, made.text
        manifest = await client.post(
            path_of(decode_shlink(made.json()["shlink"])["url"]), json={"recipient": RECIPIENT}
        )
        assert manifest.status_code == 200, manifest.text
        events = (await client.get(ACCESS_LOG, headers=headers)).json()["events"]
        assert [(event["actor"], event["channel"]) for event in events] == [(RECIPIENT, "shl")]

        async def read_book(on: httpx.AsyncClient) -> int:
            return (await on.get(f"{BOOK}/fhir", headers=headers)).status_code

        async with httpx.AsyncClient(base_url=base_url, timeout=60) as other:  # more connections, both workers
            codes = await asyncio.gather(
                *(push() if n % 4 == 0 else read_book(client if n % 2 else other) for n in range(40))
            )
        assert codes == [200] * len(codes)


async def test_every_transaction_through_the_pooler_keeps_the_statement_timeout_and_leaves_nothing_behind(
    pooled_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sessions and raw transactions each set the 30 s limit for themselves (the pooler refuses it at
    connect), a long statement is cancelled by it, and a plain client of the same server connections sees
    the server's default afterwards: the limit ended with each transaction. Thirty transactions at once
    over three server connections run without a prepared statement's name clashing or going missing."""
    database = Database(to_async_url(pooled_url), pool_size=10, transaction_pooler=True)
    try:
        async with database.sessionmaker() as session, session.begin():
            orm = await session.connection()
            assert (await orm.execute(text("SHOW statement_timeout"))).scalar_one() == "30s"
        async with raw_transaction(database) as connection:
            assert await connection.fetchval("SHOW statement_timeout") == "30s"

        async def busy(n: int) -> int:
            async with database.sessionmaker() as session, session.begin():
                orm = await session.connection()
                total = 0
                for step in range(5):
                    total += (await orm.execute(text("SELECT :n + :step").bindparams(n=n, step=step))).scalar_one()
                return int(total)

        assert await asyncio.gather(*(busy(n) for n in range(30))) == [5 * n + 10 for n in range(30)]

        monkeypatch.setattr(engine_module, "STATEMENT_TIMEOUT_MS", 50)
        async with raw_transaction(database) as connection:
            assert await connection.fetchval("SHOW statement_timeout") == "50ms"
            with pytest.raises(asyncpg.QueryCanceledError):
                await connection.execute("SELECT pg_sleep(10)")
    finally:
        await database.dispose()

    plain = [await asyncpg.connect(pooled_url, statement_cache_size=0) for _ in range(SERVER_CONNECTIONS + 1)]
    try:
        as_at_start = "SELECT setting = reset_val FROM pg_settings WHERE name = 'statement_timeout'"
        assert [await connection.fetchval(as_at_start) for connection in plain] == [True] * len(plain)
    finally:
        for connection in plain:
            await connection.close()


def test_without_database_pooler_the_failure_says_what_to_set(pooled_url: str, var_dir: Path) -> None:
    refused = healthbook(var_dir, pooled_url, "facility", "add", "--code", FACILITY, "--name", "Bệnh viện")
    assert refused.returncode == 1
    (line,) = refused.stderr.strip().splitlines()
    assert "unsupported startup parameter" in line and "set DATABASE_POOLER=transaction" in line


def test_commands_that_hold_a_session_are_refused_and_maintenance_runs_without_its_lock(
    pooled_url: str, database_url: str, var_dir: Path, tmp_path: Path
) -> None:
    for command in (("db", "upgrade"), ("backup", "--output", str(tmp_path / "copy.dump"))):
        refused = healthbook(var_dir, pooled_url, *command, **POOLED)
        assert refused.returncode == 1, refused.stdout
        (line,) = refused.stderr.strip().splitlines()
        assert "needs PostgreSQL itself, not a transaction pooler" in line, line
    assert not (tmp_path / "copy.dump").exists()

    for _ in range(2):  # a lock left behind on a server connection would make the second run skip
        ran = healthbook(var_dir, pooled_url, "maintenance", **POOLED)
        assert ran.returncode == 0, ran.stderr
        assert json.loads(ran.stdout)["skipped"] is False
    assert asyncio.run(_advisory_locks(database_url)) == 0


async def _advisory_locks(database_url: str) -> Any:
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
    finally:
        await connection.close()


async def test_a_request_left_waiting_in_the_poolers_queue_is_answered_503_with_retry_after(
    database_url: str, var_dir: Path, tmp_path: Path
) -> None:
    """One server connection, held by another client's open transaction: the app's request waits in
    PgBouncer's queue until `query_wait_timeout` (1 s here) and PgBouncer drops it; the patient gets
    "busy, retry" (503, as for the app's own pool timeout), not a server error, and the next request is
    served once the connection is free."""
    require_pgbouncer()
    folder = tmp_path / "pgbouncer"
    folder.mkdir()
    code_for = {"phone": "0912345678"}
    with (
        pgbouncer(database_url, folder, default_pool_size=1, query_wait_timeout=1) as url,
        serving(url, var_dir, tmp_path / "server.log", **POOLED) as base_url,
    ):
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            holder = await asyncpg.connect(url, statement_cache_size=0)
            try:
                await holder.execute("BEGIN; SELECT 1")  # the one server connection, held
                answer = await client.post("/api/patient/v1/auth/otp", json=code_for)
                assert answer.status_code == 503, answer.text
                assert answer.headers["retry-after"]
            finally:
                await holder.close()
            again = await client.post("/api/patient/v1/auth/otp", json=code_for)
            assert again.status_code == 202, again.text
