"""After one visit the book opens in airplane mode, marked as a saved copy with its time; signing out,
or any answer showing the session is over, leaves nothing of it on the phone (issue 6)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import asyncpg
from playwright.async_api import Browser, BrowserContext, Page, Route

from tests.browser.flows import sign_in, wait_until

BOOK_CACHES = "caches.keys().then(names => names.filter(name => name.startsWith('book-')))"
SAVED_PAGES = (
    "caches.keys().then(n => n.find(x => x.startsWith('book-')))"
    ".then(name => name ? caches.open(name).then(c => c.keys()).then(keys => keys.length) : 0)"
)
PHONE, E164 = "0912 345 678", "+84912345678"
OFFLINE_TITLE = "Không có kết nối mạng"
IDLE_TOO_LONG = "UPDATE auth_session SET last_seen_at = now() - interval '31 minutes'"  # WEB_IDLE is 30
SIGNED_OUT_EVERYWHERE = "UPDATE auth_session SET revoked_at = now()"  # what "sign out on every device" does
MARKER = re.compile(r'<meta name="book-session" content="([0-9a-f]+)"[^>]*>')


async def read_the_book(browser: Browser, demo_server: str, sms_outbox: Path) -> tuple[BrowserContext, Page]:
    context = await new_phone(browser)
    page = await context.new_page()
    await sign_in(page, demo_server, sms_outbox, PHONE, E164)
    await read(page)
    return context, page


async def read(page: Page) -> None:
    """Once the worker is in charge, what is read is kept: the overview and one section."""
    await wait_until(page, "navigator.serviceWorker.controller !== null")
    await page.reload()
    await page.get_by_role("link", name="Lịch hẹn", exact=True).first.click()
    await page.wait_for_url(re.compile(r"/book/appointments$"))
    assert not await page.locator("[data-offline-note]").is_visible()  # online: the server's page
    await wait_until(page, f"{BOOK_CACHES}.then(found => found.length === 1)")
    await wait_until(page, f"{SAVED_PAGES}.then(count => count >= 2)")


async def new_phone(browser: Browser) -> BrowserContext:
    return await browser.new_context(
        viewport={"width": 360, "height": 740}, is_mobile=True, locale="vi-VN", service_workers="allow"
    )


async def end_the_session(database_url: str, statement: str) -> None:
    """The session ends on the server while this phone still holds its cookie."""
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def assert_offline_page_without_the_book(page: Page) -> None:
    assert await page.locator("h1").inner_text() == OFFLINE_TITLE
    assert not await page.locator("[data-offline-note]").is_visible()
    assert not await page.locator("[data-saved-book]").is_visible()


async def test_the_last_viewed_book_reads_offline_until_sign_out(
    browser: Browser, demo_server: str, sms_outbox: Path, artifacts_dir: Path
) -> None:
    context, page = await read_the_book(browser, demo_server, sms_outbox)

    await context.set_offline(True)
    await page.goto(f"{demo_server}/book")
    assert await page.locator("h1").inner_text() == "Nguyễn Văn An"
    note = page.locator("[data-offline-note]")
    assert await note.is_visible()
    assert re.search(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}", await note.inner_text())
    await page.screenshot(path=str(artifacts_dir / "book-offline-360-vi.png"), full_page=True)
    await page.get_by_role("link", name="Lịch hẹn", exact=True).first.click()
    await page.wait_for_url(re.compile(r"/book/appointments$"))
    assert await page.locator("h1").inner_text() == "Lịch hẹn"
    await page.goto(f"{demo_server}/book/results")  # never viewed: the offline page, not someone's data
    assert not await page.locator("[data-offline-note]").is_visible()
    assert await page.locator("h1").inner_text() == OFFLINE_TITLE

    await context.set_offline(False)
    await page.goto(f"{demo_server}/book")
    await page.get_by_role("button", name="Đăng xuất").click()
    await page.wait_for_url(re.compile(r"/$"))
    assert await page.evaluate(BOOK_CACHES) == []
    await context.close()


async def test_the_installed_app_opens_on_the_saved_book_in_airplane_mode(
    browser: Browser, demo_server: str, sms_outbox: Path, artifacts_dir: Path
) -> None:
    context, page = await read_the_book(browser, demo_server, sms_outbox)

    await context.set_offline(True)
    await page.goto(f"{demo_server}/")  # the manifest's start_url: where the installed app opens
    await page.wait_for_url(re.compile(r"/book$"))
    assert await page.locator("h1").inner_text() == "Nguyễn Văn An"
    assert await page.locator("[data-offline-note]").is_visible()

    # A page that was never saved: the offline page, which leads to the saved book.
    await page.goto(f"{demo_server}/book/results")
    assert await page.locator("h1").inner_text() == OFFLINE_TITLE
    saved_book = page.locator("[data-saved-book] a")
    assert await saved_book.is_visible()
    await page.screenshot(path=str(artifacts_dir / "offline-with-saved-book-360-vi.png"), full_page=True)
    await saved_book.click()
    await page.wait_for_url(re.compile(r"/book$"))
    assert await page.locator("h1").inner_text() == "Nguyễn Văn An"
    assert await page.locator("[data-offline-note]").is_visible()
    await context.close()


async def test_a_book_page_sent_to_sign_in_wipes_the_saved_book(
    browser: Browser, demo_server: str, sms_outbox: Path, database_url: str
) -> None:
    """The session ends on the server (30 minutes idle); this phone still holds the cookie. The next book
    page it opens is redirected to sign in: a navigation's redirect reaches the worker as an opaque one,
    whose URL is still the book's, and it wipes the saved book all the same."""
    context, page = await read_the_book(browser, demo_server, sms_outbox)
    await end_the_session(database_url, IDLE_TOO_LONG)

    await page.goto(f"{demo_server}/book")
    await page.wait_for_url(re.compile(r"/login$"))
    await wait_until(page, f"{BOOK_CACHES}.then(found => found.length === 0)")

    await context.set_offline(True)
    for path in ("/book", "/book/appointments"):
        await page.goto(f"{demo_server}{path}")
        await assert_offline_page_without_the_book(page)
    await page.goto(f"{demo_server}/")
    assert await page.locator("h1").inner_text() == OFFLINE_TITLE  # not the book: there is none left
    await context.close()


async def test_an_htmx_request_told_to_sign_in_wipes_the_saved_book(
    browser: Browser, demo_server: str, sms_outbox: Path, database_url: str
) -> None:
    """The session is signed out on every device from elsewhere; htmx's next request for a book page is
    answered `204` with `HX-Redirect: /login`, and that wipes the saved book too."""
    context, page = await read_the_book(browser, demo_server, sms_outbox)
    await end_the_session(database_url, SIGNED_OUT_EVERYWHERE)

    htmx_requests: list[str] = []
    page.on("request", lambda r: htmx_requests.append(r.url) if r.headers.get("hx-request") == "true" else None)
    await page.get_by_role("link", name="Tổng quan", exact=True).first.click()  # a boosted link: htmx
    await page.wait_for_url(re.compile(r"/login$"))
    assert any(url.endswith("/book") for url in htmx_requests)
    await wait_until(page, f"{BOOK_CACHES}.then(found => found.length === 0)")

    await context.set_offline(True)
    await page.goto(f"{demo_server}/book")
    await assert_offline_page_without_the_book(page)
    await context.close()


async def read_a_book_ending_soon(
    browser: Browser, demo_server: str, sms_outbox: Path
) -> tuple[BrowserContext, Page, int]:
    """The pages read name a session's end (`data-expires`) ten seconds after the first of them is served;
    returned with the pages, in Unix seconds."""
    context = await new_phone(browser)
    page = await context.new_page()
    await sign_in(page, demo_server, sms_outbox, PHONE, E164)
    ends: list[int] = []

    async def ending_soon(route: Route) -> None:
        response = await route.fetch()
        ends[:] = ends or [int(time.time()) + 10]
        marker = f'<meta name="book-session" content="\\1" data-expires="{ends[0]}">'
        await route.fulfill(response=response, body=MARKER.sub(marker, await response.text()))

    await context.route(re.compile(r"/book(/appointments)?$"), ending_soon)
    await read(page)
    await context.unroute_all()  # the route's own fetches would reach the server, offline or not
    return context, page, ends[0]


async def past(page: Page, end: int) -> None:
    while time.time() < end + 2:  # the server's Date header may lag up to a second
        await page.wait_for_timeout(200)


async def test_a_saved_book_is_not_shown_past_the_end_of_its_session(
    browser: Browser, demo_server: str, sms_outbox: Path
) -> None:
    """A page may name its session's end (`data-expires`); past it the copy is gone, though the server
    was never asked. Here the session is made to end a few seconds after the pages are read."""
    context, page, end = await read_a_book_ending_soon(browser, demo_server, sms_outbox)
    await context.set_offline(True)
    await page.goto(f"{demo_server}/book")
    assert await page.locator("[data-offline-note]").is_visible(), "readable until the session ends"

    await past(page, end)
    await page.goto(f"{demo_server}/book")
    await assert_offline_page_without_the_book(page)
    assert await page.evaluate(BOOK_CACHES) == []
    await context.close()


async def test_a_saved_book_past_its_end_is_deleted_at_the_next_navigation(
    browser: Browser, demo_server: str, sms_outbox: Path
) -> None:
    """Online too, and on a page that is not the book's: an expired copy does not wait in Cache Storage for
    an offline read that may never come."""
    context, page, end = await read_a_book_ending_soon(browser, demo_server, sms_outbox)
    await past(page, end)
    assert len(await page.evaluate(BOOK_CACHES)) == 1  # nothing has looked at it yet

    await page.goto(f"{demo_server}/")
    await wait_until(page, f"{BOOK_CACHES}.then(found => found.length === 0)")
    await context.close()


async def test_signing_out_wipes_the_saved_book_where_clear_site_data_is_ignored(
    browser: Browser, demo_server: str, sms_outbox: Path
) -> None:
    """Older Safari ignores `Clear-Site-Data`: here it is taken off the sign-out's answer, and the worker,
    seeing the sign-out form sent, wipes the saved book itself."""
    context, page = await read_the_book(browser, demo_server, sms_outbox)
    stripped: list[str] = []

    async def without_clear_site_data(route: Route) -> None:
        response = await route.fetch(max_redirects=0)  # the 303 itself, which carries the header
        stripped.extend(name for name in response.headers if name.lower() == "clear-site-data")
        headers = {name: value for name, value in response.headers.items() if name.lower() != "clear-site-data"}
        await route.fulfill(response=response, headers=headers)

    await context.route(re.compile(r"/logout$"), without_clear_site_data)
    await page.goto(f"{demo_server}/book")
    await page.get_by_role("button", name="Đăng xuất").click()
    await page.wait_for_url(re.compile(r"/$"))
    assert stripped, "the sign-out's answer came through the route, its Clear-Site-Data taken off"
    await wait_until(page, f"{BOOK_CACHES}.then(found => found.length === 0)")

    await context.unroute_all()
    await context.set_offline(True)
    await page.goto(f"{demo_server}/book")
    await assert_offline_page_without_the_book(page)
    await context.close()


async def test_the_share_qr_shows_offline_while_signed_in_and_is_wiped_at_sign_out(
    browser: Browser, demo_server: str, sms_outbox: Path
) -> None:
    """Issue 8: the QR a patient showed stays on screen in airplane mode (at a desk with no signal), marked
    as a saved copy; signing out leaves nothing of it, the link's key included."""
    context = await new_phone(browser)
    page = await context.new_page()
    await sign_in(page, demo_server, sms_outbox, PHONE, E164)
    await read(page)
    await page.goto(f"{demo_server}/shares")
    await page.locator("button.share-button").click()
    await page.wait_for_url(re.compile(r"/shares/[0-9a-f-]{36}$"))
    share_url = page.url
    viewer_url = await page.locator("[data-copy-link]").get_attribute("data-copy-link")
    assert viewer_url
    await wait_until(page, f"{SAVED_PAGES}.then(count => count >= 4)")  # the book's two, /shares, the share

    # Offline, as at a desk with no signal: the share's page reloaded, and opened again in a new tab (in
    # the tab that made it, Chromium will not navigate offline to an entry a form's redirect made).
    await context.set_offline(True)
    await page.reload()
    for shown in (page, await context.new_page()):
        if shown is not page:
            await shown.goto(share_url)
        assert await shown.locator("[data-offline-note]").is_visible()
        assert await shown.locator("main svg").count() == 1  # the QR code itself
        assert await shown.locator("[data-copy-link]").get_attribute("data-copy-link") == viewer_url

    await context.set_offline(False)
    await page.goto(f"{demo_server}/book")
    await page.get_by_role("button", name="Đăng xuất").click()
    await page.wait_for_url(re.compile(r"/$"))
    assert await page.evaluate(BOOK_CACHES) == []
    # Nothing of the share is left in any cache (Clear-Site-Data also took the worker, so offline there is
    # nothing to answer with at all: the browser's own error page).
    assert await page.evaluate("(url) => caches.match(url).then(found => found === undefined)", share_url)
    await context.close()
