"""Sign-ins under way (table `oidc_flow`): what the browser was sent off with (`state`, `nonce`, the PKCE
verifier), kept in PostgreSQL so that any worker can finish the trip, and bound to the browser that
started it by a cookie whose value only that browser holds. Each lives 10 minutes and is used once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from backend.database import PgConnection
from backend.keyring import Keyring
from backend.oidc.app_request import AppRequest
from backend.oidc.id_token import nonce_digest
from backend.oidc.refusals import flow_refused

FLOW_LIFETIME = timedelta(minutes=10)
_LEFTOVERS = timedelta(hours=1)  # used or expired flows are kept this long, for the audit of a retry
_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")  # RFC 7636 §4.1
_S256_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")  # base64url of a SHA-256, unpadded


def s256(verifier: str) -> str:
    """The PKCE `S256` challenge of a verifier (RFC 7636 §4.2)."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


def verifier_matches(verifier: str, challenge: str) -> bool:
    return bool(_VERIFIER.fullmatch(verifier)) and hmac.compare_digest(s256(verifier), challenge)


def is_s256_challenge(challenge: str) -> bool:
    return bool(_S256_CHALLENGE.fullmatch(challenge))


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


@dataclass(frozen=True)
class StartedFlow:
    binding: str = field(repr=False)  # the cookie value
    state: str
    nonce: str = field(repr=False)
    code_challenge: str


@dataclass(frozen=True)
class Flow:
    id: uuid.UUID
    state_hash: bytes
    nonce_hash: bytes
    verifier: str = field(repr=False)
    app: AppRequest | None

    def state_matches(self, state: str) -> bool:
        return hmac.compare_digest(_digest(state), self.state_hash)


class Flows:
    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    async def start(self, connection: PgConnection, app: AppRequest | None, now: datetime) -> StartedFlow:
        await connection.execute("DELETE FROM oidc_flow WHERE expires_at < $1", now - _LEFTOVERS)
        binding, state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(48)  # 64 characters of the RFC 7636 alphabet
        flow_id = uuid.uuid4()
        await connection.execute(
            "INSERT INTO oidc_flow (id, binding_hash, state_hash, nonce_hash, verifier_sealed, app_redirect_uri,"
            " app_state, app_code_challenge, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            flow_id,
            _digest(binding),
            _digest(state),
            nonce_digest(nonce),
            self.keyring.seal(verifier.encode(), verifier_purpose(flow_id)),
            app.redirect_uri if app else None,
            app.state if app else None,
            app.code_challenge if app else None,
            now,
            now + FLOW_LIFETIME,
        )
        return StartedFlow(binding, state, nonce, s256(verifier))

    async def consume(self, connection: PgConnection, binding: str, now: datetime) -> Flow:
        """This browser's sign-in, marked used in the same statement (a second callback finds it used);
        `Refused` when there is none, or it was used, or it expired."""
        row = await connection.fetchrow(
            "UPDATE oidc_flow SET used_at = $2 WHERE binding_hash = $1 AND used_at IS NULL AND expires_at > $2"
            " RETURNING id, state_hash, nonce_hash, verifier_sealed, app_redirect_uri, app_state, app_code_challenge",
            _digest(binding),
            now,
        )
        if row is None:
            raise flow_refused(await self._why_not(connection, binding))
        verifier = self.keyring.open(row["verifier_sealed"], verifier_purpose(row["id"])).decode()
        app = None
        if row["app_redirect_uri"] is not None:
            app = AppRequest(row["app_redirect_uri"], row["app_state"], row["app_code_challenge"])
        return Flow(row["id"], row["state_hash"], row["nonce_hash"], verifier, app)

    async def _why_not(self, connection: PgConnection, binding: str) -> str:
        row = await connection.fetchrow("SELECT used_at FROM oidc_flow WHERE binding_hash = $1", _digest(binding))
        if row is None:
            return "no such sign-in"
        return "sign-in already used" if row["used_at"] is not None else "sign-in expired"


def verifier_purpose(flow_id: uuid.UUID) -> str:
    return f"oidc-flow:{flow_id}:verifier"
