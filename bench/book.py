"""How fast and how small a patient's book is (issue 6, "Speed and size"): a patient with 2,000 current
records from five facilities, pushed as signed hospital requests, then read as the patient reads it.

    .venv/bin/python bench/book.py                                   # 2,000 records, 40 rounds, WORKERS=1
    .venv/bin/python bench/book.py --records 500 --rounds 100 --workers 2

The server is `healthbook serve` on a scratch database (`TEST_DATABASE_URL`, else the PostgreSQL on
127.0.0.1:5432, else an embedded one), started and removed by this script. The records are visits round
the five facilities over four years, each with diagnoses, five repeated tests, a three-line prescription
and a follow-up appointment, with referral letters, documents and allergies now and then; all pushed
through `POST /api/hospital/v1/{code}/fhir` with Standard Webhooks signatures.

The patient signs in twice: as an app (`auth/otp` with the code read from the `SMS_BACKEND=file:` outbox,
`auth/otp/verify`, then `consent`), and as a browser (the `/login` forms with their CSRF token). Over plain
http a client does not send `Secure` cookies, so the `__Host-` cookies are carried by hand.

Each route is read `--rounds` times, round-robin after a warm-up, one request at a time; its time is the
client's wall time on localhost (median and p95). Beside it, the median CPU time one request costs the
app's processes and its database connections: on a busy machine the wall time also counts the wait for a
CPU. Sizes are of the last body: raw; as the server sent it to `Accept-Encoding: gzip` ("wire"); and
compressed here with gzip -6 (and brotli 5, if the `brotli` module is installed). "/book, first load"
adds the stylesheets and scripts the page links. Prints one table and whether each target of issue 6
is met.

One file, in four parts marked below: the patient's records, signing in, measuring, reporting.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gzip
import importlib
import json
import math
import os
import random
import re
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backend.healthbook.sections import SECTIONS
from backend.hospitals.signatures import sender_headers
from backend.phones import normalize_phone
from bench._common import ScratchServer, percentile

FACILITIES = {
    "01901": "Bệnh viện Đa khoa Sông Hồng",
    "01902": "Bệnh viện Nội tiết Hồ Tây",
    "01903": "Bệnh viện Tim mạch Thăng Long",
    "01904": "Trung tâm Y tế quận Long Biên",
    "01905": "Phòng khám Đa khoa Kim Liên",
}
CCCD = "001085054321"
# Two mobiles (a dual-SIM phone): each sign-in gets its code at once, without waiting out the
# one-code-a-minute limit per number.
APP_PHONE, BROWSER_PHONE = "0903 111 222", "0988 333 444"
NATIONAL_ID = "http://fhir.ehealth.gov.vn/core/sid/national_id"
PRESCRIPTION_CODE = "urn:vn:moh:ma-don-thuoc"
ICD10, LOINC = "http://hl7.org/fhir/sid/icd-10", "http://loinc.org"
ID_NAMESPACE = uuid.UUID("0b8f6d3e-51c2-4a4e-9a55-3c1f2b7d9e01")
DAYS_BETWEEN_VISITS = 8  # ~170 visits over four years
WARMUP_ROUNDS = 3

DIAGNOSES = (
    ("E11.9", "Đái tháo đường týp 2 không có biến chứng"),
    ("I10", "Bệnh lý tăng huyết áp vô căn (nguyên phát)"),
    ("E78.0", "Tăng cholesterol máu đơn thuần"),
    ("K29.7", "Viêm dạ dày, không đặc hiệu"),
    ("J06.9", "Nhiễm trùng đường hô hấp trên cấp, không đặc hiệu"),
    ("M54.5", "Đau vùng thắt lưng"),
)
# LOINC, name, unit, typical value, spread, reference low and high: the tests repeated at every visit.
TESTS = (
    ("2345-7", "Glucose máu lúc đói", "mmol/L", 6.8, 1.2, 3.9, 6.4),
    ("4548-4", "HbA1c", "%", 7.1, 0.8, 4.0, 6.4),
    ("2160-0", "Creatinin máu", "µmol/L", 88.0, 12.0, 62.0, 106.0),
    ("2093-3", "Cholesterol toàn phần", "mmol/L", 5.4, 0.7, 3.9, 5.2),
    ("8480-6", "Huyết áp tâm thu", "mmHg", 138.0, 12.0, 90.0, 139.0),
)
DRUGS = (
    ("Metformin 500mg", "Uống 1 viên/lần x 2 lần/ngày, sau ăn sáng và tối", 2),
    ("Amlodipin 5mg", "Uống 1 viên/lần x 1 lần/ngày, buổi sáng", 1),
    ("Atorvastatin 20mg", "Uống 1 viên/lần x 1 lần/ngày, buổi tối", 1),
    ("Omeprazol 20mg", "Uống 1 viên trước ăn sáng 30 phút", 1),
)
DEPARTMENTS = ("Khám Nội tiết", "Khám Tim mạch", "Khám Nội tổng quát")
DOCTORS = ("BS. Lê Minh Tuấn", "BS. Nguyễn Thu Hà", "BS.CKI Hoàng Văn Nam", "ThS.BS Phạm Thu Trang")
ALLERGIES = (("Penicillin", "high", "active"), ("Hải sản", "low", "active"), ("Aspirin", "low", "resolved"))


# --- the patient's records ---------------------------------------------------------------------------


def at(day: date, hour: int, minute: int = 0) -> str:
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}:00+07:00"


class Visit:
    """One visit's records at one facility, in the order a transaction bundle lists them."""

    def __init__(self, code: str, number: int, day: date, rng: random.Random) -> None:
        self.code, self.number, self.day, self.rng = code, number, day, rng
        self.resources: list[dict[str, Any]] = []
        self.encounter = self.add(
            {
                "resourceType": "Encounter",
                "id": f"kb-{number}",
                "status": "finished",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                "type": [{"text": DEPARTMENTS[number % len(DEPARTMENTS)]}],
                "subject": {"reference": patient_url(code)},
                "serviceProvider": {"reference": f"Organization/{code}", "display": FACILITIES[code]},
                "period": {"start": at(day, 8, 10), "end": at(day, 10, 30)},
            }
        )
        self.context = {"subject": {"reference": patient_url(code)}, "encounter": {"reference": self.encounter}}

    def add(self, resource: dict[str, Any]) -> str:
        self.resources.append(resource)
        return full_url(self.code, resource)

    def diagnoses(self) -> None:
        for icd10, name in {DIAGNOSES[self.number % 6], DIAGNOSES[(self.number // 2) % 6]}:
            self.add(
                {
                    "resourceType": "Condition",
                    "id": f"cd-{self.number}-{icd10}",
                    "clinicalStatus": {
                        "coding": [
                            {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
                        ]
                    },
                    "code": {"coding": [{"system": ICD10, "code": icd10, "display": name}], "text": name},
                    **self.context,
                    "recordedDate": self.day.isoformat(),
                }
            )

    def results(self) -> None:
        for loinc, name, unit, typical, spread, low, high in TESTS:
            value = round(max(0.1, self.rng.gauss(typical, spread)), 1)
            flag = "H" if value > high else "L" if value < low else "N"
            self.add(
                {
                    "resourceType": "Observation",
                    "id": f"xn-{self.number}-{loinc}",
                    "status": "final",
                    "code": {"coding": [{"system": LOINC, "code": loinc, "display": name}], "text": name},
                    **self.context,
                    "effectiveDateTime": at(self.day, 8, 45),
                    "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org"},
                    "referenceRange": [{"low": {"value": low, "unit": unit}, "high": {"value": high, "unit": unit}}],
                    "interpretation": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                                    "code": flag,
                                }
                            ]
                        }
                    ],
                }
            )

    def prescription(self) -> None:
        code = f"{self.code}{self.rng.randrange(16**7):07x}-C"
        for line in range(3):
            drug, dose, per_day = DRUGS[(self.number + line) % len(DRUGS)]
            self.add(
                {
                    "resourceType": "MedicationRequest",
                    "id": f"dt-{self.number}-{line + 1}",
                    "status": "active",
                    "intent": "order",
                    "groupIdentifier": {"system": PRESCRIPTION_CODE, "value": code},
                    "identifier": [{"system": PRESCRIPTION_CODE, "value": code}],
                    "medicationCodeableConcept": {"text": drug},
                    **self.context,
                    "authoredOn": at(self.day, 10, 20),
                    "requester": {"display": DOCTORS[self.number % len(DOCTORS)]},
                    "dosageInstruction": [{"text": dose}],
                    "dispenseRequest": {
                        "quantity": {"value": per_day * 30, "unit": "viên"},
                        "expectedSupplyDuration": {"value": 30, "unit": "ngày", "code": "d"},
                    },
                }
            )

    def follow_up(self, when: date, booked: bool) -> None:
        self.add(
            {
                "resourceType": "Appointment",
                "id": f"hk-{self.number}",
                "status": "booked" if booked else "fulfilled",
                "serviceType": [{"text": f"Tái khám {DEPARTMENTS[self.number % len(DEPARTMENTS)]}"}],
                "description": "Tái khám theo hẹn, mang theo sổ khám bệnh, đơn thuốc cũ và thẻ BHYT",
                "start": at(when, 8),
                "end": at(when, 8, 30),
                "participant": [
                    {"actor": {"reference": patient_url(self.code)}, "status": "accepted"},
                    {"actor": {"reference": f"Organization/{self.code}"}, "status": "accepted"},
                ],
            }
        )

    def referral(self, to: str) -> None:
        self.add(
            {
                "resourceType": "ServiceRequest",
                "id": f"ct-{self.number}",
                "status": "active",
                "intent": "order",
                "identifier": [{"system": f"urn:vn:cskcb:{self.code}:giay-chuyen-tuyen", "value": f"CT-{self.number}"}],
                "category": [
                    {"coding": [{"system": "http://snomed.info/sct", "code": "3457005"}], "text": "Giấy chuyển tuyến"}
                ],
                "code": {"text": "Chuyển tuyến: khám chuyên khoa"},
                **self.context,
                "authoredOn": at(self.day, 10, 40),
                "performer": [{"reference": f"Organization/{to}", "display": FACILITIES[to]}],
                "reasonCode": [{"text": "Đường huyết kiểm soát kém, cần đánh giá biến chứng"}],
                "occurrencePeriod": {"start": self.day.isoformat(), "end": (self.day + timedelta(14)).isoformat()},
            }
        )

    def document(self) -> None:
        text = f"Tom tat ho so benh an - {FACILITIES[self.code]} - {self.day:%d/%m/%Y}\n" * 20
        binary = self.add(
            {
                "resourceType": "Binary",
                "id": f"pdf-{self.number}",
                "contentType": "text/plain",
                "data": base64.b64encode(text.encode()).decode(),
            }
        )
        self.add(
            {
                "resourceType": "DocumentReference",
                "id": f"tl-{self.number}",
                "status": "current",
                "type": {"coding": [{"system": LOINC, "code": "34133-9"}], "text": "Tóm tắt hồ sơ bệnh án"},
                "subject": {"reference": patient_url(self.code)},
                "date": at(self.day, 11),
                "content": [{"attachment": {"contentType": "text/plain", "url": binary, "title": "Tóm tắt.txt"}}],
            }
        )

    def allergy(self, substance: str, criticality: str, clinical: str) -> None:
        self.add(
            {
                "resourceType": "AllergyIntolerance",
                "id": f"du-{self.number}",
                "clinicalStatus": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                            "code": clinical,
                        }
                    ]
                },
                "code": {"text": substance},
                "criticality": criticality,
                "reaction": [{"manifestation": [{"text": "Nổi mề đay, khó thở"}]}],
                "patient": {"reference": patient_url(self.code)},
                "recordedDate": self.day.isoformat(),
            }
        )

    def blood_group(self) -> None:
        self.add(
            {
                "resourceType": "Observation",
                "id": f"nm-{self.number}",
                "status": "final",
                "code": {"coding": [{"system": LOINC, "code": "882-1"}], "text": "Nhóm máu ABO và Rh"},
                **self.context,
                "effectiveDateTime": at(self.day, 8, 45),
                "valueCodeableConcept": {"text": "O Rh+"},
            }
        )


def patient_resource(code: str) -> dict[str, Any]:
    phones = [{"system": "phone", "value": phone, "use": "mobile"} for phone in (APP_PHONE, BROWSER_PHONE)]
    return {
        "resourceType": "Patient",
        "id": f"bn-{CCCD[-6:]}",
        "identifier": [{"system": NATIONAL_ID, "value": CCCD}],
        "name": [{"family": "Trần", "given": ["Thị", "Bích"], "text": "Trần Thị Bích"}],
        "gender": "female",
        "birthDate": "1985-04-12",
        "telecom": phones,
    }


def full_url(code: str, resource: dict[str, Any]) -> str:
    """The same resource always has the same `urn:uuid` (a facility's own ids are unique per facility)."""
    name = f"{code}/{resource['resourceType']}/{resource['id']}"
    return f"urn:uuid:{uuid.uuid5(ID_NAMESPACE, name)}"


def patient_url(code: str) -> str:
    return full_url(code, patient_resource(code))


def visits(records: int, today: date) -> Iterator[Visit]:
    """Newest first, round the facilities, until the visits hold `records` records with each facility's
    Patient: so the last follow-up a facility booked is the one still ahead."""
    rng = random.Random(2025)
    codes = list(FACILITIES)
    later_visit: dict[str, date] = {}  # the facility's next visit, seen already as we go back in time
    left = records - len(codes)
    number = 0
    while left > 0:
        code, day = codes[number % len(codes)], today - timedelta(days=3 + DAYS_BETWEEN_VISITS * number)
        visit = Visit(code, number, day, rng)
        visit.diagnoses()
        visit.results()
        visit.prescription()
        booked = code not in later_visit
        visit.follow_up(later_visit.get(code) or today + timedelta(days=10 + 7 * number), booked)
        if number % 7 == 0:
            visit.referral(codes[(number + 1) % len(codes)])
        if number % 10 == 0:
            visit.document()
        if number < len(ALLERGIES):
            visit.allergy(*ALLERGIES[number])
        if number == 0:
            visit.blood_group()
        visit.resources = visit.resources[:left]
        left -= len(visit.resources)
        later_visit[code] = day
        number += 1
        yield visit


def transaction_bundle(visit: Visit) -> dict[str, Any]:
    patient = patient_resource(visit.code)
    conditional = {"method": "PUT", "url": f"Patient?identifier={NATIONAL_ID}|{CCCD}"}
    entries = [{"fullUrl": patient_url(visit.code), "resource": patient, "request": conditional}]
    for resource in visit.resources:
        request = {"method": "POST", "url": resource["resourceType"]}
        entries.append({"fullUrl": full_url(visit.code, resource), "resource": resource, "request": request})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


async def push_book(server: ScratchServer, records: int) -> None:
    """Oldest visit first, as the facilities would have sent them over the years."""
    pushes = [(visit.code, transaction_bundle(visit)) for visit in visits(records, date.today())][::-1]
    began = time.perf_counter()
    async with httpx.AsyncClient(base_url=server.url, timeout=120) as client:
        for code, bundle in pushes:
            body = json.dumps(bundle, ensure_ascii=False)
            headers = sender_headers(
                server.secrets[code], body, f"bench_{uuid.uuid4().hex}", datetime.now(UTC), "application/fhir+json"
            )
            response = await client.post(f"/api/hospital/v1/{code}/fhir", content=body.encode(), headers=headers)
            if response.status_code != 200:
                raise SystemExit(f"push refused: {response.status_code} {response.text[:300]}")
    elapsed = time.perf_counter() - began
    print(f"pushed {len(pushes)} signed bundles from {len(FACILITIES)} facilities in {elapsed:.1f} s")


async def stored_records(database_url: str) -> dict[str, int]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT r.resource_type, count(*) AS n FROM record r JOIN patient p ON p.id = r.patient_id"
            " WHERE p.cccd = $1 AND NOT r.deleted GROUP BY 1 ORDER BY 2 DESC",
            CCCD,
        )
    finally:
        await connection.close()
    return {row["resource_type"]: row["n"] for row in rows}


# --- signing in ---------------------------------------------------------------------------------------


def sent_codes(outbox: Path, phone: str) -> list[str]:
    """The codes texted to this phone so far, oldest first."""
    e164 = normalize_phone(phone)
    lines = outbox.read_text(encoding="utf-8").splitlines() if outbox.exists() else []
    texts = [message["text"] for message in map(json.loads, lines) if message["to"] == e164]
    return [re.findall(r"\b\d{6}\b", text)[0] for text in texts]


async def wait_for_code(outbox: Path, phone: str, timeout: float = 15) -> str:
    """The SMS is sent after the answer: wait for this phone's code."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if codes := sent_codes(outbox, phone):
            return codes[-1]
        await asyncio.sleep(0.1)
    raise SystemExit(f"no code for {phone} in {outbox}")


def expect(response: httpx.Response, status: int) -> httpx.Response:
    if response.status_code != status:
        where = response.headers.get("location", "")
        request = response.request
        raise SystemExit(f"{request.method} {request.url.path}: {response.status_code} {where}{response.text[:300]}")
    return response


async def sign_in_app(client: httpx.AsyncClient, outbox: Path) -> dict[str, str]:
    """Contract §4 as an app: a code, the tokens, consent. Returns the Authorization header."""
    sent = expect(await client.post("/api/patient/v1/auth/otp", json={"phone": APP_PHONE}), 202)
    code = await wait_for_code(outbox, APP_PHONE)
    answer = {"challenge_id": sent.json()["challenge_id"], "code": code}
    tokens = expect(await client.post("/api/patient/v1/auth/otp/verify", json=answer), 200).json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    await consent(client, bearer)
    return bearer


async def consent(client: httpx.AsyncClient, credentials: dict[str, str]) -> None:
    """Consent is recorded per book and phone: each sign-in gives its own."""
    notice = expect(await client.get("/api/patient/v1/privacy-notice"), 200).json()
    answer = {"version": notice["version"]}
    expect(await client.post("/api/patient/v1/consent", json=answer, headers=credentials), 204)


def set_cookies(response: httpx.Response) -> dict[str, str]:
    cookies: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        cookies.load(header)
    return {name: morsel.value for name, morsel in cookies.items()}


def cookie_header(cookies: dict[str, str]) -> dict[str, str]:
    return {"Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items())}


async def sign_in_browser(client: httpx.AsyncClient, outbox: Path) -> dict[str, str]:
    """The web forms, as a browser without JavaScript, then consent as the page's htmx would send it (the
    CSRF token as a header). Returns the Cookie header with the session and CSRF cookies."""
    login = expect(await client.get("/login"), 200)
    cookies = set_cookies(login)
    found = re.search(r'name="_csrf_token" value="([^"]+)"', login.text)
    if found is None:
        raise SystemExit("no CSRF field on /login")
    token = found.group(1)
    form = {"phone": BROWSER_PHONE, "_csrf_token": token}
    sent = expect(await client.post("/login", data=form, headers=cookie_header(cookies), follow_redirects=False), 303)
    challenge = sent.headers["location"].split("c=", 1)[1]
    form = {"challenge": challenge, "code": await wait_for_code(outbox, BROWSER_PHONE), "_csrf_token": token}
    signed_in = expect(
        await client.post("/login/code", data=form, headers=cookie_header(cookies), follow_redirects=False), 303
    )
    cookies.update(set_cookies(signed_in))
    await consent(client, {**cookie_header(cookies), "X-CSRF-Token": token})
    return cookie_header(cookies)


# --- measuring ----------------------------------------------------------------------------------------


def brotli_compress() -> Callable[[bytes], bytes] | None:
    try:
        brotli = importlib.import_module("brotli")
    except ImportError:
        return None
    return lambda body: bytes(brotli.compress(body, quality=5))


BROTLI = brotli_compress()


@dataclass
class Route:
    path: str
    headers: dict[str, str]
    timings: list[float] = field(default_factory=list)
    app_cpu: list[float] = field(default_factory=list)
    database_cpu: list[float] = field(default_factory=list)
    body: bytes = b""
    wire_bytes: int = 0
    items: int | None = None  # entries of a FHIR Bundle


@dataclass(frozen=True)
class Sizes:
    raw: int
    gzip: int
    brotli: int | None

    @classmethod
    def of(cls, body: bytes) -> Sizes:
        return cls(len(body), len(gzip.compress(body, 6)), len(BROTLI(body)) if BROTLI else None)

    def __add__(self, other: Sizes) -> Sizes:
        brotli = self.brotli + other.brotli if self.brotli is not None and other.brotli is not None else None
        return Sizes(self.raw + other.raw, self.gzip + other.gzip, brotli)


class ServerCpu:
    """CPU time used by the app's processes and by its database connections. On a busy machine the wall
    time includes waiting for a CPU; these do not. Read from Linux's `/proc/…/schedstat` (nanoseconds;
    `cpu_times` counts 10 ms ticks, too coarse for one request). The connections are found on a local
    server only; elsewhere their column is empty."""

    def __init__(self, app_pid: int) -> None:
        app = psutil.Process(app_pid)
        self.app = [app.pid, *(child.pid for child in app.children(recursive=True))]
        self.database: list[int] = []

    async def find_connections(self, database_url: str, name: str) -> None:
        connection = await asyncpg.connect(database_url)
        try:
            rows = await connection.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name
            )
        finally:
            await connection.close()
        pids = [row["pid"] for row in rows if psutil.pid_exists(row["pid"])]
        self.database = [pid for pid in pids if psutil.Process(pid).name() == "postgres"]

    def sample(self) -> tuple[float, float]:
        return cpu_ms(self.app), cpu_ms(self.database) if self.database else math.nan


def cpu_ms(pids: list[int]) -> float:
    """Time on a CPU so far of every thread of these processes."""
    total = 0
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("*/schedstat"):
            with contextlib.suppress(OSError):  # a thread that just ended
                total += int(task.read_text().split()[0])
    return total / 1e6


async def fetch(client: httpx.AsyncClient, route: Route) -> None:
    """One GET as a browser sends it; a redirect (to /consent, to /login) would measure the wrong page."""
    response = await client.get(route.path, headers={**route.headers, "Accept-Encoding": "gzip"})
    expect(response, 200)
    route.body, route.wire_bytes = response.content, response.num_bytes_downloaded


async def read(client: httpx.AsyncClient, route: Route, cpu: ServerCpu) -> None:
    app_before, database_before = cpu.sample()
    started = time.perf_counter()
    await fetch(client, route)
    elapsed = (time.perf_counter() - started) * 1000
    app_after, database_after = cpu.sample()
    route.timings.append(elapsed)
    route.app_cpu.append(app_after - app_before)
    route.database_cpu.append(database_after - database_before)


async def warm_up(client: httpx.AsyncClient, routes: list[Route]) -> None:
    """First renders, caches and the connection pool filling are not what a patient waits for."""
    for _ in range(WARMUP_ROUNDS):
        for route in routes:
            expect(await client.get(route.path, headers=route.headers), 200)


async def measure(client: httpx.AsyncClient, routes: list[Route], rounds: int, cpu: ServerCpu) -> None:
    """Round-robin, so that whatever else the machine does falls on every route alike."""
    for _ in range(rounds):
        for route in routes:
            await read(client, route, cpu)
    for route in routes:
        if route.path.endswith("/fhir"):
            route.items = len(json.loads(route.body)["entry"])


async def encodings_honoured(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> dict[str, str]:
    """What the server answers to each encoding a browser offers (raw bytes: nothing decoded here)."""
    answered = {}
    for encoding in ("gzip", "br", "zstd", "deflate"):
        async with client.stream("GET", path, headers={**headers, "Accept-Encoding": encoding}) as response:
            await response.aread()
            answered[encoding] = response.headers.get("content-encoding", "none")
    return answered


async def first_load(client: httpx.AsyncClient, page: Route) -> list[Route]:
    """The page and the stylesheets and scripts it links, as a first visit downloads them."""
    html = page.body.decode()
    links = re.findall(r'<link rel="stylesheet" href="([^"]+)"', html) + re.findall(r'<script src="([^"]+)"', html)
    assets = [Route(link, {}) for link in links]
    for asset in assets:
        await fetch(client, asset)
    return [page, *assets]


# --- reporting ----------------------------------------------------------------------------------------


def kb(size: int | None) -> str:
    return "-" if size is None else f"{size / 1024:.1f}"


def print_table(routes: list[Route]) -> None:
    print(
        f"\n{'':<28} {'wall time':^17} {'CPU (median)':^15}\n{'route':<28} {'median ms':>9} {'p95 ms':>7}"
        f" {'app ms':>7} {'db ms':>7} {'raw KB':>8} {'wire KB':>8} {'gzip KB':>8} {'br KB':>7}"
    )
    for route in routes:
        sizes = Sizes.of(route.body)
        items = f"   ({route.items} entries)" if route.items is not None else ""
        print(
            f"{route.path:<28} {statistics.median(route.timings):9.1f} {percentile(route.timings, 0.95):7.1f}"
            f" {statistics.median(route.app_cpu):7.1f} {statistics.median(route.database_cpu):7.1f}"
            f" {kb(sizes.raw):>8} {kb(route.wire_bytes):>8} {kb(sizes.gzip):>8} {kb(sizes.brotli):>7}{items}"
        )


def print_first_load(parts: list[Route]) -> tuple[Sizes, int]:
    """Each part's bytes and the total; returns the total compressed here and as sent."""
    print(f"\n/book, first load{'':<22} {'raw KB':>8} {'wire KB':>8} {'gzip KB':>8} {'br KB':>7}")
    total, wire = Sizes(0, 0, 0 if BROTLI else None), 0
    for part in parts:
        sizes = Sizes.of(part.body)
        name = part.path.split("?", 1)[0]
        print(f"  {name:<37} {kb(sizes.raw):>8} {kb(part.wire_bytes):>8} {kb(sizes.gzip):>8} {kb(sizes.brotli):>7}")
        total, wire = total + sizes, wire + part.wire_bytes
    print(f"  {'total':<37} {kb(total.raw):>8} {kb(wire):>8} {kb(total.gzip):>8} {kb(total.brotli):>7}")
    return total, wire


def print_targets(by_path: dict[str, Route], first: Sizes, first_wire: int) -> None:
    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    book, api, fhir = by_path["/book"], by_path["/api/patient/v1/book"], by_path["/api/patient/v1/book/fhir"]
    smallest = min(size for size in (first.gzip, first.brotli) if size is not None)
    print("\ntargets (issue 6):")
    book_p95, api_p95 = percentile(book.timings, 0.95), percentile(api.timings, 0.95)
    fhir_median = statistics.median(fhir.timings)
    for text, value, ok in (
        ("/book p95 < 50 ms", f"{book_p95:.1f} ms", book_p95 < 50),
        ("/api/patient/v1/book p95 < 50 ms", f"{api_p95:.1f} ms", api_p95 < 50),
        ("/book first load < 60 KB compressed", f"{kb(smallest)} KB", smallest < 60 * 1024),
        ("/api/patient/v1/book/fhir median < 100 ms", f"{fhir_median:.1f} ms", fhir_median < 100),
    ):
        print(f"  {text:<44} {value:>10}   {verdict(ok)}")
    if first_wire >= 60 * 1024:  # the target counts compressed bytes; this server sent these
        print(f"  (as this server sends it, without compression: {kb(first_wire)} KB on first load)")


# --- the run ------------------------------------------------------------------------------------------


async def run(server: ScratchServer, records: int, rounds: int) -> None:
    assert server.outbox is not None
    await push_book(server, records)
    stored = await stored_records(server.database_url)
    mix = ", ".join(f"{resource_type} {count}" for resource_type, count in stored.items())
    print(f"stored for the patient: {sum(stored.values())} current records ({mix})")
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        bearer = await sign_in_app(client, server.outbox)
        cookies = await sign_in_browser(client, server.outbox)
        routes = [
            Route("/book", cookies),
            *(Route(f"/book/{name}", cookies) for name in SECTIONS),
            Route("/api/patient/v1/book", bearer),
            Route("/api/patient/v1/book/fhir", bearer),
        ]
        honoured = await encodings_honoured(client, "/book", cookies)
        print(
            "the server's answer on /book to Accept-Encoding: " + ", ".join(f"{a} → {b}" for a, b in honoured.items())
        )
        compressed_here = "gzip -6, brotli 5" if BROTLI else "gzip -6; brotli: no module installed"
        print(f"{rounds} rounds over {len(routes)} routes, one request at a time; compressed here: {compressed_here}")
        await warm_up(client, routes)
        cpu = ServerCpu(server.pid)
        await cpu.find_connections(server.database_url, server.name)
        await measure(client, routes, rounds, cpu)
        print_table(routes)
        first, first_wire = print_first_load(await first_load(client, routes[0]))
    print_targets({route.path: route for route in routes}, first, first_wire)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=2000, help="the patient's current records (default 2000)")
    parser.add_argument("--rounds", type=int, default=40, help="timed reads of each route (default 40)")
    parser.add_argument("--workers", type=int, default=1, help="WORKERS of the server (default 1)")
    options = parser.parse_args()
    async with ScratchServer(options.workers, FACILITIES, sms_outbox=True) as server:
        print(f"server: {server.url} (WORKERS={options.workers}), database {server.name}; {load()}")
        await run(server, options.records, options.rounds)
        print(f"after the run: {load()}")


def load() -> str:
    """Timings on a busy machine are not timings of the app alone: say how busy it was."""
    one, five, _ = os.getloadavg()
    return f"{os.cpu_count()} CPUs, load average {one:.1f} (1 min) {five:.1f} (5 min)"


if __name__ == "__main__":
    asyncio.run(main())
