"""Closing a patient's account (issue 7), in one transaction: all of it happens, or none of it.

Every session on every device ends, the phones confirmed for the book are forgotten, every share link
stops, and consent is withdrawn. The records hospitals sent stay (see `retention`); the web app shows them
again only to someone who signs in to the book and consents anew. Audited as `account.closed`, next to the
`consent.withdrawn` that the consent history needs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from backend.auth.events import record_auth_event
from backend.auth.sessions import Session, revoke_book_sessions
from backend.consent.records import withdraw_consent
from backend.database import PgConnection
from backend.sharing.store import revoke_all_shares


@dataclass(frozen=True)
class ClosedAccount:
    sessions: int
    phones: int
    consents: int
    shares: int


async def close_account(
    connection: PgConnection, session: Session, patient_id: uuid.UUID, client_ip: str, now: datetime
) -> ClosedAccount:
    """Close the account of `patient_id`, asked for through `session` (a full one: the caller checks)."""
    consents = await withdraw_consent(connection, session, patient_id, now)
    forgotten = await connection.execute("DELETE FROM book_access WHERE patient_id = $1", patient_id)
    shares = await revoke_all_shares(connection, patient_id, now)  # a closed account leaves no working link
    sessions = await revoke_book_sessions(connection, session.phone, patient_id, now)
    closed = ClosedAccount(sessions=sessions, phones=int(forgotten.split()[-1]), consents=consents, shares=shares)
    await record_auth_event(
        connection,
        "account.closed",
        now,
        phone=session.phone,
        patient_id=patient_id,
        session_id=session.id,
        client_ip=client_ip,
        detail=(
            f"{closed.sessions} sessions, {closed.phones} phones, {closed.consents} consents, {closed.shares} shares"
        ),
    )
    return closed
