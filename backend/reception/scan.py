"""What the reception desk's scan box received: a SMART Health Link (`shlink:/…`, or the viewer URL that
carries one after `#`) as a camera or a USB scanner typed it, read without trusting any of it.

Only the link's shape is checked here; whether it opens anything is the server's answer (`desk.py`). The
link's key is never shown, logged or kept."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from backend.i18n import gettext_noop as N_  # noqa: N812 - the gettext convention

PREFIX = "shlink:/"
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
KEY_LENGTH = 43  # 32 bytes, base64url without padding (SHL spec)


@dataclass(frozen=True)
class Scan:
    is_share_link: bool
    problem: str | None = None
    label: str | None = None
    expires_at: datetime | None = None
    url: str = ""  # the manifest URL the link names
    key: bytes = b""  # the link's key: only ever compared with the share's, never shown


def read_scan(text: str) -> Scan:
    typed = "".join(text.split())  # scanners add line ends; QR payloads hold no spaces
    if not typed:
        return Scan(False, N_("scan the patient's QR code, or type its link"))
    if not typed.isascii():  # a share link is ASCII: Unikey/EVKey rewrote what the scanner typed
        return Scan(False, N_("turn off Vietnamese typing (Unikey/EVKey → E) and scan again"))
    _, _, after = typed.partition("#") if "#" in typed else ("", "", typed)
    if not after.startswith(PREFIX):
        return Scan(False, N_("this is not a Sổ Sức Khỏe share code"))
    try:
        encoded = after[len(PREFIX) :]
        payload = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (binascii.Error, ValueError, RecursionError):  # deeply nested JSON exhausts the decoder's stack
        return Scan(False, N_("this share code is damaged: scan it again"))
    if not _well_formed(payload):
        return Scan(False, N_("this share code is damaged: scan it again"))
    expires_at = _time(payload.get("exp"))
    label = payload.get("label") if isinstance(payload.get("label"), str) else None
    key = base64.urlsafe_b64decode(payload["key"] + "=")
    return Scan(True, None, label[:80] if label else None, expires_at, payload["url"], key)


def _time(value: object) -> datetime | None:
    """A link's `exp` (Unix seconds), or None for anything that is not a time we can show."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, ValueError, OSError):  # 1e20, infinity, NaN, year 10000
        return None


def _well_formed(payload: object) -> bool:
    return (
        isinstance(payload, dict)
        and isinstance(payload.get("url"), str)
        and payload["url"].startswith(("https://", "http://"))
        and isinstance(payload.get("key"), str)
        and len(payload["key"]) == KEY_LENGTH
        and _BASE64URL.fullmatch(payload["key"]) is not None
    )
