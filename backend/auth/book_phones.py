"""The phones that can open a book, for its owner to see in `/settings` (Law 91/2025: the data subject
knows who has access): the numbers hospitals gave, which only the hospital can correct, and the phones
confirmed with an activation code, which the owner can remove."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from backend.auth.books import CONFIRMATION_LIFETIME
from backend.auth.events import record_auth_event
from backend.auth.sessions import Session
from backend.database import PgConnection
from backend.phones import mask_phone


@dataclass(frozen=True)
class BookPhone:
    phone: str
    from_hospital: bool
    confirmed_at: datetime | None
    confirmed_by: str | None = None  # activation-code | oidc

    @property
    def masked(self) -> str:
        return mask_phone(self.phone)


async def phones_of_book(connection: PgConnection, patient_id: uuid.UUID, now: datetime) -> list[BookPhone]:
    given = await connection.fetchval(
        "SELECT coalesce(array_agg(DISTINCT phone), '{}') FROM record, unnest(phones) AS phone"
        " WHERE patient_id = $1 AND resource_type = 'Patient' AND NOT deleted",
        patient_id,
    )
    confirmed = {
        row["phone"]: (row["confirmed_at"], row["confirmed_by"])
        for row in await connection.fetch(
            "SELECT phone, confirmed_at, confirmed_by FROM book_access WHERE patient_id = $1 AND confirmed_at > $2",
            patient_id,
            now - CONFIRMATION_LIFETIME,
        )
    }
    phones = sorted(set(given) | set(confirmed))
    return [BookPhone(phone, phone in given, *confirmed.get(phone, (None, None))) for phone in phones]


async def forget_phone(
    connection: PgConnection, session: Session, patient_id: uuid.UUID, phone: str, now: datetime
) -> bool:
    """The owner removes a confirmed phone: its confirmation goes, and its sessions close this book now."""
    removed = await connection.fetchval(
        "DELETE FROM book_access WHERE patient_id = $1 AND phone = $2 RETURNING phone", patient_id, phone
    )
    if removed is None:
        return False
    await connection.execute(
        "UPDATE auth_session SET patient_id = NULL, read_only = true"
        " WHERE phone = $1 AND patient_id = $2 AND id <> $3 AND revoked_at IS NULL",
        phone,
        patient_id,
        session.id,
    )
    await record_auth_event(
        connection,
        "auth.book_phone_removed",
        now,
        phone=session.phone,
        patient_id=patient_id,
        session_id=session.id,
        detail=mask_phone(phone),
    )
    return True
