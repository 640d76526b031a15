"""Request ids and the access log.

Each request gets an id (a well-formed incoming `X-Request-ID` from a proxy is kept), bound to every log
line written while it is handled and returned in every response (by a `before_send` hook, which also
sees the 404s of unknown paths that no middleware does). One access-log line per request: method,
path, status, duration. Never the query string, which could carry a code or a token.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

import structlog
from litestar.datastructures import MutableScopeHeaders
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

_REQUEST_ID_KEY = "hb.request_id"
_WELL_FORMED = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_QUIET_PATHS = {"/healthz"}  # polled by load balancers every few seconds

log = structlog.get_logger("healthbook.access")


def request_id(scope: Scope) -> str:
    """This request's id, made on first use."""
    state = scope.setdefault("state", {})
    current: str | None = state.get(_REQUEST_ID_KEY)
    if current is None:
        incoming = next((value for name, value in scope["headers"] if name == b"x-request-id"), b"")
        text = incoming.decode("latin-1")
        current = state[_REQUEST_ID_KEY] = text if _WELL_FORMED.match(text) else uuid.uuid4().hex
    return current


async def add_request_id_header(message: Message, scope: Scope) -> None:
    """A `before_send` hook: the request id on every response."""
    if message["type"] == "http.response.start":
        MutableScopeHeaders.from_message(message)["X-Request-ID"] = request_id(scope)


class RequestContextMiddleware(ASGIMiddleware):
    scopes = ("http",)  # type: ignore[assignment]  # ScopeType is a str enum

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        started = time.perf_counter()
        status = 500
        rid = request_id(scope)

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=rid):
            try:
                await next_app(scope, receive, send_noting_status)
            finally:
                level = logging.DEBUG if scope["path"] in _QUIET_PATHS and status < 500 else logging.INFO
                log.log(
                    level,
                    "request",
                    method=scope.get("method"),
                    path=scope["path"],
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 1),
                )
