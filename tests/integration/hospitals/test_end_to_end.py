"""As a hospital and an operator would: register with the CLI, push signed samples over HTTP to a running
server, read the book with the CLI; the operator's read shows in the patient's access log."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tests.support.hospital import CCCD, sample, webhook_headers
from tests.support.processes import HEALTHBOOK, healthbook_env


def healthbook(database_url: str, var_dir: Path, *args: str) -> Any:
    result = subprocess.run(
        [HEALTHBOOK, *args],
        env=healthbook_env(var_dir, DATABASE_URL=database_url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


async def access_events(database_url: str) -> list[Any]:
    connection = await asyncpg.connect(database_url)
    try:
        return list(await connection.fetch("SELECT * FROM access_event ORDER BY id"))
    finally:
        await connection.close()


def test_samples_pushed_over_http_come_out_of_the_book(live_server: str, database_url: str, var_dir: Path) -> None:
    registered = healthbook(database_url, var_dir, "facility", "add", "--code", "01929", "--name", "BV Minh An")
    secret = registered["webhook_secret"]
    assert registered["code"] == "01929" and secret.startswith("whsec_")

    xml_secret = healthbook(database_url, var_dir, "facility", "add", "--code", "01002", "--name", "BV Hữu Nghị")[
        "webhook_secret"
    ]
    with httpx.Client(base_url=live_server) as client:
        for name in ("fhir-visit-bundle.json", "fhir-correction-bundle.json", "bad-invalid-fhir.json"):
            body = sample(name)
            response = client.post("/api/hospital/v1/01929/fhir", content=body, headers=webhook_headers(secret, body))
            assert response.status_code == (422 if name.startswith("bad") else 200), response.text
        for _ in range(2):  # the XML another hospital produces for Social Insurance; the repeat changes nothing
            body = sample("xml130-envelope.xml")
            headers = webhook_headers(xml_secret, body, content_type="application/xml", webhook_id="msg_xml_e2e")
            response = client.post("/api/hospital/v1/01002/xml130", content=body, headers=headers)
            assert response.status_code == 200, response.text

    book = healthbook(database_url, var_dir, "book", "--cccd", CCCD)
    assert book["resourceType"] == "Bundle" and book["type"] == "collection"
    resources = {entry["resource"]["id"]: entry["resource"] for entry in book["entry"]}
    assert "01929-xn-hba1c" not in resources  # entered in error: out of the book
    assert resources["01929-dt-84g7vsu-2"]["status"] == "cancelled"  # a correction shows as sent
    from_fhir = [r for r in resources.values() if r["meta"]["source"] == "01929"]
    from_xml = {r["resourceType"]: r for r in resources.values() if r["meta"]["source"] == "01002"}
    assert len(from_fhir) == 9 and len(from_xml) >= 7
    for resource in resources.values():
        assert {"system": "urn:healthbook:signature", "code": "unsigned"} in resource["meta"]["tag"]
    referral = from_xml["ServiceRequest"]
    assert referral["performer"][0]["reference"] == "Organization/01929"
    assert referral["occurrencePeriod"]["end"] == "2025-10-16"
    assert from_xml["Appointment"]["start"] == "2025-10-20T08:00:00+07:00"
    assert "14 ngày" in from_xml["MedicationRequest"]["dosageInstruction"][0]["text"]
    served_ids = {f"{r['resourceType']}/{r['id']}" for r in resources.values()}
    condition = resources["01929-cd-E119"]
    assert condition["subject"]["reference"] in served_ids  # references resolve inside the book
    assert condition["encounter"]["reference"] in served_ids

    events = asyncio.run(access_events(database_url))
    assert len(events) == 1
    event = events[0]
    assert event["channel"] == "operator" and event["actor_role"] == "operator" and "@" in event["actor"]
    assert event["purpose"] == "operator export (healthbook book)"
    assert "Condition/01929-cd-E119" in event["resource_ids"] and "Condition" in event["resource_types"]

    deliveries = healthbook(database_url, var_dir, "facility", "deliveries", "--code", "01929")["deliveries"]
    assert [d["status"] for d in deliveries] == [422, 200, 200]  # newest first
    assert deliveries[0]["reason"] and len(deliveries[0]["sha256"]) == 64
