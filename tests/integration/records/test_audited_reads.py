"""The one read path: a reader who is not the patient leaves an access event, in the same transaction;
if the event cannot be written, nothing is read."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.audit import Reader
from backend.database import raw_transaction
from backend.records.reads import find_patient, read_records
from tests.support.hospital import CCCD, FACILITY, Hospital, count, own_database, register, sample


@pytest.fixture
async def stored(app: Litestar, client: AsyncTestClient[Litestar]) -> None:
    hospital = Hospital(client, FACILITY, await register(app, FACILITY))
    assert (await hospital.push(sample("fhir-visit-bundle.json"))).status_code == 200


@pytest.mark.usefixtures("stored")
async def test_the_patient_reads_without_a_trace_and_others_leave_one(app: Litestar) -> None:
    now = datetime.now(UTC)
    async with own_database(app) as database, raw_transaction(database) as connection:
        patient_id = await find_patient(connection, CCCD)
        assert patient_id is not None
        own = await read_records(connection, Reader.patient(patient_id), patient_id, now)
        assert len(own) == 10
        assert await connection.fetchval("SELECT count(*) FROM access_event") == 0

        operator = Reader.operator("ops@host", "audit request 42")
        seen = await read_records(connection, operator, patient_id, now, resource_types=["Condition"])
        assert {view.resource_type for view in seen} == {"Condition"}
        event = await connection.fetchrow("SELECT * FROM access_event")
        assert event is not None
        assert event["actor"] == "ops@host" and event["purpose"] == "audit request 42"
        assert event["resource_types"] == ["Condition"] and len(event["resource_ids"]) == 2


@pytest.mark.usefixtures("stored")
async def test_another_patients_reader_is_logged_even_with_the_patients_role(app: Litestar) -> None:
    now = datetime.now(UTC)
    async with own_database(app) as database, raw_transaction(database) as connection:
        patient_id = await find_patient(connection, CCCD)
        assert patient_id is not None
        stranger = Reader(actor="someone", role="patient", purpose="x", owner=None)
        with pytest.raises(ValueError, match="channel"):
            await read_records(connection, stranger, patient_id, now)


@pytest.mark.usefixtures("stored")
async def test_if_the_access_event_cannot_be_written_nothing_is_returned(app: Litestar) -> None:
    now = datetime.now(UTC)
    async with own_database(app) as database:
        async with raw_transaction(database) as connection:
            await connection.execute(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'no'; END $$;"
                " CREATE TRIGGER refuse BEFORE INSERT ON access_event FOR EACH ROW EXECUTE FUNCTION refuse();"
            )
        returned = None
        with pytest.raises(asyncpg.RaiseError):
            async with raw_transaction(database) as connection:
                patient_id = await find_patient(connection, CCCD)
                assert patient_id is not None
                returned = await read_records(connection, Reader.operator("ops", "why"), patient_id, now)
        assert returned is None
    assert await count(app, "access_event") == 0
