"""How fast the hospital intake stores FHIR, against a running server, with the database's own ceiling
measured in the same run.

    .venv/bin/python bench/ingest.py                 # starts its own server (WORKERS=2) on a scratch database
    .venv/bin/python bench/ingest.py --url http://127.0.0.1:8000 --code 01929 --secret whsec_… \
        --database-url postgresql://…               # an existing server (the database is for the ceiling)

Each push is a signed 100-resource transaction bundle: 10 patients never seen before, each with a
conditional Patient upsert, a visit, two diagnoses, three results, two prescription lines and a
follow-up. Phases: sequential, 4 concurrent senders, the same bundles again (new versions of existing
records), and one 500-resource bundle. The ceiling is a plain multi-row INSERT of the same rows (JSON
content, same indexes, one commit per 100 rows) and of their history rows, through asyncpg, with 1 and
4 connections: the least any intake of these records must write. Prints resources/s, median and p95 ms
per bundle, and intake/ceiling ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backend.hospitals.signatures import sender_headers
from backend.records.fhir.index import index_columns
from backend.records.fhir.references import served_id
from bench._common import ScratchServer, percentile

NATIONAL_ID = "http://fhir.ehealth.gov.vn/core/sid/national_id"
PATIENTS_PER_BUNDLE = 10


def make_bundle(code: str, serial: int, rng: random.Random) -> dict[str, Any]:
    entries: list[dict[str, Any]] = []

    def add(resource: dict[str, Any], request: dict[str, str] | None = None) -> str:
        url = f"urn:uuid:{uuid.uuid4()}"
        entries.append(
            {
                "fullUrl": url,
                "resource": resource,
                "request": request or {"method": "POST", "url": resource["resourceType"]},
            }
        )
        return url

    for number in range(PATIENTS_PER_BUNDLE):
        cccd = f"001{rng.randrange(10**9):09d}"
        tag = f"{serial}-{number}"
        patient = add(
            {
                "resourceType": "Patient",
                "id": f"bn-{tag}",
                "identifier": [{"system": NATIONAL_ID, "value": cccd}],
                "name": [{"family": "Nguyễn", "given": ["Văn", "Bench"]}],
                "gender": "male",
                "birthDate": "1980-01-01",
            },
            {"method": "PUT", "url": f"Patient?identifier={NATIONAL_ID}|{cccd}"},
        )
        subject = {"reference": patient}
        visit = add(
            {
                "resourceType": "Encounter",
                "id": f"kb-{tag}",
                "status": "finished",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                "subject": subject,
                "serviceProvider": {"reference": f"Organization/{code}"},
                "period": {"start": "2025-10-02T08:10:00+07:00", "end": "2025-10-02T09:00:00+07:00"},
            }
        )
        context = {"subject": subject, "encounter": {"reference": visit}}
        for icd in ("E11.9", "I10"):
            add(
                {
                    "resourceType": "Condition",
                    "id": f"cd-{tag}-{icd}",
                    "clinicalStatus": {
                        "coding": [
                            {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
                        ]
                    },
                    "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": icd}]},
                    **context,
                    "recordedDate": "2025-10-02",
                }
            )
        for loinc in ("4548-4", "15074-8", "8480-6"):
            add(
                {
                    "resourceType": "Observation",
                    "id": f"xn-{tag}-{loinc}",
                    "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
                    **context,
                    "effectiveDateTime": "2025-10-02T08:45:00+07:00",
                    "valueQuantity": {"value": round(rng.uniform(5, 9), 1), "unit": "%"},
                }
            )
        prescription = f"{code}{rng.randrange(36**7):07x}"[:12] + "-C"
        for line in (1, 2):
            add(
                {
                    "resourceType": "MedicationRequest",
                    "id": f"dt-{tag}-{line}",
                    "status": "active",
                    "intent": "order",
                    "identifier": [{"system": "urn:vn:moh:ma-don-thuoc", "value": prescription}],
                    "medicationCodeableConcept": {"text": "Metformin 500mg"},
                    **context,
                    "authoredOn": "2025-10-02T10:30:00+07:00",
                    "dosageInstruction": [{"text": "1 viên/lần * 2 lần/ngày * 30 ngày [2 viên/ngày]"}],
                }
            )
        add(
            {
                "resourceType": "Appointment",
                "id": f"hk-{tag}",
                "status": "booked",
                "start": "2025-11-03T08:00:00+07:00",
                "end": "2025-11-03T08:30:00+07:00",
                "participant": [{"actor": subject, "status": "accepted"}],
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


async def push_phase(url: str, code: str, secret: str, bundles: list[str], senders: int) -> tuple[float, list[float]]:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for body in bundles:
        queue.put_nowait(body)
    timings: list[float] = []

    async def sender(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            webhook_id = f"bench_{uuid.uuid4().hex}"
            headers = sender_headers(secret, body, webhook_id, datetime.now(UTC), "application/fhir+json")
            started = time.perf_counter()
            response = await client.post(f"/api/hospital/v1/{code}/fhir", content=body.encode(), headers=headers)
            timings.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"push refused: {response.status_code} {response.text[:300]}")

    began = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        await asyncio.gather(*(sender(client) for _ in range(senders)))
    return time.perf_counter() - began, timings


CEILING_COLUMNS = (
    "facility_id, resource_type, resource_id, served_id, version, deleted, status, date, date_end,"
    " codes, identifiers, search_text, content, signature, delivery_id, updated_at"
)


def ceiling_rows(bundles: list[str], code: str) -> list[tuple[Any, ...]]:
    rows = []
    now = datetime.now(UTC)
    for body in bundles:
        for entry in json.loads(body)["entry"]:
            resource = entry["resource"]
            columns = index_columns(resource["resourceType"], resource)
            rows.append(
                (
                    1,
                    resource["resourceType"],
                    resource["id"],
                    served_id(code, resource["id"]),
                    1,
                    False,
                    columns.status,
                    columns.date,
                    columns.date_end,
                    columns.codes,
                    columns.identifiers,
                    columns.search_text,
                    json.dumps(resource, ensure_ascii=False),
                    "unsigned",
                    1,
                    now,
                )
            )
    return rows


async def ceiling_phase(database_url: str, rows: list[tuple[Any, ...]], connections: int) -> float:
    setup = await asyncpg.connect(database_url)
    await setup.execute(
        "DROP TABLE IF EXISTS bench_ceiling, bench_ceiling_history;"
        " CREATE TABLE bench_ceiling (LIKE record INCLUDING ALL);"
        " CREATE TABLE bench_ceiling_history (LIKE record_version INCLUDING ALL)"
    )
    await setup.close()
    width = len(rows[0])
    placeholders = ", ".join(
        "("
        + ", ".join(f"${row * width + column + 1}" + ("::jsonb" if column == 12 else "") for column in range(width))
        + ")"
        for row in range(100)
    )
    statement = (
        f"WITH added AS (INSERT INTO bench_ceiling ({CEILING_COLUMNS}) VALUES {placeholders}"
        " RETURNING id, status, content, signature, delivery_id)"
        " INSERT INTO bench_ceiling_history (record_id, version, deleted, status, content, signature, delivery_id,"
        " entry_index) SELECT id, 1, false, status, content, signature, delivery_id, 0 FROM added"
    )
    chunks = [rows[start : start + 100] for start in range(0, len(rows), 100)]
    queue: asyncio.Queue[list[tuple[Any, ...]]] = asyncio.Queue()
    for chunk in chunks:
        queue.put_nowait(chunk)

    async def writer() -> None:
        connection = await asyncpg.connect(database_url)
        try:
            while not queue.empty():
                chunk = queue.get_nowait()
                async with connection.transaction():
                    await connection.execute(statement, *[value for row in chunk for value in row])
        finally:
            await connection.close()

    began = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(connections)))
    elapsed = time.perf_counter() - began
    cleanup = await asyncpg.connect(database_url)
    await cleanup.execute("DROP TABLE bench_ceiling, bench_ceiling_history")
    await cleanup.close()
    return elapsed


def report(name: str, resources: int, elapsed: float, timings: list[float] | None = None) -> float:
    rate = resources / elapsed
    line = f"  {name:<34} {rate:8.0f} resources/s"
    if timings:
        p95 = percentile(timings, 0.95)
        line += f"   median {statistics.median(timings):6.1f} ms   p95 {p95:6.1f} ms per bundle"
    print(line, flush=True)
    return rate


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url"), parser.add_argument("--code"), parser.add_argument("--secret")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--bundles", type=int, default=40, help="bundles per phase (100 resources each)")
    parser.add_argument("--workers", type=int, default=2, help="WORKERS of the server this script starts")
    options = parser.parse_args()

    rng = random.Random(2025)
    if options.url:
        if not (options.code and options.secret and options.database_url):
            raise SystemExit("--url needs --code, --secret and --database-url")
        await run(
            options.url,
            options.code,
            options.secret,
            options.database_url.replace("+asyncpg", ""),
            options.bundles,
            rng,
        )
        return
    async with ScratchServer(options.workers) as server:
        print(f"server: {server.url} (WORKERS={options.workers}), database {server.name}")
        await run(server.url, server.code, server.secret, server.database_url, options.bundles, rng)


async def run(url: str, code: str, secret: str, database_url: str, count: int, rng: random.Random) -> None:
    print(f"{count} bundles of 100 resources per phase; {os.cpu_count()} CPUs")
    warmup = [json.dumps(make_bundle(code, serial, rng), ensure_ascii=False) for serial in range(4)]
    await push_phase(url, code, secret, warmup, 2)
    sequential = [json.dumps(make_bundle(code, 1000 + serial, rng), ensure_ascii=False) for serial in range(count)]
    concurrent = [json.dumps(make_bundle(code, 2000 + serial, rng), ensure_ascii=False) for serial in range(count)]
    resources = count * 100

    print("intake over HTTP (signed, validated, one transaction per bundle):")
    elapsed, timings = await push_phase(url, code, secret, sequential, 1)
    report("1 sender", resources, elapsed, timings)
    elapsed, timings = await push_phase(url, code, secret, concurrent, 4)
    intake_4 = report("4 senders", resources, elapsed, timings)
    elapsed, timings = await push_phase(url, code, secret, concurrent, 4)
    report("4 senders, new versions", resources, elapsed, timings)
    large = make_bundle(code, 9000, rng)
    for serial in range(1, 5):
        large["entry"] += make_bundle(code, 9000 + serial, rng)["entry"]
    elapsed, timings = await push_phase(url, code, secret, [json.dumps(large, ensure_ascii=False)], 1)
    report("one 500-resource bundle", 500, elapsed, timings)

    print("ceiling (multi-row INSERT of the same rows, same indexes, commit per 100 rows):")
    rows = ceiling_rows(concurrent, code)
    ceiling_1 = report("1 connection", resources, await ceiling_phase(database_url, rows, 1))
    ceiling_4 = report("4 connections", resources, await ceiling_phase(database_url, rows, 4))
    print(
        f"ratio intake/ceiling with 4 senders: {intake_4 / ceiling_4:.2f}   (1 connection ceiling: {ceiling_1:.0f}/s)"
    )
    print(f"target >= 1500 resources/s with 4 senders: {'met' if intake_4 >= 1500 else 'NOT met'}")


if __name__ == "__main__":
    asyncio.run(main())
