"""`/settings`: withdrawing consent (issue 7; Law 91/2025). The consent rows of the book go, whichever phone
gave them; `consent.withdrawn` is written; `/book` asks again; the sessions stay. Only a full session may."""

from __future__ import annotations

import pytest
from litestar import Litestar

from backend.consent import NOTICE_VERSION
from tests.integration.auth.test_web_pages import (
    CHILD_A,
    CHILD_B,
    DISTRICT,
    MOTHER,
    Forms,
    accept_consent,
    csrf_in,
    post_form,
    sign_in_web,
    submit_buttons,
)
from tests.support.hospital import CCCD, OTHER_FACILITY, Hospital, count, fetch, register
from tests.support.patients import Client, Outbox, bearer, patient_uuid, push_patient, sign_in_app

WITHDRAW = "/settings/consent/withdraw"
RELATIVE = "0933 111 222"  # a home number a hospital wrote on the patient's record: opens it read-only


async def consents(app: Litestar, cccd: str = CCCD) -> int:
    return await count(app, "consent", f"patient_id = '{await patient_uuid(app, cccd)}'")


@pytest.fixture
async def two_children(app: Litestar, client: Client) -> None:
    """A mother's mobile, given for her two children: each book opens read-only on it."""
    await push_patient(Hospital(client, DISTRICT, await register(app, DISTRICT)), *CHILD_A, MOTHER)
    await push_patient(Hospital(client, OTHER_FACILITY, await register(app, OTHER_FACILITY)), *CHILD_B, MOTHER)


@pytest.fixture
async def two_consents(app: Litestar, client: Client, outbox: Outbox, visit: None) -> None:
    """The patient consented in this browser, and a relative's phone, which a hospital gave as the patient's
    home number, consented through the app: two consents to one book."""
    hospital = Hospital(client, OTHER_FACILITY, await register(app, OTHER_FACILITY))
    await push_patient(hospital, CCCD, "Nguyễn Văn An", RELATIVE, use="home")
    relative = await sign_in_app(client, outbox, RELATIVE)
    answer = await client.post(
        "/api/patient/v1/consent", json={"version": NOTICE_VERSION}, headers=bearer(relative["access_token"])
    )
    assert answer.status_code == 204, answer.text
    await sign_in_web(client, outbox)
    assert (await accept_consent(client)).status_code == 303
    assert await consents(app) == 2


@pytest.mark.usefixtures("two_consents")
async def test_withdrawing_consent_removes_it_and_the_book_asks_again_but_the_session_stays(
    app: Litestar, client: Client
) -> None:
    page = await client.get("/settings")
    (form,) = Forms(page.text).with_action(WITHDRAW)
    assert form["attrs"]["method"] == "post"
    assert any(control.get("name") == "_csrf_token" for control in form["controls"])
    (button,) = submit_buttons(form)
    assert button["name"] == "confirm"
    assert "<details" in page.text.split(WITHDRAW)[0].rsplit("</section>", 1)[1]  # a second step, no JavaScript

    withdrawn = await post_form(client, WITHDRAW, confirm="1")
    assert (withdrawn.status_code, withdrawn.headers["location"]) == (303, "/settings")
    assert await consents(app) == 0
    (event,) = await fetch(app, "SELECT * FROM auth_event WHERE event = 'consent.withdrawn'")
    assert event["detail"] == "2 consents" and str(event["patient_id"]) == await patient_uuid(app, CCCD)
    assert event["phone_masked"] == "+8491****678" and event["session_id"] is not None

    gate = await client.get("/book", follow_redirects=False)
    assert (gate.status_code, gate.headers["location"]) == (303, "/consent")
    after = await client.get("/settings")
    assert after.status_code == 200 and WITHDRAW not in after.text  # still signed in; nothing to withdraw
    assert (await accept_consent(client)).status_code == 303
    assert (await client.get("/book")).status_code == 200


@pytest.mark.usefixtures("two_consents")
async def test_withdrawing_needs_the_confirming_button_and_the_csrf_token(app: Litestar, client: Client) -> None:
    unconfirmed = await post_form(client, WITHDRAW)
    assert unconfirmed.status_code == 400 and unconfirmed.headers["content-type"].startswith("text/html")
    page = await client.get("/settings")
    forged = await client.post(WITHDRAW, data={"confirm": "1"}, follow_redirects=False)
    assert forged.status_code == 403
    foreign = await client.post(
        WITHDRAW,
        data={"confirm": "1", "_csrf_token": csrf_in(page.text)},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert foreign.status_code == 403
    assert await consents(app) == 2
    assert await count(app, "auth_event", "event = 'consent.withdrawn'") == 0


@pytest.mark.usefixtures("two_children")
async def test_a_read_only_book_cannot_withdraw_its_owners_consent(
    app: Litestar, client: Client, outbox: Outbox
) -> None:
    await sign_in_web(client, outbox, MOTHER)
    await post_form(client, "/login/choose", book=await patient_uuid(app, CHILD_A[0]))
    assert (await accept_consent(client)).status_code == 303
    page = await client.get("/settings")
    assert WITHDRAW not in page.text and "/settings/account/close" not in page.text
    refused = await post_form(client, WITHDRAW, confirm="1")
    assert refused.status_code == 403 and refused.headers["content-type"].startswith("text/html")
    assert "Sổ này chỉ xem được trên điện thoại này" in refused.text  # why, in words a person reads
    assert await consents(app, CHILD_A[0]) == 1
