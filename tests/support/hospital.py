"""Pushing as a hospital would: registered facilities, Standard Webhooks signatures, sample bundles."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.database import Database, raw_transaction
from backend.hospitals.registry import add_facility, rotate_secret
from backend.hospitals.signatures import secret_key
from backend.keyring import Keyring

SAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "samples"
FACILITY = "01929"
OTHER_FACILITY = "01002"
CCCD = "001090012345"
FHIR_JSON = "application/fhir+json"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def sample_json(name: str) -> dict[str, Any]:
    loaded = json.loads(sample(name))
    assert isinstance(loaded, dict), name
    return loaded


def sign(secret: str, body: bytes, webhook_id: str, timestamp: int) -> str:
    """`v1,<base64 HMAC-SHA256 of id.timestamp.body>` (Standard Webhooks), over any bytes."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(secret_key(secret), signed, hashlib.sha256).digest()).decode()


def webhook_headers(
    secret: str,
    body: bytes,
    *,
    webhook_id: str | None = None,
    timestamp: int | None = None,
    content_type: str = FHIR_JSON,
) -> dict[str, str]:
    webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, body, webhook_id, timestamp),
        "content-type": content_type,
    }


class Hospital:
    """A registered facility with its secret, pushing through the test client."""

    def __init__(self, client: AsyncTestClient[Litestar], code: str, secret: str) -> None:
        self.client, self.code, self.secret = client, code, secret

    async def push(self, body: bytes | dict[str, Any], *, kind: str = "fhir", **header_options: Any) -> Any:
        raw = json.dumps(body).encode() if isinstance(body, dict) else body
        headers = webhook_headers(self.secret, raw, **header_options)
        return await self.client.post(f"/api/hospital/v1/{self.code}/{kind}", content=raw, headers=headers)


@asynccontextmanager
async def own_database(app: Litestar) -> AsyncIterator[Database]:
    """A database handle of the test's own: the app's pool belongs to the app's event loop."""
    database = Database(app.state.database.url, pool_size=1, max_overflow=0)
    try:
        yield database
    finally:
        await database.dispose()


async def register(app: Litestar, code: str, name: str | None = None) -> str:
    keyring: Keyring = app.state.keyring
    async with own_database(app) as database, database.sessionmaker() as session, session.begin():
        _, secret = await add_facility(session, keyring, code, name or f"Bệnh viện {code}")
    return secret


async def rotate(app: Litestar, code: str) -> str:
    async with own_database(app) as database, database.sessionmaker() as session, session.begin():
        return await rotate_secret(session, app.state.keyring, code, app.state.clock())


async def fetch(app: Litestar, query: str, *args: Any) -> list[Any]:
    async with own_database(app) as database, raw_transaction(database) as connection:
        return list(await connection.fetch(query, *args))


async def count(app: Litestar, table: str, where: str = "TRUE") -> int:
    rows = await fetch(app, f"SELECT count(*) AS n FROM {table} WHERE {where}")  # noqa: S608 - test code
    return int(rows[0]["n"])
