"""`make run` / `healthbook serve` on the embedded PostgreSQL: up, healthy, and gone after Ctrl-C or SIGTERM,
even after a previous run was killed outright."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.support.processes import (
    free_port,
    healthbook_env,
    postgres_processes,
    start_healthbook,
    stop,
    wait_for_no_postgres,
    wait_until_healthy,
)

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def fresh_var(tmp_path: Path) -> Path:
    return tmp_path / "var"


def test_run_without_database_url_serves_and_ctrl_c_stops_everything(fresh_var: Path, tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "run.log"
    process = start_healthbook("run", env=healthbook_env(fresh_var, PORT=str(port)), log=log)
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", process, log)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json() == {"status": "ok", "database": "ok"}
        start_page = httpx.get(f"http://127.0.0.1:{port}/")
        assert start_page.status_code == 200 and "Sổ Sức Khỏe" in start_page.text
        assert postgres_processes(fresh_var / "pg"), "the embedded server should be running"
    finally:
        exit_code = stop(process, signal.SIGINT)
    assert exit_code == 0, log.read_text()
    assert f"http://127.0.0.1:{port}/" in log.read_text()
    assert wait_for_no_postgres(fresh_var / "pg") == []


def test_sigterm_stops_the_app_and_the_embedded_database(fresh_var: Path, tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "serve.log"
    process = start_healthbook("serve", env=healthbook_env(fresh_var, PORT=str(port)), log=log)
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", process, log)
    finally:
        exit_code = stop(process, signal.SIGTERM)
    assert exit_code == 0, log.read_text()
    assert wait_for_no_postgres(fresh_var / "pg") == []
    assert "Traceback" not in log.read_text()


def test_a_database_left_by_a_killed_run_is_reused_then_stopped(fresh_var: Path, tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "killed.log"
    env = healthbook_env(fresh_var, PORT=str(port))
    killed = start_healthbook("serve", env=env, log=log)
    wait_until_healthy(f"http://127.0.0.1:{port}", killed, log)
    killed.kill()
    killed.wait(10)
    left_behind = postgres_processes(fresh_var / "pg")
    assert left_behind, "SIGKILL gives no chance to stop the database"

    second = start_healthbook("serve", env=env, log=log)
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", second, log)
        postmaster = min(left_behind, key=lambda process: process.pid)
        assert postmaster.is_running(), "the running server is reused, not replaced"
    finally:
        assert stop(second, signal.SIGTERM) == 0, log.read_text()
    assert wait_for_no_postgres(fresh_var / "pg") == []


def test_two_workers_share_one_port(fresh_var: Path, tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "workers.log"
    process = start_healthbook("serve", env=healthbook_env(fresh_var, PORT=str(port), WORKERS="2"), log=log)
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", process, log)
        for _ in range(10):
            assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
        # The first worker up answers at once; on a busy machine the second may still be starting.
        deadline = time.monotonic() + 60
        while log.read_text().count("Application startup complete") < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        exit_code = stop(process, signal.SIGTERM)
    assert exit_code == 0, log.read_text()
    assert wait_for_no_postgres(fresh_var / "pg") == []
    assert log.read_text().count("Application startup complete") == 2
