"""`/consent` (contract §6): at first sign-in, the notice in plain language and one explicit "I agree"."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template

from backend.auth.dependencies import PatientSessionDependency
from backend.auth.guards import open_book
from backend.consent.notice import NOTICE_VERSION, notice_text
from backend.consent.records import give_consent
from backend.database import raw_transaction
from backend.errors import BadRequest
from backend.i18n import chosen_locale
from backend.i18n import gettext_noop as N_  # noqa: N812 - the gettext convention
from backend.web.dependencies import ClockDependency, DatabaseDependency, Form


class ConsentPages(Controller):
    include_in_schema = False

    @get("/consent", name="consent")
    async def consent_form(
        self, request: Request[Any, Any, Any], patient_session: PatientSessionDependency
    ) -> Template | Redirect:
        if patient_session.patient_id is None:  # a phone with several books chooses one first
            return Redirect("/login/choose", status_code=303)
        paragraphs = notice_text(chosen_locale(request.cookies)).split("\n\n")
        return Template("consent/consent.html", context={"title": paragraphs[0], "paragraphs": paragraphs[1:]})

    @post("/consent", name="give_consent")
    async def accept_notice(
        self,
        data: Form,
        patient_session: PatientSessionDependency,
        database: DatabaseDependency,
        clock: ClockDependency,
    ) -> Redirect:
        patient_id = open_book(patient_session)
        if "accept" not in data:
            raise BadRequest(N_("to use the health book, agree to the notice"))
        now = clock()
        async with raw_transaction(database) as connection:
            await give_consent(connection, patient_session, patient_id, NOTICE_VERSION, "web", now)
        return Redirect("/book", status_code=303)
