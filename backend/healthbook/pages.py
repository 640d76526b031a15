"""`/book` (contract §6): the overview of the open book; the one gate that asks for consent first."""

from __future__ import annotations

from litestar import Controller, get
from litestar.response import Redirect, Template

from backend.audit import Reader
from backend.auth.dependencies import PatientSessionDependency
from backend.consent import NOTICE_VERSION, has_consented
from backend.database import raw_transaction
from backend.healthbook.overview import overview
from backend.web.dependencies import ClockDependency, DatabaseDependency


class BookPages(Controller):
    include_in_schema = False

    @get("/book", name="book")
    async def book(
        self, patient_session: PatientSessionDependency, database: DatabaseDependency, clock: ClockDependency
    ) -> Template | Redirect:
        patient_id = patient_session.patient_id
        if patient_id is None:
            return Redirect("/login/choose", status_code=303)
        async with raw_transaction(database) as connection:
            if not await has_consented(connection, patient_id, patient_session.phone, NOTICE_VERSION):
                return Redirect("/consent", status_code=303)
            answer = await overview(connection, Reader.patient(patient_id), patient_id, clock())
        return Template("book/overview.html", context={**answer, "read_only": patient_session.read_only})
