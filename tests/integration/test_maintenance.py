"""`healthbook maintenance` (contract §1): what it removes, what it keeps, and several nodes at once.

The rows are made through the app's own paths (sign-ins, refreshes, sign-outs, shares, the national ID trip,
staff sign-ins, hospital pushes) under a fake clock, then maintenance runs at a chosen time. Each test says
exactly how many rows of each table go, which ones stay, and checks that nothing clinical, and neither
audit trail, changed by a single byte. The concurrency tests fill tables directly, by the thousand.
"""

from __future__ import annotations

import asyncio
import json
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from litestar import Litestar
from sqlalchemy.engine import URL

from backend.database import Database, PgConnection, to_async_url
from backend.maintenance import LOCK_KEY, purge_expired, run_maintenance
from backend.maintenance.rules import REPORTED
from tests.integration.auth.conftest import app, client, clock, outbox, visit
from tests.integration.oidc.conftest import settings
from tests.integration.oidc.steps import AN, pkce_pair, query_of, sign_in, start
from tests.integration.sharing.shl import decode_shlink, fetch_manifest, make_share, path_of
from tests.integration.test_cli import run_healthbook
from tests.support.clock import FakeClock
from tests.support.databases import fingerprint_query
from tests.support.hospital import CCCD, FACILITY, Hospital, count, fetch, register, rotate, sample
from tests.support.patients import (
    PHONE,
    Client,
    Outbox,
    bearer,
    browser_cookies,
    issue_code,
    request_code,
    sign_in_app,
)
from tests.support.processes import HEALTHBOOK, healthbook_env
from tests.support.staff import add_member, signed_in_member

__all__ = ["app", "client", "clock", "outbox", "settings", "visit"]  # the fixtures this module borrows

NOTHING = dict.fromkeys(REPORTED, 0)
# Never purged: the clinical tables, the registries, and the two five-year audit trails.
UNTOUCHED = (
    "patient",
    "record",
    "record_version",
    "share",
    "share_open",
    "consent",
    "book_access",
    "access_event",
    "auth_event",
    "facility_certificate",
    "staff_member",
)
APP_URI = "vn.hanoi.sosuckhoe:/oauth2redirect"


@asynccontextmanager
async def connection_to(url: URL | str) -> AsyncIterator[PgConnection]:
    """A driver connection outside any transaction, as the CLI gives `run_maintenance`."""
    database = Database(to_async_url(url) if isinstance(url, str) else url, pool_size=1, max_overflow=0)
    try:
        async with database.engine.connect() as connection:
            driver = (await connection.get_raw_connection()).driver_connection
            assert isinstance(driver, asyncpg.Connection)
            yield driver
    finally:
        await database.dispose()


async def maintain(app: Litestar, now: datetime) -> dict[str, int]:
    """One run at `now`, with nothing of the app's clock; checks it changed nothing it must not."""
    before = await fingerprints(app)
    async with connection_to(app.state.database.url) as connection:
        removed = await run_maintenance(connection, now)
    assert removed is not None
    assert await fingerprints(app) == before, "maintenance changed a clinical table, an audit trail or a delivery"
    return removed


async def fingerprints(app: Litestar) -> dict[str, tuple[int, str]]:
    """Each untouched table's row count and the MD5 of all its rows, and the same for accepted deliveries."""
    found: dict[str, tuple[int, str]] = {}
    for table, where in [*((table, "TRUE") for table in UNTOUCHED), ("delivery", "accepted")]:
        (row,) = await fetch(app, fingerprint_query(table, where))
        found[f"{table} WHERE {where}"] = (int(row["n"]), str(row["digest"]))
    return found


# --- What goes and what stays, table by table ------------------------------------------------------------


@pytest.mark.usefixtures("visit")
async def test_patient_sign_in_leftovers_go_and_what_still_counts_or_works_stays(
    app: Litestar, client: Client, outbox: Outbox, clock: FakeClock
) -> None:
    t0 = clock.now
    run_at = t0 + timedelta(days=8)
    # Eight days before: an app sign-in that refreshed once (session A, live for 90 days) ...
    first = await sign_in_app(client, outbox)
    clock.advance(minutes=1)
    renewed = await client.post("/api/patient/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert renewed.status_code == 200, renewed.text
    # ... a web sign-in left idle (session W), and an app sign-in signed out (session B) ...
    clock.advance(minutes=1)
    await browser_cookies(client, outbox, PHONE)
    clock.advance(minutes=1)
    signed_out = await sign_in_app(client, outbox)
    logout = await client.post("/api/patient/v1/auth/logout", headers=bearer(signed_out["access_token"]))
    assert logout.status_code == 204
    # ... and two activation codes printed: the second ends the first at once.
    await issue_code(app, CCCD)
    await issue_code(app, CCCD)
    # Twenty hours before the run: a web sign-in, idle since (ended less than a day before the run).
    clock.now = run_at - timedelta(hours=20)
    await browser_cookies(client, outbox, PHONE)
    # Half an hour before: an app signs in (session C).
    clock.now = run_at - timedelta(minutes=30)
    fresh = await sign_in_app(client, outbox)
    assert await count(app, "login_challenge") == 5 and await count(app, "auth_session") == 5

    removed = await maintain(app, run_at)

    assert removed == {
        **NOTHING,
        "login_challenge": 3,  # the three of eight days ago; the two of the last day still count for the limits
        # expired: A's two access tokens, W's cookie, B's access token; and B's unused refresh token, with B
        "auth_credential": 5,
        "auth_session": 2,  # W (idle for 30 minutes, 8 days ago) and B (signed out)
        "activation_code": 1,  # the replaced one; the one in the patient's hand stays
    }
    challenges = await fetch(app, "SELECT created_at FROM login_challenge ORDER BY created_at")
    assert [row["created_at"] for row in challenges] == [run_at - timedelta(hours=20), run_at - timedelta(minutes=30)]
    sessions = await fetch(app, "SELECT kind, created_at FROM auth_session ORDER BY created_at")
    assert [(row["kind"], row["created_at"]) for row in sessions] == [
        ("api", t0),  # A: live
        ("web", run_at - timedelta(hours=20)),  # ended 19.5 hours ago: kept a day
        ("api", run_at - timedelta(minutes=30)),  # C: live
    ]
    credentials = await fetch(
        app, "SELECT s.created_at, c.kind, c.used_at IS NOT NULL AS used FROM auth_credential c"
        " JOIN auth_session s ON s.id = c.session_id ORDER BY c.created_at, c.kind, used"
    )  # fmt: skip
    assert [(row["created_at"], row["kind"], row["used"]) for row in credentials] == [
        (t0, "refresh", True),  # A's first refresh token, used: kept while A lives, to catch a copy
        (t0, "refresh", False),  # A's current one
        (run_at - timedelta(hours=20), "cookie", False),
        (run_at - timedelta(minutes=30), "access", False),
        (run_at - timedelta(minutes=30), "refresh", False),
    ]
    codes = await fetch(app, "SELECT expires_at FROM activation_code WHERE used_at IS NULL")
    assert [row["expires_at"] for row in codes] == [t0 + timedelta(minutes=3, days=30)]

    # What stayed still does its work: C reads the book, and A's copied refresh token still ends A.
    assert (await client.get("/api/patient/v1/book", headers=bearer(fresh["access_token"]))).status_code == 200
    copied = await client.post("/api/patient/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert copied.status_code == 401
    refreshed = await client.post(
        "/api/patient/v1/auth/refresh", json={"refresh_token": renewed.json()["refresh_token"]}
    )
    assert refreshed.status_code == 401  # A was closed by the copy
    # A second run at once finds nothing more.
    assert await maintain(app, run_at) == NOTHING


async def test_challenges_stay_as_long_as_a_limit_counts_them(
    app: Litestar, client: Client, outbox: Outbox, clock: FakeClock
) -> None:
    t0 = clock.now
    for _ in range(10):  # the day's ten codes for one phone (3 in any 10 minutes)
        assert (await request_code(client)).status_code == 202
        clock.advance(minutes=4)
    assert (await request_code(client)).status_code == 429
    # Long expired, but still counted by the daily limit: maintenance keeps them, and the limit holds.
    assert await maintain(app, clock.now) == NOTHING
    assert (await request_code(client)).status_code == 429
    # A day after the first, the limit lets codes through again; the rows stay a day more.
    clock.now = t0 + timedelta(days=1, minutes=1)
    assert (await request_code(client)).status_code == 202
    assert await maintain(app, clock.now) == NOTHING
    # Two days after: the first ten go, the eleventh (a day old) stays.
    assert await maintain(app, t0 + timedelta(days=2, hours=1)) == {**NOTHING, "login_challenge": 10}
    assert await count(app, "login_challenge") == 1


@pytest.mark.usefixtures("visit")
async def test_staff_sessions_go_a_day_after_they_end(app: Litestar, client: Client, clock: FakeClock) -> None:
    member = await add_member(app, FACILITY, "le.thu", "receptionist")
    t0 = clock.now
    await signed_in_member(client, app, member)  # idle from t0: ends at t0 + 30 min
    clock.advance(hours=2)
    await signed_in_member(client, app, member)  # ends at t0 + 2.5 h
    clock.now = t0 + timedelta(days=1, hours=2)
    await signed_in_member(client, app, member)  # live
    assert await maintain(app, clock.now) == {**NOTHING, "staff_session": 1}
    sessions = await fetch(app, "SELECT created_at FROM staff_session ORDER BY created_at")
    assert [row["created_at"] for row in sessions] == [t0 + timedelta(hours=2), t0 + timedelta(days=1, hours=2)]
    assert (await client.get("/reception", follow_redirects=False)).status_code == 200


@pytest.mark.usefixtures("visit")
async def test_finished_national_id_sign_ins_go_an_hour_after_they_expire(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    t0 = clock.now
    await handed_to_app(client)  # a flow, used, and a handoff code never redeemed
    await start(client)  # a flow abandoned on the provider's page
    clock.advance(hours=1)
    await handed_to_app(client)  # the same, an hour later
    assert (await count(app, "oidc_flow"), await count(app, "oidc_handoff")) == (3, 2)
    # Ten minutes (a flow) and a minute (a handoff) to live, then an hour: those of t0 go, the later stay.
    removed = await maintain(app, t0 + timedelta(hours=1, minutes=30))
    assert removed == {**NOTHING, "oidc_flow": 2, "oidc_handoff": 1}
    kept = await fetch(app, "SELECT created_at FROM oidc_flow UNION ALL SELECT created_at FROM oidc_handoff")
    assert {row["created_at"] for row in kept} == {t0 + timedelta(hours=1)}


async def handed_to_app(client: Client) -> None:
    """A native app's national ID sign-in, through the system browser, up to the handoff code."""
    _, challenge = pkce_pair()
    params = {"app_redirect_uri": APP_URI, "code_challenge": challenge, "code_challenge_method": "S256"}
    answer = await sign_in(client, AN, **params)
    assert answer.status_code == 302 and "code" in query_of(answer.headers["location"]), answer.text


async def test_share_files_refused_deliveries_and_old_secrets_go_accepted_deliveries_stay(
    app: Litestar, client: Client, outbox: Outbox, clock: FakeClock
) -> None:
    start_at = clock.now
    hospital = Hospital(client, FACILITY, await register(app, FACILITY))
    bundle = sample("fhir-visit-bundle.json")
    pushed = await hospital.push(bundle, webhook_id="msg_visit", timestamp=int(start_at.timestamp()))
    assert pushed.status_code == 200, pushed.text
    refused = await hospital.push({"resourceType": "Patient"}, timestamp=int(start_at.timestamp()))
    assert 400 <= refused.status_code < 500
    # 91 days later: another refused push, a new webhook secret, and a share opened from afar twice.
    clock.advance(days=91)
    t0 = clock.now
    assert (await hospital.push({"resourceType": "Patient"}, timestamp=int(t0.timestamp()))).status_code >= 400
    hospital.secret = await rotate(app, FACILITY)
    patient = bearer((await sign_in_app(client, outbox))["access_token"])
    link = decode_shlink((await make_share(client, patient, expires_in=2 * 3600))["shlink"])
    first = (await fetch_manifest(client, link, embeddedLengthMax=0)).json()["files"][0]["location"]
    clock.advance(minutes=30)
    second = (await fetch_manifest(client, link, embeddedLengthMax=0)).json()["files"][0]["location"]
    assert (await client.get(path_of(first))).status_code == 200  # both files are served and logged
    assert (await client.get(path_of(second))).status_code == 200
    assert (await count(app, "share_file"), await count(app, "delivery")) == (2, 3)

    # An hour after the first file (and 5 minutes for clocks that differ): it goes; so does the refusal of 91
    # days ago. The rotated secret stays.
    clock.now = t0 + timedelta(hours=1, minutes=5)
    assert await maintain(app, clock.now) == {**NOTHING, "share_file": 1, "delivery": 1}
    assert (await client.get(path_of(second))).status_code == 200
    deliveries = await fetch(app, "SELECT accepted, received_at FROM delivery ORDER BY received_at")
    assert [(row["accepted"], row["received_at"]) for row in deliveries] == [(True, start_at), (False, t0)]
    assert await count(app, "facility", "previous_webhook_secret IS NOT NULL") == 1
    # The accepted delivery is still the idempotency key of its webhook-id: a retry is answered as before.
    again = await hospital.push(bundle, webhook_id="msg_visit", timestamp=int(clock.now.timestamp()))
    assert again.status_code == 200 and again.content == pushed.content
    assert await count(app, "delivery") == 2

    # A day later: the second file has expired, the previous secret opens nothing any more, and the
    # patient's access token has been dead a day.
    removed = await maintain(app, t0 + timedelta(days=1, minutes=15))
    assert removed == {**NOTHING, "share_file": 1, "facility.previous_webhook_secret": 1, "auth_credential": 1}
    assert await count(app, "facility", "previous_webhook_secret IS NULL AND previous_secret_expires_at IS NULL") == 1
    assert await count(app, "share") == 1 and await count(app, "share_open") == 2


# --- Several nodes at once ---------------------------------------------------------------------------------

BACKLOG = 2000  # rows of each kind: enough for many batches, filled in a few hundred milliseconds


async def fill_backlog(url: str, now: datetime) -> None:
    """Thousands of rows that have all outlived their purpose at `now`, written directly."""
    long_ago = now - timedelta(days=120)
    rows = (long_ago, long_ago + timedelta(minutes=5), BACKLOG)  # made, expiring, how many
    async with connection_to(url) as connection, connection.transaction():
        await connection.execute(
            "INSERT INTO login_challenge (id, phone, code_hmac, client_ip, created_at, expires_at)"
            " SELECT gen_random_uuid(), '+84912345678', '\\x00', '203.0.113.9', $1, $2 FROM generate_series(1, $3)",
            *rows,
        )
        await connection.execute(  # app sessions signed out long ago
            "INSERT INTO auth_session (id, kind, phone, read_only, created_at, last_seen_at, expires_at, revoked_at)"
            " SELECT gen_random_uuid(), 'api', '+84912345678', true, $1, $1, $2, $1 FROM generate_series(1, $3)",
            long_ago,
            now + timedelta(days=1),
            BACKLOG,
        )
        await connection.execute(  # one unused refresh token each, not expired: it goes with its session
            "INSERT INTO auth_credential (token_hash, session_id, kind, created_at, expires_at)"
            " SELECT sha256(id::text::bytea), id, 'refresh', $1, $2 FROM auth_session",
            long_ago,
            now + timedelta(days=1),
        )
        await connection.execute(
            "INSERT INTO oidc_flow (id, binding_hash, state_hash, nonce_hash, verifier_sealed, created_at, expires_at)"
            " SELECT gen_random_uuid(), sha256(n::text::bytea), '\\x00', '\\x00', 'x', $1, $2"
            " FROM generate_series(1, $3) AS n",
            *rows,
        )
        facility = await connection.fetchval(
            "INSERT INTO facility (code, name, webhook_secret) VALUES ('01929', 'Bệnh viện', 'sealed') RETURNING id"
        )
        await connection.execute(
            "INSERT INTO delivery (facility_id, webhook_id, kind, received_at, accepted, status, reason, body_sha256)"
            " SELECT $1, 'msg_' || n, 'fhir', $2, false, 422, 'not a Bundle', 'sha' FROM generate_series(1, $3) AS n",
            facility,
            long_ago,
            BACKLOG,
        )


EVERYTHING = {
    **NOTHING,
    "login_challenge": BACKLOG,
    "auth_session": BACKLOG,
    "auth_credential": BACKLOG,
    "oidc_flow": BACKLOG,
    "delivery": BACKLOG,
}


def total(*reports: dict[str, int]) -> dict[str, int]:
    return {table: sum(report[table] for report in reports) for table in REPORTED}


async def test_two_nodes_at_once_one_skips_or_both_finish_counting_each_row_once(database_url: str) -> None:
    now = datetime.now(UTC)
    await fill_backlog(database_url, now)

    async def node() -> dict[str, int] | None:
        async with connection_to(database_url) as connection:
            return await run_maintenance(connection, now, batch_size=100)

    reports = await asyncio.gather(node(), node())
    finished = [report for report in reports if report is not None]
    assert finished, "both runs skipped"
    assert total(*finished) == EVERYTHING


async def test_the_batches_alone_never_remove_or_count_a_row_twice(database_url: str) -> None:
    """Without the lock (a proxy that drops it, say), two purges at once still share the work exactly."""
    now = datetime.now(UTC)
    await fill_backlog(database_url, now)

    async def node() -> dict[str, int]:
        async with connection_to(database_url) as connection:
            return await purge_expired(connection, now, batch_size=37)

    first, second = await asyncio.gather(node(), node())
    assert total(first, second) == EVERYTHING
    async with connection_to(database_url) as connection:
        assert await purge_expired(connection, now) == NOTHING


async def test_a_run_needs_a_connection_outside_any_transaction(database_url: str) -> None:
    async with connection_to(database_url) as connection, connection.transaction():
        with pytest.raises(ValueError, match="outside any transaction"):
            await run_maintenance(connection, datetime.now(UTC))


# --- The command ---------------------------------------------------------------------------------------------


async def test_the_command_prints_one_json_document(database_url: str, var_dir: Path) -> None:
    await fill_backlog(database_url, datetime.now(UTC))
    result = await asyncio.to_thread(run_healthbook, "maintenance", var_dir=var_dir, DATABASE_URL=database_url)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"deleted": EVERYTHING, "skipped": False}
    assert result.stdout.count("\n") == 1


async def test_the_command_skips_while_another_node_runs(database_url: str, var_dir: Path) -> None:
    async with connection_to(database_url) as other_node:
        assert await other_node.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY)
        result = await asyncio.to_thread(run_healthbook, "maintenance", var_dir=var_dir, DATABASE_URL=database_url)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"skipped": True, "reason": "another node is running maintenance"}


async def test_two_commands_at_once_both_succeed_and_count_each_row_once(database_url: str, var_dir: Path) -> None:
    await fill_backlog(database_url, datetime.now(UTC))
    env = healthbook_env(var_dir, DATABASE_URL=database_url)
    nodes = [
        await asyncio.create_subprocess_exec(HEALTHBOOK, "maintenance", env=env, stdout=PIPE, stderr=PIPE)
        for _ in range(2)
    ]
    outputs = await asyncio.wait_for(asyncio.gather(*(node.communicate() for node in nodes)), timeout=120)
    assert [node.returncode for node in nodes] == [0, 0], [stderr.decode() for _, stderr in outputs]
    documents: list[dict[str, Any]] = [json.loads(stdout) for stdout, _ in outputs]
    finished = [document["deleted"] for document in documents if not document["skipped"]]
    assert finished and total(*finished) == EVERYTHING
