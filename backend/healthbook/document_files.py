"""`/book/documents/{document_id}/file`: one attachment of the patient's own DocumentReference, to open or
save. Its bytes come from the attachment itself (`data`) or from the Binary it points at (`url:
"Binary/…"`), read like every record through `read_records`, for the signed-in patient only: another
patient's document, or no document at all, is the same 404.

Served as itself only when a browser can show it harmlessly (backend/healthbook/sections/
documents_attachments.py); never cached (`no-store`)."""

from __future__ import annotations

import uuid
from datetime import datetime

from litestar import Controller, Response, get
from litestar.params import FromPath, FromQuery

from backend.audit import Reader
from backend.auth.dependencies import PatientSessionDependency
from backend.auth.sessions import Session
from backend.consent import NOTICE_VERSION, has_consented
from backend.database import PgConnection, raw_transaction
from backend.errors import NotFound
from backend.healthbook.sections.documents_attachments import attachments, binary_id, inline_data, serving
from backend.i18n import gettext_noop as N_  # noqa: N812 - the gettext convention
from backend.records.fhir.references import served_id
from backend.records.reads import StoredRecordView, read_records
from backend.web.dependencies import ClockDependency, DatabaseDependency

MISSING = N_("this file is not in your book")
MAX_PARTS = 100  # a document's attachments; a `part` beyond is nothing


class DocumentFiles(Controller):
    include_in_schema = False

    # Written with the section as a parameter: next to `/book/{section_name}`, a fixed `/book/documents/…`
    # would take `/book/documents` itself away from the section (the router does not fall back).
    @get("/book/{section_name:str}/{document_id:str}/file", name="document_file")
    async def file(
        self,
        section_name: FromPath[str],
        document_id: FromPath[str],
        patient_session: PatientSessionDependency,
        database: DatabaseDependency,
        clock: ClockDependency,
        part: FromQuery[int] = 0,
    ) -> Response[bytes]:
        if section_name != "documents" or not 0 <= part < MAX_PARTS:
            raise NotFound(MISSING)
        async with raw_transaction(database) as connection:
            patient_id = await _open_book(connection, patient_session)
            found = await _attachment(connection, patient_id, document_id[:64], part, clock()) if patient_id else None
        if found is None:
            raise NotFound(MISSING)
        body, declared, title = found
        served = serving(declared, body, title)
        return Response(
            body,
            media_type=served.media_type,
            headers={"Content-Disposition": served.disposition, "Cache-Control": "no-store"},
        )


async def _open_book(connection: PgConnection, session: Session) -> uuid.UUID | None:
    """The open book, as `/book` opens it (backend/healthbook/pages.py `_gate`): a book chosen, and the
    notice agreed to; else nothing to serve."""
    if session.patient_id is None:
        return None
    if not await has_consented(connection, session.patient_id, session.phone, NOTICE_VERSION):
        return None
    return session.patient_id


async def _attachment(
    connection: PgConnection, patient_id: uuid.UUID, document_id: str, part: int, now: datetime
) -> tuple[bytes, object, object] | None:
    """(bytes, declared content type, title) of the document's `part`-th attachment, if it is there."""
    reader = Reader.patient(patient_id)
    views = await read_records(
        connection, reader, patient_id, now, resource_types=["DocumentReference"], served_ids=[document_id]
    )
    document = next((v for v in views if v.resource_type == "DocumentReference" and v.served_id == document_id), None)
    listed = attachments(document.content) if document else []
    if document is None or part >= len(listed):
        return None
    attachment = listed[part]
    declared, body = attachment.get("contentType"), inline_data(attachment)
    if body is None and (wanted := binary_id(attachment)) is not None:
        binary = await _binary(connection, reader, patient_id, now, document, wanted)
        if binary is not None:
            body = inline_data(binary.content)
            declared = _agreed(declared, binary.content.get("contentType"))
    return (body, declared, attachment.get("title")) if body is not None else None


async def _binary(
    connection: PgConnection,
    reader: Reader,
    patient_id: uuid.UUID,
    now: datetime,
    document: StoredRecordView,
    wanted: str,
) -> StoredRecordView | None:
    """The Binary a document points at, from the same hospital: by its served id (a reference the intake
    resolved) or by that hospital's own id (an attachment URL it did not)."""
    candidates = [wanted, served_id(document.facility_code, wanted)]
    views = await read_records(connection, reader, patient_id, now, resource_types=["Binary"], served_ids=candidates)
    return next(
        (
            view
            for candidate in candidates
            for view in views
            if view.resource_type == "Binary"
            and view.served_id == candidate
            and view.facility_code == document.facility_code
        ),
        None,
    )


def _agreed(from_attachment: object, from_binary: object) -> object:
    """The attachment's declared type, else the Binary's; when both are given and differ, neither is
    trusted (the file is then served as opaque bytes)."""
    if isinstance(from_attachment, str) and isinstance(from_binary, str):
        same = from_attachment.split(";")[0].strip().lower() == from_binary.split(";")[0].strip().lower()
        return from_attachment if same else None
    return from_attachment if isinstance(from_attachment, str) else from_binary
