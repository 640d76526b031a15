"""The hospital API (contract §3): machine-to-machine, one set of endpoints per facility."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from litestar import Controller, Request, Response, post
from litestar.params import FromPath

from backend.database import Database
from backend.errors import Unauthorized
from backend.hospitals.receiving import Intake, Push, receive
from backend.hospitals.registry import FacilityRef, webhook_keys
from backend.hospitals.signatures import SignatureRejected, server_time, verify
from backend.keyring import Keyring
from backend.records.fhir import FhirIntake
from backend.records.keys import FACILITY_CODE
from backend.records.xml130 import Xml130Intake
from backend.web.dependencies import ClockDependency, DatabaseDependency, KeyringDependency

log = structlog.get_logger("healthbook.hospitals")

FHIR_INTAKE = FhirIntake()
XML130_INTAKE = Xml130Intake()


class HospitalApi(Controller):
    path = "/api/hospital/v1/{code:str}"
    tags = ("Hospital API",)

    @post(
        "/fhir",
        status_code=200,
        summary="Push FHIR R4 records (a transaction, batch, collection or document Bundle)",
        description="Signed with Standard Webhooks headers; see docs/hospital-api.md.",
    )
    async def push_fhir(
        self,
        request: Request[Any, Any, Any],
        code: FromPath[str],
        database: DatabaseDependency,
        keyring: KeyringDependency,
        clock: ClockDependency,
    ) -> Response[str]:
        return await _push(request, code, database, keyring, clock(), FHIR_INTAKE)

    @post(
        "/xml130",
        status_code=200,
        summary="Push the QĐ130/4750 XML tables (a GIAMDINHHS envelope, or one bare table)",
        description="Signed with Standard Webhooks headers; see docs/hospital-api.md.",
    )
    async def push_xml130(
        self,
        request: Request[Any, Any, Any],
        code: FromPath[str],
        database: DatabaseDependency,
        keyring: KeyringDependency,
        clock: ClockDependency,
    ) -> Response[str]:
        return await _push(request, code, database, keyring, clock(), XML130_INTAKE)


async def _push(
    request: Request[Any, Any, Any],
    code: str,
    database: Database,
    keyring: Keyring,
    now: datetime,
    intake: Intake[Any],
) -> Response[str]:
    body = await request.body()  # at most 10 MB (the app's request_max_body_size answers 413)
    facility, webhook_id = await authenticate(database, keyring, code, request.headers, body, now)
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    answer = await receive(database, intake, Push(facility, webhook_id, media_type, body, now))
    return Response(answer.body, media_type=answer.media_type, status_code=200)


async def authenticate(
    database: Database, keyring: Keyring, code: str, headers: Any, body: bytes, now: datetime
) -> tuple[FacilityRef, str]:
    """Who sent these exact bytes (contract §3.1), before anything reads them."""
    found = None
    if FACILITY_CODE.match(code):
        async with database.sessionmaker() as session:
            found = await webhook_keys(session, keyring, code, now)
    try:
        if found is None:
            raise SignatureRejected(f"unknown facility {code[:16]!r}")
        facility, keys = found
        signed = verify(headers, body, keys, now)
    except SignatureRejected as rejected:
        log.info("webhook rejected", facility=code[:16], reason=str(rejected))
        raise Unauthorized(f"{rejected} (server time {server_time(now)})") from None
    return facility, signed.webhook_id
