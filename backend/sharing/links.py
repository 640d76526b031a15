"""A share's secrets and its link (SHL spec, "SMART Health Link payload"; contract §5).

The manifest token is 256 random bits from `secrets`, in the manifest URL; only its SHA-256 is stored.
The 32-byte key travels only in the link itself (`shlink:/…`), which the viewer URL carries after `#`:
a browser never sends a fragment to any server, so the key stays out of every request and log line.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime

PREFIX = "shlink:/"
TOKEN_BYTES = 32  # 256 bits: the SHL spec's minimum of entropy in the manifest URL
KEY_BYTES = 32  # AES-256
MAX_URL_LENGTH = 128  # SHL spec: the manifest URL
MANIFEST_PATH = "/api/shl/"  # + token
FILES_PATH = "/api/shl/files/"  # + a file's own token


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_token() -> str:
    return b64url(secrets.token_bytes(TOKEN_BYTES))


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def manifest_url(base_url: str, token: str) -> str:
    url = base_url.rstrip("/") + MANIFEST_PATH + token
    if len(url) > MAX_URL_LENGTH:  # a BASE_URL of over 80 characters: a configuration to fix, not a request's fault
        raise ValueError(f"manifest URLs must be at most {MAX_URL_LENGTH} characters: shorten BASE_URL")
    return url


def file_url(base_url: str, token: str) -> str:
    return base_url.rstrip("/") + FILES_PATH + token


@dataclass(frozen=True)
class LinkPayload:
    url: str
    key: bytes
    expires_at: datetime
    label: str
    passcode: bool

    @property
    def flag(self) -> str:
        # Letters in alphabetical order; never `U` with `P` (we never set `U`: files come from the manifest).
        return "".join(sorted({"P"} if self.passcode else set()))

    def as_json(self) -> dict[str, object]:
        return {
            "url": self.url,
            "key": b64url(self.key),
            "exp": int(self.expires_at.timestamp()),
            "flag": self.flag,
            "label": self.label,
        }

    def shlink(self) -> str:
        minified = json.dumps(self.as_json(), separators=(",", ":"), ensure_ascii=False)
        return PREFIX + b64url(minified.encode())


def viewer_url(base_url: str, shlink: str) -> str:
    return f"{base_url.rstrip('/')}/view#{shlink}"


def read_shlink(text: str) -> dict[str, object]:
    """The payload of a `shlink:/…` (or of a viewer URL carrying one after `#`). ValueError if it is not one."""
    link = text.split("#", 1)[1] if "#" in text else text
    if not link.startswith(PREFIX):
        raise ValueError("not a SMART Health Link")
    try:
        payload = json.loads(b64url_decode(link[len(PREFIX) :]))
    except RecursionError:  # deeply nested JSON exhausts the decoder's stack
        raise ValueError("not a SMART Health Link payload") from None
    if not isinstance(payload, dict):
        raise ValueError("not a SMART Health Link payload")
    return payload
