"""Staff sign-in (contract §6 `/staff/login`; checks B1, B3, B4 for staff; TOTP with one step of drift and
no step used twice, standards "Sign-in")."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from datetime import timedelta

from litestar import Litestar

from backend.database import driver_connection, raw_transaction
from backend.staff.accounts import disable_staff
from tests.support.clock import FakeClock
from tests.support.hospital import FACILITY, fetch, own_database, register
from tests.support.patients import Client
from tests.support.staff import STAFF_COOKIE, add_member, csrf_token, post_form, signed_in_member, staff_sign_in, totp

WRONG = "Tên đăng nhập, mật khẩu hoặc mã xác thực không đúng"  # the page is in Vietnamese by default


async def receptionist(app: Litestar, username: str = "le.tan") -> dict[str, object]:
    await register(app, FACILITY)
    return await add_member(app, FACILITY, username, "receptionist")


async def events(app: Litestar, name: str) -> list[str | None]:
    rows = await fetch(app, "SELECT detail FROM auth_event WHERE event = $1 ORDER BY id", name)
    return [row["detail"] for row in rows]


async def test_the_sign_in_form_has_the_fields_password_managers_and_authenticators_expect(client: Client) -> None:
    page = (await client.get("/staff/login")).text
    assert re.search(r'<input[^>]*name="username"[^>]*autocomplete="username"', page)
    assert re.search(r'<input[^>]*name="password"[^>]*type="password"', page)
    assert re.search(r'<input[^>]*name="code"[^>]*autocomplete="one-time-code"', page)


async def test_a_receptionist_signs_in_with_password_and_code_and_sees_the_reception_desk(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    member = await receptionist(app)
    response = await staff_sign_in(client, "le.tan", str(member["password"]), totp(member, clock.now))
    assert response.status_code == 303 and response.headers["location"] == "/reception"
    desk = await client.get("/reception")
    assert desk.status_code == 200
    assert re.search(r'<input[^>]*name="scan"[^>]*autofocus', desk.text)
    assert "le.tan" in desk.text
    assert await events(app, "staff.signed_in") == ["receptionist"]


async def test_a_code_is_accepted_once_and_one_step_either_side(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    member = await receptionist(app)
    password = str(member["password"])
    code = totp(member, clock.now)
    assert (await staff_sign_in(client, "le.tan", password, code)).status_code == 303
    client.cookies.clear()
    replayed = await staff_sign_in(client, "le.tan", password, code)
    assert replayed.status_code == 401 and WRONG in replayed.text
    assert STAFF_COOKIE not in replayed.headers.get("set-cookie", "")
    clock.advance(seconds=30)
    assert (await staff_sign_in(client, "le.tan", password, code)).status_code == 401  # one step old, used
    assert (await staff_sign_in(client, "le.tan", password, totp(member, clock.now))).status_code == 303
    assert await events(app, "staff.sign_in_failed") == ["wrong or reused TOTP code"] * 2


async def test_a_code_from_the_next_step_is_accepted_and_two_steps_away_is_not(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    member = await receptionist(app)
    password = str(member["password"])
    too_old = totp(member, clock.now - timedelta(seconds=60))
    assert (await staff_sign_in(client, "le.tan", password, too_old)).status_code == 401
    ahead = totp(member, clock.now + timedelta(seconds=30))
    assert (await staff_sign_in(client, "le.tan", password, ahead)).status_code == 303


async def test_wrong_password_unknown_user_and_wrong_code_look_the_same_and_are_audited(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    member = await receptionist(app)
    code = totp(member, clock.now)
    answers = [
        await staff_sign_in(client, "le.tan", "not-the-password", code),
        await staff_sign_in(client, "nobody.here", str(member["password"]), code),
        await staff_sign_in(client, "le.tan", str(member["password"]), "000000" if code != "000000" else "111111"),
    ]
    assert [answer.status_code for answer in answers] == [401, 401, 401]
    assert all(WRONG in answer.text for answer in answers)
    assert await events(app, "staff.sign_in_failed") == [
        "wrong password",
        "unknown username",
        "wrong or reused TOTP code",
    ]
    stored = await fetch(app, "SELECT detail, client_ip FROM auth_event WHERE event LIKE 'staff.%'")
    assert all(str(member["password"]) not in str(row["detail"]) for row in stored)


async def test_guessing_is_slowed_after_ten_failures_for_one_member(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    member = await receptionist(app)
    for _ in range(10):
        assert (await staff_sign_in(client, "le.tan", "guess", "123456")).status_code == 401
    refused = await staff_sign_in(client, "le.tan", str(member["password"]), totp(member, clock.now))
    assert refused.status_code == 429 and "retry-after" in refused.headers
    clock.advance(minutes=16)
    assert (await staff_sign_in(client, "le.tan", str(member["password"]), totp(member, clock.now))).status_code == 303
    assert len(await events(app, "staff.sign_in_throttled")) == 1


async def fail_from(app: Litestar, address: str, times: int, clock: FakeClock) -> None:
    """Failed sign-ins of le.tan from another desk, as the audit trail holds them."""
    async with own_database(app) as database, database.sessionmaker() as session, session.begin():
        connection = await driver_connection(session)
        staff_id = await connection.fetchval("SELECT id FROM staff_member WHERE username = 'le.tan'")
        await connection.executemany(
            "INSERT INTO auth_event (at, event, staff_id, client_ip, detail)"
            " VALUES ($1, 'staff.sign_in_failed', $2, $3, 'wrong password')",
            [(clock.now, staff_id, address)] * times,
        )


async def test_failures_at_another_desk_do_not_lock_this_one_but_a_spread_out_guesser_does(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    member = await receptionist(app)
    await fail_from(app, "203.0.113.7", 10, clock)
    assert (await staff_sign_in(client, "le.tan", str(member["password"]), totp(member, clock.now))).status_code == 303
    for number in range(90):
        await fail_from(app, f"198.51.100.{number}", 1, clock)
    clock.advance(seconds=30)
    client.cookies.clear()
    refused = await staff_sign_in(client, "le.tan", str(member["password"]), totp(member, clock.now))
    assert refused.status_code == 429


async def test_one_code_sent_twice_at_once_signs_in_once(app: Litestar, client: Client, clock: FakeClock) -> None:
    member = await receptionist(app)
    code = totp(member, clock.now)
    answers = await asyncio.gather(*(staff_sign_in(client, "le.tan", str(member["password"]), code) for _ in range(4)))
    assert sorted(answer.status_code for answer in answers) == [303, 401, 401, 401]
    assert len(await fetch(app, "SELECT 1 FROM staff_session")) == 1


async def test_a_totp_secret_that_no_longer_opens_refuses_the_sign_in_without_an_error(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    member = await receptionist(app)
    async with own_database(app) as database, raw_transaction(database) as connection:
        await connection.execute("UPDATE staff_member SET totp_secret = 'gone.AAAA' WHERE username = 'le.tan'")
    refused = await staff_sign_in(client, "le.tan", str(member["password"]), totp(member, clock.now))
    assert refused.status_code == 401
    (detail,) = await events(app, "staff.sign_in_failed")
    assert detail is not None and "does not open" in detail


async def test_signing_in_never_keeps_a_cookie_the_browser_brought(app: Litestar, client: Client) -> None:
    member = await receptionist(app)
    client.cookies.set(STAFF_COOKIE, "attacker-chosen-value")
    cookie = await signed_in_member(client, app, member)
    assert cookie != "attacker-chosen-value"
    client.cookies.clear()
    client.cookies.set(STAFF_COOKIE, "attacker-chosen-value")
    assert (await client.get("/reception", follow_redirects=False)).headers["location"] == "/staff/login"


async def test_staff_sessions_end_after_30_idle_minutes_and_after_12_hours(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    member = await receptionist(app)
    await signed_in_member(client, app, member)
    clock.advance(minutes=29)
    assert (await client.get("/reception")).status_code == 200
    clock.advance(minutes=30, seconds=1)
    assert (await client.get("/reception", follow_redirects=False)).status_code == 303
    clock.advance(minutes=1)
    await signed_in_member(client, app, member)
    for _ in range(25):  # busy all day: a request every 29 minutes
        clock.advance(minutes=29)
        if (await client.get("/reception", follow_redirects=False)).status_code != 200:
            break
    assert (await client.get("/reception", follow_redirects=False)).headers["location"] == "/staff/login"


async def test_signing_out_ends_the_session_for_good(app: Litestar, client: Client) -> None:
    member = await receptionist(app)
    cookie = await signed_in_member(client, app, member)
    signed_out = await post_form(client, "/staff/logout")
    assert signed_out.status_code == 303 and signed_out.headers["location"] == "/staff/login"
    client.cookies.clear()
    client.cookies.set(STAFF_COOKIE, cookie)
    assert (await client.get("/reception", follow_redirects=False)).headers["location"] == "/staff/login"
    assert await events(app, "staff.signed_out") == [None]


async def test_a_disabled_member_is_signed_out_at_the_next_request_and_cannot_sign_in(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    member = await receptionist(app)
    await signed_in_member(client, app, member)
    async with own_database(app) as database, database.sessionmaker() as session, session.begin():
        await disable_staff(session, "le.tan", clock.now, "operator")
    assert (await client.get("/reception", follow_redirects=False)).headers["location"] == "/staff/login"
    clock.advance(seconds=30)
    refused = await staff_sign_in(client, "le.tan", str(member["password"]), totp(member, clock.now))
    assert refused.status_code == 401
    assert await events(app, "staff.disabled") == ["by operator"]
    assert await fetch(app, "SELECT 1 FROM staff_session WHERE revoked_at IS NULL") == []


async def test_a_form_without_the_csrf_token_is_refused(app: Litestar, client: Client, clock: FakeClock) -> None:
    member = await receptionist(app)
    await csrf_token(client)
    fields = {"username": "le.tan", "password": str(member["password"]), "code": totp(member, clock.now)}
    assert (await client.post("/staff/login", data=fields, follow_redirects=False)).status_code == 403


async def test_the_scan_box_refuses_another_services_link_and_never_echoes_its_key(
    app: Litestar, client: Client
) -> None:
    key = base64.urlsafe_b64encode(b"k" * 32).decode().rstrip("=")
    payload = {"url": "https://so.example.vn/shl/abc", "key": key, "label": "Tái khám <b>tim</b>"}
    link = "shlink:/" + base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()
    member = await receptionist(app)
    await signed_in_member(client, app, member)
    read = await post_form(client, "/reception", scan=f"http://127.0.0.1:8000/view#{link}")
    assert read.status_code == 400 and key not in read.text and "<b>tim" not in read.text
    assert re.search(r'<input[^>]*name="scan"[^>]*autofocus', read.text)  # ready for the next patient
    assert (await post_form(client, "/reception", scan="hello")).status_code == 400
