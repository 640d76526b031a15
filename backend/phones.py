"""Vietnamese phone numbers, as people write them (`0912 345 678`, `+84912345678`, `84912345678`), in
E.164 (`+84912345678`): the one form every limit, lookup and log is keyed by."""

from __future__ import annotations

import re

_NOISE = re.compile(r"[\s.\-()]")


def normalize_phone(raw: str) -> str | None:
    """E.164, or None when this is not a Vietnamese number (9 or 10 digits after the country code)."""
    digits = _NOISE.sub("", raw or "")
    if digits.startswith("+84"):
        national = digits[3:]
    elif digits.startswith("84") and len(digits) >= 11:
        national = digits[2:]
    elif digits.startswith("0"):
        national = digits[1:]
    else:
        return None
    if not national.isdigit() or not 9 <= len(national) <= 10 or national.startswith("0"):
        return None
    return f"+84{national}"


def mask_phone(phone: str) -> str:
    """For logs and screens: `+84912345678` → `+8491****678`."""
    return f"{phone[:5]}****{phone[-3:]}" if len(phone) > 8 else "****"
