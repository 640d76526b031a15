"""Talking to the identity provider over HTTP: its discovery document and its keys (cached a while in each
worker), and the exchange of an authorization code for an ID token.

The built-in demo provider is reached through the app itself (an in-process ASGI transport), so `make
run` and the tests need no network and no listening port, yet every byte goes through the same HTTP
requests and checks as for the national provider. Tests put a provider double in `transport`.
"""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast
from urllib.parse import quote, urlsplit

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from backend.oidc.config import OidcConfig
from backend.oidc.id_token import ASYMMETRIC_ALGORITHMS
from backend.oidc.refusals import UNREACHABLE, Refused, provider_refused

CACHE_FOR = timedelta(hours=1)
KEY_REFETCH_AFTER = timedelta(minutes=1)  # an unknown `kid` fetches the keys again, at most this often
TIMEOUT_SECONDS = 10.0
_ERROR_CODE = re.compile(r"^[a-z_]{1,40}$")
_PUBLIC_KEY_TYPES = ("RSA", "EC", "OKP")
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")


@dataclass(frozen=True)
class ProviderMetadata:
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    algorithms: frozenset[str]  # asymmetric ID token algorithms the provider lists
    basic_auth: bool  # client_secret_basic (the default), else client_secret_post


def unreachable(reason: str) -> Refused:
    return Refused(f"provider: {reason}", UNREACHABLE, 503)


class ProviderClient:
    def __init__(self, config: OidcConfig, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.config = config
        self.transport = transport
        self._metadata: tuple[datetime, ProviderMetadata] | None = None
        self._keys: tuple[datetime, KeySet] | None = None

    @asynccontextmanager
    async def http(self, app: Any, request_id: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
        transport = self.transport
        if transport is None and self.config.built_in:
            transport = httpx.ASGITransport(app=cast(Any, app), client=("127.0.0.1", 0))
        headers = {"Accept": "application/json", **({"X-Request-ID": request_id} if request_id else {})}
        async with httpx.AsyncClient(transport=transport, timeout=TIMEOUT_SECONDS, headers=headers) as client:
            yield client

    async def metadata(self, http: httpx.AsyncClient, now: datetime) -> ProviderMetadata:
        if self._metadata is not None and now - self._metadata[0] < CACHE_FOR:
            return self._metadata[1]
        metadata = self._parse_metadata(await _get_json(http, self.config.discovery_url, "discovery"))
        self._metadata = (now, metadata)
        return metadata

    async def keys(
        self, http: httpx.AsyncClient, metadata: ProviderMetadata, now: datetime, *, refetch: bool = False
    ) -> KeySet:
        if self._keys is not None:
            age = now - self._keys[0]
            if age < CACHE_FOR and not (refetch and age >= KEY_REFETCH_AFTER):
                return self._keys[1]
        document = await _get_json(http, metadata.jwks_uri, "jwks")
        keys = [_public_part(key) for key in document.get("keys") or [] if _is_signing_key(key)]
        try:
            key_set = KeySet.import_key_set({"keys": keys})
        except (JoseError, ValueError, TypeError, KeyError) as error:
            raise unreachable("jwks malformed") from error
        self._keys = (now, key_set)
        return key_set

    async def exchange_code(self, http: httpx.AsyncClient, metadata: ProviderMetadata, code: str, verifier: str) -> str:
        """The ID token for this code (RFC 6749 §4.1.3, with the PKCE verifier of RFC 7636 §4.5)."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.config.redirect_uri,
            "code_verifier": verifier,
        }
        headers = {}
        if metadata.basic_auth:  # RFC 6749 §2.3.1: id and secret are form-encoded inside Basic
            pair = f"{quote(self.config.client_id, safe='')}:{quote(self.config.client_secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        else:
            form |= {"client_id": self.config.client_id, "client_secret": self.config.client_secret}
        try:
            response = await http.post(metadata.token_endpoint, data=form, headers=headers)
            body = response.json()
        except httpx.HTTPError as error:
            raise unreachable(f"token endpoint {type(error).__name__}") from error
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        if response.status_code != 200:
            error_code = str(body.get("error", ""))
            raise provider_refused(
                f"token endpoint: {error_code if _ERROR_CODE.match(error_code) else response.status_code}"
            )
        id_token = body.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise provider_refused("token endpoint: no id_token")
        return id_token

    def _parse_metadata(self, document: dict[str, Any]) -> ProviderMetadata:
        if document.get("issuer") != self.config.issuer:  # Discovery §4.3: it must be exactly ours
            raise unreachable("discovery issuer mismatch")
        endpoints = [document.get(name) for name in ("authorization_endpoint", "token_endpoint", "jwks_uri")]
        if not all(isinstance(url, str) and urlsplit(url).scheme in ("https", "http") for url in endpoints):
            raise unreachable("discovery endpoints missing")
        if self.config.require_https and any(urlsplit(str(url)).scheme != "https" for url in endpoints):
            raise unreachable("discovery endpoints not https")
        methods = document.get("code_challenge_methods_supported")
        if isinstance(methods, list) and "S256" not in methods:
            raise unreachable("provider without PKCE S256")  # never fall back to `plain`
        listed = document.get("id_token_signing_alg_values_supported")
        algorithms = frozenset(listed if isinstance(listed, list) else []) & ASYMMETRIC_ALGORITHMS
        if not algorithms:
            raise unreachable("no asymmetric ID token algorithm")
        auth_methods = document.get("token_endpoint_auth_methods_supported")
        auth_methods = auth_methods if isinstance(auth_methods, list) else ["client_secret_basic"]
        basic = "client_secret_basic" in auth_methods or "client_secret_post" not in auth_methods
        authorize, token, jwks = (str(url) for url in endpoints)
        return ProviderMetadata(authorize, token, jwks, algorithms, basic)


async def _get_json(http: httpx.AsyncClient, url: str, what: str) -> dict[str, Any]:
    try:
        response = await http.get(url)
    except httpx.HTTPError as error:
        raise unreachable(f"{what} {type(error).__name__}") from error
    if response.status_code != 200:
        raise unreachable(f"{what} answered {response.status_code}")
    try:
        document = response.json()
    except ValueError as error:
        raise unreachable(f"{what} not JSON") from error
    if not isinstance(document, dict):
        raise unreachable(f"{what} not a JSON object")
    return document


def _is_signing_key(key: Any) -> bool:
    return isinstance(key, dict) and key.get("kty") in _PUBLIC_KEY_TYPES and key.get("use") in (None, "sig")


def _public_part(key: dict[str, Any]) -> dict[str, Any]:
    """Only the public members: a provider that publishes a private key by mistake does not make us use it."""
    return {name: value for name, value in key.items() if name not in _PRIVATE_MEMBERS}
