"""`POST /api/patient/v1/auth/oidc/token`: a native app redeems the one-time code the national ID sign-in
handed it (RFC 8252), with the verifier of its own PKCE challenge, for contract §4's token answer. An app
already signed in by SMS code sends its Bearer token too: the book is then confirmed for that phone
(rule 1 of docs/identity.md), and that session is replaced."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, post
from litestar.params import JSONBody

from backend.auth.guards import current_session
from backend.errors import BadRequest
from backend.oidc.dependencies import RelyingPartyDependency, oidc_dependencies
from backend.oidc.refusals import Refused
from backend.web.clients import client_ip
from backend.web.dependencies import ClockDependency, DatabaseDependency, SettingsDependency

_MAX = 256  # longer than any code or verifier we issue or RFC 7636 allows


class HandoffIn(msgspec.Struct):
    code: str
    code_verifier: str


class NationalIdAppApi(Controller):
    path = "/api/patient/v1/auth/oidc"
    tags = ("Patient sign-in",)
    dependencies = oidc_dependencies()

    @post("/token", status_code=200, summary="Redeem a national ID sign-in's handoff code: tokens and books")
    async def token(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[HandoffIn],
        relying_party: RelyingPartyDependency,
        database: DatabaseDependency,
        settings: SettingsDependency,
        clock: ClockDependency,
    ) -> dict[str, Any]:
        now = clock()
        current = await current_session(request, database, clock, settings)
        try:
            tokens, books = await relying_party.redeem(
                data.code[:_MAX],
                data.code_verifier[:_MAX],
                current if current is not None and current.kind == "api" else None,
                client_ip(request.scope, settings),
                now,
            )
        except Refused as refused:  # already in the audit trail
            raise BadRequest(refused.message) from None
        return {
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "token_type": "Bearer",
            "expires_in": tokens.expires_in,
            "books": [book.as_json() for book in books],
        }
