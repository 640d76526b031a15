"""The facility admin's page (issue 7): their facility's delivery log, its staff, a new webhook secret; and
what each role may open (check C3 for the staff pages: a receptionist is refused the admin page, a patient
every staff page, a staff member every patient route; an admin reaches only their own facility)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from litestar import Litestar

from backend.database import raw_transaction
from backend.i18n import LANGUAGE_COOKIE
from backend.signatures import read_pem
from backend.signatures.registry import register_certificate
from tests.support.clock import FakeClock
from tests.support.hospital import FACILITY, OTHER_FACILITY, Hospital, fetch, own_database, register, sample
from tests.support.patients import SESSION_COOKIE, Client, Outbox, browser_cookies
from tests.support.signing import kid_of, make_certificate
from tests.support.staff import STAFF_COOKIE, add_member, post_form, signed_in_member, staff_sign_in, totp

SECRET = re.compile(r'<code class="secret">([^<]+)</code>')


async def two_members(app: Litestar, *, registered: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    if not registered:
        await register(app, FACILITY)
    admin = await add_member(app, FACILITY, "quan.tri", "facility_admin")
    desk = await add_member(app, FACILITY, "le.tan", "receptionist")
    return admin, desk


async def test_the_admin_lands_on_the_delivery_log_with_accepted_and_refused_pushes(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    secret = await register(app, FACILITY)
    hospital = Hospital(client, FACILITY, secret)
    assert (
        await hospital.push(sample("fhir-visit-bundle.json"), timestamp=int(clock.now.timestamp()))
    ).status_code == 200
    assert (
        await hospital.push({"resourceType": "Bundle", "type": "nonsense"}, timestamp=int(clock.now.timestamp()))
    ).status_code in (400, 422)
    admin = await add_member(app, FACILITY, "quan.tri", "facility_admin")
    signed_in = await staff_sign_in(client, "quan.tri", admin["password"], totp(admin, clock.now))
    assert signed_in.headers["location"] == "/staff/facility"
    page = await client.get("/staff/facility")
    assert page.status_code == 200
    statuses = re.findall(r"<td>(\d{3}) ", page.text)
    assert sorted(statuses) == sorted(str(row["status"]) for row in await fetch(app, "SELECT status FROM delivery"))
    rows = await fetch(app, "SELECT body_sha256 FROM delivery ORDER BY id")
    assert all(row["body_sha256"][:12] in page.text for row in rows)
    assert "quan.tri" in page.text and "le.tan" not in page.text


async def test_a_receptionist_is_refused_the_admin_page_and_its_actions(app: Litestar, client: Client) -> None:
    _, desk = await two_members(app)
    await signed_in_member(client, app, desk)
    assert (await client.get("/staff/facility")).status_code == 403
    for action in ("/staff/facility/webhook-secret", "/staff/facility/members/quan.tri/disable"):
        assert (await post_form(client, action)).status_code == 403
    assert await fetch(app, "SELECT 1 FROM staff_member WHERE disabled_at IS NOT NULL") == []


async def test_a_patient_is_refused_every_staff_page_and_staff_every_patient_route(
    app: Litestar, client: Client, outbox: Outbox, visit: None
) -> None:
    admin, _ = await two_members(app, registered=True)  # the visit's hospital
    session, _csrf = await browser_cookies(client, outbox, "0912 345 678")
    client.cookies.set(SESSION_COOKIE, session)
    for path in ("/reception", "/staff/facility"):
        assert (await client.get(path, follow_redirects=False)).headers["location"] == "/staff/login"
    client.cookies.clear()
    await signed_in_member(client, app, admin)
    assert (await client.get("/book", follow_redirects=False)).headers["location"] == "/login"
    assert (await client.get("/api/patient/v1/book")).status_code == 401
    assert (await client.get("/api/patient/v1/book/fhir")).status_code == 401


async def test_a_new_password_for_a_receptionist_ends_their_sessions_and_is_shown_once(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    admin, desk = await two_members(app)
    desk_cookie = await signed_in_member(client, app, desk)
    client.cookies.clear()
    await signed_in_member(client, app, admin)
    answer = await post_form(client, "/staff/facility/members/le.tan/password")
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    new_password = SECRET.findall(answer.text)[0]
    assert new_password != desk["password"]
    client.cookies.clear()
    client.cookies.set(STAFF_COOKIE, desk_cookie)
    assert (await client.get("/reception", follow_redirects=False)).status_code == 303
    clock.advance(seconds=30)
    assert (await staff_sign_in(client, "le.tan", desk["password"], totp(desk, clock.now))).status_code == 401
    clock.advance(seconds=30)
    assert (await staff_sign_in(client, "le.tan", new_password, totp(desk, clock.now))).status_code == 303
    details = [
        row["detail"] for row in await fetch(app, "SELECT detail FROM auth_event WHERE event = 'staff.password_reset'")
    ]
    assert details == ["by admin:quan.tri"]


async def test_a_new_authenticator_key_replaces_the_old_one(app: Litestar, client: Client, clock: FakeClock) -> None:
    admin, desk = await two_members(app)
    desk_cookie = await signed_in_member(client, app, desk)  # maybe on the phone that was lost
    client.cookies.clear()
    clock.advance(seconds=30)
    await signed_in_member(client, app, admin)
    answer = await post_form(client, "/staff/facility/members/le.tan/totp")
    new_secret = SECRET.findall(answer.text)[0]
    assert SECRET.findall(answer.text)[1].startswith("otpauth://totp/")
    client.cookies.clear()
    assert (await staff_sign_in(client, "le.tan", desk["password"], totp(desk, clock.now))).status_code == 401
    renewed = {**desk, "totp_secret": new_secret}
    assert (await staff_sign_in(client, "le.tan", desk["password"], totp(renewed, clock.now))).status_code == 303
    client.cookies.clear()
    client.cookies.set(STAFF_COOKIE, desk_cookie)
    assert (await client.get("/reception", follow_redirects=False)).headers["location"] == "/staff/login"


async def test_disabling_from_the_page_signs_the_member_out_at_once(app: Litestar, client: Client) -> None:
    admin, desk = await two_members(app)
    desk_cookie = await signed_in_member(client, app, desk)
    client.cookies.clear()
    await signed_in_member(client, app, admin)
    assert (await post_form(client, "/staff/facility/members/le.tan/disable")).status_code == 200
    assert (await post_form(client, "/staff/facility/members/quan.tri/disable")).status_code == 409
    client.cookies.clear()
    client.cookies.set(STAFF_COOKIE, desk_cookie)
    assert (await client.get("/reception", follow_redirects=False)).headers["location"] == "/staff/login"


async def test_an_admin_reaches_no_member_of_another_facility(app: Litestar, client: Client) -> None:
    admin, _ = await two_members(app)
    await register(app, OTHER_FACILITY)
    await add_member(app, OTHER_FACILITY, "khac.vien", "receptionist")
    await signed_in_member(client, app, admin)
    for action in ("disable", "password", "totp"):
        assert (await post_form(client, f"/staff/facility/members/khac.vien/{action}")).status_code == 404
    assert (await post_form(client, "/staff/facility/members/nobody/disable")).status_code == 404
    member = (
        await fetch(
            app, "SELECT disabled_at, totp_secret, password_hash FROM staff_member WHERE username = 'khac.vien'"
        )
    )[0]
    assert member["disabled_at"] is None


async def test_a_new_webhook_secret_works_at_once_and_the_old_one_for_a_day(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    old_secret = await register(app, FACILITY)
    admin = await add_member(app, FACILITY, "quan.tri", "facility_admin")
    await signed_in_member(client, app, admin)
    answer = await post_form(client, "/staff/facility/webhook-secret")
    new_secret = SECRET.findall(answer.text)[0]
    assert new_secret.startswith("whsec_") and new_secret != old_secret
    bundle = sample("fhir-visit-bundle.json")
    for secret in (new_secret, old_secret):
        pushed = await Hospital(client, FACILITY, secret).push(bundle, timestamp=int(clock.now.timestamp()))
        assert pushed.status_code == 200
    events = await fetch(app, "SELECT detail FROM auth_event WHERE event = 'facility.secret_rotated'")
    assert [row["detail"] for row in events] == [f"{FACILITY}, by admin:quan.tri"]


async def test_the_admin_sees_the_signing_certificates_and_is_warned_before_the_last_one_ends(
    app: Litestar, client: Client, clock: FakeClock
) -> None:
    admin, _ = await two_members(app)
    client.cookies.set(LANGUAGE_COOKIE, "en")
    await signed_in_member(client, app, admin)
    assert "No certificate is registered" in (await client.get("/staff/facility")).text

    # One that ended last year, one that ends in three weeks: the admin is told to register the next one.
    _, ended = make_certificate(not_before=clock.now - timedelta(days=700), not_after=clock.now - timedelta(days=300))
    _, ending = make_certificate(not_before=clock.now - timedelta(days=300), not_after=clock.now + timedelta(days=21))
    async with own_database(app) as database, raw_transaction(database) as connection:
        facility_id = await connection.fetchval("SELECT id FROM facility WHERE code = $1", FACILITY)
        for pem in (ended, ending):
            await register_certificate(connection, facility_id, read_pem(pem), clock.now)
    page = (await client.get("/staff/facility")).text
    assert page.count('role="alert"') == 1 and "Ask the operator to register the next one" in page
    assert "ends soon" in page and ">ended<" in page and kid_of(ending) in page

    # The next one is registered: no warning any more.
    _, renewed = make_certificate(not_before=clock.now, not_after=clock.now + timedelta(days=730))
    async with own_database(app) as database, raw_transaction(database) as connection:
        await register_certificate(connection, facility_id, read_pem(renewed), clock.now)
    page = (await client.get("/staff/facility")).text
    assert "Ask the operator to register the next one" not in page and page.count("fingerprint") == 3

    # Every one over: the admin is told that what is signed today carries a warning.
    clock.advance(days=800)
    await signed_in_member(client, app, admin)
    page = (await client.get("/staff/facility")).text
    assert page.count('role="alert"') == 1 and "None of your certificates is valid now" in page
