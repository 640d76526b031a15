"""Staff credentials: argon2id password hashes, and TOTP codes with one step of drift that are never
accepted twice (standards.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp

from backend.staff.credentials import (
    STEP_SECONDS,
    hash_password,
    matching_step,
    new_password,
    new_totp_secret,
    password_matches,
    totp_uri,
)

NOW = datetime(2026, 11, 26, 3, 0, 10, tzinfo=UTC)


def code_at(secret: str, when: datetime) -> str:
    return pyotp.TOTP(secret).at(when)


def test_a_password_is_stored_as_an_argon2id_hash_that_only_it_matches() -> None:
    password = new_password()
    stored = hash_password(password)
    assert stored.startswith("$argon2id$") and password not in stored
    assert password_matches(stored, password)
    assert not password_matches(stored, password + "x") and not password_matches("not a hash", password)
    assert len(password) >= 20 and new_password() != password


def test_a_code_of_now_or_one_step_either_side_is_accepted_and_gives_its_step() -> None:
    secret = new_totp_secret()
    step = int(NOW.timestamp()) // STEP_SECONDS
    step_length = timedelta(seconds=STEP_SECONDS)
    assert matching_step(secret, code_at(secret, NOW), NOW, None) == step
    assert matching_step(secret, code_at(secret, NOW - step_length), NOW, None) == step - 1
    assert matching_step(secret, code_at(secret, NOW + step_length), NOW, None) == step + 1
    assert matching_step(secret, code_at(secret, NOW - 2 * step_length), NOW, None) is None


def test_a_used_step_or_an_earlier_one_is_never_accepted_again() -> None:
    secret = new_totp_secret()
    step = matching_step(secret, code_at(secret, NOW), NOW, None)
    assert step is not None
    assert matching_step(secret, code_at(secret, NOW), NOW, last_used=step) is None  # replayed
    earlier = code_at(secret, NOW - timedelta(seconds=STEP_SECONDS))
    assert matching_step(secret, earlier, NOW, last_used=step) is None
    later = NOW + timedelta(seconds=STEP_SECONDS)
    assert matching_step(secret, code_at(secret, later), later, last_used=step) == step + 1


def test_a_code_typed_with_spaces_counts_and_anything_else_is_refused() -> None:
    secret = new_totp_secret()
    code = code_at(secret, NOW)
    assert matching_step(secret, f"{code[:3]} {code[3:]}", NOW, None) is not None
    for odd in ("", "12345", "1234567", "12345a", "١٢٣٤٥٦", code + " 1"):
        assert matching_step(secret, odd, NOW, None) is None, odd


def test_the_uri_names_the_issuer_and_the_member() -> None:
    secret = new_totp_secret()
    uri = totp_uri(secret, "le.thu")
    assert uri.startswith("otpauth://totp/") and "le.thu" in uri and f"secret={secret}" in uri
    assert "issuer=S%E1%BB%95%20S%E1%BB%A9c%20Kh%E1%BB%8Fe" in uri
