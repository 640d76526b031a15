"""Which books a phone opens, and how far (docs/identity.md).

A hospital that records a phone on a patient's record says "this number reaches this patient". That is
evidence, not proof: a FHIR `Patient.telecom` of use `mobile` is the patient's own phone as the hospital
knows it; any other number (a FHIR home or work number, the XML1 `DIEN_THOAI`, which the QĐ130 appendix
says may be a relative's) could be someone else's. So:

- a phone on exactly one book, as that patient's own mobile, opens the book in full;
- a phone on several books (a parent's phone on a child's record), or only weakly linked, lists them,
  each read-only until confirmed by the national ID sign-in or a hospital-printed activation code;
- a book confirmed for a phone opens in full for it, for a year from the confirmation.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from backend.auth.events import record_auth_event
from backend.auth.sessions import Session, open_book
from backend.database import PgConnection
from backend.phones import normalize_phone


@dataclass(frozen=True)
class Book:
    patient_id: uuid.UUID
    name: str
    cccd: str
    read_only: bool

    @property
    def masked_cccd(self) -> str:
        return f"{self.cccd[:3]}******{self.cccd[-3:]}"

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.patient_id),
            "name": self.name,
            "masked_cccd": self.masked_cccd,
            "read_only": self.read_only,
        }


CONFIRMATION_LIFETIME = timedelta(days=365)  # numbers are recycled: a confirmation is renewed, not kept


async def books_for_phone(connection: PgConnection, phone: str, now: datetime) -> list[Book]:
    rows = await connection.fetch(
        "SELECT p.id AS patient_id, p.cccd, r.content, r.source_table, r.updated_at FROM record r"
        " JOIN patient p ON p.id = r.patient_id"
        " WHERE r.resource_type = 'Patient' AND NOT r.deleted AND r.phones @> ARRAY[$1::text]"
        " ORDER BY r.updated_at DESC",
        phone,
    )
    confirmed_rows = await connection.fetch(
        "SELECT a.patient_id, p.cccd FROM book_access a JOIN patient p ON p.id = a.patient_id"
        " WHERE a.phone = $1 AND a.confirmed_at > $2",
        phone,
        now - CONFIRMATION_LIFETIME,
    )
    confirmed = {row["patient_id"] for row in confirmed_rows}
    evidence: dict[uuid.UUID, dict[str, Any]] = {}
    for row in rows:
        found = evidence.setdefault(row["patient_id"], {"cccd": row["cccd"], "own_mobile": False, "name": None})
        found["own_mobile"] |= row["source_table"] is None and _is_own_mobile(row["content"], phone)
        found["name"] = found["name"] or _name(row["content"])
    # Only what hospitals said counts towards "several": a relative's book confirmed on this phone
    # does not make the phone's own book read-only.
    several = len(evidence) > 1
    for row in confirmed_rows:
        evidence.setdefault(row["patient_id"], {"cccd": row["cccd"], "own_mobile": False, "name": None})
    if any(found["name"] is None for found in evidence.values()):
        await _fill_names(connection, evidence)

    return sorted(
        (
            Book(
                patient_id,
                found["name"] or "",
                found["cccd"],
                read_only=patient_id not in confirmed and (several or not found["own_mobile"]),
            )
            for patient_id, found in evidence.items()
        ),
        key=lambda book: book.name,
    )


async def recheck_open_book(connection: PgConnection, session: Session, now: datetime) -> Session:
    """The session's open book as the evidence stands now: a number a hospital has since removed, or a
    second book that makes it shared, takes effect at once rather than at the next sign-in."""
    if session.patient_id is None:
        return session
    books = await books_for_phone(connection, session.phone, now)
    book = next((book for book in books if book.patient_id == session.patient_id), None)
    patient_id, read_only = (book.patient_id, book.read_only) if book else (None, True)
    if (patient_id, read_only) != (session.patient_id, session.read_only):
        await open_book(connection, session.id, patient_id, read_only)
        detail = "closed" if patient_id is None else ("read-only" if read_only else "full")
        await record_auth_event(
            connection,
            "auth.book_access_changed",
            now,
            phone=session.phone,
            patient_id=session.patient_id,
            session_id=session.id,
            detail=detail,
        )
    return replace(session, patient_id=patient_id, read_only=read_only)


async def patient_name(connection: PgConnection, patient_id: uuid.UUID) -> tuple[str, str] | None:
    """(name, CCCD) of a registered patient, from their latest Patient record."""
    row = await connection.fetchrow(
        "SELECT p.cccd, (SELECT r.content FROM record r WHERE r.patient_id = p.id AND r.resource_type = 'Patient'"
        " AND NOT r.deleted ORDER BY r.updated_at DESC LIMIT 1) AS content FROM patient p WHERE p.id = $1",
        patient_id,
    )
    if row is None:
        return None
    return (_name(row["content"]) or "", row["cccd"])


async def _fill_names(connection: PgConnection, evidence: dict[uuid.UUID, dict[str, Any]]) -> None:
    for patient_id, found in evidence.items():
        if found["name"] is None:
            named = await patient_name(connection, patient_id)
            found["name"] = named[0] if named else None


def _is_own_mobile(content: Any, phone: str) -> bool:
    return any(
        isinstance(contact, dict)
        and contact.get("use") == "mobile"
        and normalize_phone(str(contact.get("value", ""))) == phone
        for contact in (content or {}).get("telecom") or []
    )


def _name(content: Any) -> str | None:
    for name in (content or {}).get("name") or []:
        if isinstance(name, dict):
            if name.get("text"):
                return str(name["text"])
            parts = [name.get("family") or "", *(name.get("given") or [])]
            joined = " ".join(part for part in parts if part)
            if joined:
                return joined
    return None
