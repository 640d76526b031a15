"""Check G2, its last two points: logs hold no OTPs, tokens, full phone numbers or national ID numbers
(a scan of everything logged over a realistic flow), and a CRLF in user input cannot forge a log line.

The flow, at LOG_LEVEL=DEBUG so that every logger speaks: a hospital pushes a patient (and once with a
wrong signature); the patient signs in by code on the app (one wrong code first), refreshes, and in a
browser; makes a share with a passcode; a recipient opens it (a wrong passcode first, then through a
`location` file); a receptionist signs in (a wrong password first) and opens it at the desk. Then the
logs, as written to stderr and as captured by logging, are scanned for every secret the flow handled,
for the patient's phone number in every written form and their CCCD, and for any 12-digit number or
full Vietnamese mobile number at all."""

from __future__ import annotations

import base64
import json
import logging
import re
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.app import create_app
from backend.audit.chain import verify_chain
from backend.database import raw_transaction
from backend.settings import Settings
from tests.conftest import make_settings
from tests.integration.sharing.conftest import app, client, clock, outbox
from tests.integration.sharing.shl import decode_shlink, fetch_manifest, make_share, path_of
from tests.integration.test_prod_mode import PROD
from tests.support.clock import FakeClock
from tests.support.hospital import CCCD, FACILITY, Hospital, own_database, register, sample
from tests.support.patients import (
    CSRF_COOKIE,
    PHONE,
    PHONE_E164,
    SESSION_COOKIE,
    Client,
    Outbox,
    bearer,
    browser_cookies,
    request_code,
    verify,
)
from tests.support.staff import STAFF_COOKIE, add_member, post_form, staff_sign_in, totp

# The sharing tests' app, client, clock (the morning after the sample visit) and SMS outbox, with the
# `settings` below.
__all__ = ["app", "client", "clock", "outbox"]

PASSCODE = "meo-den-Q7x"  # ASCII: a leak must show as written
# Any full phone number or CCCD, whoever's: standalone runs of digits, so hex ids and timestamps pass.
ANY_CCCD = re.compile(r"(?<![0-9A-Za-z])\d{12}(?![0-9A-Za-z])")
ANY_MOBILE = re.compile(r"(?<![0-9A-Za-z*])(?:\+84|84|0)[35789](?:[ .]?\d){8}(?![0-9A-Za-z])")


@pytest.fixture
def settings(var_dir: Path, database_url: str, outbox: Outbox) -> Settings:
    return make_settings(var_dir, DATABASE_URL=database_url, SMS_BACKEND=f"file:{outbox.path}", LOG_LEVEL="DEBUG")


def phone_forms(e164: str) -> list[str]:
    national = e164.removeprefix("+84")
    local = "0" + national
    return [
        e164,
        e164[1:],
        local,
        national,
        f"{local[:4]} {local[4:7]} {local[7:]}",
        f"{local[:4]}.{local[4:7]}.{local[7:]}",
    ]


async def a_realistic_flow(app: Litestar, client: Client, clock: FakeClock, outbox: Outbox) -> list[str]:
    """Everything above, through the app; every secret it handled."""
    secrets: list[str] = []

    # A hospital pushes the sample patient's visit; a push under a wrong secret is refused.
    webhook_secret = await register(app, FACILITY)
    secrets.append(webhook_secret)
    pushed = await Hospital(client, FACILITY, webhook_secret).push(
        sample("fhir-visit-bundle.json"), timestamp=int(clock.now.timestamp())
    )
    assert pushed.status_code == 200, pushed.text
    forged = await Hospital(client, FACILITY, "whsec_" + base64.b64encode(bytes(range(32))).decode()).push(
        sample("fhir-visit-bundle.json"), timestamp=int(clock.now.timestamp())
    )
    assert forged.status_code == 401

    # The patient's app: a wrong code, the right one, a refresh.
    challenge = (await request_code(client)).json()["challenge_id"]
    code = outbox.last_code()
    assert (await verify(client, challenge, "000000" if code != "000000" else "111111")).status_code == 400
    signed_in = (await verify(client, challenge, code)).json()
    refreshed = await client.post("/api/patient/v1/auth/refresh", json={"refresh_token": signed_in["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    tokens = refreshed.json()
    secrets += [code, signed_in["access_token"], signed_in["refresh_token"], tokens["access_token"]]
    secrets.append(tokens["refresh_token"])
    patient = bearer(tokens["access_token"])

    # The patient's browser (a minute later: one code a minute per phone).
    clock.advance(seconds=61)
    session, csrf = await browser_cookies(client, outbox, PHONE)
    secrets += [outbox.last_code(), session, csrf]
    client.cookies.set(SESSION_COOKIE, session)
    client.cookies.set(CSRF_COOKIE, csrf)
    assert (await client.get("/book")).status_code == 200
    client.cookies.clear()

    # A share with a passcode, opened by a recipient: a wrong passcode, then the document at a location.
    share = await make_share(client, patient, passcode=PASSCODE)
    payload = decode_shlink(share["shlink"])
    secrets += [PASSCODE, payload["key"], urlsplit(payload["url"]).path.rsplit("/", 1)[-1], share["shlink"]]
    assert (await fetch_manifest(client, payload, passcode="wrong passcode")).status_code == 401
    manifest = await fetch_manifest(client, payload, passcode=PASSCODE, embeddedLengthMax=10)
    assert manifest.status_code == 200, manifest.text
    (file,) = manifest.json()["files"]
    secrets.append(path_of(file["location"]).rsplit("/", 1)[-1])
    assert (await client.get(path_of(file["location"]))).status_code == 200

    # A receptionist: a wrong password, then password and TOTP; opens the share at the desk.
    member = await add_member(app, FACILITY, "le.tan", "receptionist")
    secrets += [member["password"], member["totp_secret"]]
    one_time = totp(member, clock())
    assert (await staff_sign_in(client, "le.tan", "not the password", one_time)).status_code != 303
    clock.advance(seconds=30)
    one_time = totp(member, clock())
    desk = await staff_sign_in(client, "le.tan", member["password"], one_time)
    assert desk.status_code == 303, desk.text
    secrets += [one_time, str(desk.cookies.get(STAFF_COOKIE))]
    opened = await post_form(client, "/reception", scan=share["viewer_url"], passcode=PASSCODE)
    assert opened.status_code == 200, opened.text
    client.cookies.clear()

    # The patient reads who opened their records.
    assert (await client.get("/api/patient/v1/access-log", headers=patient)).status_code == 200
    return secrets


async def test_g2_logs_hold_no_code_token_phone_number_or_cccd(
    app: Litestar,
    client: Client,
    clock: FakeClock,
    outbox: Outbox,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """G2: logs contain no OTPs, tokens, full phone numbers or national ID numbers (regex scan of
    captured logs); also no passwords, TOTP codes, session cookies, webhook secrets or share keys."""
    caplog.set_level(logging.DEBUG)
    secrets = await a_realistic_flow(app, client, clock, outbox)

    written, captured = capsys.readouterr().err, caplog.text
    assert "webhook rejected" in written and "auth.otp_failed" in written and "share.passcode_failed" in written
    assert len(written.splitlines()) > 20 and "request" in captured  # the scan below has something to read
    for where, text in (("stderr", written), ("captured records", captured)):
        leaked = [secret for secret in secrets if secret in text]
        assert not leaked, f"secrets in the {where}: {leaked}"
        phones = [form for form in phone_forms(PHONE_E164) if form in text]
        assert not phones, f"the patient's phone number in the {where}: {phones}"
        assert CCCD not in text, f"the patient's CCCD in the {where}"
        assert not ANY_CCCD.findall(text), f"a 12-digit number in the {where}: {ANY_CCCD.findall(text)}"
        assert not ANY_MOBILE.findall(text), f"a phone number in the {where}: {ANY_MOBILE.findall(text)}"

    # The reads by others in that flow (the recipient's manifest and file, the desk) are on one chain.
    async with own_database(app) as database, raw_transaction(database) as connection:
        checked = await verify_chain(connection)
        assert (checked.events, checked.ok) == (3, True)


@pytest.mark.parametrize("app_env", ["dev", "prod"])
async def test_g2_a_crlf_in_user_input_cannot_forge_a_log_line(
    database_url: str, var_dir: Path, app_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """G2: a CRLF in user input cannot forge log lines: in a path, a JSON field and a form field; dev
    logs escape it, prod logs stay one JSON object a line."""
    environ = PROD if app_env == "prod" else {}
    forged = "2026-11-26T00:00:00.000000Z [info     ] auth.signed_in"
    made = create_app(make_settings(var_dir, DATABASE_URL=database_url, **environ))
    async with AsyncTestClient(made, base_url="https://testserver.local") as raw:
        await raw.get(f"/api/patient/v1/none%0d%0a{quote(forged)}")
        await raw.post("/api/patient/v1/auth/otp", json={"phone": f"0912\r\n{forged}"})
        await raw.post("/staff/login", data={"username": f"x\r\n{forged}", "password": "p", "code": "1"})
    lines = capsys.readouterr().err.splitlines()
    assert any("/api/patient/v1/none" in line for line in lines)  # the path was logged, escaped
    assert not [line for line in lines if "auth.signed_in" in line and not line.startswith(("20", "{"))]
    assert not [line for line in lines if line.startswith(forged[:20])]
    if app_env == "prod":
        assert all(isinstance(json.loads(line), dict) for line in lines if line.strip())
