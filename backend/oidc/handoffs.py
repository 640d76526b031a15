"""Handing a finished national ID sign-in to a native app (RFC 8252): the browser is redirected to the
app with a one-time code, which only the app that started the sign-in can redeem, with the verifier of
its own PKCE challenge. The code lives 60 seconds, is stored only as a SHA-256, and dies at its first
presentation, right or wrong: an intercepted code is worth one guess of a 256-bit verifier."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from backend.database import PgConnection
from backend.oidc.flows import verifier_matches
from backend.oidc.refusals import START_AGAIN, Refused

HANDOFF_LIFETIME = timedelta(seconds=60)
_LEFTOVERS = timedelta(hours=1)


@dataclass(frozen=True)
class Handoff:
    patient_id: uuid.UUID
    phone: str  # E.164 from the provider, or the person's account key


def _digest(code: str) -> bytes:
    return hashlib.sha256(code.encode()).digest()


async def issue_handoff(
    connection: PgConnection, patient_id: uuid.UUID, phone: str, code_challenge: str, now: datetime
) -> str:
    await connection.execute("DELETE FROM oidc_handoff WHERE expires_at < $1", now - _LEFTOVERS)
    code = secrets.token_urlsafe(32)
    await connection.execute(
        "INSERT INTO oidc_handoff (code_hash, patient_id, phone, code_challenge, created_at, expires_at)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        _digest(code),
        patient_id,
        phone,
        code_challenge,
        now,
        now + HANDOFF_LIFETIME,
    )
    return code


async def redeem_handoff(connection: PgConnection, code: str, verifier: str, now: datetime) -> Handoff:
    """The sign-in this code hands over; `Refused` for an unknown, used or expired code, or the wrong
    verifier. The code is spent either way: the caller commits before it refuses."""
    row = await connection.fetchrow(
        "UPDATE oidc_handoff SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2"
        " RETURNING patient_id, phone, code_challenge",
        _digest(code),
        now,
    )
    if row is None:
        raise Refused("handoff code unknown, used or expired", START_AGAIN, 400)
    if not verifier_matches(verifier, row["code_challenge"]):
        raise Refused("handoff verifier mismatch", START_AGAIN, 400)
    return Handoff(row["patient_id"], row["phone"])
