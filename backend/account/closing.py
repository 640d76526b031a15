"""Closing a patient's account (issue 7), in one transaction: all of it happens, or none of it.

Every session on every device ends, the phones confirmed for the book are forgotten, and consent is
withdrawn. The records hospitals sent stay (see `retention`); with no consent and no session, nobody reads
them through the app until the person signs in again and consents anew. Audited as `account.closed`, next
to the `consent.withdrawn` that the consent history needs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from backend.auth.events import record_auth_event
from backend.auth.sessions import Session, revoke_book_sessions
from backend.consent.records import withdraw_consent
from backend.database import PgConnection


@dataclass(frozen=True)
class ClosedAccount:
    sessions: int
    phones: int
    consents: int


async def close_account(
    connection: PgConnection, session: Session, patient_id: uuid.UUID, client_ip: str, now: datetime
) -> ClosedAccount:
    """Close the account of `patient_id`, asked for through `session` (a full one: the caller checks)."""
    consents = await withdraw_consent(connection, session, patient_id, now)
    forgotten = await connection.execute("DELETE FROM book_access WHERE patient_id = $1", patient_id)
    # TODO(shares): when SMART Health Links land, revoke every share of this book here, in this same
    # transaction, and count them in the event below: a closed account must leave no working link.
    sessions = await revoke_book_sessions(connection, session.phone, patient_id, now)
    closed = ClosedAccount(sessions=sessions, phones=int(forgotten.split()[-1]), consents=consents)
    await record_auth_event(
        connection,
        "account.closed",
        now,
        phone=session.phone,
        patient_id=patient_id,
        session_id=session.id,
        client_ip=client_ip,
        detail=f"{closed.sessions} sessions, {closed.phones} phones, {closed.consents} consents",
    )
    return closed
