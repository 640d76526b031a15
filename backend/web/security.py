"""Security headers on every response, including 404s and errors (a `before_send` hook sees them all).

The Content-Security-Policy allows scripts only from our origin with this response's nonce: no inline
script, no `eval`, no framing. Responses that set no `Cache-Control` get `no-store`, because health data
may be in any page and shared phones are common; static assets set their own.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

from backend.settings import Settings

_NONCE_KEY = "hb.csp_nonce"
HSTS_SECONDS = 2 * 365 * 24 * 3600

BeforeSend = Callable[[Message, Scope], Awaitable[None]]


def csp_nonce(scope: Scope) -> str:
    """This response's script nonce, made on first use."""
    state = scope.setdefault("state", {})
    nonce: str | None = state.get(_NONCE_KEY)
    if nonce is None:
        nonce = state[_NONCE_KEY] = secrets.token_urlsafe(18)
    return nonce


def content_security_policy(nonce: str, *, upgrade_insecure: bool) -> str:
    directives = [
        "default-src 'self'",
        f"script-src 'self' 'nonce-{nonce}'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "font-src 'self'",
        "connect-src 'self'",
        "media-src 'self' blob:",
        "worker-src 'self'",
        "manifest-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
    if upgrade_insecure:
        directives.append("upgrade-insecure-requests")
    return "; ".join(directives)


def security_headers(settings: Settings) -> BeforeSend:
    """A `before_send` hook adding the security headers to every HTTP response."""
    fixed = {
        "X-Content-Type-Options": "nosniff",
        # same-origin: other sites learn nothing, and our own form posts still carry an Origin that the
        # CSRF check can read (with no-referrer, browsers send "Origin: null").
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "camera=(self), microphone=(), geolocation=(), payment=(), usb=()",
    }
    if settings.is_prod:
        fixed["Strict-Transport-Security"] = f"max-age={HSTS_SECONDS}; includeSubDomains"

    async def add_headers(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = MutableScopeHeaders.from_message(message)
        headers["Content-Security-Policy"] = content_security_policy(
            csp_nonce(scope), upgrade_insecure=settings.is_prod
        )
        for name, value in fixed.items():
            headers[name] = value
        if "cache-control" not in headers:
            headers["Cache-Control"] = "no-store"

    return add_headers
