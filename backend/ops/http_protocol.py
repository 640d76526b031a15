"""uvicorn's HTTP/1.1 protocol with a deadline for each request's head (check H2, slowloris).

uvicorn closes a keep-alive connection that stays idle after a response (`timeout_keep_alive`), but a
client that opens a connection and never sends a request, or sends its request line and headers a few
bytes at a time, keeps a connection (and a slot of every limit) for as long as it likes. Here the head
(request line and headers) must be complete within `header_timeout` seconds of the connection being
made or of the request's first byte; otherwise the connection is closed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class HeaderDeadlineProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self._head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_clock()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._start_head_clock()  # the next request on a kept-alive connection

    def on_headers_complete(self) -> None:
        self._stop_head_clock()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_clock()
        super().connection_lost(exc)

    def _start_head_clock(self) -> None:
        if self._head_deadline is None:
            self._head_deadline = self.loop.call_later(self.header_timeout, self._head_too_slow)

    def _stop_head_clock(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            self.transport.close()
