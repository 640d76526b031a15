"""The demo provider's token endpoint (RFC 6749 §4.1.3, RFC 7636 §4.6): the client authenticates with its
secret (HTTP Basic, or in the form), and a code is exchanged only with the PKCE verifier of the
challenge it was issued for, for the same client and redirect URI, within 60 seconds. The answer holds
the ID token, signed ES256 with the key the JWKS publishes."""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote_plus

from joserfc import jwt
from litestar import Controller, Request, Response, post

from backend.identity_provider.codes import open_code
from backend.identity_provider.keys import ALGORITHM, signing_key
from backend.identity_provider.people import DemoPerson, find_person
from backend.oidc.config import OidcConfig, oidc_config
from backend.oidc.flows import verifier_matches
from backend.settings import Settings
from backend.web.dependencies import ClockDependency, Form, KeyringDependency, SettingsDependency

ID_TOKEN_LIFETIME = timedelta(minutes=5)
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def oauth_error(error: str, description: str, status_code: int = 400, **headers: str) -> Response[Any]:
    body = {"error": error, "error_description": description}
    return Response(body, status_code=status_code, headers={**_NO_STORE, **headers})


def client_credentials(authorization: str, form: dict[str, str]) -> tuple[str, str] | None:
    """(client_id, client_secret) from HTTP Basic (each part form-encoded, RFC 6749 §2.3.1) or the form."""
    if authorization[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        client_id, colon, secret = decoded.partition(":")
        return (unquote_plus(client_id), unquote_plus(secret)) if colon else None
    if "client_id" in form and "client_secret" in form:
        return form["client_id"], form["client_secret"]
    return None


def id_token(settings: Settings, config: OidcConfig, person: DemoPerson, nonce: str, now: datetime) -> str:
    issued = int(now.timestamp())
    claims: dict[str, Any] = {
        "iss": config.issuer,
        "sub": person.subject,
        "aud": config.client_id,
        "iat": issued,
        "auth_time": issued,
        "exp": issued + int(ID_TOKEN_LIFETIME.total_seconds()),
        "nonce": nonce,
        config.cccd_claim: person.cccd,
        "name": person.name,
        "birthdate": person.birthdate,
    }
    if person.phone:
        claims |= {"phone_number": person.phone, "phone_number_verified": True}
    key = signing_key(settings.secret_key)
    return jwt.encode({"alg": ALGORITHM, "kid": key.kid, "typ": "JWT"}, claims, key, algorithms=[ALGORITHM])


class DemoProviderTokenEndpoint(Controller):
    include_in_schema = False

    @post("/api/demo-idp/token", name="demo_idp_token", status_code=200)
    async def token(
        self,
        request: Request[Any, Any, Any],
        data: Form,
        settings: SettingsDependency,
        keyring: KeyringDependency,
        clock: ClockDependency,
    ) -> Response[Any]:
        config = oidc_config(settings)
        assert config is not None and config.built_in  # the route exists only then
        form = data if isinstance(data, dict) else {}
        credentials = client_credentials(request.headers.get("authorization", ""), form)
        if credentials is None or not (
            hmac.compare_digest(credentials[0].encode(), config.client_id.encode())
            and hmac.compare_digest(credentials[1].encode(), config.client_secret.encode())
        ):
            return oauth_error("invalid_client", "unknown client or wrong secret", 401, **{"WWW-Authenticate": "Basic"})
        if form.get("grant_type") != "authorization_code":
            return oauth_error("unsupported_grant_type", "only authorization_code")
        now = clock()
        grant = open_code(keyring, form.get("code", ""), now)
        if grant is None or grant.client_id != config.client_id or grant.redirect_uri != form.get("redirect_uri"):
            return oauth_error("invalid_grant", "unknown or expired code, or another redirect_uri")
        if not verifier_matches(form.get("code_verifier", ""), grant.code_challenge):
            return oauth_error("invalid_grant", "code_verifier missing or wrong")  # PKCE (RFC 7636 §4.6)
        person = find_person(grant.cccd)
        if person is None:
            return oauth_error("invalid_grant", "no such person")
        answer = {
            "access_token": secrets.token_urlsafe(32),  # the demo provider has no userinfo to spend it on
            "token_type": "Bearer",
            "expires_in": int(ID_TOKEN_LIFETIME.total_seconds()),
            "scope": "openid profile phone",
            "id_token": id_token(settings, config, person, grant.nonce, now),
        }
        return Response(answer, headers=_NO_STORE)
