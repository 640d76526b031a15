"""A small OpenID Connect provider that stands in for the national one in `APP_ENV=dev`, so that `make run`
and the tests go through the real protocol with no outside service (discovery, JWKS, authorization
with PKCE S256, token). Its routes exist only when it is the provider in use: never in prod, and not when
`OIDC_ISSUER` names another provider. Its state is sealed in its codes and its key derived from
`SECRET_KEY`, so several workers agree without sharing anything else."""

from __future__ import annotations

from litestar import Controller

from backend.identity_provider.pages import DemoProviderPages
from backend.identity_provider.token import DemoProviderTokenEndpoint
from backend.oidc.config import oidc_config
from backend.settings import Settings


def demo_identity_provider(settings: Settings) -> list[type[Controller]]:
    """The demo provider's controllers, or none when it is not the provider in use."""
    config = oidc_config(settings)
    if config is None or not config.built_in or settings.is_prod:
        return []
    return [DemoProviderPages, DemoProviderTokenEndpoint]
