"""A share's passcode, kept as HMAC-SHA256 under SECRET_KEY and bound to the share's id.

Why not argon2id: the passcode's guard is the counter (10 wrong over the link's life, counted in
PostgreSQL), not the hash. A short passcode falls to an offline search whatever the hash costs, while
argon2id's 64 MiB per try on a public endpoint would let 20 parallel guesses take over a gigabyte. An
HMAC is cheap, and a stolen database alone (without SECRET_KEY, which is not stored there) gives no
way to test guesses offline at all.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid


def passcode_hmac(secret_key: str, share_id: uuid.UUID, passcode: str) -> bytes:
    message = f"share-passcode:{share_id}:{passcode}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).digest()


def passcode_matches(secret_key: str, share_id: uuid.UUID, passcode: str, stored: bytes) -> bool:
    return hmac.compare_digest(passcode_hmac(secret_key, share_id, passcode), stored)
