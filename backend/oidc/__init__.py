"""Patients sign in with the national identity provider (OpenID Connect; contract §2 `OIDC_*`, §6
`/login/oidc`; check A7): the relying party. The CCCD the provider vouches for names the book, which the
sign-in confirms in full (docs/identity.md). The demo provider that stands in for the national one in
development is `backend.identity_provider`."""

from backend.oidc.api import NationalIdAppApi
from backend.oidc.pages import NationalIdSignInPages
from backend.oidc.relying_party import RelyingParty

__all__ = ["NationalIdAppApi", "NationalIdSignInPages", "RelyingParty"]
