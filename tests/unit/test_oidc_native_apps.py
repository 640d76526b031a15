"""Native app redirect URIs (RFC 8252 §7.1, §7.3), the app's PKCE request, and what a national ID
sign-in's claims make of a person: `backend/oidc/native_apps.py`, `identity.py`, and masked keys."""

from __future__ import annotations

import pytest

from backend.oidc.identity import person_from_claims
from backend.oidc.native_apps import app_request, back_to_app, is_allowed_app_redirect
from backend.oidc.refusals import Refused
from backend.phones import mask_phone

CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


@pytest.mark.parametrize(
    "uri",
    [
        "vn.hanoi.sosuckhoe:/oauth2redirect",
        "http://127.0.0.1:49152/callback",
        "http://127.0.0.1/",
        "http://[::1]:8080/oauth2/cb?x=1",
    ],
)
def test_allowed_app_redirects(uri: str) -> None:
    assert is_allowed_app_redirect(uri)


@pytest.mark.parametrize(
    "uri",
    [
        "https://evil.example/cb",
        "http://localhost:8080/cb",  # a name, not a loopback literal (RFC 8252 §8.3)
        "http://127.0.0.2:8080/cb",
        "http://user@127.0.0.1:8080/cb",
        "http://127.0.0.1:port/cb",
        "http://127.0.0.1:8080/cb#fragment",
        "https://127.0.0.1:8080/cb",
        "vn.hanoi.sosuckhoe:/other",
        "vn.hanoi.sosuckhoe://oauth2redirect",
        "com.evil.app:/oauth2redirect",
        "javascript:alert(1)",
        "http://127.0.0.1:8080/c b",
        "http://127.0.0.1:8080/" + "a" * 600,
    ],
)
def test_refused_app_redirects(uri: str) -> None:
    assert not is_allowed_app_redirect(uri)


def test_a_browser_sign_in_has_no_app_part_and_an_app_needs_s256() -> None:
    assert app_request(None, None, None, None) is None
    app = app_request("vn.hanoi.sosuckhoe:/oauth2redirect", "s", CHALLENGE, "S256")
    assert app is not None and back_to_app(app, code="c") == "vn.hanoi.sosuckhoe:/oauth2redirect?code=c&state=s"
    loopback = app_request("http://127.0.0.1:5000/cb?x=1", None, CHALLENGE, "S256")
    assert loopback is not None and back_to_app(loopback, error="access_denied").endswith("?x=1&error=access_denied")
    for args in (
        ("vn.hanoi.sosuckhoe:/oauth2redirect", None, CHALLENGE, "plain"),
        ("vn.hanoi.sosuckhoe:/oauth2redirect", None, CHALLENGE, None),
        ("vn.hanoi.sosuckhoe:/oauth2redirect", None, "short", "S256"),
        (None, None, CHALLENGE, "S256"),
    ):
        with pytest.raises(Refused):
            app_request(*args)


def test_the_person_the_claims_name() -> None:
    base = {"iss": "https://id.example.vn", "sub": "abc", "cccd": "001090012345"}
    person = person_from_claims({**base, "phone_number": "0912 345 678", "phone_number_verified": True}, "cccd")
    assert person.phone == "+84912345678" and person.own_phone() == ("+84912345678", "phone claim")
    assert person.account_key.startswith("oidc:") and len(person.account_key) == 29
    for verified in (False, None, "true", 1):  # only `true` means verified (OIDC Core §5.1)
        claims = {**base, "phone_number": "0912345678", "phone_number_verified": verified}
        unverified = person_from_claims({k: v for k, v in claims.items() if v is not None}, "cccd")
        assert unverified.phone is None and unverified.own_phone()[1] == "account key"
    foreign = {**base, "phone_number": "+1 202 555 0100", "phone_number_verified": True}
    assert person_from_claims(foreign, "cccd").phone is None
    assert person_from_claims({**base, "so_cccd": "079085054321"}, "so_cccd").cccd == "079085054321"
    for cccd in ("00109001234", "001090012345\n", "００１０９００１２３４５", 1090012345):
        with pytest.raises(Refused):
            person_from_claims({**base, "cccd": cccd}, "cccd")


def test_an_account_key_is_masked_like_a_phone() -> None:
    assert mask_phone("oidc:0123456789abcdef01234567") == "oidc:…4567"
    assert mask_phone("+84912345678") == "+8491****678"
