"""Crash safety of the hospital intake (security check E3, second half; issue 11).

A sender in a process of its own (`tests/support/crash_sender.py`) pushes 120 distinct bundles, a patient's
visit each, signed twice over (a JWS Provenance under the facility's registered certificate, and the
Standard Webhooks signature), three at a time, to a real `healthbook serve`. Meanwhile the test SIGKILLs
the server, its whole process group (workers included), at random moments, four times, and restarts it;
the sender retries whatever got no answer, with the same `webhook-id` and body. Then, in the database:

- every acknowledged delivery is there exactly once: one accepted delivery row per `webhook-id`, holding
  the body that was sent and the answer the sender got;
- every delivery's records are all there exactly once: each resource of its bundle, at version 1 (no
  retry wrote anything twice), with one history row, the signed lines `verified`; each patient once;
- nothing is half-written: no record or history row without its accepted delivery, no accepted delivery
  without all its records and its stored answer, no refused delivery;
- re-sending a delivery acknowledged by a server since killed replays the same answer and changes nothing.

The kill moments come from a seeded `random.Random`; the seed is printed, and `CRASH_SEED=…` replays a plan.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from litestar import Litestar
from sqlalchemy.engine import make_url

from backend.database import raw_transaction
from backend.paths import ROOT
from backend.signatures.registry import register_certificate
from tests.support.hospital import CCCD, FACILITY, own_database, register, sample, webhook_headers
from tests.support.processes import HEALTHBOOK, free_port, healthbook_env, stop, wait_until_healthy
from tests.support.signing import PrivateKey, kid_of, sample_cert_pem, sample_certificate, sample_key, signed_bundle

pytestmark = pytest.mark.timeout(180)

DELIVERIES = 120
KILLS = 4
CONCURRENCY = 3
SIGNED_TYPES = {"MedicationRequest", "Appointment", "ServiceRequest"}  # the lines the sample signs
WAIT = 90.0  # seconds: a safety limit for the sender's progress, never a measure of speed


@dataclass(frozen=True)
class Planned:
    """One delivery as the sender will send it, and what it must leave in the database."""

    webhook_id: str
    body: bytes
    cccd: str
    resources: frozenset[tuple[str, str]]  # (resourceType, id) of every entry with an id
    entries: int  # Provenance entries, which have no id, included
    signed: int  # entries a Provenance signs


def planned_delivery(number: int, key: PrivateKey, kid: str) -> Planned:
    """The sample visit for a patient of its own: its CCCD, resource ids and fullUrls made unique, and its
    prescription lines, appointment and referral signed."""
    cccd = f"0790{number:08d}"
    text = sample("fhir-visit-bundle.json").decode().replace(CCCD, cccd)
    for full_url in set(re.findall(r'"fullUrl": "(urn:uuid:[0-9a-f-]+)"', text)):
        text = text.replace(full_url, f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{full_url}/{number}')}")
    bundle = json.loads(text)
    for entry in bundle["entry"]:
        entry["resource"]["id"] += f"-{number:03d}"
    targets = [i for i, entry in enumerate(bundle["entry"]) if entry["resource"]["resourceType"] in SIGNED_TYPES]
    signed = signed_bundle(bundle, key, kid, targets)
    resources = frozenset(
        (entry["resource"]["resourceType"], entry["resource"]["id"])
        for entry in signed["entry"]
        if "id" in entry["resource"]
    )
    body = json.dumps(signed, ensure_ascii=False).encode()
    return Planned(
        f"msg_crash_{number:03d}_{uuid.uuid4().hex}", body, cccd, resources, len(signed["entry"]), len(targets)
    )


def port_outside_ephemeral_range() -> int:
    """A free port the kernel never hands out as a client's source port. While the server is down, the
    sender's reconnects to a port inside that range may (rarely) connect a socket to itself on it (TCP
    simultaneous open), and the restarted server could not listen there."""
    ephemeral = Path("/proc/sys/net/ipv4/ip_local_port_range")
    low = int(ephemeral.read_text().split()[0]) if ephemeral.exists() else 0
    chooser = random.SystemRandom()  # not the seeded one: concurrent runs must not all try the same ports
    for _ in range(50):
        if low <= 20_100:
            break
        port = chooser.randrange(20_000, low)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    return free_port()


class Server:
    """`healthbook serve` in a process group of its own, so that one SIGKILL takes its workers too."""

    def __init__(self, env: dict[str, str], log: Path, base_url: str) -> None:
        self.env, self.log, self.base_url = env, log, base_url
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                [HEALTHBOOK, "serve"], env=self.env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_until_healthy(self.base_url, self.process, self.log)

    def kill(self) -> None:
        """SIGKILL to every process of the group: no shutdown, no goodbye to the database."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):  # start_new_session: the group's id is the leader's pid
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)
        self.process = None

    def stop(self) -> int:
        assert self.process is not None
        code = stop(self.process, signal.SIGTERM)
        self.process = None
        return code


async def register_signing_facility(app: Litestar) -> str:
    """The sample facility with its webhook secret (returned) and its signing certificate, as the hospital
    tests register them (`healthbook facility add` and `set-certificate` do the same, in seconds more)."""
    secret = await register(app, FACILITY, "Bệnh viện Đa khoa Minh An (mẫu)")
    async with own_database(app) as database, raw_transaction(database) as connection:
        facility_id = await connection.fetchval("SELECT id FROM facility WHERE code = $1", FACILITY)
        await register_certificate(connection, facility_id, sample_certificate(FACILITY), datetime.now(UTC))
    return secret


def acknowledged_count(acks: Path) -> int:
    """Deliveries the sender has acknowledged so far (complete lines only: it may be writing one)."""
    return acks.read_bytes().count(b"\n") if acks.exists() else 0


def wait_for_acks(acks: Path, at_least: int, sender: subprocess.Popen[bytes], seed: int) -> None:
    deadline = time.monotonic() + WAIT
    while acknowledged_count(acks) < at_least:
        assert sender.poll() is None, f"seed {seed}: the sender ended before {at_least} acknowledgements"
        assert time.monotonic() < deadline, f"seed {seed}: fewer than {at_least} acknowledgements in {WAIT} s"
        time.sleep(0.005)


async def database_state(database_url: str) -> dict[str, list[Any]]:
    url = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(url)
    try:
        queries = {
            "deliveries": "SELECT id, webhook_id, accepted, status, reason, body_sha256, body, response, received_at"
            " FROM delivery ORDER BY id",
            "records": "SELECT id, resource_type, resource_id, version, deleted, signature, delivery_id, patient_id"
            " FROM record ORDER BY id",
            "versions": "SELECT record_id, version, delivery_id FROM record_version ORDER BY record_id, version",
            "patients": "SELECT id, cccd FROM patient ORDER BY cccd",
        }
        return {name: list(await connection.fetch(query)) for name, query in queries.items()}
    finally:
        await connection.close()


def check_database(state: dict[str, list[Any]], plan: list[Planned], acks: dict[str, dict[str, Any]]) -> None:
    """Everything acknowledged is there exactly once, and nothing is there by halves."""
    planned = {delivery.webhook_id: delivery for delivery in plan}
    refused = [dict(row) for row in state["deliveries"] if not row["accepted"]]
    assert refused == [], "a delivery was refused"
    per_id = Counter(row["webhook_id"] for row in state["deliveries"])
    assert {webhook_id for webhook_id, times in per_id.items() if times != 1} == set(), "a delivery stored twice"
    assert set(per_id) == set(planned), "a delivery that was never sent, or one missing"
    assert set(acks) <= set(per_id), "an acknowledged delivery is missing"

    delivery_of = {row["id"]: row for row in state["deliveries"]}
    for row in state["deliveries"]:
        delivery = planned[row["webhook_id"]]
        assert row["body"] == delivery.body and row["body_sha256"] == hashlib.sha256(delivery.body).hexdigest()
        assert row["status"] == 200 and row["response"] is not None, f"{row['webhook_id']}: no stored answer"
        if row["webhook_id"] in acks:
            assert row["response"] == acks[row["webhook_id"]]["response"], "the answer stored is not the one sent"
        answer = json.loads(row["response"])
        assert [entry["response"]["status"] for entry in answer["entry"]] == ["201 Created"] * delivery.entries

    records_of: dict[int, list[Any]] = {delivery_id: [] for delivery_id in delivery_of}
    for record in state["records"]:
        assert record["delivery_id"] in records_of, f"record {record['id']} without its delivery"
        records_of[record["delivery_id"]].append(record)
    for delivery_id, records in records_of.items():
        delivery = planned[delivery_of[delivery_id]["webhook_id"]]
        assert len(records) == delivery.entries, f"{delivery.webhook_id}: {len(records)} of {delivery.entries} records"
        with_ids = {(r["resource_type"], r["resource_id"]) for r in records if r["resource_type"] != "Provenance"}
        assert with_ids == delivery.resources, f"{delivery.webhook_id}: not the records of its bundle"
        assert {(r["version"], r["deleted"]) for r in records} == {(1, False)}, f"{delivery.webhook_id}: rewritten"
        verified = [r for r in records if r["signature"] == "verified"]
        assert len(verified) == delivery.signed, f"{delivery.webhook_id}: {len(verified)} verified records"
        assert len({r["patient_id"] for r in records if r["resource_type"] != "Provenance"}) == 1

    version_rows = Counter((row["record_id"], row["delivery_id"]) for row in state["versions"])
    assert version_rows == Counter((r["id"], r["delivery_id"]) for r in state["records"]), "history out of step"
    assert [row["cccd"] for row in state["patients"]] == sorted(delivery.cccd for delivery in plan)


def test_sigkilled_server_keeps_every_acknowledged_delivery_exactly_once(
    app: Litestar, database_url: str, var_dir: Path, tmp_path: Path
) -> None:
    seed = int(os.environ.get("CRASH_SEED") or random.SystemRandom().randrange(2**32))
    rng = random.Random(seed)
    print(f"crash safety: seed {seed} (CRASH_SEED={seed} replays this plan)")
    started = time.monotonic()

    secret = asyncio.run(register_signing_facility(app))
    key, kid = sample_key(FACILITY), kid_of(sample_cert_pem(FACILITY))
    plan = [planned_delivery(number, key, kid) for number in range(DELIVERIES)]
    planned = {delivery.webhook_id: delivery for delivery in plan}
    # Each kill comes so many acknowledgements after the one before, then a random moment later: always in
    # the middle of the traffic, sometimes as the retries pour into a server just restarted. (At most
    # 4 × 12 of the 120 deliveries, and what is answered in the short delays: the sender is never done.)
    new_acks = [rng.randint(1, 12) for _ in range(KILLS)]
    delays = [rng.uniform(0, 0.1) for _ in range(KILLS)]  # seconds from that acknowledgement to the SIGKILL
    downtimes = [rng.uniform(0, 0.5) for _ in range(KILLS)]  # seconds the server stays dead

    port = port_outside_ephemeral_range()
    base_url = f"http://127.0.0.1:{port}"
    server = Server(
        healthbook_env(var_dir, DATABASE_URL=database_url, PORT=str(port)), tmp_path / "server.log", base_url
    )
    plan_file, acks_file = tmp_path / "plan.json", tmp_path / "acks.jsonl"
    plan_file.write_text(
        json.dumps(
            {
                "url": f"{base_url}/api/hospital/v1/{FACILITY}/fhir",
                "secret": secret,
                "concurrency": CONCURRENCY,
                "deliveries": [{"webhook_id": d.webhook_id, "body": d.body.decode()} for d in plan],
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    sender: subprocess.Popen[bytes] | None = None
    killed_at: list[int] = []
    try:
        server.start()
        with (tmp_path / "sender.out").open("wb") as out, (tmp_path / "sender.log").open("wb") as log:
            sender = subprocess.Popen(
                [sys.executable, "-m", "tests.support.crash_sender", str(plan_file), str(acks_file)],
                cwd=ROOT,
                stdout=out,
                stderr=log,
            )
        for more, delay, downtime in zip(new_acks, delays, downtimes, strict=True):
            wait_for_acks(acks_file, (killed_at[-1] if killed_at else 0) + more, sender, seed)
            time.sleep(delay)
            assert sender.poll() is None, f"seed {seed}: the sender was done before kill {len(killed_at) + 1}"
            server.kill()
            killed_at.append(acknowledged_count(acks_file))
            time.sleep(downtime)
            server.start()
        sender_code = sender.wait(WAIT)
        output = (tmp_path / "sender.out").read_text()
        assert sender_code == 0, f"seed {seed}: the sender failed: {output}\n{(tmp_path / 'sender.log').read_text()}"
        summary = json.loads(output)
        assert summary["refused"] == [], f"seed {seed}: the server refused {summary['refused']}"
        answered = {reason for reason in summary["retries"] if reason.isdigit()}  # 408, 429, 5xx
        assert answered == set(), f"seed {seed}: a live server answered {answered}, not 200"
        assert summary["attempts"] > DELIVERIES, f"seed {seed}: no kill interrupted the traffic"

        lines = [json.loads(line) for line in acks_file.read_text().splitlines()]
        acks = {line["webhook_id"]: line for line in lines}
        assert len(lines) == len(acks) and set(acks) == {delivery.webhook_id for delivery in plan}
        state = asyncio.run(database_state(database_url))
        try:
            check_database(state, plan, acks)
        except AssertionError as failure:
            raise AssertionError(f"seed {seed}, kills after {killed_at} acknowledgements: {failure}") from failure

        # A delivery the first server acknowledged before it was killed, sent again: the same answer, nothing new.
        again = planned[rng.choice(lines[: killed_at[0]])["webhook_id"]]
        headers = webhook_headers(secret, again.body, webhook_id=again.webhook_id)
        response = httpx.post(f"{base_url}/api/hospital/v1/{FACILITY}/fhir", content=again.body, headers=headers)
        assert response.status_code == 200 and response.text == acks[again.webhook_id]["response"], response.text
        assert asyncio.run(database_state(database_url)) == state, f"seed {seed}: a replay changed the database"
        assert server.stop() == 0, server.log.read_text()
    finally:
        if sender is not None and sender.poll() is None:
            sender.kill()
            sender.wait(10)
        server.kill()

    # Deliveries a killed server had committed, but whose answer the kill lost: their answer came by replay.
    received = {row["webhook_id"]: row["received_at"].timestamp() for row in state["deliveries"]}
    retried = [webhook_id for webhook_id, line in acks.items() if line["attempts"] > 1]
    replayed = [webhook_id for webhook_id in retried if received[webhook_id] < acks[webhook_id]["started"]]
    print(
        f"crash safety: {DELIVERIES} deliveries, {len(killed_at)} kills after {killed_at} acknowledgements,"
        f" {summary['attempts']} attempts ({summary['retries']}), {len(retried)} deliveries retried,"
        f" {len(replayed)} of them committed by a killed server and answered by replay;"
        f" {time.monotonic() - started:.1f} s"
    )
    assert "Traceback" not in server.log.read_text(), server.log.read_text()
