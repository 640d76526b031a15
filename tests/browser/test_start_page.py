"""The start page on a 360-px phone: it installs, its service worker takes control, and the CSP holds."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from playwright.async_api import Browser, ConsoleMessage, Page

# Collected before any page script runs (init scripts are not subject to the page's CSP).
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


async def wait_until(page: Page, expression: str, timeout: float = 15) -> None:
    """Poll from outside: `page.wait_for_function` evaluates strings with eval, which our CSP refuses."""
    deadline = time.monotonic() + timeout
    while not await page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s: {expression}")
        await asyncio.sleep(0.1)


async def test_start_page_on_a_phone(browser: Browser, live_server: str, artifacts_dir: Path) -> None:
    context = await browser.new_context(
        viewport={"width": 360, "height": 740},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="vi-VN",
        service_workers="allow",
    )
    page = await context.new_page()
    console_errors: list[str] = []

    def note_console(message: ConsoleMessage) -> None:
        if message.type == "error" or "Content Security Policy" in message.text:
            console_errors.append(message.text)

    page.on("console", note_console)
    await page.add_init_script(RECORD_CSP_VIOLATIONS)

    response = await page.goto(f"{live_server}/", wait_until="load")
    assert response is not None and response.status == 200
    assert await page.get_attribute("html", "lang") == "vi"
    assert await page.locator("h1").inner_text() == "Sổ sức khỏe của bạn, từ mọi bệnh viện"
    phone_sign_in = page.get_by_role("link", name="Đăng nhập bằng số điện thoại")
    assert await phone_sign_in.is_visible()
    box = await phone_sign_in.bounding_box()
    assert box is not None and box["height"] >= 44, "touch targets must be finger-sized"

    # Nothing wider than the screen: no sideways scrolling on a 360-px phone.
    assert await page.evaluate("document.documentElement.scrollWidth") <= 360

    # The manifest the page links to is installable: name, start URL, 192/512/maskable icons.
    manifest_href = await page.get_attribute("link[rel=manifest]", "href")
    manifest_response = await page.request.get(f"{live_server}{manifest_href}")
    manifest = json.loads(await manifest_response.body())
    assert manifest["start_url"] == "/" and manifest["display"] == "standalone"
    purposes = {(icon["sizes"], icon.get("purpose", "any")) for icon in manifest["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= purposes

    # The service worker installs, caches the shell and takes control of the page.
    await page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    await wait_until(page, "navigator.serviceWorker.controller !== null")
    cached = await page.evaluate(
        "caches.keys().then(names => Promise.all(names.map(n => caches.open(n).then(c => c.keys()))))"
        ".then(lists => lists.flat().map(r => new URL(r.url).pathname))"
    )
    assert "/static/css/app.css" in cached and "/offline" in cached

    # htmx loaded and configured from its meta tag, under the nonce CSP.
    assert await page.evaluate("window.htmx && htmx.version.startsWith('2.0')")
    assert await page.evaluate("htmx.config.allowEval === false && htmx.config.historyCacheSize === 0")

    await page.screenshot(path=str(artifacts_dir / "start-page-360-vi.png"), full_page=True)
    assert await page.evaluate("window.__cspViolations") == []  # before the next page resets the list

    # The language switch reloads the whole document in English and keeps the page.
    await page.get_by_role("button", name="English").click()
    await wait_until(page, "document.documentElement.lang === 'en'")
    assert "Sign in with your phone number" in await page.content()

    await page.screenshot(path=str(artifacts_dir / "start-page-360-en.png"), full_page=True)
    violations = await page.evaluate("window.__cspViolations")
    assert violations == [], violations
    assert console_errors == [], console_errors
    await context.close()
