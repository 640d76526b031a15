"""Two workers behind one port (issue 12: "no in-process state that breaks with two workers (sessions, limits,
the demo identity provider, generated dev keys are all in PostgreSQL or created once, safely); a test runs two
workers behind one port and signs in, pushes and reads across them").

`healthbook serve` runs with `WORKERS=2` (contract §2) over a database of its own, from a var dir that starts
empty: no `SECRET_KEY` or `DATA_KEYS` is given, so the dev keys are generated. uvicorn's workers share one
listening socket and a connection stays with the worker that accepted it, so every step below opens fresh
connections until one lands on the worker the step wants, and sends its request on that connection. Which
worker holds a connection is read off the process table: the worker with the socket whose peer is the
client's port (psutil).
"""

from __future__ import annotations

import html
import json
import multiprocessing
import re
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import psutil
import pytest

from backend.database import Database, to_async_url
from backend.hospitals.registry import add_facility
from backend.keyring import Keyring
from backend.phones import normalize_phone
from backend.settings import load_settings
from tests.conftest import make_settings
from tests.integration.oidc.steps import AN
from tests.integration.sharing.shl import ACCESS_LOG, RECIPIENT, SHARES, decode_shlink, decrypt_jwe, path_of
from tests.support.databases import create_test_database, drop_database
from tests.support.hospital import CCCD, FACILITY, OTHER_FACILITY, sample, webhook_headers
from tests.support.patients import PHONE, PHONE_E164, Outbox, bearer
from tests.support.processes import free_port, healthbook_env, start_healthbook, stop, wait_until_healthy

if TYPE_CHECKING:  # imported at run time, pytest would try to collect it as a test class
    from tests.support.databases import TestServer

DATABASE_NUMBER = 12_000_002  # the module's own database (conftest numbers the per-test ones from 0)
ATTEMPTS = 60  # fresh connections tried per request: each lands on a given worker about every other time
SHARING_FACILITY, SHARING_CCCD, SHARING_PHONE = "79001", "001095000222", "+84911000222"
LIMITS_FACILITY, LIMITS_CCCD, LIMITS_PHONE = "79002", "001095000333", "+84911000333"
AUTH = "/api/patient/v1/auth"
OTP = f"{AUTH}/otp"
BOOK = "/api/patient/v1/book"


class Browser:
    """A browser's cookies, kept by hand: 127.0.0.1 is a secure origin (as browsers treat it), so the server
    sets `Secure` `__Host-` cookies, which httpx sends only over https."""

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}

    def headers(self) -> dict[str, str]:
        return {"Cookie": "; ".join(f"{name}={value}" for name, value in self.cookies.items())} if self.cookies else {}

    def keep(self, response: httpx.Response) -> None:
        for header in response.headers.get_list("set-cookie"):
            parsed: SimpleCookie = SimpleCookie()
            parsed.load(header)
            for name, morsel in parsed.items():
                if morsel.value and morsel["max-age"] != "0":
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)


def _client_port(response: httpx.Response) -> int:
    return int(response.extensions["network_stream"].get_extra_info("client_addr")[1])


@dataclass
class Workers:
    """One `healthbook serve` with two workers, and requests sent to the worker of our choice."""

    base_url: str
    port: int
    pids: tuple[int, int]
    var_dir: Path
    database_url: str
    outbox: Outbox

    def worker_of(self, response: httpx.Response) -> int | None:
        """The worker holding the (kept-alive, so still open) connection `response` came on."""
        client_port = _client_port(response)
        for pid in self.pids:
            for connection in psutil.Process(pid).net_connections(kind="tcp4"):
                if connection.laddr.port == self.port and connection.raddr and connection.raddr.port == client_port:
                    return pid
        return None

    @contextmanager
    def connection_to(self, pid: int) -> Iterator[Connection]:
        """A fresh connection that worker `pid` accepted (others are opened and closed until one is)."""
        for _ in range(ATTEMPTS):
            with httpx.Client(base_url=self.base_url, timeout=60) as client:
                probe = client.get("/healthz")
                assert probe.status_code == 200, probe.text
                if self.worker_of(probe) == pid:
                    yield Connection(self, pid, client, _client_port(probe))
                    return
        raise AssertionError(f"none of {ATTEMPTS} connections reached worker {pid}")

    def send(self, pid: int, method: str, url: str, **options: Any) -> httpx.Response:
        """`method url` on a fresh connection that worker `pid` accepted."""
        with self.connection_to(pid) as connection:
            return connection.send(method, url, **options)

    def push(self, pid: int, code: str, secret: str, body: bytes, webhook_id: str | None = None) -> httpx.Response:
        headers = webhook_headers(secret, body, webhook_id=webhook_id)
        return self.send(pid, "POST", f"/api/hospital/v1/{code}/fhir", content=body, headers=headers)

    def sign_in(self, send_on: int, verify_on: int, phone: str) -> dict[str, Any]:
        """A code asked for on one worker and entered on the other: the verify answer."""
        sent = self.send(send_on, "POST", OTP, json={"phone": phone})
        assert sent.status_code == 202, sent.text
        code = self.outbox.last_code(normalize_phone(phone) or "")
        body = {"challenge_id": sent.json()["challenge_id"], "code": code}
        verified = self.send(verify_on, "POST", f"{OTP}/verify", json=body)
        assert verified.status_code == 200, verified.text
        return dict(verified.json())


@dataclass
class Connection:
    """One kept-alive connection to a known worker."""

    workers: Workers
    pid: int
    client: httpx.Client
    port: int  # the client's end

    def send(
        self,
        method: str,
        url: str,
        *,
        browser: Browser | None = None,
        headers: dict[str, str] | None = None,
        **options: Any,
    ) -> httpx.Response:
        sent_headers = {**(headers or {}), **(browser.headers() if browser else {})}
        response = self.client.request(method, url, headers=sent_headers, **options)
        assert _client_port(response) == self.port  # still the same connection, so the same worker
        if browser is not None:
            browser.keep(response)
        return response


def the_visit(code: str = FACILITY, cccd: str = CCCD, phone: str = PHONE_E164) -> bytes:
    """The sample visit as facility `code` sends it, about this person (its ids are the facility's own)."""
    body = sample("fhir-visit-bundle.json")
    return (
        body.replace(FACILITY.encode(), code.encode())
        .replace(CCCD.encode(), cccd.encode())
        .replace(PHONE_E164.encode(), phone.encode())
    )


@pytest.fixture(scope="module")
async def module_database(test_server: TestServer, template_database: str) -> AsyncIterator[str]:
    name = await create_test_database(test_server, template_database, DATABASE_NUMBER)
    yield test_server.url_for(name)
    await drop_database(test_server, name)


def worker_pids(process: subprocess.Popen[bytes], port: int) -> list[int]:
    """The children of `healthbook serve` that listen on its port (not uvicorn's other helpers)."""
    found = []
    for child in psutil.Process(process.pid).children(recursive=True):
        try:
            sockets = child.net_connections(kind="tcp4")
        except psutil.NoSuchProcess:
            continue
        if any(s.status == psutil.CONN_LISTEN and s.laddr.port == port for s in sockets):
            found.append(child.pid)
    return sorted(found)


@pytest.fixture(scope="module")
def workers(module_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    var_dir = tmp_path_factory.mktemp("empty-var")
    assert not list(var_dir.iterdir())
    folder = tmp_path_factory.mktemp("two-workers")
    outbox, log, port = Outbox(folder / "sms.jsonl"), folder / "server.log", free_port()
    env = healthbook_env(
        var_dir, DATABASE_URL=module_database, PORT=str(port), WORKERS="2", SMS_BACKEND=f"file:{outbox.path}"
    )
    process = start_healthbook("serve", env=env, log=log)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base_url, process, log)
        # The first worker up answers /healthz: wait (bounded) until the second takes connections too.
        deadline = time.monotonic() + 60
        while len(pids := worker_pids(process, port)) != 2:
            assert time.monotonic() < deadline, f"two workers never listened:\n{log.read_text()}"
            time.sleep(0.1)
        served = Workers(base_url, port, (pids[0], pids[1]), var_dir, module_database, outbox)
        seen: set[int] = set()
        while seen != set(pids):
            assert time.monotonic() < deadline, f"both workers never answered:\n{log.read_text()}"
            with httpx.Client(base_url=base_url, timeout=60) as client:
                pid = served.worker_of(client.get("/healthz"))
            seen |= {pid} if pid is not None else set()
            time.sleep(0.05)
        yield served
    finally:
        stop(process)


@pytest.fixture(scope="module")
async def webhook_secrets(workers: Workers) -> dict[str, str]:
    """The facilities of these tests, registered by this process with the DATA_KEYS the server generated
    (read from its var dir, as any other process of the node would): their webhook secrets."""
    keyring = Keyring(make_settings(workers.var_dir, DATABASE_URL=workers.database_url).data_keys)
    database = Database(to_async_url(workers.database_url), pool_size=1, max_overflow=0)
    registered = {}
    try:
        async with database.sessionmaker() as session, session.begin():
            for code in (FACILITY, OTHER_FACILITY, SHARING_FACILITY, LIMITS_FACILITY):
                registered[code] = (await add_facility(session, keyring, code, f"Bệnh viện {code}"))[1]
    finally:
        await database.dispose()
    return registered


def relative(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def test_dev_keys_made_in_an_empty_var_dir_are_the_same_in_both_workers(
    workers: Workers, webhook_secrets: dict[str, str]
) -> None:
    """Generated once, on the way up, one file each, owner-only, nothing half-written left behind; and both
    workers hold the same keys: a code one keyed with SECRET_KEY is right on the other (both ways), the
    demo identity provider's signing key (derived from SECRET_KEY) is one key, and a webhook secret this
    process sealed with the var dir's DATA_KEYS opens in both."""
    assert sorted(path.name for path in workers.var_dir.iterdir()) == ["data_keys", "secret_key"]
    assert all(path.stat().st_mode & 0o077 == 0 for path in workers.var_dir.iterdir())
    first, second = workers.pids
    for send_on, verify_on, phone in ((first, second, "+84911000401"), (second, first, "+84911000402")):
        assert workers.sign_in(send_on, verify_on, phone)["books"] == []  # numbers no hospital gave: no book
    first_jwks, second_jwks = (workers.send(pid, "GET", "/demo-idp/jwks.json").json() for pid in (first, second))
    assert first_jwks == second_jwks and len(first_jwks["keys"]) == 1
    secret, body = webhook_secrets[OTHER_FACILITY], the_visit(OTHER_FACILITY)
    assert [workers.push(pid, OTHER_FACILITY, secret, body).status_code for pid in (first, second)] == [200, 200]


def test_a_patient_signs_in_pushes_and_reads_across_the_two_workers(
    workers: Workers, webhook_secrets: dict[str, str]
) -> None:
    first, second = workers.pids
    secret, body = webhook_secrets[FACILITY], the_visit()
    pushed = workers.push(first, FACILITY, secret, body, webhook_id="msg_two_workers")
    assert pushed.status_code == 200, pushed.text
    # The same delivery again, to the other worker: answered from the delivery log, as first answered.
    again = workers.push(second, FACILITY, secret, body, webhook_id="msg_two_workers")
    assert (again.status_code, again.content) == (200, pushed.content)

    signed_in = workers.sign_in(first, second, PHONE)  # the code asked for on one worker, entered on the other
    assert [book["name"] for book in signed_in["books"]] == ["Nguyễn Văn An"]
    headers = bearer(signed_in["access_token"])
    overviews = [workers.send(pid, "GET", BOOK, headers=headers) for pid in (second, first)]
    assert [overview.status_code for overview in overviews] == [200, 200]
    assert overviews[0].json() == overviews[1].json() and overviews[0].json()["patient"]["name"] == "Nguyễn Văn An"
    books = [workers.send(pid, "GET", f"{BOOK}/fhir", headers=headers) for pid in (first, second, first, second)]
    assert [book.status_code for book in books] == [200] * 4
    served = [sorted(entry["fullUrl"] for entry in book.json()["entry"]) for book in books]
    assert len(served[0]) >= 9 and all(ids == served[0] for ids in served)

    old_refresh = {"refresh_token": signed_in["refresh_token"]}
    refreshed = workers.send(second, "POST", f"{AUTH}/refresh", json=old_refresh)
    assert refreshed.status_code == 200, refreshed.text
    headers = bearer(refreshed.json()["access_token"])
    assert workers.send(first, "GET", BOOK, headers=headers).status_code == 200
    # The used refresh token presented again, to the other worker: it was copied, the session ends on both.
    assert workers.send(first, "POST", f"{AUTH}/refresh", json=old_refresh).status_code == 401
    assert workers.send(second, "GET", BOOK, headers=headers).status_code == 401


def test_a_share_made_on_one_worker_opens_on_the_other(workers: Workers, webhook_secrets: dict[str, str]) -> None:
    first, second = workers.pids
    visit = the_visit(SHARING_FACILITY, SHARING_CCCD, SHARING_PHONE)
    assert workers.push(second, SHARING_FACILITY, webhook_secrets[SHARING_FACILITY], visit).status_code == 200
    headers = bearer(workers.sign_in(second, first, SHARING_PHONE)["access_token"])
    made = workers.send(first, "POST", SHARES, json={"label": "Khám tim mạch", "expires_in": 3600}, headers=headers)
    assert made.status_code == 201, made.text
    link = decode_shlink(made.json()["shlink"])

    manifest = workers.send(second, "POST", path_of(link["url"]), json={"recipient": RECIPIENT})
    assert manifest.status_code == 200, manifest.text
    (file,) = manifest.json()["files"]
    if "embedded" in file:
        compact = file["embedded"]
    else:
        fetched = workers.send(first, "GET", path_of(file["location"]))
        assert fetched.status_code == 200, fetched.text
        compact = fetched.text
    document = json.loads(decrypt_jwe(compact, link["key"]))
    assert (document["resourceType"], document["type"]) == ("Bundle", "document")

    # The patient sees it from the other worker: the link unsealed there (DATA_KEYS), the open, the reader.
    (listed,) = workers.send(second, "GET", SHARES, headers=headers).json()["shares"]
    assert listed["shlink"] == made.json()["shlink"] and listed["times_opened"] == 1
    events = workers.send(first, "GET", ACCESS_LOG, headers=headers).json()["events"]
    assert [(event["actor"], event["channel"]) for event in events] == [(RECIPIENT, "shl")]

    # A passcode link's wrong guesses count in PostgreSQL, whichever worker hears them.
    body = {"label": "Có mật mã", "expires_in": 3600, "passcode": "2468"}
    guarded = decode_shlink(workers.send(second, "POST", SHARES, json=body, headers=headers).json()["shlink"])
    guess = {"recipient": RECIPIENT, "passcode": "1357"}
    answers = [workers.send(pid, "POST", path_of(guarded["url"]), json=guess) for pid in (first, second, first, second)]
    assert [(answer.status_code, answer.json()["remainingAttempts"]) for answer in answers] == [
        (401, 9),
        (401, 8),
        (401, 7),
        (401, 6),
    ]
    right = {"recipient": RECIPIENT, "passcode": "2468"}
    assert workers.send(first, "POST", path_of(guarded["url"]), json=right).status_code == 200

    assert workers.send(second, "POST", f"{AUTH}/logout", headers=headers).status_code == 204
    assert workers.send(first, "GET", SHARES, headers=headers).status_code == 401  # signed out on both


def test_limits_count_the_requests_of_both_workers(workers: Workers, webhook_secrets: dict[str, str]) -> None:
    """The text-message limit per phone (1 a minute) and a link's manifest limit (30 a minute) hold for the
    node, not per worker: the request over the limit is refused whichever worker gets it."""
    first, second = workers.pids
    visit = the_visit(LIMITS_FACILITY, LIMITS_CCCD, LIMITS_PHONE)
    assert workers.push(first, LIMITS_FACILITY, webhook_secrets[LIMITS_FACILITY], visit).status_code == 200
    headers = bearer(workers.sign_in(first, second, LIMITS_PHONE)["access_token"])  # the minute's one code
    for pid in (second, first):
        refused = workers.send(pid, "POST", OTP, json={"phone": LIMITS_PHONE})
        assert refused.status_code == 429, refused.text
        assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert (
        workers.outbox.messages()[-1]["to"] == LIMITS_PHONE
        and len([message for message in workers.outbox.messages() if message["to"] == LIMITS_PHONE]) == 1
    )

    # Manifest requests without the passcode a `P` link asks for are answered cheaply, and counted.
    body = {"label": "Giới hạn", "expires_in": 3600, "passcode": "2468"}
    link = decode_shlink(workers.send(second, "POST", SHARES, json=body, headers=headers).json()["shlink"])
    manifest = path_of(link["url"])
    with workers.connection_to(first) as on_first, workers.connection_to(second) as on_second:
        asked = [(on_first, on_second)[n % 2].send("POST", manifest, json={"recipient": RECIPIENT}) for n in range(30)]
    assert {answer.status_code for answer in asked} == {401}
    for pid in (first, second):
        over = workers.send(pid, "POST", manifest, json={"recipient": RECIPIENT})
        assert over.status_code == 429, over.text
        assert 1 <= int(over.headers["retry-after"]) <= 60


def test_national_id_sign_in_starts_on_one_worker_and_ends_on_the_other(
    workers: Workers, webhook_secrets: dict[str, str]
) -> None:
    """The flow stored by `/login/oidc` on one worker is used up by the callback on the other; the code the
    demo provider sealed there (DATA_KEYS) is redeemed, and its ID token checked, on the other; the session
    made then reads the book on the first."""
    first, second = workers.pids
    secret, body = webhook_secrets[OTHER_FACILITY], the_visit(OTHER_FACILITY)
    assert workers.push(second, OTHER_FACILITY, secret, body).status_code == 200  # records in Nguyễn Văn An's book
    browser = Browser()
    started = workers.send(first, "GET", "/login/oidc", browser=browser)
    assert started.status_code == 302, started.text
    page = workers.send(second, "GET", relative(started.headers["location"]), browser=browser)
    assert page.status_code == 200, page.text
    (link,) = [html.unescape(href) for href in re.findall(r'href="([^"]+)"', page.text) if f"person={AN}" in href]
    picked = workers.send(first, "GET", link, browser=browser)
    assert picked.status_code == 302, picked.text
    back = workers.send(second, "GET", relative(picked.headers["location"]), browser=browser)
    assert (back.status_code, back.headers.get("location")) == (303, "/book"), back.text
    book = workers.send(first, "GET", BOOK, browser=browser)
    assert book.status_code == 200, book.text
    assert book.json()["patient"]["name"] == "Nguyễn Văn An"


def _load_keys(var_dir: str, barrier: Any, results: Any) -> None:
    barrier.wait()  # all at once
    settings = load_settings({"VAR_DIR": var_dir, "APP_ENV": "dev"})
    results.put((settings.secret_key, tuple((key.key_id, key.key) for key in settings.data_keys)))


def test_processes_starting_together_on_an_empty_var_dir_make_one_set_of_dev_keys(tmp_path: Path) -> None:
    """What every worker (and CLI command) of a node does at start: eight processes load their settings from
    the same empty var dir at the same moment, and all come out with the same keys."""
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(8), context.Queue()
    processes = [context.Process(target=_load_keys, args=(str(tmp_path), barrier, results)) for _ in range(8)]
    for process in processes:
        process.start()
    loaded = {results.get(timeout=60) for _ in processes}
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    assert len(loaded) == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == ["data_keys", "secret_key"]
