"""`/access-log` (contract §6, issue 8): every read of the patient's data by someone else, newest first,
in plain words: who, from which facility, when (Vietnam time), through which channel, what kinds of
records. The same events as the JSON API (backend/sharing/access_log.py); a read-only book may read it."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.response import Redirect, Template

from backend.auth.dependencies import PatientSessionDependency
from backend.database import raw_transaction
from backend.i18n import chosen_locale
from backend.i18n import gettext_noop as N_  # noqa: N812 - the gettext convention
from backend.sharing.access_log import access_events, plain_words
from backend.sharing.presenters import facility, utc_iso
from backend.web.dependencies import DatabaseDependency

# How each channel (access_event.channel) reads to a patient.
CHANNELS = {
    "shl": N_("a link you shared"),
    "reception": N_("a hospital's reception desk"),
    "operator": N_("the service's operator"),
    "facility_admin": N_("a hospital's administrator"),
}
OTHER_CHANNEL = N_("another way")


class AccessLogPages(Controller):
    include_in_schema = False

    @get("/access-log", name="access_log")
    async def access_log(
        self, request: Request[Any, Any, Any], patient_session: PatientSessionDependency, database: DatabaseDependency
    ) -> Template | Redirect:
        if patient_session.patient_id is None:
            return Redirect("/login/choose", status_code=303)
        locale = chosen_locale(request.cookies)
        async with raw_transaction(database) as connection:
            rows = await access_events(connection, patient_session.patient_id)
        events = [
            {
                "at": utc_iso(row["at"]),
                "actor": row["actor"],
                "facility": facility(row["code"], row["name"]),
                "channel": CHANNELS.get(row["channel"], OTHER_CHANNEL),
                "what": plain_words(list(row["resource_types"]), locale),
                "purpose": row["purpose"],
            }
            for row in rows
        ]
        context = {"events": events, "read_only": patient_session.read_only}
        return Template("sharing/access_log.html", context=context, headers={"Cache-Control": "no-store"})
