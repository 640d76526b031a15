"""Every sign-in, failure, lockout and consent is audited, and no code, token, full phone number or CCCD
is ever written to the audit table or the logs (issue 5; checks A1, G1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from litestar import Litestar

from tests.integration.test_cli import run_healthbook
from tests.support.clock import FakeClock
from tests.support.hospital import fetch
from tests.support.patients import PHONE_E164, Client, Outbox, bearer, request_code, verify

CCCD = "001090012345"  # the sample patient's
pytestmark = pytest.mark.usefixtures("visit")


async def test_the_trail_names_every_step_and_no_secret(
    app: Litestar,
    client: Client,
    outbox: Outbox,
    clock: FakeClock,
    var_dir: Path,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    secrets: list[str] = []

    # A wrong code, then the right one.
    sent = await request_code(client)
    challenge_id = sent.json()["challenge_id"]
    code = outbox.last_code()
    wrong = "000000" if code != "000000" else "111111"
    assert (await verify(client, challenge_id, wrong)).status_code == 400
    answer = (await verify(client, challenge_id, code)).json()
    secrets += [code, answer["access_token"], answer["refresh_token"]]

    # An activation code from the desk, one wrong try, then the right one.
    issued = run_healthbook("patient", "activation-code", "--cccd", CCCD, var_dir=var_dir, DATABASE_URL=database_url)
    assert issued.returncode == 0, issued.stderr
    printed = json.loads(issued.stdout)
    assert printed["cccd"] == CCCD and printed["expires_at"]
    secrets.append(printed["code"])
    headers = bearer(answer["access_token"])
    assert (
        await client.post("/api/patient/v1/auth/activate", json={"code": "AAAA-BBBB-CCCC"}, headers=headers)
    ).status_code == 400
    activated = await client.post("/api/patient/v1/auth/activate", json={"code": printed["code"]}, headers=headers)
    assert activated.status_code == 200, activated.text

    # Consent, a refresh, sign-out.
    notice = (await client.get("/api/patient/v1/privacy-notice")).json()
    assert (
        await client.post("/api/patient/v1/consent", json={"version": notice["version"]}, headers=headers)
    ).status_code == 204
    renewed = (
        await client.post("/api/patient/v1/auth/refresh", json={"refresh_token": answer["refresh_token"]})
    ).json()
    secrets += [renewed["access_token"], renewed["refresh_token"]]
    assert (
        await client.post("/api/patient/v1/auth/logout", headers=bearer(renewed["access_token"]))
    ).status_code == 204

    # A challenge killed by five wrong codes (a minute later: one code a minute per phone).
    clock.advance(seconds=61)
    locked = (await request_code(client)).json()["challenge_id"]
    for _ in range(5):
        await verify(client, locked, wrong)

    events = [row["event"] for row in await fetch(app, "SELECT event FROM auth_event ORDER BY id")]
    for expected in (
        "auth.otp_sent",
        "auth.otp_failed",
        "auth.signed_in",
        "auth.activation_issued",
        "auth.activation_failed",
        "auth.book_activated",
        "consent.given",
        "auth.signed_out",
        "auth.otp_locked",
    ):
        assert expected in events, (expected, events)

    stored = json.dumps([dict(row) for row in await fetch(app, "SELECT * FROM auth_event")], default=str)
    logged = capsys.readouterr().err + caplog.text + issued.stderr
    national_number = PHONE_E164.removeprefix("+84")
    for where, text in (("auth_event", stored), ("logs", logged)):
        for secret in secrets:
            assert secret not in text, f"a code or token in the {where}"
        assert national_number not in text and PHONE_E164 not in text, f"a full phone number in the {where}"
        assert CCCD not in text, f"a CCCD in the {where}"
    assert "+8491****678" in stored  # masked, still useful to a person reading the trail


async def test_the_activation_code_command_refuses_what_it_cannot_issue(var_dir: Path, database_url: str) -> None:
    for cccd, message in (("12345", "12 digits"), ("079000000000", "no hospital")):
        result = run_healthbook(
            "patient", "activation-code", "--cccd", cccd, var_dir=var_dir, DATABASE_URL=database_url
        )
        assert result.returncode == 1 and result.stdout == ""
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
