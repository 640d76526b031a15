"""The receiving side in Chromium, as issue 9's "done when" asks: a receptionist at a desktop types a
patient's link into the scan box as a USB scanner does and sees the shared items and the print view; the
same link opened in `/view` on a phone decrypts in the browser and shows the summary; the patient's access
log names the receptionist's facility; a stopped link says so clearly in both places. The desk's pages in
Vietnamese and English: axe-core finds no serious or critical violation, nothing scrolls sideways, no CSP
breach; screenshots kept as `desk-{state}-{width}-{lang}.png` (and `view-…` for the phone)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from playwright.async_api import Browser, BrowserContext, Page

from backend.demo import ensure_demo_staff
from tests.browser.accessibility import Audit, Watch, audit, prepare, report, watch
from tests.browser.flows import REFUSED_PAGE, wait_until
from tests.browser.test_staff_pages import sign_in, switch_to_english
from tests.browser.test_viewer import make_share, patient_api
from tests.conftest import make_settings

DESK_WIDTH, DESK_HEIGHT = 1280, 800
PHONE_WIDTH, PHONE_HEIGHT = 360, 740
API = "/api/patient/v1"


async def desk_context(browser: Browser) -> BrowserContext:
    context = await browser.new_context(viewport={"width": DESK_WIDTH, "height": DESK_HEIGHT}, locale="vi-VN")
    await prepare(context)
    return context


async def check(page: Page, name: str, lang: str, artifacts: Path, audits: list[Audit], watching: Watch) -> None:
    # A refused scan is answered with its 4xx status, which Chromium logs for the page itself: expected here.
    watching.console_errors[:] = [e for e in watching.console_errors if not REFUSED_PAGE.search(e)]
    audits.append(await audit(page, f"desk-{name}", lang, watching, width=DESK_WIDTH))
    await page.screenshot(path=str(artifacts / f"desk-{name}-{DESK_WIDTH}-{lang}.png"), full_page=True)


async def scan_like_a_usb_scanner(page: Page, base_url: str, link: str) -> None:
    """A fresh desk page (axe leaves empty style attributes behind), the focus in the box, the link typed
    key by key and Enter, as a scanner in keyboard mode does."""
    await page.goto(f"{base_url}/reception")
    await wait_until(page, "document.activeElement !== null && document.activeElement.id === 'scan'")
    await page.keyboard.type(link)
    async with page.expect_navigation():
        await page.keyboard.press("Enter")


async def test_a_receptionist_scans_a_share_prints_it_and_a_phone_opens_the_same_link(
    browser: Browser, demo_server: str, database_url: str, var_dir: Path, sms_outbox: Path, artifacts_dir: Path
) -> None:
    receptionist, _ = await ensure_demo_staff(make_settings(var_dir, DATABASE_URL=database_url), database_url)
    api = await patient_api(demo_server, sms_outbox)
    share = await make_share(api)
    audits: list[Audit] = []

    context = await desk_context(browser)
    page = await context.new_page()
    watching = watch(page)
    await sign_in(page, demo_server, receptionist)
    await scan_like_a_usb_scanner(page, demo_server, share["viewer_url"])
    summary = page.locator(".desk-summary")
    await summary.wait_for()
    shown = await summary.inner_text()
    assert "Nguyễn Văn An" in shown and "Penicillin" in shown, shown
    assert await page.locator(".desk-summary .provenance").count() > 3  # each item: its facility and signature
    # The demo hospitals sign prescriptions, follow-ups and referral letters (issue 10): the desk says so.
    verified = await page.locator(".desk-summary .badge-ok").all_inner_texts()
    assert verified and all("Bệnh viện" in badge for badge in verified), verified
    await check(page, "opened", "vi", artifacts_dir, audits, watching)

    # The print view: one clean page, allergies first, none of the screen's controls.
    await page.emulate_media(media="print")
    assert await page.locator(".print-summary").is_visible()
    assert not await page.locator(".desk-summary").is_visible() and not await page.locator("#scan-form").is_visible()
    printed = await page.locator(".print-summary").inner_text()
    headings = await page.locator(".print-summary h2").all_inner_texts()
    assert headings[0] == "Dị ứng" and printed.index("Penicillin") < printed.index("Metformin"), printed
    await page.screenshot(path=str(artifacts_dir / f"desk-print-{DESK_WIDTH}-vi.png"), full_page=True)
    await page.emulate_media(media="screen")

    # The FHIR Bundle for the hospital's system.
    async with page.expect_download() as download_info:
        await page.locator("form[action='/reception/bundle'] button").click()
    saved = await (await download_info.value).path()
    bundle = json.loads(await asyncio.to_thread(saved.read_text))
    assert bundle["type"] == "document" and bundle["entry"][0]["resource"]["resourceType"] == "Composition"

    await switch_to_english(page)
    await scan_like_a_usb_scanner(page, demo_server, share["shlink"])
    await page.locator(".desk-summary").wait_for()
    await check(page, "opened", "en", artifacts_dir, audits, watching)

    # The same link on a phone: /view decrypts it in the browser.
    phone = await browser.new_context(
        viewport={"width": PHONE_WIDTH, "height": PHONE_HEIGHT}, device_scale_factor=2, is_mobile=True, locale="vi-VN"
    )
    await prepare(phone)
    reader = await phone.new_page()
    await reader.goto(share["viewer_url"])
    await reader.locator("#viewer-recipient").fill("BS. Trần Hữu Nghĩa")
    await reader.get_by_role("button", name=re.compile("Open the records|Mở hồ sơ")).click()
    await reader.locator("[data-documents] h2").first.wait_for()
    assert "Penicillin" in await reader.locator("main").inner_text()
    await reader.screenshot(path=str(artifacts_dir / f"view-same-link-{PHONE_WIDTH}-vi.png"), full_page=True)

    # The patient's access log names the desk's facility, and the phone's reader.
    events = (await api.get(f"{API}/access-log")).json()["events"]
    desk_reads = [e for e in events if e["channel"] == "reception"]
    assert desk_reads and all(e["actor"] == receptionist.username and e["facility"] for e in desk_reads)
    assert any(e["actor"] == "BS. Trần Hữu Nghĩa" and e["channel"] == "shl" for e in events)

    # Stopped: the desk and the phone both say so plainly.
    assert (await api.delete(f"{API}/shares/{share['id']}")).status_code == 204
    await scan_like_a_usb_scanner(page, demo_server, share["viewer_url"])
    alert = page.locator("#scan-result")
    await alert.wait_for()
    assert "stopped sharing" in await alert.inner_text()
    assert not await page.locator(".desk-summary").count()
    await check(page, "stopped", "en", artifacts_dir, audits, watching)
    await reader.goto("about:blank")
    await reader.goto(share["viewer_url"])
    await reader.locator("#viewer-recipient").fill("BS. Trần Hữu Nghĩa")
    await reader.get_by_role("button", name=re.compile("Open the records|Mở hồ sơ")).click()
    await wait_until(reader, "document.querySelector('[data-documents] h2') === null")
    await reader.locator("[role=alert]:visible").first.wait_for()
    await reader.screenshot(path=str(artifacts_dir / f"view-same-link-stopped-{PHONE_WIDTH}-vi.png"), full_page=True)
    await phone.close()
    await context.close()
    await api.aclose()
    failing = [a for a in audits if a.problems]
    assert not failing, report(failing)


async def test_a_share_with_a_passcode_asks_for_it_at_the_desk(
    browser: Browser, demo_server: str, database_url: str, var_dir: Path, sms_outbox: Path, artifacts_dir: Path
) -> None:
    receptionist, _ = await ensure_demo_staff(make_settings(var_dir, DATABASE_URL=database_url), database_url)
    api = await patient_api(demo_server, sms_outbox)
    share = await make_share(api, passcode="2468")
    audits: list[Audit] = []
    context = await desk_context(browser)
    page = await context.new_page()
    watching = watch(page)
    await sign_in(page, demo_server, receptionist)
    await scan_like_a_usb_scanner(page, demo_server, share["viewer_url"])
    await wait_until(page, "document.activeElement !== null && document.activeElement.id === 'passcode'")
    await check(page, "passcode", "vi", artifacts_dir, audits, watching)
    await page.keyboard.type("1111")
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    assert "9" in await page.locator("#scan-result").inner_text()
    await check(page, "passcode-wrong", "vi", artifacts_dir, audits, watching)
    await page.locator("#passcode").fill("2468")
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    await page.locator(".desk-summary").wait_for()
    await context.close()
    await api.aclose()
    failing = [a for a in audits if a.problems]
    assert not failing, report(failing)
