"""Rotating DATA_KEYS with `healthbook keys reseal` (check F4: "a key rotation test re-encrypts and keeps data
readable"; "raw table bytes contain no plaintext" for the stored secrets).

Secrets of every kind are made under a keyring of one key; the new key is put first and `keys reseal`
run; afterwards no value anywhere in the database is sealed under the old key, and with the old key gone
the hospital's webhook secrets (current and previous) still verify, the receptionist still signs in with
their authenticator, and the patient's share still opens. A value no key opens is reported, not changed.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.app import create_app
from backend.key_rotation import SEALED_COLUMNS
from backend.settings import Settings
from tests.conftest import make_settings
from tests.integration.sharing.conftest import app, client, clock, outbox, patient, visit
from tests.integration.sharing.shl import decode_shlink, make_share, receive
from tests.integration.test_cli import run_healthbook
from tests.support.clock import FakeClock
from tests.support.databases import connected, fingerprint_query
from tests.support.hospital import FACILITY, Hospital, register, rotate, sample
from tests.support.patients import Outbox
from tests.support.staff import add_member, signed_in_member

__all__ = ["app", "client", "clock", "outbox", "patient", "visit"]


def data_key(key_id: str, fill: int) -> str:
    return f"{key_id}:{base64.b64encode(bytes([fill]) * 32).decode()}"


OLD, NEW, UNRELATED = data_key("old", 1), data_key("new", 2), data_key("other", 3)
SECOND_FACILITY = "79001"


@pytest.fixture
def settings(var_dir: Path, database_url: str, outbox: Outbox) -> Settings:
    """The app of these tests starts with a keyring of the old key only."""
    return make_settings(var_dir, DATABASE_URL=database_url, SMS_BACKEND=f"file:{outbox.path}", DATA_KEYS=OLD)


def reseal(var_dir: Path, database_url: str, data_keys: str) -> tuple[int, dict[str, Any]]:
    result = run_healthbook("keys", "reseal", var_dir=var_dir, DATABASE_URL=database_url, DATA_KEYS=data_keys)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


async def every_text_value(database_url: str) -> list[str]:
    """Every text value of every column of every table (what a dump of the tables would show)."""
    async with connected(database_url) as connection:
        columns = await connection.fetch(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'public' AND data_type IN ('text', 'character varying')"
        )
        values: list[str] = []
        for table, column in columns:
            rows = await connection.fetch(f'SELECT "{column}" AS v FROM "{table}" WHERE "{column}" IS NOT NULL')  # noqa: S608
            values.extend(row["v"] for row in rows)
        return values


async def checksums(database_url: str) -> list[Any]:
    async with connected(database_url) as connection:
        return [await connection.fetchrow(fingerprint_query(table)) for table in ("facility", "staff_member", "share")]


@pytest.fixture
async def secrets_made(app: Litestar, client: AsyncTestClient[Litestar], patient: dict[str, str]) -> dict[str, Any]:
    """One of each stored secret, sealed under the old key: webhook secrets (one facility mid-rotation),
    a staff member's TOTP secret, a share's link."""
    first = await register(app, SECOND_FACILITY)
    second = await rotate(app, SECOND_FACILITY)
    member = await add_member(app, FACILITY, "letan.xoay", "receptionist")
    share = await make_share(client, patient)
    return {"webhook": (first, second), "member": member, "share": share}


async def test_f4_reseal_moves_every_secret_to_the_new_key_and_everything_still_works(
    secrets_made: dict[str, Any], database_url: str, var_dir: Path, outbox: Outbox, clock: FakeClock
) -> None:
    stored = await every_text_value(database_url)
    assert any(value.startswith("old.") for value in stored)
    # None of the secrets is in the tables as itself (F4): only sealed.
    first, second = secrets_made["webhook"]
    plaintexts = [
        first,
        second,
        secrets_made["member"]["totp_secret"],
        decode_shlink(secrets_made["share"]["shlink"])["key"],
    ]
    assert not [secret for secret in plaintexts for value in stored if secret.removeprefix("whsec_") in value]

    code, report = reseal(var_dir, database_url, f"{NEW},{OLD}")
    assert code == 0 and report["key"] == "new" and report["unreadable"] == {}
    assert set(report["remaining"].values()) == {0}
    assert set(report["resealed"]) == {column.name for column in SEALED_COLUMNS}
    assert report["resealed"]["facility.webhook_secret"] == 2  # both facilities
    assert report["resealed"]["facility.previous_webhook_secret"] == 1
    assert report["resealed"]["staff_member.totp_secret"] == 1
    assert report["resealed"]["share.link_sealed"] == 1
    # Nothing anywhere is left under the old key (a sealed column missing from SEALED_COLUMNS would be).
    assert not [value for value in await every_text_value(database_url) if value.startswith("old.")]
    assert set(reseal(var_dir, database_url, f"{NEW},{OLD}")[1]["resealed"].values()) == {0}

    # The old key dropped: every secret still opens under the new one alone.
    settings = make_settings(var_dir, DATABASE_URL=database_url, SMS_BACKEND=f"file:{outbox.path}", DATA_KEYS=NEW)
    new_app = create_app(settings, clock=clock)
    async with AsyncTestClient(new_app, base_url="https://testserver.local") as client:
        visit = sample("fhir-visit-bundle.json").replace(FACILITY.encode(), SECOND_FACILITY.encode())
        for secret in (first, second):  # the previous secret still within its 24 hours
            pushed = await Hospital(client, SECOND_FACILITY, secret).push(visit, timestamp=int(clock.now.timestamp()))
            assert pushed.status_code == 200, pushed.text
        assert await signed_in_member(client, new_app, secrets_made["member"])
        document = await receive(client, secrets_made["share"]["shlink"])
        assert document["resourceType"] == "Bundle"


async def test_f4_a_value_no_key_opens_is_reported_and_left_alone(
    secrets_made: dict[str, Any], database_url: str, var_dir: Path
) -> None:
    before = await checksums(database_url)
    code, report = reseal(var_dir, database_url, UNRELATED)  # the old key dropped too soon
    assert code == 1
    assert report["unreadable"]["facility.webhook_secret"] == {"old": 2}
    assert report["unreadable"]["share.link_sealed"] == {"old": 1}
    assert report["remaining"]["facility.webhook_secret"] == 2
    assert set(report["resealed"].values()) == {0}
    assert await checksums(database_url) == before
