"""What a careless or hostile client may send to sign-in: each gets a clear 4xx, costs nothing it should
not, and logs no traceback (contract §2, §4; standards: Sign-in)."""

from __future__ import annotations

import pytest
from litestar import Litestar

from tests.support.clock import FakeClock
from tests.support.hospital import count, fetch
from tests.support.patients import Client, Outbox, request_code, verify

OTP = "/api/patient/v1/auth/otp"


@pytest.mark.parametrize("phone", ["+84९१२३४५६७८", "٠٩١٢٣٤٥٦٧٨"])
async def test_digits_of_other_scripts_are_not_a_phone(app: Litestar, client: Client, phone: str) -> None:
    """Each mix of scripts would be a fresh key for the per-phone limits."""
    response = await request_code(client, phone)
    assert response.status_code == 400
    assert await count(app, "login_challenge") == 0


async def test_full_width_digits_are_the_same_phone(client: Client, outbox: Outbox) -> None:
    assert (await request_code(client, "０９１２ ３４５ ６７８")).status_code == 202
    assert [message["to"] for message in outbox.messages()] == ["+84912345678"]


async def test_a_body_that_is_not_utf8_is_400_without_a_traceback(
    client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    response = await client.post(OTP, content=b'{"phone": "\xff\xfe"}', headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("media_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
async def test_the_patient_api_takes_json_bodies_only(app: Litestar, client: Client, media_type: str) -> None:
    """A foreign page can POST these without a CORS preflight; JSON it cannot."""
    response = await client.post(OTP, content=b'{"phone": "0912345678"}', headers={"content-type": media_type})
    assert response.status_code == 415
    assert await count(app, "login_challenge") == 0


async def test_a_code_typed_with_spaces_is_the_code(client: Client, outbox: Outbox) -> None:
    challenge_id = (await request_code(client)).json()["challenge_id"]
    code = outbox.last_code()
    assert (await verify(client, challenge_id, f" {code[:3]} {code[3:]} ")).status_code == 200


@pytest.mark.parametrize("typed", ["12345", "1234567", "abcdef", "12 34 5", "١٢٣٤٥٦", ""])
async def test_what_cannot_be_a_code_is_400_and_costs_no_try(
    app: Litestar, client: Client, outbox: Outbox, typed: str
) -> None:
    challenge_id = (await request_code(client)).json()["challenge_id"]
    refused = await verify(client, challenge_id, typed)
    assert refused.status_code == 400 and "6 digits" in refused.json()["message"]
    (challenge,) = await fetch(app, "SELECT attempts FROM login_challenge")
    assert challenge["attempts"] == 0
    assert (await verify(client, challenge_id, outbox.last_code())).status_code == 200


async def test_one_address_cannot_spend_the_citys_sms_budget(app: Litestar, client: Client, clock: FakeClock) -> None:
    """30 a minute from one address, and 500 a day: then 429 for that address only."""
    sent = 0
    for minute in range(17):
        for n in range(30):
            if sent == 500:
                break
            response = await request_code(client, f"09{minute:02d}{n:02d}0000")
            assert response.status_code == 202, response.text
            sent += 1
        clock.advance(minutes=1)
    refused = await request_code(client, "0977000000")
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 3600
    other_network = await request_code(client, "0977000000", **{"x-forwarded-for": "198.51.100.7"})
    assert other_network.status_code == 429  # a forged header is not another address
    assert await count(app, "login_challenge") == 500
