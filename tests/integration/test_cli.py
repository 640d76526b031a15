"""The `healthbook` command: one JSON document on stdout, one line on stderr when it fails."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.support.processes import HEALTHBOOK, healthbook_env


def run_healthbook(*args: str, var_dir: Path, **environ: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HEALTHBOOK, *args],
        env=healthbook_env(var_dir, **environ),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_db_upgrade_prints_one_json_document_and_is_safe_twice(database_url: str, var_dir: Path) -> None:
    for _ in range(2):
        result = run_healthbook("db", "upgrade", var_dir=var_dir, DATABASE_URL=database_url)
        assert result.returncode == 0, result.stderr
        document = json.loads(result.stdout)
        assert document["revision"]
        assert "password" not in result.stdout


def test_a_wrong_database_url_is_one_clear_line(var_dir: Path) -> None:
    result = run_healthbook("db", "upgrade", var_dir=var_dir, DATABASE_URL="postgresql://hb:pw@127.0.0.1:1/hb")
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("healthbook: cannot reach the database postgresql://hb:***@127.0.0.1:1/hb")
    assert "Traceback" not in result.stderr and "pw" not in lines[0].replace("***", "")


def test_a_missing_database_is_named(var_dir: Path) -> None:
    result = run_healthbook(
        "serve", var_dir=var_dir, DATABASE_URL="postgresql://postgres@127.0.0.1:5432/hb_no_such_database"
    )
    assert result.returncode == 1
    assert "hb_no_such_database" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_prod_without_secret_key_refuses_to_start(var_dir: Path) -> None:
    result = run_healthbook("serve", var_dir=var_dir, APP_ENV="prod")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "healthbook: APP_ENV=prod needs SECRET_KEY (at least 32 random characters); none is set"
    )
