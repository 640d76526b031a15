"""Vietnamese phone numbers, as people write them (`0912 345 678`, `+84912345678`, `84912345678`), in
E.164 (`+84912345678`): the one form every limit, lookup and log is keyed by."""

from __future__ import annotations

import re
import unicodedata

_NOISE = re.compile(r"[\s.\-()]")
_NATIONAL = re.compile(r"[0-9]{9,10}")


def normalize_phone(raw: str) -> str | None:
    """E.164, or None when this is not a Vietnamese number (9 or 10 digits after the country code)."""
    digits = _NOISE.sub("", unicodedata.normalize("NFKC", raw or ""))  # full-width digits → ASCII
    if digits.startswith("+84"):
        national = digits[3:]
    elif digits.startswith("84") and len(digits) >= 11:
        national = digits[2:]
    elif digits.startswith("0"):
        national = digits[1:]
    else:
        return None
    # ASCII digits only: `isdigit()` alone admits other scripts' digits, each a new key for the limits.
    if not _NATIONAL.fullmatch(national) or national.startswith("0"):
        return None
    return f"+84{national}"


ACCOUNT_KEY_PREFIX = "oidc:"  # a national ID sign-in without a phone: `oidc:` + a hash of the person's subject


def mask_phone(phone: str) -> str:
    """For logs and screens: `+84912345678` → `+8491****678`; an account key `oidc:…` + its last 4."""
    if phone.startswith(ACCOUNT_KEY_PREFIX):
        return f"{ACCOUNT_KEY_PREFIX}…{phone[-4:]}"
    return f"{phone[:5]}****{phone[-3:]}" if len(phone) > 8 else "****"
