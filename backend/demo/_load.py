"""Loading the demo data set the way a hospital would: each facility pushes signed bundles to the hospital
API (in process, over ASGI), so the demo exercises exactly the intake real pushes go through; what a next
hospital relies on carries the facility's digital signature (`_signing.py`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import httpx

from backend.app import create_app
from backend.clock import VIETNAM
from backend.database import Database, raw_transaction
from backend.demo._signing import DemoSigner
from backend.demo._visits import demo_pushes
from backend.demo._xml import demo_xml_envelope
from backend.demo_people import FACILITIES, PATIENTS
from backend.hospitals.registry import add_facility, current_secret, find_facility
from backend.hospitals.signatures import sender_headers
from backend.keyring import Keyring
from backend.settings import Settings
from backend.signatures.registry import register_certificate


@dataclass(frozen=True)
class DemoResult:
    facilities: list[str]
    patients: int
    pushed: int
    records: int

    def as_json(self) -> dict[str, object]:
        return {
            "facilities": self.facilities,
            "patients": self.patients,
            "pushed": self.pushed,
            "records": self.records,
        }


async def load_demo(settings: Settings, database_url: str) -> DemoResult:
    """Register the demo facilities (once) and push the demo visits. Safe to run again: a repeated push
    has the same webhook-id and body, so it is answered from the delivery log and changes nothing."""
    secrets = await _ensure_facilities(settings, database_url)
    signers = await _ensure_certificates(settings, database_url)
    app = create_app(_with_database(settings, database_url))
    pushed = 0
    try:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]  # Litestar types its ASGI scopes narrowly
        async with httpx.AsyncClient(transport=transport, base_url="http://demo.invalid") as client:
            for facility, kind, webhook_id, body in _sends(signers, datetime.now(VIETNAM)):
                media_type = "application/fhir+json" if kind == "fhir" else "application/xml"
                headers = sender_headers(secrets[facility], body, webhook_id, datetime.now(UTC), media_type)
                url = f"/api/hospital/v1/{facility}/{kind}"
                response = await client.post(url, content=body.encode(), headers=headers)
                if response.status_code == 409:  # pushed by an earlier run (its signatures were other bytes)
                    continue
                if response.status_code != 200:
                    raise RuntimeError(f"demo push to {url} refused: {response.status_code} {response.text[:300]}")
                pushed += 1
    finally:
        await app.state.database.dispose()
    async with _database(settings, database_url) as database, raw_transaction(database) as connection:
        records = int(await connection.fetchval("SELECT count(*) FROM record WHERE NOT deleted"))
    return DemoResult([facility.code for facility in FACILITIES], len(PATIENTS), pushed, records)


async def load_demo_if_empty(settings: Settings, database_url: str) -> str:
    """For `make run`: load the demo into a database that holds no patient; a one-line note either way."""
    async with _database(settings, database_url) as database, raw_transaction(database) as connection:
        patients = int(await connection.fetchval("SELECT count(*) FROM patient"))
    if patients:
        return f"skipped: the database already holds {patients} patients"
    result = await load_demo(settings, database_url)
    return f"loaded {result.records} records of {result.patients} patients from {len(result.facilities)} facilities"


def _sends(signers: dict[str, DemoSigner], now: datetime) -> list[tuple[str, str, str, str]]:
    """(facility, kind, webhook-id, body) of each demo push, signed. The webhook-id comes from the body before
    signing: a second run sends the same ids (ECDSA signatures differ each time), and is told they are taken."""
    today = now.date()
    sends = []
    for push in demo_pushes(today):
        signed = signers[push.facility].sign_bundle(push.bundle, now)
        sends.append(
            (push.facility, "fhir", _webhook_id(json.dumps(push.bundle)), json.dumps(signed, ensure_ascii=False))
        )
    facility, envelope = demo_xml_envelope(today)
    sends.append(
        (facility, "xml130", _webhook_id(envelope.decode()), signers[facility].sign_envelope(envelope).decode())
    )
    return sends


def _webhook_id(unsigned_body: str) -> str:
    return "demo-" + hashlib.sha256(unsigned_body.encode()).hexdigest()[:32]


async def _ensure_certificates(settings: Settings, database_url: str) -> dict[str, DemoSigner]:
    """Each demo facility's signer, its certificate registered (once: the key, and so the certificate, is
    the same on every run)."""
    signers = {facility.code: DemoSigner(settings.secret_key, facility.code, facility.name) for facility in FACILITIES}
    async with _database(settings, database_url) as database, raw_transaction(database) as connection:
        ids = {row["code"]: row["id"] for row in await connection.fetch("SELECT code, id FROM facility")}
        for code, signer in signers.items():
            await register_certificate(connection, ids[code], signer.certificate, datetime.now(UTC))
    return signers


async def _ensure_facilities(settings: Settings, database_url: str) -> dict[str, str]:
    keyring = Keyring(settings.data_keys)
    secrets: dict[str, str] = {}
    async with _database(settings, database_url) as database, database.sessionmaker() as session, session.begin():
        for facility in FACILITIES:
            if await find_facility(session, facility.code) is None:
                _, secrets[facility.code] = await add_facility(session, keyring, facility.code, facility.name)
            else:
                secrets[facility.code] = await current_secret(session, keyring, facility.code)
    return secrets


def _with_database(settings: Settings, database_url: str) -> Settings:
    return replace(settings, database_url=database_url)


@asynccontextmanager
async def _database(settings: Settings, url: str) -> AsyncIterator[Database]:
    database = Database.for_a_command(url, transaction_pooler=settings.transaction_pooler)
    try:
        yield database
    finally:
        await database.dispose()
