"""After one visit the book opens in airplane mode, marked as a saved copy with its time; signing out
leaves nothing of it on the phone (issue 6)."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import Browser

from tests.browser.flows import sign_in, wait_until

BOOK_CACHES = "caches.keys().then(names => names.filter(name => name.startsWith('book-')))"


async def test_the_last_viewed_book_reads_offline_until_sign_out(
    browser: Browser, demo_server: str, sms_outbox: Path, artifacts_dir: Path
) -> None:
    context = await browser.new_context(
        viewport={"width": 360, "height": 740}, is_mobile=True, locale="vi-VN", service_workers="allow"
    )
    page = await context.new_page()
    await sign_in(page, demo_server, sms_outbox, "0912 345 678", "+84912345678")
    await wait_until(page, "navigator.serviceWorker.controller !== null")
    # Once the worker is in charge, what is read is kept: the overview and one section.
    await page.reload()
    await page.get_by_role("link", name="Lịch hẹn", exact=True).first.click()
    await page.wait_for_url(re.compile(r"/book/appointments$"))
    await wait_until(page, f"{BOOK_CACHES}.then(found => found.length === 1)")
    await wait_until(
        page,
        "caches.keys().then(n => caches.open(n.find(x => x.startsWith('book-')))).then(c => c.keys())"
        ".then(keys => keys.length >= 2)",
    )

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
    assert await page.locator("h1").inner_text() == "Không có kết nối mạng"

    await context.set_offline(False)
    await page.goto(f"{demo_server}/book")
    await page.get_by_role("button", name="Đăng xuất").click()
    await page.wait_for_url(re.compile(r"/$"))
    assert await page.evaluate(BOOK_CACHES) == []
    await context.close()
