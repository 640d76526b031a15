"""The patient API takes JSON bodies only. A browser lets any web page POST `text/plain` to us without
asking first (no CORS preflight), so accepting it would let a foreign page spend our SMS on its
visitors' behalf; `application/json` needs a preflight, which we never grant."""

from __future__ import annotations

from typing import Any

from litestar import Request

from backend.errors import UnsupportedMediaType

_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


async def require_json_body(request: Request[Any, Any, Any]) -> None:
    headers = request.headers
    has_body = headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
    if request.method not in _WITH_BODY or not has_body:
        return
    media_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType("send the body as application/json")
