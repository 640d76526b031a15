"""Slow and idle clients do not hold connections (check H2: "a slowloris-style partial request is closed by
the keep-alive and header timeouts"), against the real server (`healthbook serve`).

The header deadline is set to 1 s here (`HTTP_HEADER_TIMEOUT`); the waits below are safety limits, not
timings: each test only asks whether the server closed the connection, and that a normal client is served.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import serving

SAFETY = 15.0  # seconds: far beyond the 1 s deadline and uvicorn's 5 s keep-alive


@pytest.fixture
def server_address(database_url: str, var_dir: Path, tmp_path: Path) -> Iterator[tuple[str, int]]:
    with serving(database_url, var_dir, tmp_path / "server.log", HTTP_HEADER_TIMEOUT="1") as base_url:
        parts = urlsplit(base_url)
        assert parts.hostname and parts.port
        yield parts.hostname, parts.port


def closed_by_server(connection: socket.socket, trickle: bytes = b"") -> bool:
    """Reads (sending `trickle` a byte every 0.2 s meanwhile) until the server closes; False if it never does."""
    connection.settimeout(0.2)
    deadline = time.monotonic() + SAFETY
    for byte in iter(trickle):
        try:
            connection.send(bytes([byte]))
        except OSError:  # reset: closed
            return True
        if _read_closed(connection):
            return True
    while time.monotonic() < deadline:
        if _read_closed(connection):
            return True
    return False


def read_one_answer(connection: socket.socket) -> bytes:
    """One whole HTTP answer (head and Content-Length body): TCP may deliver it in several pieces."""
    connection.settimeout(SAFETY)
    received = b""
    while b"\r\n\r\n" not in received:
        piece = connection.recv(4096)
        assert piece, f"closed before a whole head: {received!r}"
        received += piece
    head, _, body = received.partition(b"\r\n\r\n")
    lengths = [line.split(b":", 1)[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
    assert lengths, head
    while len(body) < int(lengths[0]):
        piece = connection.recv(4096)
        assert piece, f"closed before a whole body: {received!r}"
        body += piece
    return head + b"\r\n\r\n" + body


def _read_closed(connection: socket.socket) -> bool:
    try:
        return connection.recv(4096) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_h2_a_connection_that_sends_nothing_is_closed(server_address: tuple[str, int]) -> None:
    with socket.create_connection(server_address) as connection:
        assert closed_by_server(connection)


def test_h2_headers_trickled_byte_by_byte_are_cut_off(server_address: tuple[str, int]) -> None:
    endless = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 400
    with socket.create_connection(server_address) as connection:
        assert closed_by_server(connection, trickle=endless)


def test_h2_a_kept_alive_connection_is_served_then_closed_when_idle(server_address: tuple[str, int]) -> None:
    with socket.create_connection(server_address) as connection:
        for _ in range(2):  # the deadline starts again for the second request on the same connection
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = read_one_answer(connection)
            assert answer.startswith(b"HTTP/1.1 200"), answer
        assert closed_by_server(connection)  # idle after its answers: keep-alive timeout, then closed
