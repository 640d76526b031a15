"""`/settings/account/close` (issue 7; checks B4, B5, C2): a page that says what happens and what is kept,
then one POST that, in one transaction, ends every session on every device, forgets the confirmed
phones and withdraws consent, audited; the hospitals' records stay. Only a full session may."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar

from backend.account.retention import ACCESS_LOG_RETENTION_YEARS, SIGN_IN_TRAIL_RETENTION_YEARS
from backend.consent import NOTICE_VERSION
from tests.integration.auth.test_web_pages import (
    Forms,
    accept_consent,
    csrf_in,
    post_form,
    sign_in_web,
    submit_buttons,
    switch_to_english,
)
from tests.integration.sharing.shl import decode_shlink, fetch_manifest, make_share
from tests.support.clock import FakeClock
from tests.support.hospital import CCCD, OTHER_FACILITY, Hospital, count, fetch, register
from tests.support.patients import (
    PHONE_E164,
    SESSION_COOKIE,
    Client,
    Outbox,
    bearer,
    issue_code,
    patient_uuid,
    push_patient,
    sign_in_app,
)

pytestmark = pytest.mark.usefixtures("visit")

CLOSE = "/settings/account/close"
BOOK = "/api/patient/v1/book"
SON = "0933 111 222"  # a phone no hospital gave, confirmed for the patient's book with an activation code
B_CCCD, B_PHONE = "079085054321", "0987 654 321"


async def what_is_left(app: Litestar, book: str) -> dict[str, int]:
    """Of this book and the patient's phone: what closing takes away, and the records it keeps."""
    return {
        "consents": await count(app, "consent", f"patient_id = '{book}'"),
        "confirmed phones": await count(app, "book_access", f"patient_id = '{book}'"),
        "records": await count(app, "record", f"patient_id = '{book}'"),
        "live sessions": await count(
            app, "auth_session", f"revoked_at IS NULL AND (patient_id = '{book}' OR phone = '{PHONE_E164}')"
        ),
    }


async def signed_in_everywhere(app: Litestar, client: Client, outbox: Outbox, clock: FakeClock) -> dict[str, Any]:
    """The patient's app; the son's phone, confirmed for the book by a desk's code, on its app; and the
    patient in this browser, consented, with the book confirmed for the phone too."""
    app_token = str((await sign_in_app(client, outbox))["access_token"])
    son_token = str((await sign_in_app(client, outbox, SON))["access_token"])
    activated = await client.post(
        "/api/patient/v1/auth/activate", json={"code": await issue_code(app, CCCD)}, headers=bearer(son_token)
    )
    assert activated.status_code == 200, activated.text
    clock.advance(seconds=61)
    await sign_in_web(client, outbox)
    await accept_consent(client)
    assert (await post_form(client, "/activate", code=await issue_code(app, CCCD))).status_code == 303
    return {"app": app_token, "son": son_token, "cookie": client.cookies.get(SESSION_COOKIE)}


async def test_the_closing_page_says_what_happens_and_what_is_kept_for_how_long(client: Client, outbox: Outbox) -> None:
    await sign_in_web(client, outbox)
    await switch_to_english(client)
    page = await client.get("/settings")
    assert f'href="{CLOSE}"' in page.text
    closing = await client.get(CLOSE)
    assert closing.status_code == 200 and '<html lang="en">' in closing.text
    for said in ("signed out everywhere", "forgotten", "consent to the privacy notice is withdrawn"):
        assert said in closing.text, said
    assert "medical records stay stored" in closing.text and "hospitals keep sending them" in closing.text
    assert f"is kept for {ACCESS_LOG_RETENTION_YEARS} years" in closing.text
    assert f"kept for {SIGN_IN_TRAIL_RETENTION_YEARS} years, for the security" in closing.text
    (form,) = Forms(closing.text).with_action(CLOSE)
    assert form["attrs"]["method"] == "post"
    assert any(control.get("name") == "_csrf_token" for control in form["controls"])
    assert [button["name"] for button in submit_buttons(form)] == ["confirm"]
    assert 'href="/settings"' in closing.text  # the way back, keeping everything


async def test_closing_the_account_ends_everything_and_keeps_the_records(
    app: Litestar, client: Client, outbox: Outbox, clock: FakeClock
) -> None:
    held = await signed_in_everywhere(app, client, outbox, clock)
    shared = await make_share(client, bearer(held["app"]))
    book = await patient_uuid(app, CCCD)
    before = await what_is_left(app, book)
    assert before == {"consents": 1, "confirmed phones": 2, "records": before["records"], "live sessions": 3}
    assert before["records"] > 0

    closed = await post_form(client, CLOSE, confirm="1")
    assert (closed.status_code, closed.headers["location"]) == (303, "/")
    assert closed.headers["clear-site-data"] == '"cache", "storage"'  # as /logout/everywhere answers
    assert f"{SESSION_COOKIE}=" in closed.headers["set-cookie"] and "max-age=0" in closed.headers["set-cookie"].lower()

    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, held["cookie"], domain="testserver.local")
    assert (await client.get(BOOK)).status_code == 401  # the old cookie
    client.cookies.clear()
    for token in (held["app"], held["son"]):  # the app on this phone; the other phone that had the book open
        assert (await client.get(BOOK, headers=bearer(token))).status_code == 401
    after = await what_is_left(app, book)
    assert after == {"consents": 0, "confirmed phones": 0, "records": before["records"], "live sessions": 0}
    (event,) = await fetch(app, "SELECT * FROM auth_event WHERE event = 'account.closed'")
    assert event["detail"] == "3 sessions, 2 phones, 1 consents, 1 shares" and str(event["patient_id"]) == book
    assert (await fetch_manifest(client, decode_shlink(shared["shlink"]))).status_code == 404  # the link stopped
    assert event["phone_masked"] == "+8491****678"
    assert await count(app, "auth_event", "event = 'consent.withdrawn'") == 1

    # Signing in again: the book is there, behind the consent page again.
    clock.advance(seconds=61)
    await sign_in_web(client, outbox)
    gate = await client.get("/book", follow_redirects=False)
    assert (gate.status_code, gate.headers["location"]) == (303, "/consent")


async def test_another_patients_ids_in_the_form_are_ignored(
    app: Litestar, client: Client, outbox: Outbox, clock: FakeClock
) -> None:
    await push_patient(Hospital(client, OTHER_FACILITY, await register(app, OTHER_FACILITY)), B_CCCD, "Bình", B_PHONE)
    b_token = str((await sign_in_app(client, outbox, B_PHONE))["access_token"])
    consented = await client.post("/api/patient/v1/consent", json={"version": NOTICE_VERSION}, headers=bearer(b_token))
    assert consented.status_code == 204
    b_book = await patient_uuid(app, B_CCCD)
    await sign_in_web(client, outbox)
    fields = {"confirm": "1", "patient_id": b_book, "book": b_book, "phone": B_PHONE, "session": b_book}
    assert (await post_form(client, CLOSE, **fields)).status_code == 303
    assert (await client.get(BOOK, headers=bearer(b_token))).status_code == 200
    assert await count(app, "consent", f"patient_id = '{b_book}'") == 1


async def test_closing_needs_a_full_session_the_confirming_button_and_the_csrf_token(
    app: Litestar, client: Client, outbox: Outbox
) -> None:
    await sign_in_web(client, outbox)
    await accept_consent(client)
    page = await client.get(CLOSE)
    assert (await post_form(client, CLOSE)).status_code == 400
    assert (await client.post(CLOSE, data={"confirm": "1"}, follow_redirects=False)).status_code == 403
    foreign = await client.post(
        CLOSE,
        data={"confirm": "1", "_csrf_token": csrf_in(page.text)},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert foreign.status_code == 403
    assert await count(app, "consent") == 1 and await count(app, "auth_session", "revoked_at IS NULL") == 1
    assert await count(app, "auth_event", "event = 'account.closed'") == 0


async def test_a_read_only_book_cannot_close_its_owners_account(app: Litestar, client: Client, outbox: Outbox) -> None:
    # A relative's home number a hospital wrote down: it opens the book, read-only.
    await push_patient(
        Hospital(client, OTHER_FACILITY, await register(app, OTHER_FACILITY)), CCCD, "An", SON, use="home"
    )
    await sign_in_web(client, outbox, SON)
    await accept_consent(client)
    shown = await client.get(CLOSE)
    assert shown.status_code == 403 and shown.headers["content-type"].startswith("text/html")
    refused = await post_form(client, CLOSE, confirm="1")
    assert refused.status_code == 403
    assert "Sổ này chỉ xem được trên điện thoại này" in refused.text
    assert await count(app, "consent") == 1 and await count(app, "auth_session", "revoked_at IS NULL") == 1
    assert await count(app, "auth_event", "event = 'account.closed'") == 0


async def test_closing_is_all_or_nothing(
    app: Litestar, client: Client, outbox: Outbox, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await signed_in_everywhere(app, client, outbox, clock)
    book = await patient_uuid(app, CCCD)
    before = await what_is_left(app, book)

    async def audit_down(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the audit trail cannot be written")

    monkeypatch.setattr("backend.account.closing.record_auth_event", audit_down)  # the last step fails
    failed = await post_form(client, CLOSE, confirm="1")
    assert failed.status_code == 500
    assert await what_is_left(app, book) == before  # nothing closed: no account half closed without its audit
    assert (await client.get("/settings")).status_code == 200
