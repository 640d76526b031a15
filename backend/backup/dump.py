"""`healthbook backup`: one `pg_dump` snapshot of the whole database, in its compressed custom format.

pg_dump reads every table in one repeatable-read snapshot, so the copy is consistent (the access log and
its chain head, a delivery and its records) while the app keeps serving. The file is written beside its
final name and renamed only when complete, readable by its owner only: it holds everyone's health data.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.backup.server import server_facts
from backend.backup.tools import BackupError, first_error_line, libpq_target, tools_for


@dataclass(frozen=True)
class BackupReport:
    output: Path
    size: int
    sha256: str
    server_version: str
    pg_dump: int

    def report(self) -> dict[str, Any]:
        return {
            "output": str(self.output),
            "bytes": self.size,
            "sha256": self.sha256,
            "server_version": self.server_version,
            "pg_dump": self.pg_dump,
        }


def back_up(url: str, output: Path) -> BackupReport:
    if not output.parent.is_dir():
        raise BackupError(f"{output.parent}: no such folder")
    if output.is_dir():
        raise BackupError(f"{output} is a folder; name the backup file")
    facts = asyncio.run(server_facts(url))
    tools = tools_for(facts.major)
    dsn, env = libpq_target(url)
    partial = output.with_name(f".{output.name}.partial")
    partial.unlink(missing_ok=True)  # a left-over of a killed run: made anew, so 0600 holds and no link is followed
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))  # pg_dump keeps it
    try:
        dumped = subprocess.run(
            [tools.path("pg_dump"), "--format=custom", "--no-password", f"--file={partial}", f"--dbname={dsn}"],
            env=env,
            capture_output=True,
            text=True,
        )
        if dumped.returncode != 0:
            raise BackupError(f"pg_dump failed: {first_error_line(dumped.stderr)}")
        _fsync(partial)
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)
    return BackupReport(output.resolve(), output.stat().st_size, file_sha256(output), facts.version, tools.major)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    with path.open("rb") as file:
        os.fsync(file.fileno())
