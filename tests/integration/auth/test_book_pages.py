"""The book's pages (contract §6 `/book` and its sections): each section as the signed-in patient reads
it, narrowed by hospital, date and words; an appointment as a calendar file; the consent gate."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from litestar import Litestar

from backend.healthbook.sections import SECTIONS
from tests.support.clock import FakeClock
from tests.support.patients import Client, Outbox, browser_cookies

pytestmark = pytest.mark.usefixtures("visit")


@pytest.fixture
def clock() -> FakeClock:
    """Eleven days after the sample visit: its follow-up appointment (3 November 2025) is ahead."""
    return FakeClock(datetime(2025, 10, 13, 2, 0, tzinfo=UTC))


async def signed_in(client: Client, outbox: Outbox, *, consent: bool = True) -> None:
    session, csrf = await browser_cookies(client, outbox, "0912 345 678")
    client.cookies.set("__Host-session", session)
    client.cookies.set("__Host-csrf", csrf)
    if consent:
        version = (await client.get("/api/patient/v1/privacy-notice")).json()["version"]
        answer = await client.post("/api/patient/v1/consent", json={"version": version}, headers={"X-CSRF-Token": csrf})
        assert answer.status_code == 204, answer.text


async def test_every_section_opens_in_vietnamese_with_its_records_and_their_source(
    client: Client, outbox: Outbox
) -> None:
    await signed_in(client, outbox)
    for name in SECTIONS:
        page = await client.get(f"/book/{name}")
        assert page.status_code == 200, (name, page.text[:500])
        assert page.headers["cache-control"] == "no-store"
        assert '<html lang="vi"' in page.text and f'href="/book/{name}" aria-current="page"' in page.text
    appointments = (await client.get("/book/appointments")).text
    assert "Sắp tới" in appointments and "Từ" in appointments  # provenance: from which hospital


async def test_a_section_is_narrowed_by_words_without_accents_and_by_hospital(client: Client, outbox: Outbox) -> None:
    await signed_in(client, outbox)
    everything = (await client.get("/book/visits")).text
    assert "Nothing here yet" not in everything and "Chưa có gì" not in everything
    other = await client.get("/book/visits", params={"facility": "01002"})
    assert "Chưa có gì ở đây." in other.text  # the sample visit came from 01929
    words = await client.get("/book/prescriptions", params={"q": "metformin"})
    nothing = await client.get("/book/prescriptions", params={"q": "khong co thuoc nay"})
    assert "Chưa có gì ở đây." not in words.text and "Chưa có gì ở đây." in nothing.text
    odd = await client.get("/book/visits", params={"since": "not a date", "facility": "<b>", "q": "%_\\"})
    assert odd.status_code == 200 and "<b>" not in odd.text


async def test_an_unknown_section_is_a_readable_404(client: Client, outbox: Outbox) -> None:
    await signed_in(client, outbox)
    page = await client.get("/book/Patient")
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]


async def test_the_pages_ask_to_choose_and_consent_first(client: Client, outbox: Outbox) -> None:
    await signed_in(client, outbox, consent=False)
    for path in ("/book", "/book/results", "/book/calendar/01929-hk-20251002"):
        answer = await client.get(path, follow_redirects=False)
        assert answer.status_code in (303, 404), path
        if answer.status_code == 303:
            assert answer.headers["location"] == "/consent"


async def test_an_upcoming_appointment_goes_to_the_calendar(
    app: Litestar, client: Client, outbox: Outbox, clock: FakeClock
) -> None:
    await signed_in(client, outbox)
    page = (await client.get("/book/appointments")).text
    links = [part.split('"', 1)[0] for part in page.split('href="/book/calendar/')[1:]]
    assert links, "the sample's follow-up appointment is ahead of the test clock"
    ics = await client.get(f"/book/calendar/{links[0]}")
    assert ics.status_code == 200 and ics.headers["content-type"].startswith("text/calendar")
    assert "attachment" in ics.headers["content-disposition"] and "BEGIN:VEVENT" in ics.text
    assert (await client.get("/book/calendar/01929-nobody")).status_code == 404


async def test_the_whole_book_is_searched_by_drug_diagnosis_or_hospital_without_accents(
    client: Client, outbox: Outbox
) -> None:
    await signed_in(client, outbox)
    drug = (await client.get("/book/search", params={"q": "metformin"})).text
    assert 'id="found-prescriptions"' in drug and 'href="/book/prescriptions?q=metformin"' in drug
    hospital = (await client.get("/book/search", params={"q": "benh vien 01929"})).text  # "Bệnh viện 01929"
    assert 'id="found-visits"' in hospital
    nothing = await client.get("/book/search", params={"q": "<script>khong co</script>"})
    assert nothing.status_code == 200 and "<script>khong" not in nothing.text
    assert "Không có gì trong sổ khớp với từ tìm kiếm này." in nothing.text or "found-" not in nothing.text
    empty = await client.get("/book/search")
    assert empty.status_code == 200 and "found-" not in empty.text


async def test_pages_are_gzipped_unless_they_may_echo_what_the_request_chose(client: Client, outbox: Outbox) -> None:
    """BREACH: a compressed page that reflects the attacker's words beside a secret leaks the secret."""
    await signed_in(client, outbox)
    gzip = {"Accept-Encoding": "gzip"}
    plain = await client.get("/book/visits", headers=gzip)
    assert plain.headers.get("content-encoding") == "gzip" and "accept-encoding" in plain.headers["vary"].lower()
    assert "Chưa có gì ở đây." not in plain.text  # decoded as usual
    for echoing in (
        await client.get("/book/visits", params={"q": "viêm"}, headers=gzip),
        await client.get("/book/search", params={"q": "metformin"}, headers=gzip),
    ):
        assert echoing.status_code == 200 and "content-encoding" not in echoing.headers
    bundle = await client.get("/api/patient/v1/book/fhir", headers=gzip)
    assert bundle.headers.get("content-encoding") == "gzip" and bundle.json()["resourceType"] == "Bundle"
    script = next(link for link in plain.text.split('"') if link.startswith("/static/vendor/htmx/"))
    static = await client.get(script, headers=gzip)  # versioned by a query string, and compressed all the same
    assert static.status_code == 200 and static.headers.get("content-encoding") == "gzip"


async def test_a_not_found_page_which_echoes_its_path_is_never_compressed(client: Client, outbox: Outbox) -> None:
    await signed_in(client, outbox)
    gzip = {"Accept-Encoding": "gzip"}
    for guess in ("/book/csrf-guess-0123456789abcdef", "/static/csrf-guess-0123456789abcdef"):
        missing = await client.get(guess, headers=gzip)
        assert missing.status_code == 404 and "content-encoding" not in missing.headers, guess
