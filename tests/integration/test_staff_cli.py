"""`healthbook staff add | disable | reset-password | reset-totp` (contract §1): secrets printed once,
stored as a hash and a sealed value; one clear line for each refusal."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from backend.staff.credentials import password_matches
from tests.integration.test_cli import run_healthbook


@pytest.fixture
def staff_cli(database_url: str, var_dir: Path) -> Any:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return run_healthbook(*args, var_dir=var_dir, DATABASE_URL=database_url)

    added = run("facility", "add", "--code", "01929", "--name", "Bệnh viện Đa khoa Minh An")
    assert added.returncode == 0, added.stderr
    return run


async def stored(database_url: str, username: str) -> asyncpg.Record:
    connection = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        row = await connection.fetchrow("SELECT * FROM staff_member WHERE username = $1", username)
    finally:
        await connection.close()
    assert row is not None
    return row


def refused(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1 and result.stdout == "", result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


async def test_a_new_member_gets_a_password_and_a_totp_secret_shown_once_and_stored_hashed_and_sealed(
    staff_cli: Any, database_url: str
) -> None:
    result = staff_cli("staff", "add", "--facility", "01929", "--username", "Le.Thu", "--role", "receptionist")
    assert result.returncode == 0, result.stderr
    made = json.loads(result.stdout)
    assert set(made) == {"username", "password", "totp_secret", "totp_uri"} and made["username"] == "le.thu"
    assert made["totp_uri"].startswith("otpauth://totp/") and made["totp_secret"] in made["totp_uri"]
    row = await stored(database_url, "le.thu")
    assert row["role"] == "receptionist" and row["disabled_at"] is None
    assert password_matches(row["password_hash"], made["password"]) and made["password"] not in row["password_hash"]
    assert made["totp_secret"] not in row["totp_secret"]  # sealed under DATA_KEYS
    assert made["password"] not in result.stderr and made["totp_secret"] not in result.stderr  # not in the logs


async def test_resets_make_new_secrets_and_the_old_ones_stop_working(staff_cli: Any, database_url: str) -> None:
    made = json.loads(
        staff_cli("staff", "add", "--facility", "01929", "--username", "an.admin", "--role", "facility_admin").stdout
    )
    password = json.loads(staff_cli("staff", "reset-password", "--username", "an.admin").stdout)
    assert set(password) == {"username", "password"} and password["password"] != made["password"]
    row = await stored(database_url, "an.admin")
    assert password_matches(row["password_hash"], password["password"])
    assert not password_matches(row["password_hash"], made["password"])
    totp = json.loads(staff_cli("staff", "reset-totp", "--username", "an.admin").stdout)
    assert set(totp) == {"username", "totp_secret", "totp_uri"} and totp["totp_secret"] != made["totp_secret"]
    assert (await stored(database_url, "an.admin"))["totp_secret"] != row["totp_secret"]


async def test_a_disabled_member_stays_disabled_and_gets_no_new_secrets(staff_cli: Any, database_url: str) -> None:
    staff_cli("staff", "add", "--facility", "01929", "--username", "le.thu", "--role", "receptionist")
    disabled = staff_cli("staff", "disable", "--username", "le.thu")
    assert disabled.returncode == 0, disabled.stderr
    first = json.loads(disabled.stdout)
    assert first["username"] == "le.thu" and first["disabled_at"]
    assert json.loads(staff_cli("staff", "disable", "--username", "le.thu").stdout) == first  # said once
    assert (await stored(database_url, "le.thu"))["disabled_at"] is not None
    assert "disabled" in refused(staff_cli("staff", "reset-password", "--username", "le.thu"))
    assert "disabled" in refused(staff_cli("staff", "reset-totp", "--username", "le.thu"))


def test_each_refusal_is_one_clear_line(staff_cli: Any) -> None:
    staff_cli("staff", "add", "--facility", "01929", "--username", "le.thu", "--role", "receptionist")
    again = staff_cli("staff", "add", "--facility", "01929", "--username", "LE.THU", "--role", "receptionist")
    assert "already exists" in refused(again)
    assert "no facility 09999" in refused(
        staff_cli("staff", "add", "--facility", "09999", "--username", "x.y.z", "--role", "receptionist")
    )
    for bad in ("ab", "-dash", "có dấu", "a" * 65, "a b c"):
        line = refused(staff_cli("staff", "add", "--facility", "01929", "--username", bad, "--role", "receptionist"))
        assert "username" in line, bad
    assert "role" in refused(
        staff_cli("staff", "add", "--facility", "01929", "--username", "x.y.z", "--role", "doctor")
    )
    assert "no such staff member" in refused(staff_cli("staff", "disable", "--username", "nobody"))
