"""Which identity provider patients sign in with, and as which client (contract §2 `OIDC_*`).

`OIDC_ISSUER` names the national provider. Without it, in `APP_ENV=dev`, the built-in demo provider
(`backend/identity_provider`) stands in at `{BASE_URL}/demo-idp`, with a client id and secret of its own
(the secret derived from `SECRET_KEY`, so every worker agrees on it). In `prod` without an issuer the
national ID sign-in is off.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from backend.settings import Settings

BUILT_IN_PATH = "/demo-idp"
BUILT_IN_CLIENT_ID = "sosuckhoe-demo"
CALLBACK_PATH = "/login/oidc/callback"


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    cccd_claim: str
    redirect_uri: str
    built_in: bool  # the demo provider of this very app
    require_https: bool  # an outside provider in prod: its endpoints must be https

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"  # OpenID Connect Discovery §4


def built_in_issuer(settings: Settings) -> str:
    return f"{settings.base_url}{BUILT_IN_PATH}"


def oidc_config(settings: Settings) -> OidcConfig | None:
    """The provider to use, or None when the national ID sign-in is off (prod without `OIDC_ISSUER`)."""
    redirect_uri = f"{settings.base_url}{CALLBACK_PATH}"
    built_in = not settings.is_prod and settings.oidc_issuer in (None, built_in_issuer(settings))
    if built_in:
        return OidcConfig(
            issuer=built_in_issuer(settings),
            client_id=settings.oidc_client_id or BUILT_IN_CLIENT_ID,
            client_secret=settings.oidc_client_secret or _derived_secret(settings.secret_key),
            cccd_claim=settings.oidc_cccd_claim,
            redirect_uri=redirect_uri,
            built_in=True,
            require_https=False,
        )
    if settings.oidc_issuer is None or settings.oidc_client_id is None or settings.oidc_client_secret is None:
        return None
    return OidcConfig(
        issuer=settings.oidc_issuer,
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret,
        cccd_claim=settings.oidc_cccd_claim,
        redirect_uri=redirect_uri,
        built_in=False,
        require_https=settings.is_prod,
    )


def _derived_secret(secret_key: str) -> str:
    return hmac.new(secret_key.encode(), b"demo-idp client secret", hashlib.sha256).hexdigest()
