"""The demo provider's signing key: ES256 (P-256), derived from `SECRET_KEY`, so every worker and every
restart signs with the same key and nothing needs storing. Published in the JWKS with its RFC 7638
thumbprint as `kid`."""

from __future__ import annotations

import hashlib
import hmac
from functools import cache
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from joserfc.jwk import ECKey

ALGORITHM = "ES256"
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@cache
def signing_key(secret_key: str) -> ECKey:
    seed = hmac.new(secret_key.encode(), b"demo-idp signing key", hashlib.sha512).digest()
    private_value = int.from_bytes(seed, "big") % (_P256_ORDER - 1) + 1  # in [1, n-1]; 512 bits: no bias to speak of
    private = ec.derive_private_key(private_value, ec.SECP256R1())
    pem = private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    key = ECKey.import_key(pem, parameters={"use": "sig", "alg": ALGORITHM})
    key.ensure_kid()
    return key


def public_jwks(secret_key: str) -> dict[str, Any]:
    return {"keys": [signing_key(secret_key).as_dict(private=False)]}
