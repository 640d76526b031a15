"""A stand-in for an outside national provider, for tokens no honest provider would issue: it serves
discovery, its JWKS and a token endpoint over an httpx transport the relying party is given, and answers
the code exchange with whatever ID token the test crafted."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

ISSUER = "https://id.example.vn"
CLIENT_ID = "sosuckhoe"
CLIENT_SECRET = "client-secret-of-the-tests-0123456789"
ATTACKER_JWKS = "https://attacker.example/jwks.json"


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


class ProviderDouble:
    def __init__(self) -> None:
        self.key = ECKey.generate_key("P-256", parameters={"use": "sig"}, auto_kid=True)
        self.attacker_key = ECKey.generate_key("P-256", auto_kid=True)
        self.id_token = ""
        self.token_requests: list[dict[str, str]] = []
        self.fetched: list[str] = []

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        self.fetched.append(url)
        if url == f"{ISSUER}/.well-known/openid-configuration":
            return httpx.Response(200, json=self.discovery())
        if url == f"{ISSUER}/jwks.json":
            return httpx.Response(200, json={"keys": [self.key.as_dict(private=False)]})
        if url == f"{ISSUER}/token" and request.method == "POST":
            form = {name: values[0] for name, values in parse_qs(request.content.decode()).items()}
            self.token_requests.append({**form, "authorization": request.headers.get("authorization", "")})
            return httpx.Response(200, json={"access_token": "x", "token_type": "Bearer", "id_token": self.id_token})
        return httpx.Response(404, json={"error": "not_found"})

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": ISSUER,
            "authorization_endpoint": f"{ISSUER}/authorize",
            "token_endpoint": f"{ISSUER}/token",
            "jwks_uri": f"{ISSUER}/jwks.json",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256", "RS256"],
            "code_challenge_methods_supported": ["S256"],
        }

    def claims(self, sent_nonce: str, now: datetime, **changes: Any) -> dict[str, Any]:
        """An honest token's claims (a VNeID-style CCCD and phone), with `changes` (None drops a claim)."""
        issued = int(now.timestamp())
        claims = {
            "iss": ISSUER,
            "sub": "vneid-7f3a9c",
            "aud": CLIENT_ID,
            "iat": issued,
            "exp": issued + 300,
            "nonce": sent_nonce,
            "cccd": "001090012345",
            "phone_number": "+84912345678",
            "phone_number_verified": True,
        }
        claims.update(changes)
        return {name: value for name, value in claims.items() if value is not None}

    def sign(self, claims: dict[str, Any], key: ECKey | RSAKey | None = None, **header: Any) -> str:
        key = key or self.key
        alg = "ES256" if isinstance(key, ECKey) else "RS256"
        return jwt.encode({"alg": alg, "kid": key.kid, **header}, claims, key, algorithms=[alg])

    @staticmethod
    def unsigned(claims: dict[str, Any]) -> str:
        """`alg: none`, built by hand: no library should help make one."""
        return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."
