"""What `bench/load.py` watches beside the answers, to say where the time went: the CPU of the machine,
of this client, of the app's processes and of its database connections; what those connections were
waiting on (`pg_stat_activity`, sampled); how late this client's own event loop ran; and the errors in
the server's log."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import asyncpg
import psutil

from bench._common import percentile

SAMPLE_EVERY = 0.25  # seconds
_ACTIVITY = """
SELECT pid, state, coalesce(wait_event_type || ':' || wait_event, 'running') AS waiting,
       left(regexp_replace(query, '\\s+', ' ', 'g'), 90) AS query
FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
"""
# The heads of the lock queues: the transactions others wait for, directly or through a queue of
# waiters, which do not wait on a lock themselves; and what they are doing meanwhile ("idle in
# transaction": the app has the transaction open and is working, or waiting, between two statements).
_HOLDERS = """
WITH waiting AS (
    SELECT pid, pg_blocking_pids(pid) AS blockers FROM pg_stat_activity
    WHERE datname = current_database() AND wait_event_type = 'Lock'
)
SELECT h.state, coalesce(h.wait_event_type || ':' || h.wait_event, 'running') AS waiting,
       left(regexp_replace(h.query, '\\s+', ' ', 'g'), 90) AS query
FROM pg_stat_activity h
WHERE h.pid IN (SELECT unnest(blockers) FROM waiting) AND h.pid NOT IN (SELECT pid FROM waiting)
"""
# The first line of an event in the dev log: an ISO time stamp, then the level in brackets.
_EVENT = re.compile(rb"^\d{4}-\d\d-\d\dT\S+ \[(\w+)\s*\]")
# The app's access log (backend/web/requests.py), one line a response, at LOG_LEVEL=INFO.
_ACCESS = re.compile(r"^(\S+) \[info\s*\] request .*\[healthbook\.access\]")
_FIELD = re.compile(r"(\w+)=(\S+)")


class LoopLag:
    """How late this client's event loop wakes up: when it is late, every timing here is late too."""

    def __init__(self) -> None:
        self.lags: list[float] = []

    async def run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.05)
            self.lags.append((time.perf_counter() - before - 0.05) * 1000)

    def summary(self) -> str:
        if not self.lags:
            return "no samples"
        p50, p95 = percentile(self.lags, 0.5), percentile(self.lags, 0.95)
        return f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {max(self.lags):.0f} ms"


def tree_cpu(pid: int) -> float:
    """CPU seconds so far of a process and its children (the app's workers)."""
    try:
        root = psutil.Process(pid)
        total = 0.0
        for process in (root, *root.children(recursive=True)):
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system
        return total
    except psutil.Error:
        return 0.0


def queued(pids: list[int]) -> float:
    """Seconds so far that these processes' main threads (an event loop each) were ready to run but waited
    for a CPU (Linux `/proc/…/schedstat`, its second field); 0 where it cannot be read."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += int(Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()[1])
    return total / 1e9


def workers(pid: int) -> list[int]:
    """The app's worker processes (uvicorn's children), or the process itself when it has none."""
    with contextlib.suppress(psutil.Error):
        children = [
            child.pid
            for child in psutil.Process(pid).children()
            if "multiprocessing.resource" not in " ".join(child.cmdline())
        ]
        return children or [pid]
    return []


@dataclass
class Cpu:
    """CPU used over the timed phase, as a share of one core (100 % = one core busy all along), and how long
    the event loops waited for one."""

    app_pid: int | None
    started: float = 0.0
    machine: psutil._common.scputimes | None = None  # type: ignore[name-defined]
    client: float = 0.0
    app: float = 0.0
    loops: list[int] = field(default_factory=list)
    loops_queued: float = 0.0
    client_queued: float = 0.0

    def start(self) -> None:
        self.started = time.monotonic()
        self.machine = psutil.cpu_times()
        self.client = sum(psutil.Process().cpu_times()[:2])
        self.app = tree_cpu(self.app_pid) if self.app_pid else 0.0
        self.loops = workers(self.app_pid) if self.app_pid else []
        self.loops_queued, self.client_queued = queued(self.loops), queued([os.getpid()])

    def waits(self) -> str:
        """The share of the timed phase that each event loop was ready but had no CPU."""
        wall = time.monotonic() - self.started
        client = (queued([os.getpid()]) - self.client_queued) / wall
        text = f"this client's {client:.0%}"
        if self.loops:
            each = (queued(self.loops) - self.loops_queued) / wall / len(self.loops)
            text = f"each app worker's {each:.0%} (mean of {len(self.loops)}), " + text
        return text

    def shares(self) -> dict[str, float]:
        wall = time.monotonic() - self.started
        now = psutil.cpu_times()
        assert self.machine is not None
        idle = (now.idle + now.iowait) - (self.machine.idle + self.machine.iowait)
        total = sum(now) - sum(self.machine)
        shares = {
            "machine (all processes)": (1 - idle / total) * 100 * (psutil.cpu_count() or 1) if total else 0.0,
            "this client": (sum(psutil.Process().cpu_times()[:2]) - self.client) / wall * 100,
        }
        if self.app_pid:
            shares["the app (all workers)"] = (tree_cpu(self.app_pid) - self.app) / wall * 100
        return shares


@dataclass
class Activity:
    """The app's database connections, sampled: how many, what the active ones wait on, and their CPU
    (when the database runs on this machine)."""

    database_url: str
    samples: int = 0
    most_connections: int = 0
    most_active: int = 0
    most_idle_in_transaction: int = 0
    connections_seen: set[int] = field(default_factory=set)
    connections_at_start: int = 0
    waits: Counter[str] = field(default_factory=Counter)  # per active connection and sample
    queries: Counter[str] = field(default_factory=Counter)
    blocked: Counter[str] = field(default_factory=Counter)  # the statements waiting on a lock
    holders: Counter[str] = field(default_factory=Counter)  # what the ones they wait for are doing
    idle_in_transaction: Counter[str] = field(default_factory=Counter)  # after which statement
    first_cpu: dict[int, float] = field(default_factory=dict)
    last_cpu: dict[int, float] = field(default_factory=dict)
    started: float = 0.0

    async def run(self) -> None:
        connection = await asyncpg.connect(self.database_url)
        self.started = time.monotonic()
        try:
            while True:
                rows = await connection.fetch(_ACTIVITY)
                self.samples += 1
                active = [row for row in rows if row["state"] == "active"]
                self.most_connections = max(self.most_connections, len(rows))
                self.most_active = max(self.most_active, len(active))
                idle = [row for row in rows if row["state"] == "idle in transaction"]
                waiting = len(idle)
                for row in idle:
                    self.idle_in_transaction[row["query"]] += 1
                if any(row["waiting"].startswith("Lock:") for row in active):
                    for holder in await connection.fetch(_HOLDERS):
                        state = holder["state"] if holder["state"] != "active" else f"active ({holder['waiting']})"
                        self.holders[f"{state}, after: {holder['query']}"] += 1
                self.most_idle_in_transaction = max(self.most_idle_in_transaction, waiting)
                if not self.connections_seen:
                    self.connections_at_start = len(rows)
                self.connections_seen.update(row["pid"] for row in rows)
                for row in active:
                    self.waits[row["waiting"]] += 1
                    self.queries[row["query"]] += 1
                    if row["waiting"].startswith("Lock:"):
                        self.blocked[f"{row['waiting']}  {row['query']}"] += 1
                self._cpu([row["pid"] for row in rows])
                await asyncio.sleep(SAMPLE_EVERY)
        finally:
            await connection.close()

    def _cpu(self, pids: list[int]) -> None:
        for pid in pids:
            try:
                process = psutil.Process(pid)
                times = process.cpu_times()
            except psutil.Error:
                continue  # not on this machine, or just gone
            used = times.user + times.system
            # A connection first seen after the first sample was opened during the run: all of its CPU counts.
            self.first_cpu.setdefault(pid, used if self.samples == 1 else 0.0)
            self.last_cpu[pid] = used

    def cpu_share(self) -> float | None:
        if not self.last_cpu:
            return None
        used = sum(self.last_cpu[pid] - self.first_cpu[pid] for pid in self.last_cpu)
        return used / max(time.monotonic() - self.started, 1e-9) * 100

    def report(self) -> list[str]:
        busy = sum(self.waits.values())
        opened = len(self.connections_seen) - self.connections_at_start
        lines = [
            f"database connections of the app: at most {self.most_connections} open, {self.most_active} active"
            f" and {self.most_idle_in_transaction} idle in a transaction at once; at least {opened} opened during"
            f" the run ({self.samples} samples, every {SAMPLE_EVERY:g} s)"
        ]
        if busy:
            lines.append("  what the active ones were doing (share of active samples):")
            lines += [f"    {count / busy:6.1%}  {wait}" for wait, count in self.waits.most_common(6)]
            lines.append("  the statements most often active:")
            lines += [f"    {count / busy:6.1%}  {query}" for query, count in self.queries.most_common(5)]
        if self.blocked:
            lines.append("  waiting on a lock:")
            lines += [f"    {count / busy:6.1%}  {query}" for query, count in self.blocked.most_common(3)]
            holding = sum(self.holders.values())
            lines.append("  the transactions at the head of those queues were (share of their samples):")
            lines += [f"    {count / holding:6.1%}  {what}" for what, count in self.holders.most_common(4)]
        idle = sum(self.idle_in_transaction.values())
        if idle:
            lines.append("  idle in a transaction (the app working or waiting between statements), after:")
            lines += [f"    {count / idle:6.1%}  {query}" for query, count in self.idle_in_transaction.most_common(4)]
        return lines


@dataclass(frozen=True)
class LogErrors:
    levels: Counter[str]
    tracebacks: list[str]


def log_errors(log: Path, since: int = 0) -> LogErrors:
    """Events at warning level and above in the server's log from byte `since`, and each traceback."""
    text = log.read_bytes()[since:] if log.exists() else b""
    levels: Counter[str] = Counter()
    tracebacks: list[str] = []
    current: list[bytes] | None = None
    for line in text.splitlines():
        event = _EVENT.match(line)
        if event:
            if current:
                tracebacks.append(b"\n".join(current).decode(errors="replace"))
            current = None
            level = event.group(1).decode().lower()
            if level in ("warning", "error", "critical", "exception"):
                levels[level] += 1
                current = [line] if level != "warning" else None
        elif current is not None:
            current.append(line)
        elif line.startswith(b"Traceback"):
            current = [line]
    if current:
        tracebacks.append(b"\n".join(current).decode(errors="replace"))
    return LogErrors(levels, [block for block in tracebacks if "Traceback" in block or "Error" in block])


def app_times(log: Path, since: int) -> dict[str, tuple[float, float]]:
    """The app's own time per request from its access log, by request id: when it answered (the log line is
    written as the response starts; seconds since the epoch) and how long it had the request (ms; from the
    request reaching the app's middleware)."""
    times: dict[str, tuple[float, float]] = {}
    text = log.read_bytes()[since:].decode(errors="replace") if log.exists() else ""
    for line in text.splitlines():
        found = _ACCESS.match(line)
        if not found:
            continue
        fields = dict(_FIELD.findall(line))
        if "request_id" in fields and "duration_ms" in fields:
            at = datetime.fromisoformat(found.group(1).replace("Z", "+00:00")).timestamp()
            times[fields["request_id"]] = (at, float(fields["duration_ms"]))
    return times
