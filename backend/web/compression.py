"""gzip for what is safe to compress. A compressed response whose length an eavesdropper sees can give away
a secret on the page (a CSRF token, health data) when the same response also echoes text the attacker
chose (BREACH). Our pages echo only what the request carries in its query string or body, so a response
to a GET or HEAD without a query string is compressed; anything else is sent as it is. Static files carry
no secret and are always compressed."""

from __future__ import annotations

from litestar.config.compression import CompressionConfig
from litestar.middleware.compression import CompressionMiddleware
from litestar.types import Receive, Scope, Send

STATIC_PREFIX = "/static/"


def may_echo_the_request(scope: Scope) -> bool:
    if scope["path"].startswith(STATIC_PREFIX):
        return False
    return scope.get("method") not in ("GET", "HEAD") or bool(scope.get("query_string"))


class CarefulCompression(CompressionMiddleware):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if may_echo_the_request(scope):
            await self.app(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def compression_config() -> CompressionConfig:
    # Level 6: nearly all of level 9's saving for a fraction of its CPU on a cheap server.
    return CompressionConfig(
        backend="gzip", gzip_compress_level=6, minimum_size=1024, middleware_class=CarefulCompression
    )
