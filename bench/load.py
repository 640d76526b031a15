"""What one node holds (issue 12, check H2): 200 people at once for a bounded time, signing in by SMS,
reading their books, sharing them with doctors who open the links, while hospitals push visits, some of
them in bursts. Prints, per kind of request, the count, the rate, p50/p95/p99 and the errors; whether
the targets hold (p95 < 200 ms, no 5xx); and whether the app answers normally once the load stops. The
p95 is judged over every request, and again without the bursts (a hospital's backlog sent at once),
whose own p95 is printed apart; so is the p95 of each other kind. Its own server's database is analysed
after the patients are registered, as autovacuum soon would on a running node.

    .venv/bin/python bench/load.py                          # 60 s, 200 people, its own server (WORKERS=2)
    .venv/bin/python bench/load.py --duration 20 --users 50
    .venv/bin/python bench/load.py --url http://127.0.0.1:8000 --facility 01929=whsec_… \
        --sms-outbox var/sms.jsonl [--database-url postgresql://…] [--server-log FILE]

Its own server is `healthbook serve` with `WORKERS=2` on a scratch database (`bench/_common.py`), with the
demo data loaded, `SMS_BACKEND=file:…`, and `FORWARDED_ALLOW_IPS=127.0.0.1`: this script is the trusted
proxy, and each simulated person comes with an address of their own in `X-Forwarded-For`, as through a
load balancer. A running server (`--url`) needs the same for its per-address limits not to count
everyone as one client: with its defaults, 30 codes a minute from one address, then `429`.

Before the timed phase the people are registered by their hospitals (`--patients`, three per seat by
default: signed FHIR pushes, each Patient with a phone of their own and `--visits` visits), and most of
them sign in once, as apps that stay signed in. Then each seat takes one person at a time: a visit
starts with a code by SMS, read from the outbox (a person's first visit, and `--otp-share` of the
others), else with the token the app holds; then a few of: the overview, the /book page, the whole book
as FHIR, the access log, a share made and opened by a doctor (manifest, then the file by its location),
a doctor opening an earlier link; with a think time before each. The hospitals (`--hospitals`) push a
visit (10 resources, a new webhook-id each) every `--push-interval` seconds or so, and every
`--burst-every` seconds a burst of `--burst` at once. A failed request ends that visit only.

Latencies are the client's wall time on this machine, of every answered request (429s and errors
included); each seat has a client of its own. Beside them: each request's time split by the app's own
access log (matched by `X-Request-ID`; the server this script starts logs at INFO, the app's default)
into before the app had it, in the app, and after its answer; the CPU of the machine, of this client, of
the app and of its database connections; what those connections waited on (`pg_stat_activity`, sampled,
with who held the locks waited for); this client's event-loop lateness; and the server log's errors.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bench._common
from backend.database import Database
from backend.database._engine import STATEMENT_TIMEOUT_MS
from backend.demo_people import PATIENTS as DEMO_PATIENTS
from backend.phones import normalize_phone
from bench._common import ScratchServer, healthbook, healthbook_env, percentile, start_healthbook
from bench._load_users import (
    MIX,
    Behaviour,
    Crowd,
    Failed,
    Outbox,
    Patient,
    Recorder,
    Seat,
    consent,
    for_patients,
    hospital_sender,
    make_patients,
    open_share,
    patient_user,
    push,
    read_fhir,
    read_overview,
    share_with_doctor,
    sign_in_by_code,
    visit_bundle,
)
from bench._load_watch import Activity, Cpu, LoopLag, app_times, log_errors
from bench.ingest import make_bundle

FACILITIES = {
    "01991": "Bệnh viện Đa khoa Hồng Hà (bench)",
    "01992": "Bệnh viện Nhi Ba Đình (bench)",
    "01993": "Trung tâm Y tế Hoàng Mai (bench)",
    "01994": "Bệnh viện Phụ sản Tây Hồ (bench)",
    "01995": "Phòng khám Đa khoa Đống Đa (bench)",
}
TRUSTED_PROXY = "127.0.0.1"
SMS_DAILY_BUDGET = 1_000_000  # the default (10,000 a day) would end a long run with 503s
P95_TARGET_MS = 200
# A hospital sending its backlog at once (after an outage, or a batch at the end of a clinic): beyond the
# issue's load of people and of hospitals pushing as they see patients, so measured and printed apart.
BURST = "push (burst)"
ORDER = (
    "auth/otp",
    "auth/otp/verify",
    "auth/refresh",
    "consent",
    "book (API)",
    "/book page",
    "book/fhir",
    "access-log",
    "share create",
    "share open",
    "share file",
    "push",
    BURST,
)


@dataclass
class Target:
    """The server under load, and what this script needs to know of it."""

    url: str
    secrets: dict[str, str]  # facility code → webhook secret
    outbox: Path
    database_url: str | None = None
    pid: int | None = None  # when this script started it
    log: Path | None = None
    workers: str = "?"


# --- before the timed phase --------------------------------------------------------------------------


async def register(seat: Seat, target: Target, patients: list[Patient], visits: int) -> int:
    """Each hospital registers its people: bundles of ten (a visit each), `visits` times over."""
    bundles: list[tuple[str, dict[str, Any]]] = []
    rng = random.Random(7)
    for _ in range(visits):
        for code in target.secrets:
            own = [patient for patient in patients if patient.facility == code]
            for start in range(0, len(own), 10):
                bundle = make_bundle(code, seat.crowd.next_serial(), rng)
                bundles.append((code, for_patients(bundle, own[start : start + 10])))
    queue = list(reversed(bundles))

    async def sender() -> None:
        while queue:
            code, bundle = queue.pop()
            try:
                await push(seat, "setup", code, bundle)
            except Failed:
                raise SystemExit(f"registering the patients: a push to {code} was refused") from None

    await asyncio.gather(*(sender() for _ in range(4)))
    return sum(len(bundle["entry"]) for _, bundle in bundles)


async def sign_in_ahead(seat: Seat, patients: list[Patient]) -> int:
    """Apps that stay signed in: these people hold a token when the timed phase starts."""
    queue = list(patients)
    failed = 0

    async def worker() -> None:
        nonlocal failed
        while queue:
            patient = queue.pop()
            try:
                await sign_in_by_code(seat, patient)
                await consent(seat, patient)
            except Failed:
                failed += 1

    await asyncio.gather(*(worker() for _ in range(16)))
    return failed


# --- the timed phase ---------------------------------------------------------------------------------


async def timed(crowd: Crowd, options: argparse.Namespace, watchers: list[Coroutine[Any, Any, None]]) -> float:
    """All seats and hospitals until the deadline; what was started by then finishes. Returns its length."""
    began = time.monotonic()
    crowd.deadline = began + options.duration
    crowd.recorder.recording = True
    watching = [asyncio.create_task(watcher) for watcher in watchers]
    people = [asyncio.create_task(patient_user(crowd, number)) for number in range(options.users)]
    hospitals = [
        asyncio.create_task(hospital_sender(crowd, code, number))
        for number, code in enumerate(list(crowd.secrets)[: options.hospitals])
    ]
    await asyncio.sleep(options.duration)
    crowd.recorder.recording = False  # requests started from now on are not counted
    elapsed = time.monotonic() - began
    _, pending = await asyncio.wait([*people, *hospitals], timeout=60)
    for task in [*pending, *watching]:
        task.cancel()
    await asyncio.gather(*pending, *watching, return_exceptions=True)
    if pending:
        print(f"  ({len(pending)} simulated people still waiting 60 s after the end were stopped)")
    return elapsed


# --- after it ----------------------------------------------------------------------------------------


async def recovery(seat: Seat, target: Target, workers_before: set[int]) -> bool:
    """Once the load has stopped: a few requests of each kind answer as they should, and the server
    processes are the ones that took the load."""
    rng = random.Random(99)
    crowd = seat.crowd
    crowd.recorder = Recorder()
    crowd.recorder.recording = True
    crowd.deadline = time.monotonic() + 3600
    signed = [patient for patient in crowd.patients if patient.access is not None]
    fresh = [patient for patient in crowd.patients if patient.may_ask_code(time.monotonic())]
    checks: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("/healthz", lambda: seat.call("/healthz", "GET", "/healthz", (200,))),
    ]
    if signed:
        patient = rng.choice(signed)
        checks += [
            ("book (API)", lambda: read_overview(seat, patient, rng)),
            ("book/fhir", lambda: read_fhir(seat, patient, rng)),
            ("share create and open", lambda: share_with_doctor(seat, patient, rng)),
        ]
    if crowd.shares:
        checks.append(("share open", lambda: open_share(seat, crowd.shares[-1], rng, fetch_file=False)))
    if fresh:
        checks.append(("sign-in by SMS code", lambda: sign_in_by_code(seat, fresh[0])))
    code = next(iter(crowd.secrets))
    bundle = visit_bundle(code, crowd.next_serial(), rng, crowd.patients[0])
    checks.append(("push", lambda: push(seat, "push", code, bundle)))
    print("\nafter the load (no restart):")
    healthy = True
    crowd.behaviour.think = (0.0, 0.0)
    for name, check in checks:
        started = time.perf_counter()
        try:
            await check()
            outcome = "ok"
        except Failed as failure:
            outcome, healthy = f"FAILED ({failure}: {dict(crowd.recorder.kinds[str(failure)].statuses)})", False
        print(f"  {name:<24} {outcome:<6} {(time.perf_counter() - started) * 1000:7.1f} ms")
    if target.pid is not None:
        alive = psutil.pid_exists(target.pid)
        workers_after = worker_pids(target.pid)
        same = workers_after == workers_before
        print(
            f"  server process {target.pid} {'still running' if alive else 'GONE'};"
            f" workers {'the same' if same else f'CHANGED {sorted(workers_before)} → {sorted(workers_after)}'}"
        )
        healthy = healthy and alive and same
    print(f"  recovered without restart: {'yes' if healthy else 'NO'}")
    return healthy


def worker_pids(pid: int) -> set[int]:
    with contextlib.suppress(psutil.Error):
        return {child.pid for child in psutil.Process(pid).children(recursive=True)}
    return set()


# --- reporting ---------------------------------------------------------------------------------------


def machine() -> str:
    one, five, _ = os.getloadavg()
    memory = psutil.virtual_memory().total / 2**30
    usable = len(os.sched_getaffinity(0))
    cpus = f"{os.cpu_count()} CPUs ({usable} usable here), {memory:.0f} GiB"
    return f"{cpus}; load average {one:.1f} (1 min), {five:.1f} (5 min)"


def errors_text(counts: Counter[str]) -> str:
    return " ".join(f"{what}×{count}" for what, count in counts.most_common()) or "-"


def table(recorder: Recorder, elapsed: float) -> tuple[int, list[str]]:
    """Prints one line per kind and the overall one; returns the 5xx and the slow kinds (bursts apart: see
    `BURST`)."""
    print(
        f"\n{'kind':<16} {'count':>6} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7}"
        f" {'429':>5} {'5xx':>5}  other errors"
    )
    names = [name for name in ORDER if name in recorder.kinds] + sorted(set(recorder.kinds) - set(ORDER))
    everything: list[float] = []
    overall_429 = overall_5xx = 0
    other: Counter[str] = Counter()
    slow: list[str] = []
    for name in names:
        kind = recorder.kinds[name]
        limited = kind.statuses[429]
        server = sum(count for status, count in kind.statuses.items() if status >= 500)
        fivexx = Counter({str(status): count for status, count in kind.statuses.items() if status >= 500})
        print(line(name, kind.timings, elapsed, limited, server, errors_text(kind.unexpected + fivexx)))
        everything += kind.timings
        overall_429, overall_5xx = overall_429 + limited, overall_5xx + server
        other += kind.unexpected
        if kind.timings and percentile(kind.timings, 0.95) >= P95_TARGET_MS and name != BURST:
            slow.append(name)
    print(line("overall", everything, elapsed, overall_429, overall_5xx, errors_text(other)))
    return overall_5xx, slow


def line(name: str, timings: list[float], elapsed: float, limited: int, server: int, errors: str) -> str:
    if not timings:
        return f"{name:<16} {0:>6} {'':>7} {'':>7} {'':>7} {'':>7} {'':>7} {limited:>5} {server:>5}  {errors}"
    p50, p95, p99 = (percentile(timings, fraction) for fraction in (0.5, 0.95, 0.99))
    return (
        f"{name:<16} {len(timings):>6} {len(timings) / elapsed:>7.1f} {p50:>7.1f} {p95:>7.1f} {p99:>7.1f}"
        f" {max(timings):>7.0f} {limited:>5} {server:>5}  {errors}"
    )


def split_table(recorder: Recorder, app: dict[str, tuple[float, float]]) -> None:
    """Each request's time split by the app's access log (same request id, same clock): waiting before the
    app had it (the sockets, a busy worker's event loop), in the app, and after its answer began (sending
    the body, and this client's own lateness)."""
    split: dict[str, list[tuple[float, float, float]]] = {}
    for request_id, (kind, sent_at, answered_at) in recorder.sent.items():
        if request_id in app:
            logged_at, inside = app[request_id]
            before = (logged_at - sent_at) * 1000 - inside
            split.setdefault(kind, []).append((before, inside, (answered_at - logged_at) * 1000))
    if not split:
        print("\n(no access-log lines: the server logs above INFO, so the app's own times are not known)")
        return
    print("\nwhere each request's time went, by the app's access log (p50 / p95 ms):")
    print(f"{'kind':<16} {'matched':>7} {'before the app':>16} {'in the app':>16} {'after its answer':>18}")
    for name in [name for name in ORDER if name in split] + sorted(set(split) - set(ORDER)):
        parts = list(zip(*split[name], strict=True))
        cells = [f"{percentile(part, 0.5):7.1f} / {percentile(part, 0.95):6.1f}" for part in parts]
        print(f"{name:<16} {len(split[name]):>7} {cells[0]:>16} {cells[1]:>16} {cells[2]:>18}")


def verdict(recorder: Recorder, server_errors: int, slow: Iterable[str], recovered: bool) -> None:
    everything = [timing for kind in recorder.kinds.values() for timing in kind.timings]
    steady = [timing for name, kind in recorder.kinds.items() if name != BURST for timing in kind.timings]
    bursts = recorder.kinds[BURST].timings if BURST in recorder.kinds else []
    slow = list(slow)
    print("\ntargets (issue 12, check H2):")
    for label, timings in (("every request", everything), ("without bursts", steady)):
        p95 = percentile(timings, 0.95) if timings else float("nan")
        print(f"  p95 < {P95_TARGET_MS} ms, {label:<15} {p95:8.1f} ms   {met(p95 < P95_TARGET_MS)}")
    print(f"  p95 < {P95_TARGET_MS} ms, every kind      {met(not slow, ', '.join(slow))} (bursts apart)")
    print(f"  no 5xx (bursts included)      {server_errors:8d}      {met(server_errors == 0)}")
    print(f"  recovers without restart      {'':8}      {met(recovered)}")
    if bursts:
        print(f"  (the bursts alone, a hospital's backlog sent at once: p95 {percentile(bursts, 0.95):.1f} ms)")


def met(held: bool, which: str = "") -> str:
    return "met" if held else f"NOT met{': ' + which if which else ''}"


def settings_text(options: argparse.Namespace, target: Target, behaviour: Behaviour) -> list[str]:
    pool = inspect.signature(Database.__init__).parameters
    return [
        f"server: {target.url}, WORKERS={target.workers}; database pool per worker"
        f" {pool['pool_size'].default} + {pool['max_overflow'].default} overflow,"
        f" statement_timeout {STATEMENT_TIMEOUT_MS / 1000:g} s",
        f"load: {options.users} people at once + {options.hospitals} hospitals, {options.duration:g} s"
        f" (arriving over {behaviour.ramp:g} s), {options.patients} registered patients with {options.visits}"
        f" visit(s) each",
        f"      think time {behaviour.think[0]:g}–{behaviour.think[1]:g} s, {behaviour.actions[0]}–"
        f"{behaviour.actions[1]} actions a visit ("
        + ", ".join(f"{name} {weight}" for name, weight in behaviour.mix.items())
        + f"), {behaviour.otp_share:.0%} of visits sign in by SMS code;"
        f" a push every ~{behaviour.push_interval:g} s per hospital, {behaviour.burst} at once every"
        f" {behaviour.burst_every:g} s",
        f"      each person has their own X-Forwarded-For address; this client is the trusted proxy"
        f" (FORWARDED_ALLOW_IPS={TRUSTED_PROXY} on a server this script starts)",
    ]


# --- the run -----------------------------------------------------------------------------------------


async def run(target: Target, options: argparse.Namespace) -> None:
    behaviour = Behaviour(
        think=options.think,
        otp_share=options.otp_share,
        ramp=min(options.ramp, options.duration / 2),
        push_interval=options.push_interval,
        burst=options.burst,
        burst_every=options.burst_every,
        mix=options.mix,
    )
    print(f"machine: {machine()}")
    for text in settings_text(options, target, behaviour):
        print(text)
    if target.database_url:
        await database_settings(target.database_url)
    demo_phones = {normalize_phone(person.phone) or "" for person in DEMO_PATIENTS}
    patients = make_patients(options.patients, list(target.secrets), random.Random(time.time_ns()), demo_phones)
    crowd = Crowd(target.url, Recorder(), Outbox(target.outbox), patients, target.secrets, behaviour)
    # The ids of pushed records are made from serial numbers: new ones on each run, as its patients are new
    # (a record id sent again for another patient would be refused).
    crowd.serial = time.time_ns() // 1000
    async with crowd.client(16) as client:  # for what comes before and after the timed phase
        seat = Seat(crowd, client)
        began = time.monotonic()
        resources = await register(seat, target, patients, options.visits)
        print(f"registered {len(patients)} patients: {resources} resources pushed in {time.monotonic() - began:.1f} s")
        if target.database_url:  # as autovacuum would soon: a fresh table's plans are not a running node's
            await analyze(target.database_url)
        following = asyncio.create_task(crowd.outbox.follow())
        began = time.monotonic()
        ahead = patients[: round(len(patients) * (1 - options.otp_share))]
        failed = await sign_in_ahead(seat, ahead)
        took = time.monotonic() - began
        print(f"{len(ahead) - failed} of them signed in ahead (apps that stay signed in) in {took:.1f} s")
        workers_before = worker_pids(target.pid) if target.pid else set()
        log_start = target.log.stat().st_size if target.log and target.log.exists() else 0
        cpu, lag = Cpu(target.pid), LoopLag()
        activity = Activity(target.database_url) if target.database_url else None
        watchers: list[Coroutine[Any, Any, None]] = [lag.run(), *([activity.run()] if activity else [])]
        print(f"\ntimed phase: {options.duration:g} s …", flush=True)
        cpu.start()
        elapsed = await timed(crowd, options, watchers)
        shares, waits = cpu.shares(), cpu.waits()
        db_share = activity.cpu_share() if activity else None
        server_errors, slow = table(crowd.recorder, elapsed)
        if target.log is not None:
            split_table(crowd.recorder, app_times(target.log, log_start))
        report_details(crowd.recorder, shares, db_share, waits, lag, activity)
        recorder = crowd.recorder
        recovered = await recovery(seat, target, workers_before)
        following.cancel()
    verdict(recorder, server_errors, slow, recovered)
    if recorder.client_bugs:
        print(f"this script's own errors (not the server's): {dict(recorder.client_bugs)}; first: {recorder.first_bug}")
    if target.log is not None:
        report_log(target.log, log_start)
    print(f"\nafter the run: {machine()}")


def report_details(
    recorder: Recorder,
    shares: dict[str, float],
    db_share: float | None,
    waits: str,
    lag: LoopLag,
    activity: Activity | None,
) -> None:
    aborted = sum(recorder.aborted.values())
    if aborted:
        print(f"visits cut short by a failed request: {aborted} ({errors_text(recorder.aborted)})")
    if recorder.sms_waits:
        median, p95 = statistics.median(recorder.sms_waits), percentile(recorder.sms_waits, 0.95)
        print(f"SMS code in the outbox after the 202: median {median:.0f} ms, p95 {p95:.0f} ms")
    if db_share is not None:
        shares["the app's database connections"] = db_share
    print("CPU over the timed phase (100 % = one core): " + ", ".join(f"{k} {v:.0f} %" for k, v in shares.items()))
    print(f"ready to run but waiting for a CPU (behind the machine's other work too): {waits}")
    print(f"this client's event loop, lateness: {lag.summary()}")
    if activity is not None:
        print("\n".join(activity.report()))


def report_log(log: Path, since: int) -> None:
    found = log_errors(log, since)
    levels = ", ".join(f"{level} {count}" for level, count in found.levels.items()) or "none"
    print(f"\nserver log during the run ({log}): events at warning level or above: {levels}")
    for block in found.tracebacks[:3]:
        print("  " + "\n  ".join(block.splitlines()[-40:]))
    if len(found.tracebacks) > 3:
        print(f"  … and {len(found.tracebacks) - 3} more")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=60, help="seconds of load (default 60)")
    parser.add_argument("--users", type=int, default=200, help="people at once (default 200)")
    parser.add_argument("--hospitals", type=int, default=5, help="hospitals pushing (default 5, at most 5 here)")
    parser.add_argument("--patients", type=int, help="registered patients (default 3 per person at once)")
    parser.add_argument("--visits", type=int, default=2, help="visits each patient has before the run (default 2)")
    parser.add_argument("--think", type=seconds_range, default=(1.0, 5.0), help="think time, e.g. 1-5 (seconds)")
    parser.add_argument("--otp-share", type=float, default=0.3, help="visits starting with an SMS code (default 0.3)")
    parser.add_argument(
        "--mix",
        type=weights,
        default=dict(MIX),
        help="what people do once signed in, as relative weights (default "
        + ",".join(f"{name}={weight}" for name, weight in MIX.items())
        + "); names left out keep their weight",
    )
    parser.add_argument("--ramp", type=float, default=10, help="seconds over which people arrive (default 10)")
    parser.add_argument("--push-interval", type=float, default=1.0, help="mean s between a hospital's pushes")
    parser.add_argument("--burst", type=int, default=20, help="pushes a hospital sends at once (default 20)")
    parser.add_argument("--burst-every", type=float, default=20, help="seconds between a hospital's bursts")
    parser.add_argument("--workers", type=int, default=2, help="WORKERS of the server this script starts")
    parser.add_argument("--url", help="a running server instead of one of this script's own")
    parser.add_argument("--facility", action="append", default=[], help="CODE=whsec_… of a facility (with --url)")
    parser.add_argument("--sms-outbox", type=Path, help="the server's SMS_BACKEND=file: path (with --url)")
    parser.add_argument("--database-url", help="the server's database, to watch its connections (with --url)")
    parser.add_argument("--server-log", type=Path, help="the server's log, for its errors (with --url)")
    options = parser.parse_args()
    options.patients = options.patients or 3 * options.users
    if options.patients < options.users:
        parser.error("--patients must be at least --users: one person per seat at a time")
    return options


def weights(text: str) -> dict[str, int]:
    mix = dict(MIX)
    for item in text.split(","):
        name, _, weight = item.partition("=")
        if name.strip() not in MIX:
            raise argparse.ArgumentTypeError(f"{name!r} is none of {', '.join(MIX)}")
        mix[name.strip()] = int(weight)
    return mix


def seconds_range(text: str) -> tuple[float, float]:
    low, _, high = text.partition("-")
    return float(low), float(high or low)


async def main() -> None:
    options = parse()
    if options.url:
        if not (options.facility and options.sms_outbox):
            raise SystemExit("--url needs --facility CODE=SECRET (one or more) and --sms-outbox")
        secrets = dict(item.split("=", 1) for item in options.facility)
        database_url = options.database_url.replace("+asyncpg", "") if options.database_url else None
        await run(Target(options.url, secrets, options.sms_outbox, database_url, log=options.server_log), options)
        return
    os.environ.update(FORWARDED_ALLOW_IPS=TRUSTED_PROXY, SMS_DAILY_BUDGET=str(SMS_DAILY_BUDGET))
    bench._common.start_healthbook = serve_at_info
    async with ScratchServer(options.workers, FACILITIES, sms_outbox=True) as server:
        assert server.outbox is not None
        began = time.monotonic()
        env = healthbook_env(server.var, DATABASE_URL=server.database_url)
        demo = json.loads(await asyncio.to_thread(healthbook, "demo", env=env))
        print(f"demo data: {demo['records']} records of {demo['patients']} patients ({time.monotonic() - began:.0f} s)")
        target = Target(
            server.url, server.secrets, server.outbox, server.database_url, server.pid, server.var / "server.log"
        )
        target.workers = str(options.workers)
        await run(target, options)


def serve_at_info(*args: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`ScratchServer` serves at LOG_LEVEL=WARNING; this script needs the access log (INFO, also the app's
    default) for the app's own time per request."""
    return start_healthbook(*args, env={**env, "LOG_LEVEL": "INFO"}, log=log)


async def database_settings(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        version = await connection.fetchval("SELECT current_setting('server_version')")
        connections = await connection.fetchval("SELECT current_setting('max_connections')")
    finally:
        await connection.close()
    print(f"database: PostgreSQL {version}, max_connections {connections}")


async def analyze(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        began = time.monotonic()
        await connection.execute("ANALYZE")
        print(f"ANALYZE after registering them: {time.monotonic() - began:.1f} s")
    finally:
        await connection.close()


if __name__ == "__main__":
    asyncio.run(main())
