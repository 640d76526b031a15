"""The patient's book through the API (contract §4): the overview, and everything as one FHIR Bundle.
Only ever the signed-in session's own book; health data is never stored by a cache (`no-store`)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get

from backend.audit import Reader
from backend.auth.dependencies import PatientSessionDependency
from backend.auth.guards import open_book
from backend.database import raw_transaction
from backend.healthbook.overview import overview
from backend.records.reads import read_stored_records
from backend.records.served import collection_bundle_json
from backend.web.dependencies import ClockDependency, DatabaseDependency, SettingsDependency


class BookApi(Controller):
    path = "/api/patient/v1/book"
    tags = ("Patient book",)

    @get("/", summary="The overview: what needs attention now, each group its first 10 with a total")
    async def get_overview(
        self, patient_session: PatientSessionDependency, database: DatabaseDependency, clock: ClockDependency
    ) -> dict[str, Any]:
        patient_id = open_book(patient_session)
        async with raw_transaction(database) as connection:
            answer = await overview(connection, Reader.patient(patient_id), patient_id, clock())
        return {**answer, "read_only": patient_session.read_only}

    @get(
        "/fhir",
        media_type="application/fhir+json",
        summary="Every current record as one FHIR Bundle (collection), references resolved",
    )
    async def get_bundle(
        self,
        patient_session: PatientSessionDependency,
        database: DatabaseDependency,
        clock: ClockDependency,
        settings: SettingsDependency,
    ) -> Response[bytes]:
        patient_id = open_book(patient_session)
        now = clock()
        async with raw_transaction(database) as connection:
            records = await read_stored_records(connection, Reader.patient(patient_id), patient_id, now)
        return Response(collection_bundle_json(records, settings.base_url, now), media_type="application/fhir+json")
