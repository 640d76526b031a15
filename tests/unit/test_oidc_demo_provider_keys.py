"""The demo provider's signing key and codes: the same for every worker given the same secrets, and
nothing anyone else can read or forge (`backend/identity_provider/keys.py`, `codes.py`)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

from backend.identity_provider.codes import Grant, expiry, open_code, seal_code
from backend.identity_provider.keys import public_jwks, signing_key
from backend.keyring import Keyring
from backend.settings import DataKey

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def test_the_key_is_derived_from_the_secret_key_and_published_without_its_private_part() -> None:
    one, again, other = signing_key("a" * 48), signing_key("a" * 48), signing_key("b" * 48)
    assert one.kid == again.kid and one.kid != other.kid
    (published,) = public_jwks("a" * 48)["keys"]
    assert published["kid"] == one.kid and published["crv"] == "P-256" and "d" not in published


def test_a_code_opens_only_under_the_same_keys_and_only_for_sixty_seconds() -> None:
    keyring = Keyring([DataKey("k1", b"k" * 32)])
    grant = Grant("001090012345", "client", "https://x/cb", "c" * 43, "nonce", expiry(NOW))
    code = seal_code(keyring, grant)
    assert "001090012345" not in code and "nonce" not in base64.urlsafe_b64decode(code[3:] + "==").decode("latin-1")
    assert open_code(keyring, code, NOW + timedelta(seconds=59)) == grant
    assert open_code(keyring, code, NOW + timedelta(seconds=60)) is None
    assert open_code(Keyring([DataKey("k1", b"x" * 32)]), code, NOW) is None
    assert open_code(keyring, code[:-2] + "AA", NOW) is None
    assert open_code(keyring, "k1.garbage", NOW) is None
