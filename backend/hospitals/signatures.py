"""Standard Webhooks 1.0 verification over the raw request bytes.

Written here rather than taken from the `standardwebhooks` package, whose `verify()` reads the wall clock
itself (we inject ours, for tests), parses JSON bodies (an XML push would fail after a good signature) and
raises a plain `ValueError` on malformed headers. Senders (demo, bench, tests) do use the package to sign.

Signed bytes: `{webhook-id}.{webhook-timestamp}.{raw body}`; the signature header holds space-separated
`v1,<base64 HMAC-SHA256>` entries (several during a sender's own rotation); `v1a` (asymmetric) entries are
ignored. Every entry is tried against every secret we accept, in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from standardwebhooks import Webhook

TOLERANCE_SECONDS = 5 * 60
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
_WEBHOOK_ID = re.compile(r"^[\x21-\x7e]{1,256}$")  # printable ASCII, no spaces
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")


class SignatureRejected(Exception):
    """Why a delivery did not prove who sent it; the message is safe to return to the sender."""


@dataclass(frozen=True)
class SignedDelivery:
    webhook_id: str
    timestamp: int


def new_webhook_secret() -> str:
    """A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key inside a `whsec_…` secret."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)


def verify(headers: Mapping[str, str], body: bytes, keys: Sequence[bytes], now: datetime) -> SignedDelivery:
    webhook_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    signature_header = headers.get("webhook-signature", "")
    if not webhook_id or not timestamp or not signature_header:
        raise SignatureRejected("missing webhook-id, webhook-timestamp or webhook-signature header")
    if not _WEBHOOK_ID.match(webhook_id):
        raise SignatureRejected("webhook-id must be 1 to 256 printable ASCII characters")
    if not _TIMESTAMP.match(timestamp):
        raise SignatureRejected("webhook-timestamp must be whole seconds since 1970 (UTC)")
    sent = int(timestamp)
    skew = sent - int(now.timestamp())
    if abs(skew) > TOLERANCE_SECONDS:
        direction = "ahead of" if skew > 0 else "behind"
        raise SignatureRejected(f"webhook-timestamp is {abs(skew)} s {direction} the server clock (limit 300 s)")

    decoded = [_decode(entry[3:]) for entry in signature_header.split(" ") if entry.startswith("v1,")]
    offered = [signature for signature in decoded if signature is not None]
    if not offered:
        raise SignatureRejected("webhook-signature holds no v1 signature")
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    for key in keys:
        expected = hmac.new(key, signed, hashlib.sha256).digest()
        if any(hmac.compare_digest(expected, signature) for signature in offered):
            return SignedDelivery(webhook_id, sent)
    raise SignatureRejected("no signature matches this facility's secret")


def sender_headers(secret: str, body: str, webhook_id: str, now: datetime, content_type: str) -> dict[str, str]:
    """What a sender (the demo, the bench) adds to a push: Standard Webhooks headers, signed by the
    `standardwebhooks` package (which wants a UTC time)."""
    utc = now.astimezone(UTC)
    return {
        "content-type": content_type,
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(utc.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, utc, body),
    }


def server_time(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _decode(encoded: str) -> bytes | None:
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None
