"""PgBouncer in transaction mode in front of a test database: Debian's `pgbouncer` (`.ci/run` installs it).

A small server pool (`SERVER_CONNECTIONS`) under many more client connections, so that consecutive
transactions of one client land on different server connections, and different clients' on the same one:
what breaks an app that keeps anything (a prepared statement, a setting, a lock) beyond a transaction.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.support.processes import free_port

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
SERVER_CONNECTIONS = 3
DATABASE = "healthbook"  # the name clients use; PgBouncer maps it to the test database


def available() -> bool:
    return Path(PGBOUNCER).is_file()


@contextmanager
def pgbouncer(database_url: str, folder: Path, **settings: int) -> Iterator[str]:
    """PgBouncer (pool_mode=transaction) in front of `database_url` for as long as the block runs, with
    `settings` added to its own section; the URL that reaches the database through it."""
    url = make_url(database_url)
    host = url.host or str(url.query.get("host", ""))  # the embedded server: a socket directory
    target = f"host={host} port={url.port or 5432} dbname={url.database} user={url.username}"
    if url.password:
        target += f" password={url.password}"
    port = free_port()
    config = folder / "pgbouncer.ini"
    (folder / "users.txt").write_text(f'"{url.username}" ""\n')
    config.write_text(
        f"""[databases]
{DATABASE} = {target}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {folder / "users.txt"}
pool_mode = transaction
max_client_conn = 500
"""
        + "".join(
            f"{name} = {value}\n" for name, value in {"default_pool_size": SERVER_CONNECTIONS, **settings}.items()
        )
    )
    # It refuses to run as root; it reads its files first, then switches to the user given: the owner of
    # the embedded server's socket directory (which only its owner may enter), else nobody.
    as_user = ["-u", _socket_owner(host) or "nobody"] if os.geteuid() == 0 else []
    log = folder / "pgbouncer.log"
    with log.open("wb") as output:
        process = subprocess.Popen([PGBOUNCER, *as_user, str(config)], stdout=output, stderr=subprocess.STDOUT)
    try:
        _wait_for_port(port, process, log)
        yield f"postgresql://{url.username}@127.0.0.1:{port}/{DATABASE}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _socket_owner(host: str) -> str | None:
    return Path(host).owner() if host.startswith("/") else None


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"pgbouncer exited:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"pgbouncer never listened:\n{log.read_text()}")
