"""`/settings` (contract §6): the books this phone opens, the phones that open this book (a confirmed one
can be removed by the book's owner), downloading everything, and signing out on every device."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.response import Redirect, Template

from backend.auth.book_phones import forget_phone, phones_of_book
from backend.auth.dependencies import PatientSessionDependency, SignInDependency
from backend.auth.guards import full_access
from backend.database import raw_transaction
from backend.errors import NotFound
from backend.i18n import gettext_noop as N_  # noqa: N812 - the gettext convention
from backend.phones import normalize_phone
from backend.web.dependencies import ClockDependency, DatabaseDependency, Form


class SettingsPages(Controller):
    include_in_schema = False

    @get("/settings", name="settings")
    async def settings_page(
        self,
        patient_session: PatientSessionDependency,
        signin: SignInDependency,
        database: DatabaseDependency,
        clock: ClockDependency,
    ) -> Template:
        now = clock()
        books = await signin.books(patient_session, now)
        phones = []
        if patient_session.patient_id is not None and not patient_session.read_only:  # the owner's view only
            async with raw_transaction(database) as connection:
                phones = await phones_of_book(connection, patient_session.patient_id, now)
        context = {"books": books, "phones": phones, "read_only": patient_session.read_only}
        return Template("settings.html", context=context)

    @post("/settings/phones/forget", name="forget_phone")
    async def forget(
        self,
        data: Form,
        patient_session: PatientSessionDependency,
        database: DatabaseDependency,
        clock: ClockDependency,
    ) -> Redirect:
        patient_id = full_access(patient_session)
        phone = normalize_phone(data.get("phone", "")[:40])
        async with raw_transaction(database) as connection:
            if phone is None or not await forget_phone(connection, patient_session, patient_id, phone, clock()):
                raise NotFound(N_("this phone is not confirmed for your book"))
        return Redirect("/settings", status_code=303)
