"""What a staff member signs in with: a password (stored as an argon2id hash) and a TOTP code from an
authenticator app (RFC 6238, 30-second steps, 6 digits).

TOTP is checked with one step of drift either way (`valid_window=1`), and a step once used is never
accepted again: the caller stores the step `matching_step` returns and passes it back as `last_used`
(standards.md; pyotp's own `verify()` neither allows drift by default nor stops reuse)."""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

ISSUER = "Sổ Sức Khỏe"
STEP_SECONDS = 30
DRIFT_STEPS = 1
PASSWORD_BYTES = 15  # 20 URL-safe characters: typed once into a password manager, never remembered

_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 defaults


def new_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(secret: str, username: str) -> str:
    """The `otpauth://` URI an authenticator app reads (as a QR code) to add the account."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def matching_step(secret: str, code: str, now: datetime, last_used: int | None) -> int | None:
    """The time step `code` belongs to (now, or one step either side), if it is right and that step is
    later than the last one used; else None."""
    code = "".join(code.split())
    if not (len(code) == 6 and code.isascii() and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // STEP_SECONDS
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step if last_used is None or step > last_used else None
    return None
