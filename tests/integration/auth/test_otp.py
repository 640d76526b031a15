"""One-time codes (checks A1–A6)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import httpx
import pytest
from litestar import Litestar

from backend.auth.otp import new_code
from tests.support.clock import FakeClock
from tests.support.concurrency import ConcurrentClient, concurrent_client, released_together
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


@pytest.mark.usefixtures("visit")
async def test_a5_the_code_is_stored_only_as_an_hmac(app: Litestar, client: Client, outbox: Outbox) -> None:
    await challenge(client)
    code = outbox.last_code()
    rows = await fetch(app, "SELECT row_to_json(c)::text AS dump FROM login_challenge c")
    assert rows and all(code not in row["dump"] for row in rows)


async def test_a6_known_and_unknown_phones_look_the_same(
    app: Litestar, client: Client, outbox: Outbox, visit: None
) -> None:
    known, unknown = await request_code(client, PHONE), await request_code(client, "0977 000 111")
    assert known.status_code == unknown.status_code == 202
    assert known.json().keys() == unknown.json().keys()
    assert await count(app, "login_challenge") == 2
    assert {message["to"] for message in outbox.messages()} == {PHONE_E164, "+84977000111"}
    code = outbox.last_code("+84977000111")
    verified = await verify(client, unknown.json()["challenge_id"], code)
    assert verified.status_code == 200 and verified.json()["books"] == []
    assert verified.json().keys() >= {"access_token", "refresh_token", "token_type", "expires_in", "books"}


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
