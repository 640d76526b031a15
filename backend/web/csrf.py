"""CSRF protection for everything a browser can be tricked into sending (standards: Sign-in, ASVS 3.5).

Double submit: a signed random token in the `__Host-csrf` cookie must come back in the form field
`_csrf_token` or the `X-CSRF-Token` header (htmx sends it from `hx-headers` on `<body>`), and a present
`Origin` must be this site. Pages are always checked. The JSON API is checked when the session cookie is
what authenticates it: a Bearer token (or no credential at all, as when an app asks for a code) cannot be
attached by another site. The hospital API signs every request. Unlike Litestar's own middleware, this
one also issues the token on pages no route handled (a 404 page's language switch).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any
from urllib.parse import urlsplit

from litestar.connection import ASGIConnection, Request
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from litestar.utils.scope.state import ScopeState
from markupsafe import Markup

from backend.errors import Forbidden
from backend.settings import Settings

FORM_FIELD = "_csrf_token"
HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
EXEMPT_PREFIXES = ("/api/hospital/", "/api/shl/")  # signed pushes; SMART Health Links (public, cross-origin)
_NEW_TOKEN_KEY = "hb.csrf_new"  # noqa: S105 - a scope key, not a secret
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class Csrf:
    """Tokens for one app: issued, recognised and sent as a cookie under its settings."""

    def __init__(self, settings: Settings) -> None:
        self._secret = settings.secret_key.encode()
        self.cookie_name = settings.cookie_name("csrf")
        self.session_cookie_name = settings.cookie_name("session")
        self._secure = settings.secure_origin
        self._own_netloc = urlsplit(settings.base_url).netloc

    def token(self, scope: Scope) -> str:
        """This request's token: the cookie's when it is genuine, else a new one (sent as a cookie)."""
        state = ScopeState.from_scope(scope)
        if isinstance(state.csrf_token, str):
            return state.csrf_token
        cookie = _cookies(scope).get(self.cookie_name, "")
        if self._genuine(cookie):
            state.csrf_token = cookie
        else:
            state.csrf_token = self._new()
            scope.setdefault("state", {})[_NEW_TOKEN_KEY] = True
        return state.csrf_token

    def field(self, scope: Scope) -> Markup:
        return Markup('<input type="hidden" name="{}" value="{}">').format(FORM_FIELD, self.token(scope))

    async def add_cookie(self, message: Message, scope: Scope) -> None:
        """A `before_send` hook: set the cookie when this response issued a new token."""
        if message["type"] == "http.response.start" and scope.get("state", {}).get(_NEW_TOKEN_KEY):
            cookie = Cookie(
                key=self.cookie_name,
                value=ScopeState.from_scope(scope).csrf_token,  # type: ignore[arg-type]
                path="/",
                secure=self._secure,
                httponly=True,
                samesite="lax",
            )
            MutableScopeHeaders.from_message(message).add("set-cookie", cookie.to_header(header=""))

    async def check(self, request: Request[Any, Any, Any]) -> None:
        """Refuse a state-changing browser request that does not carry this site's token and origin."""
        path = request.scope["path"]
        if request.method in SAFE_METHODS or path.startswith(EXEMPT_PREFIXES):
            return
        if path.startswith("/api/") and not self._cookie_authenticated(request):
            return
        # "null" carries no information (sandboxed frames, some privacy settings): the token still decides.
        origin = request.headers.get("origin")
        allowed = (self._own_netloc, request.headers.get("host"))
        if origin not in (None, "null") and urlsplit(origin).netloc not in allowed:
            raise Forbidden("this form was sent from another site")
        cookie = request.cookies.get(self.cookie_name, "")
        submitted = request.headers.get(HEADER)
        if submitted is None and request.content_type[0] in _FORM_TYPES:
            value = (await request.form()).get(FORM_FIELD)
            submitted = value if isinstance(value, str) else None
        if not (self._genuine(cookie) and submitted and hmac.compare_digest(submitted, cookie)):
            raise Forbidden("this form has expired: reload the page and try again")

    def _cookie_authenticated(self, request: Request[Any, Any, Any]) -> bool:
        """What the session guard will use: the cookie, unless a Bearer token is given."""
        bearer = request.headers.get("authorization", "").lower().startswith("bearer ")
        return self.session_cookie_name in request.cookies and not bearer

    def _new(self) -> str:
        nonce = secrets.token_hex(16)
        return nonce + self._sign(nonce)

    def _genuine(self, token: str) -> bool:
        nonce, signature = token[:32], token[32:]
        return len(token) == 96 and hmac.compare_digest(signature, self._sign(nonce))

    def _sign(self, nonce: str) -> str:
        return hmac.new(self._secret, f"csrf:{nonce}".encode(), hashlib.sha256).hexdigest()


class CsrfMiddleware(ASGIMiddleware):
    scopes = ("http",)  # type: ignore[assignment]  # ScopeType is a str enum

    def __init__(self, csrf: Csrf) -> None:
        self.csrf = csrf

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        request: Request[Any, Any, Any] = scope["litestar_app"].request_class(scope=scope, receive=receive)
        await self.csrf.check(request)
        await next_app(scope, receive, send)


def _cookies(scope: Scope) -> dict[str, str]:
    return ASGIConnection[Any, Any, Any, Any](scope).cookies
