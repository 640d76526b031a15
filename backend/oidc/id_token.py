"""Checking an ID token (OpenID Connect Core §3.1.3.7; check A7), the same for any provider, built-in or not.

The signature is checked with joserfc against the provider's published keys only: a key the token
brings along (`jku`, `x5u`, `jwk` headers) is never used, and such a token is refused outright. Only the
asymmetric algorithms the provider's discovery document lists are accepted, so neither `alg=none` nor an
HMAC made with a public key as its secret passes. Then `iss`, `aud` (and `azp`), `exp`, `iat`, `sub` and
the `nonce` this browser's sign-in sent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any

from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from backend.oidc.refusals import Refused, token_refused

ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
KEY_CARRYING_HEADERS = ("jku", "x5u", "jwk")
CLOCK_SKEW = timedelta(seconds=30)  # between the provider's clock and ours


class UnknownSigningKey(Refused):
    """The token names a key the cached key set lacks: the provider may have rotated; fetch it again."""

    def __init__(self) -> None:
        super().__init__("id token: unknown kid")


def nonce_digest(nonce: str) -> bytes:
    return hashlib.sha256(nonce.encode()).digest()


def unverified_header(raw: str) -> dict[str, Any]:
    """The JOSE header, read before anything is trusted, to refuse what must never be tried."""
    parts = raw.split(".")
    if len(parts) != 3:  # a JWE (5 parts) or garbage
        raise token_refused("not a compact JWS")
    try:
        header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    except (binascii.Error, ValueError, RecursionError) as error:  # deep nesting exhausts the decoder's stack
        raise token_refused("malformed header") from error
    if not isinstance(header, dict):
        raise token_refused("malformed header")
    return header


def validate_id_token(
    raw: str,
    *,
    keys: KeySet,
    algorithms: Collection[str],
    issuer: str,
    client_id: str,
    expected_nonce_digest: bytes,
    now: datetime,
) -> dict[str, Any]:
    """The token's claims when every check passes; `Refused` (or `UnknownSigningKey`) otherwise."""
    header = unverified_header(raw)
    alg = header.get("alg")
    if not isinstance(alg, str) or alg.lower() == "none":
        raise token_refused("alg none")
    allowed = sorted(set(algorithms) & ASYMMETRIC_ALGORITHMS)
    if alg not in allowed:
        shown = alg if alg in ASYMMETRIC_ALGORITHMS | _HMAC_ALGORITHMS else "?"  # never echo what a token says
        raise token_refused(f"alg {shown} not allowed")
    for name in KEY_CARRYING_HEADERS:
        if name in header:
            raise token_refused(f"key in the {name} header")
    try:
        token = jwt.decode(raw, keys, algorithms=allowed)
    except InvalidKeyIdError as error:
        raise UnknownSigningKey() from error
    except (JoseError, ValueError) as error:
        raise token_refused("bad signature") from error
    check_claims(token.claims, issuer, client_id, expected_nonce_digest, now)
    return dict(token.claims)


def check_claims(
    claims: Mapping[str, Any], issuer: str, client_id: str, expected_nonce_digest: bytes, now: datetime
) -> None:
    if claims.get("iss") != issuer:
        raise token_refused("wrong iss")
    _check_audience(claims, client_id)
    exp, iat = _time(claims.get("exp")), _time(claims.get("iat"))
    if exp is None:
        raise token_refused("exp missing")
    if now.timestamp() >= exp + CLOCK_SKEW.total_seconds():
        raise token_refused("expired")
    if iat is None:
        raise token_refused("iat missing")
    if iat > (now + CLOCK_SKEW).timestamp():
        raise token_refused("issued in the future")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise token_refused("sub missing")
    nonce = claims.get("nonce")
    if not isinstance(nonce, str) or not nonce:
        raise token_refused("nonce missing")
    if not hmac.compare_digest(nonce_digest(nonce), expected_nonce_digest):
        raise token_refused("nonce mismatch")


def _check_audience(claims: Mapping[str, Any], client_id: str) -> None:
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud
    if not isinstance(audiences, list) or client_id not in audiences:
        raise token_refused("wrong aud")
    azp = claims.get("azp")
    if len(audiences) > 1 and azp is None:
        raise token_refused("azp missing with several audiences")
    if azp is not None and azp != client_id:
        raise token_refused("wrong azp")


def _time(value: Any) -> float | None:
    """A NumericDate (RFC 7519 §2), or None."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
