"""The simulated people of `bench/load.py`: patients who sign in and read their books, doctors who open
what a patient shares with them, and hospitals that push visits; with what every request took.

Each patient's phone is their own and each client presents its own address in `X-Forwarded-For`, as it
reaches a real deployment through its load balancer: the server trusts that header only from the proxies
in `FORWARDED_ALLOW_IPS` (`backend/web/clients.py`), so the per-phone and per-address limits of the
one-time codes (`backend/auth/otp.py`) count each simulated person apart, as they would count real ones.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import ssl
import time
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from backend.hospitals.signatures import sender_headers
from backend.phones import normalize_phone
from backend.sharing.jwe import decrypt
from backend.sharing.links import b64url_decode, read_shlink
from bench.ingest import NATIONAL_ID, make_bundle

API = "/api/patient/v1"
# The server's limits on codes per phone (1 a minute, 3 in 10 minutes, 10 a day), kept here with a
# margin for the clocks: a patient whose phone would be refused signs in with the token they hold.
PHONE_LIMITS = ((62.0, 1), (605.0, 3), (86_400.0, 10))
ACCESS_TOKEN_REUSE = 9 * 60  # access tokens live 10 minutes (backend/auth/sessions.py); refreshed before
LABELS = ("Khám tim mạch", "Khám nội tiết", "Tái khám", "Cấp cứu", "Khám chuyên khoa")
DOCTORS = (
    "BS. Trần Hữu Nghĩa, Bệnh viện Bạch Mai",
    "BS. Phạm Thị Lan, Bệnh viện Việt Đức",
    "BS.CKI Đỗ Văn Hùng, Phòng khám Đa khoa Kim Liên",
    "ThS.BS Ngô Minh Châu, Bệnh viện E",
)

# What a signed-in person does next, by relative weight (the functions are in ACTIONS below).
MIX: dict[str, int] = {"overview": 30, "page": 25, "fhir": 15, "share": 10, "reopen": 10, "access-log": 10}


class Failed(Exception):
    """A request did not answer as it should: this person's visit stops here (counted), the run goes on."""


@dataclass
class Patient:
    index: int
    cccd: str
    phone: str  # as typed: 0 and nine digits
    e164: str
    facility: str  # the hospital that registered them, and pushes their visits
    address: str  # their phone's address, presented in X-Forwarded-For
    sends: list[float] = field(default_factory=list)  # monotonic times of the codes asked for
    access: str | None = None
    refresh: str | None = None
    token_at: float = 0.0
    consented: bool = False

    def may_ask_code(self, now: float) -> bool:
        return all(sum(1 for sent in self.sends if sent > now - window) < allowed for window, allowed in PHONE_LIMITS)

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}", "X-Forwarded-For": self.address}


def make_patients(count: int, facilities: list[str], rng: random.Random, avoid_phones: set[str]) -> list[Patient]:
    """`count` people never seen before: each a CCCD and a mobile number of their own (07…)."""
    cccds: set[str] = set()
    phones: set[str] = set()
    while len(cccds) < count:
        cccds.add(f"001{rng.randrange(10**9):09d}")
    while len(phones) < count:
        phone = f"07{rng.randrange(10**8):08d}"
        e164 = normalize_phone(phone)
        if e164 is not None and e164 not in avoid_phones:
            phones.add(phone)
    return [
        Patient(
            index,
            cccd,
            phone,
            normalize_phone(phone) or "",
            facilities[index % len(facilities)],
            f"10.{(index + 1) >> 16 & 255}.{(index + 1) >> 8 & 255}.{(index + 1) & 255}",
        )
        for index, (cccd, phone) in enumerate(zip(sorted(cccds), sorted(phones), strict=True))
    ]


# --- what every request took ------------------------------------------------------------------------


@dataclass
class Kind:
    timings: list[float] = field(default_factory=list)  # ms, every answered request
    statuses: Counter[int] = field(default_factory=Counter)
    unexpected: Counter[str] = field(default_factory=Counter)  # a status other than the expected one, or why none


class Recorder:
    """Requests started while `recording` is on are counted, by kind. One that fails (no answer, or not the
    expected status) raises `Failed` once counted."""

    def __init__(self) -> None:
        self.kinds: dict[str, Kind] = defaultdict(Kind)
        self.recording = False
        self.sms_waits: list[float] = []  # ms from the 202 to the code in the outbox
        self.aborted: Counter[str] = Counter()  # visits cut short, by the kind that failed
        self.client_bugs: Counter[str] = Counter()  # exceptions in this script (should stay empty)
        self.first_bug: str | None = None
        # X-Request-ID → kind, and when it was sent and answered (wall clock): the app logs the same id
        # with its own time, which splits each request's time into before, in and after the app.
        self.sent: dict[str, tuple[str, float, float]] = {}

    async def call(
        self,
        client: httpx.AsyncClient,
        kind: str,
        method: str,
        url: str,
        expected: tuple[int, ...],
        **arguments: Any,
    ) -> httpx.Response:
        recording = self.recording
        request_id = f"load-{uuid.uuid4().hex[:16]}"
        arguments["headers"] = {**arguments.get("headers", {}), "X-Request-ID": request_id}
        sent_at, started = time.time(), time.perf_counter()
        try:
            response = await client.request(method, url, **arguments)
        except httpx.HTTPError as exc:
            if recording:
                self.kinds[kind].unexpected[type(exc).__name__] += 1
            raise Failed(kind) from exc
        if recording:
            record = self.kinds[kind]
            record.timings.append((time.perf_counter() - started) * 1000)
            self.sent[request_id] = (kind, sent_at, time.time())
            record.statuses[response.status_code] += 1
            if response.status_code not in expected and response.status_code != 429 and response.status_code < 500:
                record.unexpected[str(response.status_code)] += 1
        if response.status_code not in expected:
            raise Failed(kind)
        return response


# --- the SMS outbox ---------------------------------------------------------------------------------


class Outbox:
    """Follows the `SMS_BACKEND=file:` outbox as it grows (one JSON object a line), so that a waiting
    patient gets their code without the whole file being read again for each of them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0  # codes sent before this run are not ours
        self.rest = b""
        self.codes: dict[str, list[str]] = defaultdict(list)
        self.arrived = asyncio.Condition()

    def count(self, e164: str) -> int:
        return len(self.codes[e164])

    async def follow(self) -> None:
        while True:
            if self.read_new():
                async with self.arrived:
                    self.arrived.notify_all()
            await asyncio.sleep(0.02)

    def read_new(self) -> bool:
        if not self.path.exists():
            return False
        with self.path.open("rb") as outbox:
            outbox.seek(self.offset)
            chunk = outbox.read()
        self.offset += len(chunk)
        *lines, self.rest = (self.rest + chunk).split(b"\n")
        for line in lines:
            message = json.loads(line)
            found = re.search(r"\b\d{6}\b", message["text"])
            if found:
                self.codes[message["to"]].append(found.group(0))
        return bool(lines)

    async def code_after(self, e164: str, seen: int, timeout: float = 15) -> str:
        """The first code sent to this phone after the `seen` ones."""
        async with asyncio.timeout(timeout), self.arrived:
            await self.arrived.wait_for(lambda: self.count(e164) > seen)
        return self.codes[e164][seen]


# --- the crowd --------------------------------------------------------------------------------------


@dataclass
class Behaviour:
    think: tuple[float, float] = (1.0, 5.0)  # seconds between two things one person does
    actions: tuple[int, int] = (3, 8)  # things done in one visit to the app, after signing in
    otp_share: float = 0.3  # visits that start with a code by SMS; the others hold a token already
    ramp: float = 10.0  # seconds over which the people arrive
    mix: dict[str, int] = field(default_factory=lambda: dict(MIX))  # what they do once signed in, by weight
    push_interval: float = 1.0  # mean seconds between one hospital's pushes
    burst: int = 20  # pushes a hospital sends at once now and then (a backlog after a network cut)
    burst_every: float = 20.0  # seconds


@dataclass
class Crowd:
    """What the simulated people share: the server, the records, the patients not busy, the live shares."""

    url: str
    recorder: Recorder
    outbox: Outbox
    patients: list[Patient]
    secrets: dict[str, str]  # facility code → webhook secret
    behaviour: Behaviour
    deadline: float = 0.0
    serial: int = 0  # of the pushes, for the ids of their records
    idle: asyncio.Queue[Patient] = field(default_factory=asyncio.Queue)
    shares: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=100))
    # One TLS context for every client (httpx loads the CA bundle for each new one otherwise).
    tls: ssl.SSLContext = field(default_factory=ssl.create_default_context)

    def __post_init__(self) -> None:
        arriving = list(self.patients)
        random.Random(0).shuffle(arriving)  # those signed in ahead and those not, mixed
        for patient in arriving:
            self.idle.put_nowait(patient)

    def client(self, connections: int) -> httpx.AsyncClient:
        """A client of its own for each seat, as each person has their own phone: one pool of hundreds of
        connections costs httpx a scan of all of them per request (`_assign_requests_to_connections`),
        which made this client the bottleneck. Idle connections close before the server's 5 s keep-alive."""
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections, keepalive_expiry=4)
        return httpx.AsyncClient(base_url=self.url, timeout=30, limits=limits, verify=self.tls)

    def over(self) -> bool:
        return time.monotonic() >= self.deadline

    def next_serial(self) -> int:
        self.serial += 1
        return self.serial

    async def think(self, rng: random.Random) -> None:
        await asyncio.sleep(rng.uniform(*self.behaviour.think))


@dataclass
class Seat:
    """One simulated client: a person's phone, a doctor's screen, a hospital's sender."""

    crowd: Crowd
    client: httpx.AsyncClient

    async def call(
        self, kind: str, method: str, url: str, expected: tuple[int, ...], **arguments: Any
    ) -> httpx.Response:
        return await self.crowd.recorder.call(self.client, kind, method, url, expected, **arguments)


async def signed_in(seat: Seat, patient: Patient, rng: random.Random) -> None:
    """The start of a visit: a code by SMS (the first time, and now and then), else the token held,
    refreshed once it is about to expire."""
    now = time.monotonic()
    wants_code = patient.refresh is None or rng.random() < seat.crowd.behaviour.otp_share
    if wants_code and patient.may_ask_code(now):
        await sign_in_by_code(seat, patient)
    elif patient.refresh is None:
        raise Failed("no token, and this phone may not have another code yet")
    elif now - patient.token_at > ACCESS_TOKEN_REUSE:
        answer = await seat.call(
            "auth/refresh",
            "POST",
            f"{API}/auth/refresh",
            (200,),
            json={"refresh_token": patient.refresh},
            headers={"X-Forwarded-For": patient.address},
        )
        keep_tokens(patient, answer.json())
    if not patient.consented:
        await consent(seat, patient)


async def sign_in_by_code(seat: Seat, patient: Patient) -> None:
    recorder, outbox = seat.crowd.recorder, seat.crowd.outbox
    seen = outbox.count(patient.e164)
    patient.sends.append(time.monotonic())
    headers = {"X-Forwarded-For": patient.address}
    asked = {"phone": patient.phone}
    sent = await seat.call("auth/otp", "POST", f"{API}/auth/otp", (202,), json=asked, headers=headers)
    answered = time.perf_counter()
    try:
        code = await outbox.code_after(patient.e164, seen)
    except TimeoutError:
        raise Failed("auth/otp: no SMS") from None
    if recorder.recording:
        recorder.sms_waits.append((time.perf_counter() - answered) * 1000)
    answer = {"challenge_id": sent.json()["challenge_id"], "code": code}
    verify = f"{API}/auth/otp/verify"
    verified = await seat.call("auth/otp/verify", "POST", verify, (200,), json=answer, headers=headers)
    tokens = verified.json()
    if [book["read_only"] for book in tokens["books"]] != [False]:
        raise Failed(f"auth/otp/verify: books {tokens['books']}")
    keep_tokens(patient, tokens)


def keep_tokens(patient: Patient, tokens: dict[str, Any]) -> None:
    patient.access, patient.refresh = tokens["access_token"], tokens["refresh_token"]
    patient.token_at = time.monotonic()


async def consent(seat: Seat, patient: Patient) -> None:
    """Once per book and phone: the app shows the notice and records the answer (the pages need it)."""
    notice = await seat.call("consent", "GET", f"{API}/privacy-notice", (200,))
    answer = {"version": notice.json()["version"]}
    await seat.call("consent", "POST", f"{API}/consent", (204,), json=answer, headers=patient.bearer)
    patient.consented = True


async def read_overview(seat: Seat, patient: Patient, rng: random.Random) -> None:
    await seat.call("book (API)", "GET", f"{API}/book", (200,), headers=patient.bearer)


async def read_page(seat: Seat, patient: Patient, rng: random.Random) -> None:
    """The /book page; it takes the app's token as well as the browser's cookie."""
    await seat.call("/book page", "GET", "/book", (200,), headers=patient.bearer)


async def read_fhir(seat: Seat, patient: Patient, rng: random.Random) -> None:
    await seat.call("book/fhir", "GET", f"{API}/book/fhir", (200,), headers=patient.bearer)


async def read_access_log(seat: Seat, patient: Patient, rng: random.Random) -> None:
    await seat.call("access-log", "GET", f"{API}/access-log", (200,), headers=patient.bearer)


async def share_with_doctor(seat: Seat, patient: Patient, rng: random.Random) -> None:
    """The patient makes a link at the desk; the doctor scans it, reads the manifest and fetches the file."""
    body = {"label": rng.choice(LABELS), "expires_in": 3600}
    made = await seat.call("share create", "POST", f"{API}/shares", (201,), json=body, headers=patient.bearer)
    payload = read_shlink(made.json()["shlink"])
    seat.crowd.shares.append(payload)
    await seat.crowd.think(rng)
    await open_share(seat, payload, rng, fetch_file=True)


async def reopen_share(seat: Seat, patient: Patient, rng: random.Random) -> None:
    """A doctor opens a link someone showed them earlier (its file embedded in the manifest)."""
    if seat.crowd.shares:
        await open_share(seat, rng.choice(seat.crowd.shares), rng, fetch_file=False)


async def open_share(seat: Seat, payload: dict[str, Any], rng: random.Random, *, fetch_file: bool) -> None:
    doctor = {"X-Forwarded-For": f"172.16.{rng.randrange(256)}.{rng.randrange(1, 255)}"}
    asked: dict[str, Any] = {"recipient": rng.choice(DOCTORS)}
    if fetch_file:
        asked["embeddedLengthMax"] = 0  # the file by its location URL, as for a large book
    manifest_path = urlsplit(str(payload["url"])).path
    manifest = await seat.call("share open", "POST", manifest_path, (200,), json=asked, headers=doctor)
    (file,) = manifest.json()["files"]
    compact = file.get("embedded")
    if compact is None:
        location = urlsplit(file["location"]).path
        compact = (await seat.call("share file", "GET", location, (200,), headers=doctor)).text
    json.loads(decrypt(compact, b64url_decode(str(payload["key"]))))  # the document the doctor reads


Action = Callable[[Seat, Patient, random.Random], Awaitable[None]]
ACTIONS: dict[str, Action] = {
    "overview": read_overview,
    "page": read_page,
    "fhir": read_fhir,
    "share": share_with_doctor,
    "reopen": reopen_share,
    "access-log": read_access_log,
}


async def patient_user(crowd: Crowd, number: int) -> None:
    """One person at a time on this seat: they arrive, sign in, do a few things, leave; the next comes.
    A failure ends that visit only."""
    rng = random.Random(number)
    await asyncio.sleep(rng.uniform(0, crowd.behaviour.ramp))
    async with crowd.client(2) as client:
        seat = Seat(crowd, client)
        while not crowd.over():
            patient = await crowd.idle.get()
            try:
                await signed_in(seat, patient, rng)
                for _ in range(rng.randint(*crowd.behaviour.actions)):
                    await crowd.think(rng)
                    if crowd.over():
                        break
                    mix = crowd.behaviour.mix
                    action = rng.choices(list(mix), weights=list(mix.values()))[0]
                    await ACTIONS[action](seat, patient, rng)
            except Failed as failure:
                if crowd.recorder.recording:
                    crowd.recorder.aborted[str(failure)] += 1
                await crowd.think(rng)
            except Exception as exc:  # a bug of this script: counted, and this seat goes on
                note_bug(crowd.recorder, exc)
                await crowd.think(rng)
            finally:
                crowd.idle.put_nowait(patient)


def note_bug(recorder: Recorder, exc: Exception) -> None:
    recorder.client_bugs[type(exc).__name__] += 1
    if recorder.first_bug is None:
        recorder.first_bug = repr(exc)


# --- hospitals --------------------------------------------------------------------------------------


def for_patients(bundle: dict[str, Any], patients: list[Patient]) -> dict[str, Any]:
    """`bench/ingest.py`'s bundle (ten people, a visit each), about these people instead: the first
    `len(patients)` of its ten, each with the CCCD, a stable id and the phone of one of them. The bundle
    lists each person's Patient, then their visit's records."""
    people = [index for index, entry in enumerate(bundle["entry"]) if entry["resource"]["resourceType"] == "Patient"]
    if len(patients) < len(people):
        bundle["entry"] = bundle["entry"][: people[len(patients)]]
    for index, patient in zip(people, patients, strict=False):
        entry = bundle["entry"][index]
        entry["resource"].update(
            id=f"bn-{patient.cccd}",
            identifier=[{"system": NATIONAL_ID, "value": patient.cccd}],
            telecom=[{"system": "phone", "value": patient.phone, "use": "mobile"}],
        )
        entry["request"]["url"] = f"Patient?identifier={NATIONAL_ID}|{patient.cccd}"
    return bundle


def visit_bundle(code: str, serial: int, rng: random.Random, patient: Patient) -> dict[str, Any]:
    """One visit of one patient: 10 resources."""
    return for_patients(make_bundle(code, serial, rng), [patient])


async def push(seat: Seat, kind: str, code: str, bundle: dict[str, Any]) -> None:
    body = json.dumps(bundle, ensure_ascii=False)
    secret = seat.crowd.secrets[code]
    headers = sender_headers(secret, body, f"load_{uuid.uuid4().hex}", datetime.now(UTC), "application/fhir+json")
    headers["X-Forwarded-For"] = f"192.168.50.{int(code) % 250 + 1}"
    await seat.call(kind, "POST", f"/api/hospital/v1/{code}/fhir", (200,), content=body.encode(), headers=headers)


async def hospital_sender(crowd: Crowd, code: str, number: int) -> None:
    """A hospital's HIS: a visit now and then for one of its patients, and now and then a burst of them
    at once; every push a new webhook-id."""
    rng = random.Random(10_000 + number)
    own = [patient for patient in crowd.patients if patient.facility == code] or crowd.patients
    behaviour = crowd.behaviour
    await asyncio.sleep(rng.uniform(0, behaviour.ramp))
    next_burst = time.monotonic() + rng.uniform(behaviour.burst_every / 2, behaviour.burst_every)
    async with crowd.client(behaviour.burst + 1) as client:
        seat = Seat(crowd, client)
        while not crowd.over():
            try:
                if time.monotonic() >= next_burst:
                    next_burst += behaviour.burst_every
                    chosen = [rng.choice(own) for _ in range(behaviour.burst)]
                    bundles = [visit_bundle(code, crowd.next_serial(), rng, patient) for patient in chosen]
                    outcomes = await asyncio.gather(
                        *(push(seat, "push (burst)", code, bundle) for bundle in bundles), return_exceptions=True
                    )
                    for outcome in outcomes:
                        if isinstance(outcome, Exception) and not isinstance(outcome, Failed):
                            note_bug(crowd.recorder, outcome)
                else:
                    await push(seat, "push", code, visit_bundle(code, crowd.next_serial(), rng, rng.choice(own)))
            except Failed:
                pass  # counted by the recorder
            except Exception as exc:
                note_bug(crowd.recorder, exc)
            await asyncio.sleep(rng.expovariate(1 / behaviour.push_interval))
