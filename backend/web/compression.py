"""gzip for what is safe to compress. A compressed response whose length an eavesdropper sees can give away
a secret on the page (a CSRF token, health data) when the same response also echoes text the attacker
chose (BREACH). A page echoes what the request carries in its query string or body, and its path (the
language switch returns the reader to it): an attacker can choose a path only where it does not exist.
So only a 200 answer to a GET or HEAD without a query string is compressed, from a route whose path is
real; static files (no secret in them) whatever their query; anything else is sent as it is."""

from __future__ import annotations

from typing import Literal

from litestar.config.compression import CompressionConfig
from litestar.enums import CompressionEncoding
from litestar.middleware.compression import CompressionMiddleware
from litestar.types import Message, Receive, Scope, Send

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

    def create_compression_send_wrapper(
        self,
        send: Send,
        compression_encoding: Literal[CompressionEncoding.BROTLI, CompressionEncoding.GZIP] | str,
        scope: Scope,
    ) -> Send:
        compressing = super().create_compression_send_wrapper(send, compression_encoding, scope)
        as_is = False

        async def send_200_compressed(message: Message) -> None:
            nonlocal as_is
            if message["type"] == "http.response.start":
                as_is = message["status"] != 200  # a 404 echoes the path it did not find
            await (send if as_is else compressing)(message)

        return send_200_compressed


def compression_config() -> CompressionConfig:
    # Level 6: nearly all of level 9's saving for a fraction of its CPU on a cheap server.
    return CompressionConfig(
        backend="gzip", gzip_compress_level=6, minimum_size=1024, middleware_class=CarefulCompression
    )
