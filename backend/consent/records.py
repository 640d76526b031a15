"""Consents as recorded: who (the book, through which phone), which version, when, through which channel."""

from __future__ import annotations

import uuid
from datetime import datetime

from backend.auth.events import record_auth_event
from backend.auth.sessions import Session
from backend.database import PgConnection


async def has_consented(connection: PgConnection, patient_id: uuid.UUID, phone: str, version: str) -> bool:
    found = await connection.fetchval(
        "SELECT 1 FROM consent WHERE patient_id = $1 AND phone = $2 AND version = $3", patient_id, phone, version
    )
    return found is not None


async def record_consent(
    connection: PgConnection, patient_id: uuid.UUID, phone: str, version: str, channel: str, now: datetime
) -> bool:
    """Record the consent once: the first answer to a version is the one that counts. True when new."""
    status = await connection.execute(
        "INSERT INTO consent (patient_id, phone, version, channel, accepted_at)"
        " SELECT $1, $2, $3, $4, $5 WHERE NOT EXISTS"
        " (SELECT 1 FROM consent WHERE patient_id = $1 AND phone = $2 AND version = $3)",
        patient_id,
        phone,
        version,
        channel,
        now,
    )
    return status.endswith(" 1")


async def give_consent(
    connection: PgConnection, session: Session, patient_id: uuid.UUID, version: str, channel: str, now: datetime
) -> None:
    """The patient agreed through this session: recorded once per version, and audited."""
    if await record_consent(connection, patient_id, session.phone, version, channel, now):
        await record_auth_event(
            connection,
            "consent.given",
            now,
            phone=session.phone,
            patient_id=patient_id,
            session_id=session.id,
            detail=f"{channel} {version}",
        )


async def withdraw_consent(connection: PgConnection, session: Session, patient_id: uuid.UUID, now: datetime) -> int:
    """The book's owner withdraws consent: every consent to this book goes, whichever phone gave it, so
    `/book` asks again before it shows anything. The `consent` table holds what is in force; the history
    (given, withdrawn, when, through which session) is the `auth_event` trail. The number withdrawn."""
    status = await connection.execute("DELETE FROM consent WHERE patient_id = $1", patient_id)
    withdrawn = int(status.split()[-1])
    if withdrawn:
        await record_auth_event(
            connection,
            "consent.withdrawn",
            now,
            phone=session.phone,
            patient_id=patient_id,
            session_id=session.id,
            detail=f"{withdrawn} consents",
        )
    return withdrawn
