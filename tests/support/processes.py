"""Running the real `healthbook` command in a child process, as an operator would."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

HEALTHBOOK = str(Path(sys.executable).parent / "healthbook")
CONTRACT_VARIABLES = ("DATABASE_URL", "APP_ENV", "SECRET_KEY", "DATA_KEYS", "SMS_BACKEND", "BASE_URL", "PORT")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def healthbook_env(var_dir: Path, **environ: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in CONTRACT_VARIABLES}
    env.update(VAR_DIR=str(var_dir), **environ)
    return env


def start_healthbook(*args: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        return subprocess.Popen([HEALTHBOOK, *args], env=env, stdout=output, stderr=subprocess.STDOUT)


def wait_until_healthy(base_url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"healthbook exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"healthbook did not become healthy in {timeout} s:\n{log.read_text()}")


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 30) -> int:
    process.send_signal(sig)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


def postgres_processes(data_dir: Path) -> list[psutil.Process]:
    """Postgres servers whose data folder is `data_dir` (the postmaster and its children)."""
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if process.info["name"] == "postgres" and str(data_dir) in cmdline:
            found.append(process)
    return found


def wait_for_no_postgres(data_dir: Path, timeout: float = 15) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while (left := postgres_processes(data_dir)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left
