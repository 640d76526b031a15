"""ID token checks (check A7), on crafted tokens, without a server: `backend/oidc/id_token.py`."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from backend.oidc.id_token import UnknownSigningKey, nonce_digest, validate_id_token
from backend.oidc.refusals import Refused

ISSUER, CLIENT = "https://id.example.vn", "sosuckhoe"
NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
KEY = ECKey.generate_key("P-256", auto_kid=True)
OTHER = ECKey.generate_key("P-256", auto_kid=True)
RSA = RSAKey.generate_key(2048, auto_kid=True)


def claims(**changes: Any) -> dict[str, Any]:
    base = {"iss": ISSUER, "aud": CLIENT, "sub": "s1", "iat": int(NOW.timestamp()), "exp": int(NOW.timestamp()) + 300,
            "nonce": "n-1"}  # fmt: skip
    base.update(changes)
    return {name: value for name, value in base.items() if value is not None}


def signed(payload: dict[str, Any], key: ECKey | RSAKey = KEY, **header: Any) -> str:
    alg = "ES256" if isinstance(key, ECKey) else "RS256"
    return jwt.encode({"alg": alg, "kid": key.kid, **header}, payload, key, algorithms=[alg])


def check(token: str, algorithms: tuple[str, ...] = ("ES256",), keys: tuple[Any, ...] = (KEY,)) -> dict[str, Any]:
    return validate_id_token(
        token,
        keys=KeySet(list(keys)),
        algorithms=algorithms,
        issuer=ISSUER,
        client_id=CLIENT,
        expected_nonce_digest=nonce_digest("n-1"),
        now=NOW,
    )


def part(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_an_honest_token_passes() -> None:
    assert check(signed(claims()))["sub"] == "s1"
    assert check(signed(claims(aud=[CLIENT, "x"], azp=CLIENT)))["azp"] == CLIENT
    assert check(signed(claims(exp=int(NOW.timestamp()) - 10)))  # within the 30 s of clock skew


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (signed(claims(aud="other")), "id token: wrong aud"),
        (signed(claims(aud=["other", "x"])), "id token: wrong aud"),
        (signed(claims(aud=[CLIENT, "x"])), "id token: azp missing with several audiences"),
        (signed(claims(iss=ISSUER + "/")), "id token: wrong iss"),
        (signed(claims(exp=int(NOW.timestamp()) - 31)), "id token: expired"),
        (signed(claims(exp="soon")), "id token: exp missing"),
        (signed(claims(iat=None)), "id token: iat missing"),
        (signed(claims(iat=True)), "id token: iat missing"),
        (signed(claims(sub="")), "id token: sub missing"),
        (signed(claims(nonce=None)), "id token: nonce missing"),
        (signed(claims(nonce="n-2")), "id token: nonce mismatch"),
        (f"{part({'alg': 'none'})}.{part(claims())}.", "id token: alg none"),
        (f"{part({'alg': 'NONE'})}.{part(claims())}.", "id token: alg none"),
        (signed(claims(), OTHER, jku="https://attacker.example/jwks"), "id token: key in the jku header"),
        (signed(claims(), OTHER, jwk=OTHER.as_dict(private=False)), "id token: key in the jwk header"),
        (signed(claims(), OTHER, kid=KEY.kid), "id token: bad signature"),
        (signed(claims(), RSA), "id token: alg RS256 not allowed"),  # the provider lists ES256 only
        (f"{part({'alg': 'HS256'})}.{part(claims())}.c2ln", "id token: alg HS256 not allowed"),
        (f"{part({'alg': 'XYZ<script>'})}.{part(claims())}.c2ln", "id token: alg ? not allowed"),
        ("e30.e30", "id token: not a compact JWS"),
        ("!!!.e30.e30", "id token: malformed header"),
    ],
)
def test_a7_a_crafted_token_is_refused_with_its_reason(token: str, reason: str) -> None:
    with pytest.raises(Refused) as refused:
        check(token)
    assert refused.value.reason == reason and refused.value.status_code == 401


def test_a_key_not_in_the_set_asks_for_the_keys_again() -> None:
    with pytest.raises(UnknownSigningKey):
        check(signed(claims(), OTHER))


def test_only_asymmetric_algorithms_the_provider_lists_are_tried() -> None:
    assert check(signed(claims(), RSA), algorithms=("RS256", "HS256"), keys=(RSA,))["sub"] == "s1"
    with pytest.raises(Refused):
        check(signed(claims(), RSA), algorithms=("HS256",), keys=(RSA,))
