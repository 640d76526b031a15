"""The privacy notice and consent for apps (contract §4): apps show the notice themselves and record the
answer; the API does not gate on it."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import JSONBody

from backend.auth.dependencies import PatientSessionDependency
from backend.auth.guards import open_book
from backend.consent.notice import NOTICE_VERSION, notice_text
from backend.consent.records import give_consent
from backend.database import raw_transaction
from backend.errors import Unprocessable
from backend.web.dependencies import ClockDependency, DatabaseDependency


class ConsentIn(msgspec.Struct):
    version: str


class ConsentApi(Controller):
    path = "/api/patient/v1"
    tags = ("Patient consent",)

    @get("/privacy-notice", summary="The privacy notice to show before consent (Vietnamese; ?lang=en)")
    async def privacy_notice(self, request: Request[Any, Any, Any]) -> dict[str, str]:
        locale = "en" if request.query_params.get("lang") == "en" else "vi"
        return {"version": NOTICE_VERSION, "text": notice_text(locale)}

    @post("/consent", status_code=204, summary="Record the patient's consent to the notice of this version")
    async def consent(
        self,
        data: JSONBody[ConsentIn],
        patient_session: PatientSessionDependency,
        database: DatabaseDependency,
        clock: ClockDependency,
    ) -> None:
        patient_id = open_book(patient_session)
        if data.version != NOTICE_VERSION:
            raise Unprocessable(f"the current notice is version {NOTICE_VERSION}: show it and ask again")
        now = clock()
        async with raw_transaction(database) as connection:
            await give_consent(connection, patient_session, patient_id, NOTICE_VERSION, "api", now)
