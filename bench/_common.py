"""What the bench scripts share: a `healthbook serve` of their own on a scratch database, with
registered facilities, and percentiles. Bench scripts run the real command as an operator would; they
import the app's own modules, never the tests'."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from backend.database import EmbeddedPostgres
from backend.paths import ROOT

HEALTHBOOK = str(Path(sys.executable).parent / "healthbook")
LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
# What `healthbook` reads that the scratch server sets itself; anything else is passed through.
CONTRACT_VARIABLES = ("DATABASE_URL", "APP_ENV", "SECRET_KEY", "DATA_KEYS", "SMS_BACKEND", "BASE_URL", "PORT")


def percentile(values: Sequence[float], fraction: float) -> float:
    """The value below which `fraction` of the sorted values lie (nearest rank, no interpolation)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def healthbook_env(var_dir: Path, **environ: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in CONTRACT_VARIABLES}
    env.update(VAR_DIR=str(var_dir), **environ)
    return env


def healthbook(*args: str, env: dict[str, str]) -> str:
    """Run one `healthbook` command to its end; its stdout, or its stderr's last line as the error."""
    done = subprocess.run([HEALTHBOOK, *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        last_line = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise SystemExit(f"healthbook {' '.join(args)}: {last_line}")
    return done.stdout


def start_healthbook(*args: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        return subprocess.Popen([HEALTHBOOK, *args], env=env, stdout=output, stderr=subprocess.STDOUT)


def wait_until_healthy(base_url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"healthbook exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"healthbook did not become healthy in {timeout} s:\n{log.read_text()}")


class ScratchServer:
    """`healthbook serve` on a scratch database, with registered facilities; everything it made is
    removed on exit. The database server is `TEST_DATABASE_URL`, else the local PostgreSQL if it lets
    `postgres` in without a password, else an embedded one under `var/bench-pg`. `code` and `secret`
    are the first facility's; `secrets` has them all. With `sms_outbox`, one-time codes are written to
    the file `outbox` (`SMS_BACKEND=file:…`) for the script to read."""

    def __init__(self, workers: int, facilities: Mapping[str, str] | None = None, *, sms_outbox: bool = False) -> None:
        self.facilities = dict(facilities or {"01999": "Bench"})
        self.name = f"hb_bench_{os.getpid()}"
        self.workers = workers
        self.var = Path(tempfile.mkdtemp(prefix="hb-bench-"))
        self.outbox = self.var / "sms.jsonl" if sms_outbox else None
        self.embedded: EmbeddedPostgres | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.secrets: dict[str, str] = {}

    async def __aenter__(self) -> ScratchServer:
        self.admin = await self._admin_url()
        self.database_url = make_url(self.admin).set(database=self.name).render_as_string(hide_password=False)
        connection = await asyncpg.connect(self.admin)
        await connection.execute(f'CREATE DATABASE "{self.name}"')
        await connection.close()
        try:
            self._start()
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    def _start(self) -> None:
        env = healthbook_env(self.var, DATABASE_URL=self.database_url)
        if self.outbox is not None:
            env["SMS_BACKEND"] = f"file:{self.outbox}"
        healthbook("db", "upgrade", env=env)
        for code, name in self.facilities.items():
            added = healthbook("facility", "add", "--code", code, "--name", name, env=env)
            self.secrets[code] = json.loads(added)["webhook_secret"]
        self.code = next(iter(self.facilities))
        self.secret = self.secrets[self.code]
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        log = self.var / "server.log"
        self.process = start_healthbook(
            "serve", env={**env, "PORT": str(port), "WORKERS": str(self.workers), "LOG_LEVEL": "WARNING"}, log=log
        )
        wait_until_healthy(self.url, self.process, log)

    @property
    def pid(self) -> int:
        assert self.process is not None, "the server has not started"
        return self.process.pid

    async def _admin_url(self) -> str:
        explicit = os.environ.get("TEST_DATABASE_URL")
        if explicit:
            return explicit.replace("+asyncpg", "")
        try:
            probe = await asyncpg.connect(LOCAL_SERVER, timeout=3)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            self.embedded = EmbeddedPostgres(ROOT / "var" / "bench-pg")
            return await asyncio.to_thread(self.embedded.start)
        await probe.close()
        return LOCAL_SERVER

    async def __aexit__(self, *exc_info: object) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(30)
        connection = await asyncpg.connect(self.admin)
        await connection.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        await connection.close()
        if self.embedded is not None:
            self.embedded.stop()
        shutil.rmtree(self.var, ignore_errors=True)
