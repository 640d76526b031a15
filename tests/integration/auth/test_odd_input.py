"""What a careless or hostile client may send to sign-in: each gets a clear 4xx, costs nothing it should
not, and logs no traceback (contract §2, §4; standards: Sign-in)."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from litestar import Litestar

from tests.integration.sharing.shl import decode_shlink, fetch_manifest, make_share
from tests.support.clock import FakeClock
from tests.support.hospital import CCCD, FACILITY, count, fetch
from tests.support.patients import Client, Outbox, bearer, issue_code, request_code, sign_in_app, verify
from tests.support.staff import add_member, post_form, signed_in_member, staff_sign_in, totp

OTP = "/api/patient/v1/auth/otp"
ACTIVATE = "/api/patient/v1/auth/activate"


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


# --- Check H2: each limit counts its own requests ------------------------------------------------------------


@dataclass
class Limited:
    """One client (one address: the test client's) with something to do on every limited route: ask for
    codes, open the sample patient's share link, try activation codes on the patient's app session, and
    sign in as a receptionist."""

    app: Litestar
    client: Client
    clock: FakeClock
    patient: dict[str, str]
    share: dict[str, Any]
    member: dict[str, Any]
    phones: Iterator[int] = field(default_factory=itertools.count)

    def fresh_phone(self) -> str:
        return f"0977{next(self.phones):06d}"

    async def send_code(self) -> httpx.Response:
        return await request_code(self.client, self.fresh_phone())  # type: ignore[no-any-return]

    async def open_share(self) -> httpx.Response:
        return await fetch_manifest(self.client, decode_shlink(self.share["shlink"]))  # type: ignore[no-any-return]

    async def activate(self, code: str) -> httpx.Response:
        return await self.client.post(ACTIVATE, json={"code": code}, headers=self.patient)

    async def staff_sign_in(self, password: str) -> httpx.Response:
        code = totp(self.member, self.clock())
        return await staff_sign_in(self.client, self.member["username"], password, code)  # type: ignore[no-any-return]


@pytest.fixture
async def limited(app: Litestar, client: Client, clock: FakeClock, outbox: Outbox, visit: None) -> Limited:
    patient = bearer((await sign_in_app(client, outbox))["access_token"])
    share = await make_share(client, patient)
    member = await add_member(app, FACILITY, "le.tan", "receptionist")
    return Limited(app, client, clock, patient, share, member)


async def spend_code_sends(limited: Limited) -> httpx.Response:
    """30 codes a minute from one address (the sign-in's own included), to 30 phones: then 429."""
    for _ in range(30 - await count(limited.app, "login_challenge")):
        sent = await limited.send_code()
        assert sent.status_code == 202, sent.text
    return await limited.send_code()


async def spend_share_requests(limited: Limited) -> httpx.Response:
    """30 requests a minute for one share link: then 429."""
    for _ in range(30):
        opened = await limited.open_share()
        assert opened.status_code == 200, opened.text
    return await limited.open_share()


async def spend_activation_tries(limited: Limited) -> httpx.Response:
    """10 wrong activation codes an hour for one phone: then 429, even for a right code."""
    for _ in range(10):
        wrong = await limited.activate("KHONG-DUNG-1")
        assert wrong.status_code == 400, wrong.text
    return await right_activation(limited)


async def spend_staff_sign_ins(limited: Limited) -> httpx.Response:
    """10 failed sign-ins in 15 minutes for one member from one address: then 429, even when right."""
    for _ in range(10):
        refused = await limited.staff_sign_in("not the password")
        assert refused.status_code == 401, refused.text
    return await right_staff_sign_in(limited)


async def right_activation(limited: Limited) -> httpx.Response:
    return await limited.activate(await issue_code(limited.app, CCCD))


async def right_staff_sign_in(limited: Limited) -> httpx.Response:
    return await limited.staff_sign_in(limited.member["password"])


@dataclass(frozen=True)
class Limit:
    spend: Callable[[Limited], Awaitable[httpx.Response]]  # until the next request is over the limit: that one
    window: int  # seconds: the longest a 429 may ask to wait
    normal: Callable[[Limited], Awaitable[httpx.Response]]  # one ordinary request, within the limit
    normal_status: int


LIMITS = {
    "code-sends-per-address": Limit(spend_code_sends, 60, Limited.send_code, 202),
    "requests-per-share-link": Limit(spend_share_requests, 60, Limited.open_share, 200),
    "activation-tries-per-phone": Limit(spend_activation_tries, 3600, right_activation, 200),
    "staff-sign-in-failures": Limit(spend_staff_sign_ins, 900, right_staff_sign_in, 303),
}


@pytest.mark.parametrize("spent", sorted(LIMITS))
async def test_h2_each_limit_counts_only_its_own_requests(limited: Limited, spent: str) -> None:
    """All from one client address, at one moment (the clock stands still): the `spent` limit is used up
    (its over-the-limit request is 429 with a `Retry-After` of at most its window, and refused even when
    the request itself is right); then one ordinary request on each other limited route answers as it
    would have anyway (a code sent, the share's manifest, a right activation code, a staff sign-in); then
    the spent limit still answers 429. So no limit counts another's requests, nor the address as a whole
    (the limits are separate SQL counts, not one shared store). The SMS day budget (503) is not among them."""
    limit = LIMITS[spent]
    over = await limit.spend(limited)
    assert over.status_code == 429, over.text
    assert 0 < int(over.headers["retry-after"]) <= limit.window
    for name, other in LIMITS.items():
        if name != spent:
            answer = await other.normal(limited)
            assert answer.status_code == other.normal_status, (name, answer.text)
    still = await limit.normal(limited)
    assert still.status_code == 429, still.text


async def test_h2_the_desk_says_how_long_to_wait_when_a_link_is_over_its_limit(limited: Limited) -> None:
    """A share link's 30 requests a minute spent by a recipient: a receptionist scanning it at the desk (the
    same per-link count, check D1) is refused with 429, and, like every rate-limited answer, says when to
    come back: `Retry-After` of at most the minute. (The manifest route's 429 does: see
    `test_h2_each_limit_counts_only_its_own_requests`.)"""
    over = await spend_share_requests(limited)
    assert over.status_code == 429 and 0 < int(over.headers["retry-after"]) <= 60
    await signed_in_member(limited.client, limited.app, limited.member)
    scanned = await post_form(limited.client, "/reception", scan=limited.share["viewer_url"])
    assert scanned.status_code == 429, scanned.text
    assert 0 < int(scanned.headers.get("retry-after", "0")) <= 60
