"""Running the web app under uvicorn, with one or several worker processes (`WORKERS`).

Workers are separate processes that build their own app from the environment, so the database URL is
handed to them through `DATABASE_URL` (the embedded server's, when there is one).

SIGTERM and SIGINT become a `Stopped` exception for the whole life of a command (`stop_on_signals`), so
that `finally` blocks, which stop the embedded database, always run: the default SIGTERM action would
kill the process on the spot. uvicorn catches both signals while it serves, shuts down gracefully, then
raises the signal again, which lands in our handler.
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import cast

import uvicorn

from backend.ops.http_protocol import HeaderDeadlineProtocol
from backend.settings import Settings

APP_FACTORY = "backend.app:create_app"


class Stopped(Exception):
    """SIGTERM or SIGINT arrived: shut down cleanly."""


class CannotServe(Exception):
    """The web server could not start (the port is taken, or the app failed to load)."""


@contextmanager
def stop_on_signals() -> Iterator[None]:
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def check_port(settings: Settings) -> None:
    """Fail with one clear line before anything starts if the address is taken."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((settings.host, settings.port))
        except OSError as exc:
            raise CannotServe(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}") from None


def serve(settings: Settings, database_url: str) -> None:
    """Serve until Ctrl-C or SIGTERM; returns normally after a clean shutdown."""
    os.environ["DATABASE_URL"] = database_url
    try:
        uvicorn.run(
            APP_FACTORY,
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            # Client addresses from X-Forwarded-For are trusted by our own code, per FORWARDED_ALLOW_IPS;
            # uvicorn's default would trust any proxy on 127.0.0.1.
            proxy_headers=False,
            server_header=False,
            access_log=False,
            log_config=None,
            timeout_graceful_shutdown=10,
            # A partial (picklable, for the workers) rather than a subclass per setting; uvicorn only calls it.
            http=cast(
                type[asyncio.Protocol],
                functools.partial(HeaderDeadlineProtocol, header_timeout=settings.header_timeout),
            ),
            timeout_keep_alive=5,  # an idle kept-alive connection closes after 5 s (uvicorn's default, said)
            # A worker is spawned afresh and imports the app (FHIR models included) before it can answer
            # uvicorn's health check: several seconds on a small machine, more than the default 5, which
            # had workers killed and respawned in a loop.
            timeout_worker_healthcheck=60,
        )
    except (Stopped, KeyboardInterrupt):
        return
    except SystemExit as exc:  # uvicorn exits 1 or 3 when it cannot bind or load the app
        if exc.code not in (0, None):
            raise CannotServe("the web server stopped while starting (see the log above)") from None


def _stop(signum: int, frame: FrameType | None) -> None:
    raise Stopped(signal.Signals(signum).name)
