"""Running the web app under uvicorn, with one or several worker processes (`WORKERS`).

Workers are separate processes that build their own app from the environment, so the database URL is
handed to them through `DATABASE_URL` (the embedded server's, when there is one). SIGTERM is turned into
an ordinary exit so that callers' `finally` blocks (stopping the embedded database) run: uvicorn re-raises
the signal it caught once it has shut down, and the default SIGTERM action would kill us on the spot.
"""

from __future__ import annotations

import os
import signal
from types import FrameType

import uvicorn

from backend.settings import Settings

APP_FACTORY = "backend.app:create_app"


class Stopped(Exception):
    """SIGTERM or SIGINT arrived: shut down cleanly."""


def serve(settings: Settings, database_url: str) -> None:
    """Serve until Ctrl-C or SIGTERM; returns normally after a clean shutdown."""
    os.environ["DATABASE_URL"] = database_url
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
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
        )
    except (Stopped, KeyboardInterrupt):
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop(signum: int, frame: FrameType | None) -> None:
    raise Stopped(signal.Signals(signum).name)
