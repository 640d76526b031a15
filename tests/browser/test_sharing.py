"""A patient shares their book in Chromium on a 360-px phone, as issue 8's "done when" asks: two taps from
the book make a share; the QR code on the screen, read by a real QR decoder (zxing-cpp), is exactly the
share's viewer URL; a recipient opens the link and the access log shows it, with the recipient; "stop
sharing" makes the next manifest request 404. `/shares`, the share's page and `/access-log`, in
Vietnamese and English: axe-core finds no serious or critical violation, nothing scrolls sideways, no CSP
breach; screenshots kept as `shares-{page}-360-{lang}.png`."""

from __future__ import annotations

import io
import re
from pathlib import Path

import httpx
import zxingcpp
from PIL import Image
from playwright.async_api import Browser, Page

from tests.browser.accessibility import Audit, Watch, assert_axe_finds, audit, prepare, report, watch
from tests.browser.flows import sign_in, wait_until
from tests.integration.sharing.shl import decode_shlink

WIDTH, HEIGHT = 360, 740
PHONE, E164 = "0912 345 678", "+84912345678"  # Nguyễn Văn An, whose book opens in full on his phone
RECIPIENT = "BS. Trần Hữu Nghĩa, Bệnh viện Bạch Mai"


async def check(page: Page, name: str, lang: str, artifacts: Path, audits: list[Audit], watching: Watch) -> None:
    audits.append(await audit(page, f"shares-{name}", lang, watching, width=WIDTH))
    await page.screenshot(path=str(artifacts / f"shares-{name}-{WIDTH}-{lang}.png"), full_page=True)


async def decoded_qr(page: Page) -> list[str]:
    """What a QR decoder reads off the screen where the page draws the code."""
    shot = await page.locator(".share-qr").screenshot()
    return [found.text for found in zxingcpp.read_barcodes(Image.open(io.BytesIO(shot)))]


async def manifest(viewer_url: str) -> int:
    """A recipient's SHL client opens the link (the manifest URL is in the link, on the server's host)."""
    async with httpx.AsyncClient() as recipient:
        answer = await recipient.post(str(decode_shlink(viewer_url)["url"]), json={"recipient": RECIPIENT})
    return answer.status_code


async def test_a_patient_shares_by_qr_code_sees_the_open_and_stops_it(
    browser: Browser, demo_server: str, sms_outbox: Path, artifacts_dir: Path
) -> None:
    context = await browser.new_context(
        viewport={"width": WIDTH, "height": HEIGHT}, device_scale_factor=2, is_mobile=True, locale="vi-VN"
    )
    await prepare(context)
    page = await context.new_page()
    watching = watch(page)
    audits: list[Audit] = []
    await sign_in(page, demo_server, sms_outbox, PHONE, E164)
    assert page.url.endswith("/book"), page.url

    # Two taps: "share" on the book, then "share and show the QR code" with what the form proposes.
    await page.locator("main a[href='/shares'].button").click()
    await page.wait_for_url(re.compile(r"/shares$"))
    await page.reload()
    await assert_axe_finds(page)
    await check(page, "form", "vi", artifacts_dir, audits, watching)
    await page.reload()  # axe leaves empty style attributes behind: a fresh page before acting on it
    await page.locator("button.share-button").click()
    await page.wait_for_url(re.compile(r"/shares/[0-9a-f-]{36}$"))
    share_url = page.url

    viewer_url = await page.locator("[data-copy-link]").get_attribute("data-copy-link")
    assert viewer_url and "/view#shlink:/" in viewer_url
    assert await decoded_qr(page) == [viewer_url]
    assert "còn 6 ngày 23 giờ" in await page.locator(".share-left").inner_text()
    await wait_until(page, "!document.querySelector('[data-copy-link]').hidden")  # the clipboard exists here
    await check(page, "qr", "vi", artifacts_dir, audits, watching)

    assert await manifest(viewer_url) == 200
    await page.goto(f"{demo_server}/access-log")
    assert RECIPIENT in await page.locator("main").inner_text()
    assert "liên kết bạn đã chia sẻ" in await page.locator("main").inner_text()
    await check(page, "access-log", "vi", artifacts_dir, audits, watching)

    await page.reload()
    await page.get_by_role("button", name="English").click()
    await wait_until(page, "document.documentElement.lang === 'en'")
    assert RECIPIENT in await page.locator("main").inner_text()
    await check(page, "access-log", "en", artifacts_dir, audits, watching)
    await page.goto(f"{demo_server}/shares")
    assert "Opened 1 time" in await page.locator("main").inner_text()
    await check(page, "form", "en", artifacts_dir, audits, watching)
    await page.goto(share_url)
    assert await decoded_qr(page) == [viewer_url]
    await check(page, "qr", "en", artifacts_dir, audits, watching)

    await page.reload()
    await page.get_by_role("button", name="Stop sharing").click()
    await page.wait_for_url(share_url)
    await page.locator("text=You stopped this share").wait_for()
    assert await page.locator(".share-qr").count() == 0
    assert await manifest(viewer_url) == 404

    failing = [a for a in audits if a.problems]
    assert not failing, report(failing)
    await context.close()
