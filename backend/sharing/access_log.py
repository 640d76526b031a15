"""The patient's access log (contract §4): every read of their data by anyone else, from any path (a
link's manifest, the reception desk, the operator's CLI), newest first, in plain words.

Reading it is the patient's own business: it writes nothing (not even an access event).
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get

from backend.auth.dependencies import PatientSessionDependency
from backend.auth.guards import open_book
from backend.database import PgConnection, raw_transaction
from backend.i18n import chosen_locale, translations
from backend.i18n import gettext_noop as N_  # noqa: N812 - the gettext convention
from backend.sharing.presenters import facility, utc_iso
from backend.web.dependencies import DatabaseDependency

EVENTS_SHOWN = 1000

# What was read, as a patient says it (English msgids; Vietnamese in the catalogue).
PLAIN_WORDS = {
    "Patient": N_("personal details"),
    "Encounter": N_("visits"),
    "Condition": N_("diagnoses"),
    "MedicationRequest": N_("prescriptions"),
    "MedicationStatement": N_("medicines"),
    "Medication": N_("medicines"),
    "AllergyIntolerance": N_("allergies"),
    "Immunization": N_("vaccinations"),
    "Observation": N_("results"),
    "DiagnosticReport": N_("results"),
    "Procedure": N_("procedures"),
    "ServiceRequest": N_("referrals and requests"),
    "Appointment": N_("appointments"),
    "CarePlan": N_("care plans"),
    "DocumentReference": N_("documents"),
    "Binary": N_("documents"),
    "Composition": N_("summary"),
    "Organization": N_("hospitals"),
    "Practitioner": N_("doctors"),
    "PractitionerRole": N_("doctors"),
    "Location": N_("hospitals"),
}
OTHER = N_("other records")


async def access_events(connection: PgConnection, patient_id: Any) -> list[Any]:
    """The latest reads of this patient's data by anyone else, newest first, with their facility."""
    return list(
        await connection.fetch(
            "SELECT e.at, e.actor, e.actor_role, e.channel, e.purpose, e.resource_types, f.code, f.name"
            " FROM access_event e LEFT JOIN facility f ON f.id = e.facility_id"
            " WHERE e.patient_id = $1 ORDER BY e.at DESC, e.id DESC LIMIT $2",
            patient_id,
            EVENTS_SHOWN,
        )
    )


def plain_words(resource_types: list[str], locale: str) -> str:
    gettext = translations(locale).gettext
    words = dict.fromkeys(gettext(PLAIN_WORDS.get(kind, OTHER)) for kind in resource_types)
    return ", ".join(words) if words else gettext(N_("nothing"))


class AccessLogApi(Controller):
    path = "/api/patient/v1/access-log"
    tags = ("Patient access log",)

    @get("/", summary="Every read of this book by anyone else, newest first (?lang=en for English words)")
    async def access_log(
        self, request: Request[Any, Any, Any], patient_session: PatientSessionDependency, database: DatabaseDependency
    ) -> Response[dict[str, Any]]:
        patient_id = open_book(patient_session)  # a read-only book may read its access log (contract §4)
        locale = "en" if request.query_params.get("lang") == "en" else chosen_locale(request.cookies)
        async with raw_transaction(database) as connection:
            rows = await access_events(connection, patient_id)
        gettext = translations(locale).gettext
        events = [
            {
                "at": utc_iso(row["at"]),
                "actor": row["actor"],
                "role": row["actor_role"],
                "facility": facility(row["code"], row["name"]),
                "channel": row["channel"],
                "what": plain_words(list(row["resource_types"]), locale),
                "purpose": gettext(row["purpose"]),
            }
            for row in rows
        ]
        return Response({"events": events}, headers={"Cache-Control": "no-store"})
