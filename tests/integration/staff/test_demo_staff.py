"""The demo's staff (`make run`): a receptionist and a facility admin of the first demo facility whose
printed credentials sign in; made once, never in production."""

from __future__ import annotations

from dataclasses import replace

from litestar import Litestar

from backend.demo import FACILITIES, ensure_demo_staff
from backend.demo._staff import demo_staff
from backend.settings import Settings
from tests.support.clock import FakeClock
from tests.support.hospital import fetch, register
from tests.support.patients import Client
from tests.support.staff import staff_sign_in, totp


async def test_the_printed_demo_credentials_sign_in_and_are_made_once(
    app: Litestar, client: Client, clock: FakeClock, settings: Settings, database_url: str
) -> None:
    await register(app, FACILITIES[0].code, FACILITIES[0].name)
    members = await ensure_demo_staff(settings, database_url)
    assert [m.role for m in members] == ["receptionist", "facility_admin"]
    assert await ensure_demo_staff(settings, database_url) == members
    assert len(await fetch(app, "SELECT 1 FROM staff_member")) == 2
    homes = []
    for member in members:
        credentials = {"totp_secret": member.totp_secret}
        answer = await staff_sign_in(client, member.username, member.password, totp(credentials, clock.now))
        homes.append(answer.headers.get("location"))
        client.cookies.clear()
    assert homes == ["/reception", "/staff/facility"]


def test_no_two_machines_share_demo_credentials_and_production_gets_none(settings: Settings) -> None:
    other = replace(settings, secret_key=settings.secret_key + "x")
    assert {m.password for m in demo_staff(settings)}.isdisjoint(m.password for m in demo_staff(other))
    assert demo_staff(settings) == demo_staff(settings)


async def test_production_gets_no_demo_staff(settings: Settings, database_url: str, app: Litestar) -> None:
    assert await ensure_demo_staff(replace(settings, app_env="prod"), database_url) == []
    assert await fetch(app, "SELECT 1 FROM staff_member") == []
