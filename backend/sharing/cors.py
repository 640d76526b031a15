"""CORS for the SMART Health Links protocol routes only (SHL spec: receivers are apps and viewers on
other origins). Any origin may read the manifest and location answers, errors included (a viewer needs
the 401's `remainingAttempts`), but never with credentials: a cross-origin request carries no cookie,
so only our own pages can be recognised as a signed-in receptionist. A `before_send` hook, so that the
preflight (Litestar's own OPTIONS handler) and error responses get the headers too."""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

from backend.sharing.links import MANIFEST_PATH

_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Expose-Headers": "Retry-After",
    "Access-Control-Max-Age": "600",
}


async def share_link_cors(message: Message, scope: Scope) -> None:
    if message["type"] != "http.response.start" or not scope["path"].startswith(MANIFEST_PATH):
        return
    headers = MutableScopeHeaders.from_message(message)
    for name, value in _HEADERS.items():
        headers[name] = value
