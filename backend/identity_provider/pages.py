"""The demo provider's browser side and public documents, under its issuer path `/demo-idp`: discovery,
the JWKS, and the authorization endpoint, a page to pick a demo person (no password: it is a demo).

A person is picked with a link, not a form: the page then writes nothing (the code is sealed, not
stored), and the Content-Security-Policy's `form-action 'self'` cannot stop the redirect chain that ends
in a native app's private-use scheme."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Response, get
from litestar.params import QueryParameter
from litestar.response import Redirect, Template

from backend.identity_provider.codes import Grant, expiry, seal_code
from backend.identity_provider.keys import ALGORITHM, public_jwks
from backend.identity_provider.people import demo_people, find_person
from backend.oidc.config import BUILT_IN_PATH, OidcConfig, oidc_config
from backend.oidc.flows import is_s256_challenge
from backend.phones import mask_phone
from backend.settings import Settings
from backend.web.dependencies import ClockDependency, KeyringDependency, SettingsDependency

TOKEN_PATH = "/api/demo-idp/token"  # noqa: S105 - a path. Under /api/: server to server, no cookie, no CSRF token
Query = Annotated[str | None, QueryParameter(required=False, max_length=2048)]


@dataclass(frozen=True)
class AuthorizationRequest:
    response_type: str | None
    client_id: str | None
    redirect_uri: str | None
    scope: str | None
    state: str | None
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None

    def link(self, **extra: str) -> str:
        fields = {name: value for name, value in asdict(self).items() if value is not None}
        return f"{BUILT_IN_PATH}/authorize?{urlencode({**fields, **extra})}"

    def back(self, **parameters: str) -> str:
        """To the client's (already checked) redirect URI, with its `state`."""
        query = {**parameters, **({"state": self.state} if self.state is not None else {})}
        return f"{self.redirect_uri}?{urlencode(query)}"

    def problem(self) -> str | None:
        """The OAuth error to send back, if any (RFC 6749 §4.1.2.1, RFC 7636 §4.4.1)."""
        if self.response_type != "code":
            return "unsupported_response_type"
        if "openid" not in (self.scope or "").split():
            return "invalid_scope"
        if self.code_challenge_method != "S256" or not is_s256_challenge(self.code_challenge or ""):
            return "invalid_request"  # PKCE S256 is required; `plain` is refused
        if not self.nonce:
            return "invalid_request"
        return None


def discovery_document(settings: Settings, config: OidcConfig) -> dict[str, Any]:
    return {
        "issuer": config.issuer,
        "authorization_endpoint": f"{config.issuer}/authorize",
        "token_endpoint": f"{settings.base_url}{TOKEN_PATH}",
        "jwks_uri": f"{config.issuer}/jwks.json",
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [ALGORITHM],
        "scopes_supported": ["openid", "profile", "phone"],
        "claims_supported": ["sub", "name", "birthdate", "phone_number", "phone_number_verified", config.cccd_claim],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
    }


class DemoProviderPages(Controller):
    path = BUILT_IN_PATH
    include_in_schema = False

    @get("/.well-known/openid-configuration", name="demo_idp_discovery")
    async def discovery(self, settings: SettingsDependency) -> dict[str, Any]:
        return discovery_document(settings, _config(settings))

    @get("/jwks.json", name="demo_idp_jwks")
    async def jwks(self, settings: SettingsDependency) -> dict[str, Any]:
        return public_jwks(settings.secret_key)

    @get("/authorize", name="demo_idp_authorize")
    async def authorize(
        self,
        settings: SettingsDependency,
        keyring: KeyringDependency,
        clock: ClockDependency,
        response_type: Query = None,
        client_id: Query = None,
        redirect_uri: Query = None,
        requested_scope: Annotated[str | None, QueryParameter(name="scope", required=False, max_length=2048)] = None,
        client_state: Annotated[str | None, QueryParameter(name="state", required=False, max_length=2048)] = None,
        nonce: Query = None,
        code_challenge: Query = None,
        code_challenge_method: Query = None,
        person: Query = None,
    ) -> Response[Any]:
        config = _config(settings)
        asked = AuthorizationRequest(
            response_type,
            client_id,
            redirect_uri,
            requested_scope,
            client_state,
            nonce,
            code_challenge,
            code_challenge_method,
        )
        if client_id != config.client_id or redirect_uri != config.redirect_uri:
            # Never redirect to a URI we do not know: say so here (RFC 6749 §4.1.2.1).
            return Template("oidc/demo_error.html", context={}, status_code=400)
        if (problem := asked.problem()) is not None:
            return Redirect(asked.back(error=problem), status_code=302)
        if person is None:
            people = [(p, asked.link(person=p.cccd), mask_phone(p.phone) if p.phone else None) for p in demo_people()]
            cancel = asked.back(error="access_denied")
            return Template("oidc/demo_authorize.html", context={"people": people, "cancel": cancel})
        chosen = find_person(person)
        if chosen is None:
            return Redirect(asked.back(error="access_denied"), status_code=302)
        grant = Grant(
            chosen.cccd, config.client_id, config.redirect_uri, code_challenge or "", nonce or "", expiry(clock())
        )
        code = seal_code(keyring, grant)
        return Redirect(asked.back(code=code), status_code=302)


def _config(settings: Settings) -> OidcConfig:
    config = oidc_config(settings)
    assert config is not None and config.built_in  # the routes exist only then (backend/identity_provider)
    return config
