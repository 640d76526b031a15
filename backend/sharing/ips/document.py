"""`ips_document`: the IPS document a share carries (contract §5), read through the one audited read path."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from backend.audit import Reader
from backend.database import PgConnection
from backend.errors import NotFound
from backend.records.fhir.parse import NATIONAL_ID_SYSTEM
from backend.records.reads import read_records, registry_names
from backend.records.served import served_resource
from backend.sharing.ips.bundle import Contents, document_bundle
from backend.sharing.ips.selection import select_records

NOTHING_TO_SHARE = "none of these records is in this book"
_ABSENT = [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown"}]


async def ips_document(
    connection: PgConnection,
    patient_id: uuid.UUID,
    record_ids: Sequence[str] | None,
    reader: Reader,
    base_url: str,
    now: datetime,
) -> dict[str, Any]:
    """The patient's IPS document Bundle, as a dict.

    `record_ids` None: a summary of everything (see `selection.SUMMARY_CAPS` for what that holds). Given:
    those records only (`Type/id` as /book/fhir serves them), and every section without one of them says
    `withheld`. Ids that are not current records of this patient's book (another patient's, deleted,
    unknown, of a kind no section lists) are left out; if none is left, `NotFound` (an empty list
    too). A caller that must answer 404 to any such id asks `missing_record_ids` first.

    The records are read once, through `read_records`: a reader other than the patient is written to
    the access log once, with exactly what went into the document."""
    selection = await select_records(connection, patient_id, record_ids, now)
    if selection.picked and not selection.listed:
        raise NotFound(NOTHING_TO_SHARE)
    to_read = selection.to_read()
    views = await read_records(
        connection,
        reader,
        patient_id,
        now,
        resource_types=sorted({kind for kind, _ in to_read}),
        served_ids=sorted({served for _, served in to_read}),
    )
    # `read_records` matches types and ids apart: a record of a wanted type with another wanted record's
    # id is dropped here (so is nothing else: the rest are the facility resources the records point at).
    wanted = set(to_read)
    types, ids = {kind for kind, _ in wanted}, {served for _, served in wanted}
    views = [
        view
        for view in views
        if (view.resource_type, view.served_id) in wanted or not (view.resource_type in types and view.served_id in ids)
    ]
    patient_view = next((view for view in views if view.resource_type == "Patient"), None)
    if patient_view is not None:
        patient = served_resource(patient_view)
    else:
        patient = await _patient_from_cccd(connection, patient_id)
    contents = Contents(
        records=[view for view in views if view is not patient_view],
        listed=selection.listed,
        patient=patient,
        same_patient=[f"Patient/{served}" for served in selection.patients],
        facilities=await registry_names(connection),
        picked=selection.picked,
    )
    return document_bundle(contents, base_url, now, uuid.uuid4())


async def _patient_from_cccd(connection: PgConnection, patient_id: uuid.UUID) -> dict[str, Any]:
    """A book no hospital sent a Patient to (made at an identity sign-in): the person by their CCCD; the
    name and birth date the IPS asks for are marked unknown rather than made up."""
    cccd = await connection.fetchval("SELECT cccd FROM patient WHERE id = $1", patient_id)
    if cccd is None:
        raise NotFound(NOTHING_TO_SHARE)
    return {
        "resourceType": "Patient",
        "id": str(uuid.uuid4()),  # a document-local id: the book's own id is internal (check C2)
        "identifier": [{"system": NATIONAL_ID_SYSTEM, "value": str(cccd)}],
        "name": [{"extension": _ABSENT}],
        "_birthDate": {"extension": _ABSENT},
    }
