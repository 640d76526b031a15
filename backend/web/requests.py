"""Request ids and the access log.

Each request gets an id (a well-formed incoming `X-Request-ID` from a proxy is kept), bound to every log
line written while it is handled and returned in every response. The access log has one line per
response: method, path, status, duration; never the query string, which could carry a code or a token.

Both the header and the access line come from a `before_send` hook, which sees every response: also
the 404s of unknown paths, and errors rendered outside the middleware stack.
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

from backend.logs import caller_named_per_request

_REQUEST_ID_KEY = "hb.request_id"
_STARTED_KEY = "hb.started"
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


class RequestContextMiddleware(ASGIMiddleware):
    """Binds the request id to every log line written while the handler runs."""

    scopes = ("http",)  # type: ignore[assignment]  # ScopeType is a str enum

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        scope.setdefault("state", {})[_STARTED_KEY] = time.perf_counter()
        with structlog.contextvars.bound_contextvars(request_id=request_id(scope)), caller_named_per_request():
            await next_app(scope, receive, send)


_CAPABILITY_IN_PATH = re.compile(r"^(/api/shl/(?:files/)?)[^/]+")  # a share link's token opens it
# A CCCD (12 digits) or a phone number (9 to 11) typed or linked into a path: nine digits or more in a row.
_PERSONAL_NUMBER = re.compile(r"\d{9,}")


def loggable_path(path: str) -> str:
    """The path as logs may keep it (check G2): a share link's token is a capability, like a password, so it
    is cut out, and so is any run of nine digits or more (a CCCD or a phone number in a record's id); the
    rest as it came."""
    return _PERSONAL_NUMBER.sub("…", _CAPABILITY_IN_PATH.sub(r"\1…", path))


async def log_response(message: Message, scope: Scope) -> None:
    """A `before_send` hook: the request id header, and the access-log line."""
    if message["type"] != "http.response.start":
        return
    rid = request_id(scope)
    MutableScopeHeaders.from_message(message)["X-Request-ID"] = rid
    status = message["status"]
    started = scope.get("state", {}).get(_STARTED_KEY)
    level = logging.DEBUG if scope["path"] in _QUIET_PATHS and status < 500 else logging.INFO
    log.log(
        level,
        "request",
        request_id=rid,
        method=scope.get("method"),
        path=loggable_path(scope["path"]),
        status=status,
        duration_ms=round((time.perf_counter() - started) * 1000, 1) if started else None,
    )
