"""Check G2, its last two points: logs hold no OTPs, tokens, full phone numbers or national ID numbers
(a scan of everything logged over a realistic flow), and a CRLF in user input cannot forge a log line.
And check F4, its point on plaintext at rest: after the same flow, no secret it handled is in any row of
the database or in a `pg_dump` of it.

The flow, at LOG_LEVEL=DEBUG so that every logger speaks: a hospital pushes a patient (and once with a
wrong signature); the patient signs in by code on the app (one wrong code first), refreshes, and in a
browser; confirms the book on the app with the hospital's activation code; makes a share with a passcode;
a recipient opens it (a wrong passcode first, then through a `location` file); a receptionist signs in
(a wrong password first) and opens it at the desk. Then the logs, as written to stderr and as captured by
logging, are scanned for every secret the flow handled, for the patient's phone number in every written
form and their CCCD, and for any 12-digit number or full Vietnamese mobile number at all."""

from __future__ import annotations

import asyncio
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
from backend.backup.server import server_facts
from backend.database import raw_transaction
from backend.settings import Settings
from tests.conftest import make_settings
from tests.integration.sharing.conftest import app, client, clock, outbox
from tests.integration.sharing.shl import decode_shlink, fetch_manifest, make_share, path_of
from tests.integration.test_prod_mode import PROD
from tests.support.clock import FakeClock
from tests.support.databases import plain_dump
from tests.support.hospital import CCCD, FACILITY, Hospital, fetch, own_database, register, sample
from tests.support.patients import (
    CSRF_COOKIE,
    PHONE,
    PHONE_E164,
    SESSION_COOKIE,
    Client,
    Outbox,
    bearer,
    browser_cookies,
    issue_code,
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

    # The app confirms the book with the activation code the hospital printed.
    activation = await issue_code(app, CCCD)
    secrets.append(activation)
    confirmed = await client.post("/api/patient/v1/auth/activate", json={"code": activation}, headers=patient)
    assert confirmed.status_code == 200, confirmed.text

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


# What the tables and a dump of them hold in clear by design: identifiers (a patient's CCCD, phone numbers
# in E.164) and the health records themselves. Check F4 asks for no plaintext identifiers only where
# column encryption is used, and it is not used for these: they are what rows are looked up by.
DIGITS_ONLY = re.compile(r"\d{1,8}")


def plaintext_found(secret: str, text: str) -> bool:
    """`secret` in `text`: as a substring, or for a short code of digits (an OTP or TOTP code), as a number
    standing alone, so that a code is not "found" inside a longer number, a hash or an id."""
    if DIGITS_ONLY.fullmatch(secret):
        return re.search(rf"(?<![0-9A-Za-z]){secret}(?![0-9A-Za-z])", text) is not None
    return secret in text


def plaintext_forms(secret: str) -> list[str]:
    """A secret as handed out, and as it might be kept if a prefix or a separator were stripped."""
    forms = {secret, secret.removeprefix("whsec_")}
    if re.fullmatch(r"[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}", secret):  # an activation code
        forms.add(secret.replace("-", ""))
    return sorted(forms)


async def every_row_as_text(app: Litestar) -> str:
    """Every row of every table of the database, each as PostgreSQL writes it (`t::text`)."""
    async with own_database(app) as database, raw_transaction(database) as connection:
        tables = await connection.fetch(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        )
        rows = []
        for table in tables:
            # The names come from the catalogue, never from a request.
            found = await connection.fetch(
                f'SELECT t::text AS row FROM "{table["table_schema"]}"."{table["table_name"]}" t'  # noqa: S608
            )
            rows += [f"{table['table_name']}: {row['row']}" for row in found]
    return "\n".join(rows)


async def test_f4_no_secret_is_kept_in_plaintext_in_any_row_or_in_a_dump(
    app: Litestar, client: Client, clock: FakeClock, outbox: Outbox, database_url: str
) -> None:
    """F4: after the realistic flow above, no secret it handled is in the database in plaintext: not in any
    row of any table as text (`t::text`), nor in a plain-format `pg_dump` of the whole database. The
    secrets: the facility's webhook secret (with and without `whsec_`), the patient's OTP codes, the app's
    access and refresh tokens (before and after the refresh), the browser's session and CSRF cookies, the
    activation code (with and without its dashes), the share's passcode, key and manifest token, its
    `shlink`, the location file's token, the staff member's password, TOTP secret and TOTP code, and the
    staff session cookie. A six-digit code counts as found only as a number standing alone.

    So the rows that hold them are there, and the scan reads them: the webhook and TOTP secrets are
    sealed under DATA_KEYS (`<keyid>.<base64url>`) and the dump carries every table's rows.

    Not asserted: CCCDs and phone numbers, which are stored in clear (`patient.cccd`, `auth_session.phone`,
    `record.phones`, …) as the identifiers rows are found by, and the records themselves (no column
    encryption; check F4 asks for no plaintext identifiers only where it is used)."""
    secrets = await a_realistic_flow(app, client, clock, outbox)
    assert len(secrets) == 19

    major = (await server_facts(database_url)).major
    rows, dump = await every_row_as_text(app), await asyncio.to_thread(plain_dump, database_url, major)
    key_ids = [key.key_id for key in app.state.settings.data_keys]
    sealed = re.compile(rf"^(?:{'|'.join(map(re.escape, key_ids))})\.[A-Za-z0-9_-]{{40,}}={{0,2}}$")
    (facility,) = await fetch(app, "SELECT webhook_secret FROM facility WHERE code = $1", FACILITY)
    (member,) = await fetch(app, "SELECT totp_secret, password_hash FROM staff_member WHERE username = 'le.tan'")
    assert sealed.match(facility["webhook_secret"]) and sealed.match(member["totp_secret"])
    assert member["password_hash"].startswith("$argon2id$")
    for text in (rows, dump):
        assert facility["webhook_secret"] in text and member["totp_secret"] in text
    assert "COPY public.share " in dump and "COPY public.auth_credential " in dump and "COPY public.facility " in dump

    for where, text in (("a table row", rows), ("the pg_dump", dump)):
        leaked = [form for secret in secrets for form in plaintext_forms(secret) if plaintext_found(form, text)]
        assert not leaked, f"secrets in plaintext in {where}: {leaked}"
