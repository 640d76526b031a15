"""Activation codes (contract §1 `healthbook patient activation-code`, §4 `auth/activate`): a one-time
code a hospital prints for a patient who proved who they are at the desk; entered on their phone, it
confirms their book there. Stored only as an HMAC; valid 30 days."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import datetime, timedelta

from backend.database import PgConnection

LIFETIME = timedelta(days=30)
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed from paper


class ActivationCodes:
    def __init__(self, secret_key: str) -> None:
        self._key = hashlib.sha256(f"activation:{secret_key}".encode()).digest()

    async def issue(self, connection: PgConnection, patient_id: uuid.UUID, now: datetime) -> tuple[str, datetime]:
        # A new code replaces the ones printed before: only the latest slip in the patient's hand works.
        await connection.execute(
            "UPDATE activation_code SET expires_at = $2 WHERE patient_id = $1 AND used_at IS NULL AND expires_at > $2",
            patient_id,
            now,
        )
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(12))
        code = f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"
        expires_at = now + LIFETIME
        await connection.execute(
            "INSERT INTO activation_code (id, code_hmac, patient_id, created_at, expires_at)"
            " VALUES ($1, $2, $3, $4, $5)",
            uuid.uuid4(),
            self._digest(code),
            patient_id,
            now,
            expires_at,
        )
        return code, expires_at

    async def redeem(self, connection: PgConnection, code: str, now: datetime) -> uuid.UUID | None:
        """The patient the code is for, once; None for a wrong, used or expired code."""
        value = await connection.fetchval(
            "UPDATE activation_code SET used_at = $2 WHERE code_hmac = $1 AND used_at IS NULL AND expires_at > $2"
            " RETURNING patient_id",
            self._digest(code),
            now,
        )
        return value if isinstance(value, uuid.UUID) else None

    def _digest(self, code: str) -> bytes:
        normalized = "".join(char for char in code.upper() if char.isalnum())
        return hmac.new(self._key, normalized.encode(), hashlib.sha256).digest()


async def confirm_book(
    connection: PgConnection, phone: str, patient_id: uuid.UUID, now: datetime, confirmed_by: str
) -> None:
    await connection.execute(
        "INSERT INTO book_access (phone, patient_id, confirmed_at, confirmed_by) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (phone, patient_id) DO UPDATE SET confirmed_at = $3, confirmed_by = $4",
        phone,
        patient_id,
        now,
        confirmed_by,
    )
