"""Hospital staff in tests: accounts made as the operator makes them, and the `/staff/login` form."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pyotp
from litestar import Litestar

from backend.staff.accounts import add_staff
from tests.support.hospital import own_database
from tests.support.patients import Client

STAFF_COOKIE = "__Host-staff-session"
_CSRF_FIELD = re.compile(r'name="_csrf_token" value="([^"]+)"')


async def add_member(app: Litestar, facility: str, username: str, role: str) -> dict[str, Any]:
    """A new member, as `healthbook staff add` makes one: username, password, totp_secret, totp_uri."""
    async with own_database(app) as database, database.sessionmaker() as session, session.begin():
        return await add_staff(session, app.state.keyring, facility, username, role, app.state.clock(), "operator")


def totp(member: dict[str, Any], at: datetime) -> str:
    return pyotp.TOTP(member["totp_secret"]).at(at)


async def csrf_token(client: Client, path: str = "/staff/login") -> str:
    found = _CSRF_FIELD.search((await client.get(path)).text)
    assert found is not None
    return found.group(1)


async def staff_sign_in(client: Client, username: str, password: str, code: str) -> Any:
    fields = {"username": username, "password": password, "code": code, "_csrf_token": await csrf_token(client)}
    return await client.post("/staff/login", data=fields, follow_redirects=False)


async def signed_in_member(client: Client, app: Litestar, member: dict[str, Any]) -> str:
    """Sign `member` in on `client` with the code of now; the staff session cookie."""
    response = await staff_sign_in(client, member["username"], member["password"], totp(member, app.state.clock()))
    assert response.status_code == 303, response.text
    cookie = response.cookies.get(STAFF_COOKIE)  # the one this answer set, whatever the jar held
    assert cookie
    return str(cookie)


async def post_form(client: Client, path: str, **fields: str) -> Any:
    """A staff page's POST form, with the CSRF token the browser holds."""
    token = await csrf_token(client)
    return await client.post(path, data={**fields, "_csrf_token": token}, follow_redirects=False)
