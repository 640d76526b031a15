"""How `healthbook backup` / `restore` hand a database URL to PostgreSQL's tools: never the password on
the command line (every user of the machine reads it in `ps`), and an exported PGPASSWORD kept."""

from __future__ import annotations

import pytest

from backend.backup.tools import libpq_target


def test_the_password_goes_in_the_environment_not_in_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    dsn, env = libpq_target("postgresql+asyncpg://hb:p%40ss@db.example:5433/healthbook?ssl=require")
    assert dsn == "postgresql://hb@db.example:5433/healthbook?sslmode=require"
    assert env["PGPASSWORD"] == "p@ss" and "p@ss" not in dsn and "p%40ss" not in dsn


def test_an_exported_pgpassword_stays_when_the_url_has_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPASSWORD", "from the environment")
    dsn, env = libpq_target("postgresql://hb@/healthbook?host=/run/postgresql&ssl=true")
    assert env["PGPASSWORD"] == "from the environment"
    assert dsn == "postgresql://hb@/healthbook?host=%2Frun%2Fpostgresql&sslmode=require"  # asyncpg's true
