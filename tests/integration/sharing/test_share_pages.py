"""The patient's sharing pages (issue 8): `/shares` makes a share from its form (a summary by default, or
picked records) and lists them; `/shares/{id}` shows the QR code of the viewer URL, the label and the
time left, `no-store` but marked for the service worker's offline copy, and stops the share; another
patient's share is a share of nobody (404); a read-only book is told why it cannot share; `/access-log`
shows who read the book. Both languages."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from litestar import Litestar

from backend.sharing.qr import qr_svg
from tests.integration.auth.test_web_pages import (
    CHILD_A,
    CHILD_B,
    DISTRICT,
    MOTHER,
    csrf_in,
    post_form,
    sign_in_web,
)
from tests.integration.sharing.shl import (
    RECIPIENT,
    decode_shlink,
    fetch_manifest,
    make_share,
    receive,
)
from tests.support.clock import FakeClock
from tests.support.hospital import OTHER_FACILITY, Hospital, count, register
from tests.support.patients import Client, Outbox, bearer, issue_code, patient_uuid, push_patient, sign_in_app

B_CCCD, B_PHONE = "079085054321", "0987 654 321"
CHECKBOX = re.compile(r'<input type="checkbox" name="record" value="([^"]+)"')
VIEWER_URL = re.compile(r'data-copy-link="([^"]+)"')
MARKER = re.compile(r'<meta name="book-session" content="[0-9a-f]{16}" data-expires="\d+">')


@pytest.fixture
async def signed_in(client: Client, outbox: Outbox, visit: None) -> None:
    """The sample patient in this browser, consented."""
    await sign_in_web(client, outbox)
    page = await client.get("/consent")
    await client.post("/consent", data={"accept": "1", "_csrf_token": csrf_in(page.text)})


async def create(client: Client, **fields: Any) -> Any:
    page = await client.get("/shares")
    assert page.status_code == 200, page.text
    form = {"label": "Khám tim mạch", "_csrf_token": csrf_in(page.text), **fields}
    return await client.post("/shares", data=form, follow_redirects=False)


async def created_share(client: Client, **fields: Any) -> tuple[str, str]:
    """The new share's page path and its viewer URL."""
    made = await create(client, **fields)
    assert made.status_code == 303, made.text
    path = made.headers["location"]
    page = await client.get(path)
    assert page.status_code == 200, page.text
    found = VIEWER_URL.search(page.text)
    assert found is not None, page.text
    return path, found.group(1).replace("&amp;", "&")


@pytest.mark.usefixtures("signed_in")
async def test_two_taps_share_a_summary_for_seven_days_and_the_page_shows_its_qr_code(
    client: Client, clock: FakeClock
) -> None:
    page = await client.get("/shares")
    assert page.headers["cache-control"] == "no-store" and MARKER.search(page.text)
    assert 'value="Chia sẻ ngày 03/10/2025"' in page.text  # the label, filled in for the day
    made = await client.post(
        "/shares",
        data={"label": "Chia sẻ ngày 03/10/2025", "_csrf_token": csrf_in(page.text)},
        follow_redirects=False,
    )
    assert made.status_code == 303 and re.fullmatch(r"/shares/[0-9a-f-]{36}", made.headers["location"])
    share = await client.get(made.headers["location"])
    assert share.status_code == 200
    assert share.headers["cache-control"] == "no-store" and MARKER.search(share.text)  # decision: see pages.py
    viewer_url = VIEWER_URL.search(share.text).group(1)  # type: ignore[union-attr]
    assert viewer_url.endswith("/view#" + viewer_url.split("#", 1)[1]) and "#shlink:/" in viewer_url
    assert qr_svg(viewer_url, scalable=True).decode() in share.text  # the QR code is of exactly this URL
    assert "Chia sẻ ngày 03/10/2025" in share.text
    assert "còn 7 ngày" in share.text and "10/10/2025 10:00" in share.text
    assert 'action="' + made.headers["location"] + '/revoke"' in share.text
    assert "style=" not in share.text and "<script>" not in share.text  # nothing the CSP would refuse
    payload = decode_shlink(viewer_url)
    assert payload["label"] == "Chia sẻ ngày 03/10/2025" and payload["flag"] == ""
    document = await receive(client, viewer_url)
    assert {"Encounter", "MedicationRequest"} <= {e["resource"]["resourceType"] for e in document["entry"]}
    clock.advance(minutes=5)
    listed = await client.get("/shares")
    assert "Đang chia sẻ" in listed.text and "Đã mở 1 lần" in listed.text and RECIPIENT in listed.text


@pytest.mark.usefixtures("signed_in")
async def test_picked_records_with_an_hour_and_a_passcode(client: Client) -> None:
    page = await client.get("/shares")
    offered = CHECKBOX.findall(page.text)
    prescriptions = [value for value in offered if value.startswith("MedicationRequest/")]
    assert prescriptions and any(value.startswith("Observation/") for value in offered)
    fields = {"what": "picked", "record": prescriptions, "validity": "1h", "passcode": "2468"}
    path, viewer_url = await created_share(client, **fields)
    share = await client.get(path)
    assert "còn 1 giờ" in share.text
    payload = decode_shlink(viewer_url)
    assert payload["flag"] == "P"
    document = await receive(client, viewer_url, passcode="2468")
    shared = {e["resource"]["resourceType"] for e in document["entry"]}
    assert "MedicationRequest" in shared and "Encounter" not in shared
    nothing_ticked = await create(client, what="picked", validity="1d")
    assert nothing_ticked.status_code == 422 and 'role="alert"' in nothing_ticked.text
    too_far = await create(client, validity="date", until="2025-12-01")
    assert too_far.status_code == 422
    for odd in ("9999-12-31", "0001-01-01", "not a day"):  # the last day of the calendar overflows + 1 day
        assert (await create(client, validity="date", until=odd)).status_code == 422
    until_a_day = await create(client, validity="date", until="2025-10-05")
    assert until_a_day.status_code == 303
    assert "06/10/2025 00:00" in (await client.get(until_a_day.headers["location"])).text  # the end of 5 October


@pytest.mark.usefixtures("signed_in")
async def test_stopping_from_the_page_makes_the_next_manifest_404(client: Client) -> None:
    path, viewer_url = await created_share(client)
    stopped = await post_form(client, f"{path}/revoke")
    assert stopped.status_code == 303 and stopped.headers["location"] == path
    assert (await fetch_manifest(client, decode_shlink(viewer_url))).status_code == 404
    page = await client.get(path)
    assert page.status_code == 200 and "Đã ngừng" in page.text
    assert "shlink:/" not in page.text and "<svg" not in page.text  # a stopped share shows no key


@pytest.mark.usefixtures("signed_in")
async def test_a_post_without_the_csrf_token_is_refused(client: Client, app: Litestar) -> None:
    await client.get("/shares")
    refused = await client.post("/shares", data={"label": "x"}, follow_redirects=False)
    assert refused.status_code == 403
    assert await count(app, "share") == 0
    path, viewer_url = await created_share(client)
    refused = await client.post(f"{path}/revoke", data={}, follow_redirects=False)
    assert refused.status_code == 403
    assert (await fetch_manifest(client, decode_shlink(viewer_url))).status_code == 200


async def test_another_patients_share_is_a_share_of_nobody(
    app: Litestar, client: Client, outbox: Outbox, clock: FakeClock, visit: None
) -> None:
    await sign_in_web(client, outbox)
    page = await client.get("/consent")
    await client.post("/consent", data={"accept": "1", "_csrf_token": csrf_in(page.text)})
    path, viewer_url = await created_share(client)
    client.cookies.clear()
    hospital = Hospital(client, OTHER_FACILITY, await register(app, OTHER_FACILITY))
    await push_patient(hospital, B_CCCD, "B", B_PHONE, timestamp=int(clock.now.timestamp()))
    await sign_in_web(client, outbox, B_PHONE)
    page = await client.get("/consent")
    await client.post("/consent", data={"accept": "1", "_csrf_token": csrf_in(page.text)})
    for probe in (path, f"/shares/{uuid.uuid4()}", "/shares/not-a-uuid"):
        seen = await client.get(probe)
        assert seen.status_code == 404 and "shlink:/" not in seen.text, probe
        revoked = await post_form(client, f"{probe}/revoke")
        assert revoked.status_code == 404, probe
    mine = await client.get("/shares")
    assert path not in mine.text
    assert (await fetch_manifest(client, decode_shlink(viewer_url))).status_code == 200  # still shared


async def test_a_read_only_book_is_told_why_it_cannot_share(
    app: Litestar, client: Client, outbox: Outbox, clock: FakeClock
) -> None:
    """A mother's phone, given for her two children: each child's book opens read-only on it."""
    now = int(clock.now.timestamp())
    for code, (cccd, name) in ((DISTRICT, CHILD_A), (OTHER_FACILITY, CHILD_B)):
        await push_patient(Hospital(client, code, await register(app, code)), cccd, name, MOTHER, timestamp=now)
    await sign_in_web(client, outbox, MOTHER)
    await post_form(client, "/login/choose", book=await patient_uuid(app, CHILD_A[0]))
    page = await client.get("/consent")
    await client.post("/consent", data={"accept": "1", "_csrf_token": csrf_in(page.text)})
    shares = await client.get("/shares")
    assert shares.status_code == 200 and "chỉ xem" in shares.text and 'action="/shares"' not in shares.text
    assert (await post_form(client, "/shares", label="x")).status_code == 403
    assert (await post_form(client, f"/shares/{uuid.uuid4()}/revoke")).status_code == 403
    assert await count(app, "share") == 0
    assert (await client.get("/access-log")).status_code == 200  # a read-only book may read who read it

    # A share made for this child on a phone confirmed for the book: its page holds the link's key, so
    # the read-only phone is refused it (it could otherwise share the records onward).
    cookies = dict(client.cookies)
    client.cookies.clear()
    owner = await sign_in_app(client, outbox, "0933 444 555")
    activated = await client.post(
        "/api/patient/v1/auth/activate",
        json={"code": await issue_code(app, CHILD_A[0])},
        headers=bearer(owner["access_token"]),
    )
    assert activated.status_code == 200, activated.text
    made = await make_share(client, bearer(owner["access_token"]))
    for name, value in cookies.items():
        client.cookies.set(name, value, domain="testserver.local")
    page = await client.get(f"/shares/{made['id']}")
    assert page.status_code == 403 and decode_shlink(made["shlink"])["key"] not in page.text


@pytest.mark.usefixtures("signed_in")
async def test_the_access_log_page_shows_the_open_in_plain_words(client: Client) -> None:
    empty = await client.get("/access-log")
    assert empty.status_code == 200 and "Chưa có ai khác xem hồ sơ của bạn." in empty.text
    _, viewer_url = await created_share(client)
    await receive(client, viewer_url)
    log = await client.get("/access-log")
    assert log.headers["cache-control"] == "no-store"
    assert RECIPIENT in log.text and "03/10/2025 10:00" in log.text and "liên kết bạn đã chia sẻ" in log.text
    await post_form(client, "/language", lang="en", next="/access-log")
    english = await client.get("/access-log")
    assert '<html lang="en">' in english.text and "a link you shared" in english.text and RECIPIENT in english.text


@pytest.mark.usefixtures("signed_in")
async def test_the_pages_read_in_english(client: Client) -> None:
    path, _ = await created_share(client, validity="1d")
    await post_form(client, "/language", lang="en", next="/shares")
    listed = await client.get("/shares")
    assert '<html lang="en">' in listed.text and "Share and show the QR code" in listed.text
    assert "Sharing now" in listed.text and "Not opened yet" in listed.text
    share = await client.get(path)
    assert "1 day left" in share.text and "Stop sharing" in share.text
