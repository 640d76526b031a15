"""One-time codes (checks A1–A6)."""

from __future__ import annotations

import ast
import inspect
import re
import secrets
from collections import Counter
from pathlib import Path

import httpx
import pytest
from litestar import Litestar

from backend.auth import otp
from backend.auth.otp import OneTimeCodes, new_code
from backend.backup.server import server_facts
from tests.support.clock import FakeClock
from tests.support.concurrency import ConcurrentClient, concurrent_client, released_together
from tests.support.databases import plain_dump
from tests.support.hospital import count, fetch
from tests.support.patients import PHONE, PHONE_E164, Client, Outbox, bearer, request_code, verify


async def challenge(client: Client, phone: str = PHONE) -> str:
    sent = await request_code(client, phone)
    assert sent.status_code == 202, sent.text
    return str(sent.json()["challenge_id"])


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


@pytest.mark.usefixtures("visit")
async def test_a1_five_wrong_codes_kill_the_challenge(
    app: Litestar,
    client: Client,
    outbox: Outbox,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    challenge_id = await challenge(client)
    code = outbox.last_code()
    for _ in range(5):
        response = await verify(client, challenge_id, wrong(code))
        assert response.status_code == 400, response.text
    assert (await verify(client, challenge_id, code)).status_code == 410  # the 6th, although right
    events = await fetch(app, "SELECT event, detail, phone_masked FROM auth_event ORDER BY id")
    failures = [row["event"] for row in events if row["event"] in ("auth.otp_failed", "auth.otp_locked")]
    assert failures == ["auth.otp_failed"] * 5 + ["auth.otp_locked"]  # every failure; the 5th also locks
    assert all(code not in str(dict(row)) for row in events)
    logged = [record.msg.get("event") for record in caplog.records if isinstance(record.msg, dict)]
    assert [event for event in logged if event in ("auth.otp_failed", "auth.otp_locked")] == failures
    assert code not in caplog.text + capsys.readouterr().err


async def verify_at_once(raw: ConcurrentClient, challenge_id: str, code: str) -> httpx.Response:
    return await raw.post("/api/patient/v1/auth/otp/verify", json={"challenge_id": challenge_id, "code": code})


@pytest.mark.usefixtures("visit")
async def test_a2_fifty_parallel_guesses_count_exactly_five(app: Litestar, client: Client, outbox: Outbox) -> None:
    challenge_id = await challenge(client)
    code = outbox.last_code()
    guesses = [f"{(int(code) + offset) % 10**6:06d}" for offset in range(1, 51)]
    async with concurrent_client(client) as raw:
        tries = [verify_at_once(raw, challenge_id, guess) for guess in guesses]
        responses = await released_together(app, "login_challenge", tries)
    assert Counter(response.status_code for response in responses) == {400: 5, 410: 45}
    (row,) = await fetch(app, "SELECT attempts, used_at FROM login_challenge")
    assert row["attempts"] == 5 and row["used_at"] is None
    assert (await verify(client, challenge_id, code)).status_code == 410


@pytest.mark.usefixtures("visit")
async def test_twenty_parallel_right_codes_open_one_session(app: Litestar, client: Client, outbox: Outbox) -> None:
    challenge_id = await challenge(client)
    code = outbox.last_code()
    async with concurrent_client(client) as raw:
        tries = [verify_at_once(raw, challenge_id, code) for _ in range(20)]
        responses = await released_together(app, "login_challenge", tries)
        assert Counter(response.status_code for response in responses) == {200: 1, 410: 19}
        (signed_in,) = [response for response in responses if response.status_code == 200]
        book = await raw.get("/api/patient/v1/book", headers=bearer(signed_in.json()["access_token"]))
        assert book.status_code == 200, book.text
    assert await count(app, "auth_session") == 1
    assert await count(app, "auth_event", "event = 'auth.signed_in'") == 1
    (row,) = await fetch(app, "SELECT used_at FROM login_challenge")
    assert row["used_at"] is not None


async def test_a4_ten_parallel_sends_for_one_phone_send_one_code(app: Litestar, client: Client, outbox: Outbox) -> None:
    async with concurrent_client(client) as raw:
        sends = [raw.post("/api/patient/v1/auth/otp", json={"phone": PHONE}) for _ in range(10)]
        responses = await released_together(app, "login_challenge", sends)
    assert Counter(response.status_code for response in responses) == {202: 1, 429: 9}
    assert await count(app, "login_challenge") == 1
    assert len(outbox.messages()) == 1


@pytest.mark.usefixtures("visit")
async def test_a3_expiry_single_use_and_binding(client: Client, outbox: Outbox, clock: FakeClock) -> None:
    first = await challenge(client)
    first_code = outbox.last_code()
    clock.advance(seconds=301)  # 5 minutes + 1 second
    assert (await verify(client, first, first_code)).status_code == 410

    clock.advance(seconds=60)
    second = await challenge(client)
    second_code = outbox.last_code()
    assert (await verify(client, second, second_code)).status_code == 200
    assert (await verify(client, second, second_code)).status_code == 410  # used

    clock.advance(seconds=61)
    third = await challenge(client)
    assert (await verify(client, third, second_code)).status_code == 400  # another challenge's code


@pytest.mark.usefixtures("visit")
async def test_a4_send_limits_per_phone(client: Client, outbox: Outbox, clock: FakeClock) -> None:
    assert (await request_code(client)).status_code == 202
    limited = await request_code(client)
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) <= 60
    assert len(outbox.messages()) == 1  # nothing sent for the limited request
    clock.advance(seconds=61)
    assert (await request_code(client)).status_code == 202
    clock.advance(seconds=61)
    assert (await request_code(client)).status_code == 202
    clock.advance(seconds=61)
    assert (await request_code(client)).status_code == 429  # a 4th within 10 minutes
    for _ in range(7):
        clock.advance(minutes=11)
        assert (await request_code(client)).status_code == 202
    clock.advance(minutes=11)
    assert (await request_code(client)).status_code == 429  # an 11th within a day
    assert len(outbox.messages()) == 10


async def test_a4_send_limits_per_client_address(client: Client, outbox: Outbox) -> None:
    for number in range(30):
        assert (await request_code(client, f"09{number:08d}")).status_code == 202
    assert (await request_code(client, "0988888888")).status_code == 429
    assert len(outbox.messages()) == 30


async def test_a4_the_daily_budget_stops_sending_and_logs_an_error(
    var_dir: Path, database_url: str, outbox: Outbox, capsys: pytest.CaptureFixture[str]
) -> None:
    from litestar.testing import AsyncTestClient

    from backend.app import create_app
    from tests.conftest import make_settings

    settings = make_settings(
        var_dir, DATABASE_URL=database_url, SMS_BACKEND=f"file:{outbox.path}", SMS_DAILY_BUDGET="2"
    )
    async with AsyncTestClient(create_app(settings), base_url="https://testserver.local") as client:
        assert (await request_code(client, "0911111111")).status_code == 202
        assert (await request_code(client, "0922222222")).status_code == 202
        stopped = await request_code(client, "0933333333")
    assert stopped.status_code == 503 and int(stopped.headers["retry-after"]) > 0
    assert len(outbox.messages()) == 2
    assert "sms daily budget reached" in capsys.readouterr().err


def test_a5_codes_are_uniform_digits() -> None:
    digits = Counter(char for _ in range(200_000) for char in new_code())
    expected = 200_000 * 6 / 10
    chi_square = sum((digits[str(d)] - expected) ** 2 / expected for d in range(10))
    assert chi_square < 27.88  # 9 degrees of freedom, p = 0.001


def test_a5_codes_come_from_secrets_and_nothing_imports_random() -> None:
    """The source, as A5 asks: `new_code` draws from `secrets.randbelow` (the stdlib's CSPRNG, not a
    look-alike bound to that name), the code `OneTimeCodes.issue` writes is `new_code()`'s, and the
    module imports no `random` in any form (`import random`, `from random import …`, `numpy.random`)."""
    assert vars(otp)["secrets"] is secrets  # the module `new_code` calls through
    assert "secrets.randbelow(10**6)" in inspect.getsource(new_code)
    assert "code = new_code()" in inspect.getsource(OneTimeCodes.issue)
    imported = set()
    for node in ast.walk(ast.parse(inspect.getsource(otp))):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported |= {node.module or "", *(f"{node.module}.{alias.name}" for alias in node.names)}
    assert "secrets" in imported
    assert not [name for name in imported if "random" in name.split(".")]


async def test_a5_the_code_is_stored_only_as_an_hmac(
    app: Litestar, client: Client, outbox: Outbox, database_url: str
) -> None:
    """20 codes issued (20 phones, one address, one minute), then the whole database dumped in plain
    text by the version-matched `pg_dump`: no issued code is in it, neither as a token of its own
    (between characters that are not letters or digits: a text, integer or JSON value, a `key:code`)
    nor as the hex of its ASCII bytes (a `bytea`). A code inside a longer run of letters and digits is
    not looked for: a random UUID or HMAC in hex would hold one now and then by chance. The dump is
    shown to hold the challenges (each id is in it), and each row, as JSON, does not hold its code."""
    phones = [f"+8490000{n:04d}" for n in range(20)]
    challenges = {phone: await challenge(client, phone) for phone in phones}
    codes = {outbox.last_code(phone) for phone in phones}
    dump = plain_dump(database_url, (await server_facts(database_url)).major)
    assert "COPY public.login_challenge " in dump
    assert all(challenge_id in dump for challenge_id in challenges.values())
    found = [code for code in codes if re.search(rf"(?<![0-9A-Za-z]){code}(?![0-9A-Za-z])", dump)]
    found += [code for code in codes if code.encode().hex() in dump]
    assert found == []
    rows = await fetch(app, "SELECT id::text, row_to_json(c)::text AS dump FROM login_challenge c")
    assert len(rows) == 20
    for phone, challenge_id in challenges.items():
        (row,) = [row for row in rows if row["id"] == challenge_id]
        assert outbox.last_code(phone) not in row["dump"]


async def test_a6_known_and_unknown_phones_look_the_same(
    app: Litestar, client: Client, outbox: Outbox, visit: None
) -> None:
    """`POST /auth/otp` and then `/otp/verify`, for a phone a hospital recorded (it opens the sample
    patient's book) and for a phone nobody knows. Sending: the same status and body keys, a challenge
    row and an SMS for each. Verifying a wrong code: the same status and the same body, and the try
    counted alike (`attempts`, an `auth.otp_failed` event). Verifying the right code then: the same status
    and body keys, a session and an `auth.signed_in` event for each; only the `books` differ, which the
    right code entitles the holder of the phone to see."""
    unknown_phone, unknown_e164 = "0977 000 111", "+84977000111"
    known, unknown = await request_code(client, PHONE), await request_code(client, unknown_phone)
    assert known.status_code == unknown.status_code == 202
    assert known.json().keys() == unknown.json().keys()
    assert await count(app, "login_challenge") == 2
    assert {message["to"] for message in outbox.messages()} == {PHONE_E164, unknown_e164}
    sent = [(known.json()["challenge_id"], outbox.last_code(PHONE_E164))]
    sent.append((unknown.json()["challenge_id"], outbox.last_code(unknown_e164)))
    challenges = [challenge_id for challenge_id, _ in sent]

    wrong_known, wrong_unknown = [await verify(client, challenge_id, wrong(code)) for challenge_id, code in sent]
    assert wrong_known.status_code == wrong_unknown.status_code == 400
    assert wrong_known.json() == wrong_unknown.json()  # "this code is not right; 4 tries left"
    rows = await fetch(app, "SELECT id::text, attempts, used_at FROM login_challenge")
    assert {row["id"]: (row["attempts"], row["used_at"]) for row in rows} == {c: (1, None) for c in challenges}
    failed = await fetch(app, "SELECT detail FROM auth_event WHERE event = 'auth.otp_failed'")
    assert sorted(row["detail"] for row in failed) == sorted(challenges)

    right_known, right_unknown = [await verify(client, challenge_id, code) for challenge_id, code in sent]
    assert right_known.status_code == right_unknown.status_code == 200
    assert right_known.json().keys() == right_unknown.json().keys()
    assert right_unknown.json().keys() >= {"access_token", "refresh_token", "token_type", "expires_in", "books"}
    assert right_unknown.json()["books"] == [] and len(right_known.json()["books"]) == 1
    rows = await fetch(app, "SELECT attempts, used_at FROM login_challenge")
    assert all(row["attempts"] == 2 and row["used_at"] is not None for row in rows)
    assert await count(app, "auth_session") == 2
    assert await count(app, "auth_event", "event = 'auth.signed_in'") == 2


@pytest.mark.parametrize("phone", ["", "12345", "+1 202 555 0100", "abc", "0" * 40])
async def test_a_phone_that_is_not_vietnamese_is_400(client: Client, outbox: Outbox, phone: str) -> None:
    response = await request_code(client, phone)
    assert response.status_code == 400
    assert outbox.messages() == []


async def test_the_sms_is_short_and_ascii(client: Client, outbox: Outbox) -> None:
    await request_code(client)
    (message,) = outbox.messages()
    assert message["text"].isascii() and len(message["text"]) <= 160
    assert len(re.findall(r"\d{6}", message["text"])) == 1


@pytest.mark.parametrize(
    ("phone", "e164"),
    [("0912 345 678", "+84912345678"), ("+84912345678", "+84912345678"), ("84912345678", "+84912345678")],
)
async def test_every_written_form_of_a_number_is_the_same_phone(
    client: Client, outbox: Outbox, phone: str, e164: str
) -> None:
    assert (await request_code(client, phone)).status_code == 202
    assert outbox.messages()[-1]["to"] == e164
