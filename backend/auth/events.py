"""The sign-in audit trail (checks A1, G1): every sign-in, failure, lockout and consent of patients and
staff, with a masked phone or a staff id; never a code, a token, a password, a full phone number or a
CCCD, in the table or in the log."""

from __future__ import annotations

import uuid
from datetime import datetime

import structlog

from backend.database import PgConnection
from backend.phones import mask_phone

log = structlog.get_logger("healthbook.auth")


async def record_auth_event(
    connection: PgConnection,
    event: str,
    now: datetime,
    *,
    phone: str | None = None,
    patient_id: uuid.UUID | None = None,
    session_id: uuid.UUID | None = None,
    staff_id: int | None = None,
    client_ip: str | None = None,
    detail: str | None = None,
) -> None:
    masked = mask_phone(phone) if phone else None
    await connection.execute(
        "INSERT INTO auth_event (at, event, phone_masked, patient_id, session_id, staff_id, client_ip, detail)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        now,
        event,
        masked,
        patient_id,
        session_id,
        staff_id,
        client_ip,
        detail,
    )
    log.info(event, phone=masked, session=str(session_id) if session_id else None, staff=staff_id, detail=detail)
