"""`/login/oidc` (contract §6) and its callback: the national ID sign-in for browsers, and for native apps
through the system browser (RFC 8252). Both are GETs by nature (the provider redirects the browser
back), and both write: the start stores the flow, the callback uses it up and signs in."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.params import QueryParameter
from litestar.response import Redirect, Template

from backend.auth.guards import current_session
from backend.auth.pages import set_session_cookie
from backend.oidc.dependencies import RelyingPartyDependency, oidc_dependencies
from backend.oidc.flows import FLOW_LIFETIME
from backend.oidc.native_apps import app_request, back_to_app
from backend.oidc.refusals import Refused
from backend.web.clients import client_ip
from backend.web.cookies import clear_private_cookie, set_private_cookie
from backend.web.dependencies import ClockDependency, DatabaseDependency, SettingsDependency
from backend.web.requests import request_id

FLOW_COOKIE = "oidc"
_LONGEST = 4096
Query = Annotated[str | None, QueryParameter(required=False, max_length=2048)]
Returned = Annotated[str | None, QueryParameter(required=False)]  # any length: a refusal here is logged


class NationalIdSignInPages(Controller):
    include_in_schema = False
    dependencies = oidc_dependencies()

    @get("/login/oidc", name="oidc_start")
    async def start(
        self,
        request: Request[Any, Any, Any],
        relying_party: RelyingPartyDependency,
        settings: SettingsDependency,
        clock: ClockDependency,
        app_redirect_uri: Query = None,
        app_state: Query = None,
        code_challenge: Query = None,
        code_challenge_method: Query = None,
    ) -> Response[Any]:
        """Off to the identity provider. A native app adds its redirect URI, `state` and PKCE challenge."""
        now = clock()
        try:
            native_app = app_request(app_redirect_uri, app_state, code_challenge, code_challenge_method)
            url, binding = await relying_party.start(request.app, request_id(request.scope), native_app, now)
        except Refused as refused:
            await relying_party.record_failure(refused, client_ip(request.scope, settings), now)
            return refusal_page(refused)
        if request.headers.get("hx-request") == "true":  # a boosted link: the browser itself must go there
            response: Response[Any] = Response(b"", status_code=204, headers={"HX-Redirect": url})
        else:
            response = Redirect(url, status_code=302)
        set_private_cookie(response, settings, FLOW_COOKIE, binding, int(FLOW_LIFETIME.total_seconds()))
        return response

    @get("/login/oidc/callback", name="oidc_callback")
    async def callback(
        self,
        request: Request[Any, Any, Any],
        relying_party: RelyingPartyDependency,
        database: DatabaseDependency,
        settings: SettingsDependency,
        clock: ClockDependency,
        code: Returned = None,
        returned_state: Annotated[str | None, QueryParameter(name="state", required=False)] = None,
        error: Returned = None,
    ) -> Response[Any]:
        """Back from the provider: checked, then signed in (web), or handed to the native app."""
        now, address = clock(), client_ip(request.scope, settings)
        binding = request.cookies.get(settings.cookie_name(FLOW_COOKIE), "")
        response: Response[Any]
        try:
            finished = await relying_party.finish(
                request.app,
                request_id(request.scope),
                binding,
                (returned_state or "")[:_LONGEST],
                (code or "")[:_LONGEST],
                (error or "")[:_LONGEST],
                now,
            )
        except Refused as refused:
            await relying_party.record_failure(refused, address, now)
            response = refusal_page(refused)
        else:
            if finished.flow.app is not None:
                handoff = await relying_party.hand_off(finished, address, now)
                response = Redirect(back_to_app(finished.flow.app, code=handoff), status_code=302)
            else:
                current = await current_session(request, database, clock, settings)
                _, cookie = await relying_party.sign_in_web(finished, current, address, now)
                response = Redirect("/book", status_code=303)  # which asks for consent once
                set_session_cookie(response, settings, cookie)
        if binding:
            clear_private_cookie(response, settings, FLOW_COOKIE)  # used up, whatever happened
        return response


def refusal_page(refused: Refused) -> Template:
    app_return = back_to_app(refused.app, error="access_denied") if refused.app else None
    context = {"message": refused.message, "app_return": app_return, "status_code": refused.status_code}
    return Template("oidc/refused.html", context=context, status_code=refused.status_code)
