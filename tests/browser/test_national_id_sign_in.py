"""Patients in Chromium, as new users would try it (issue 7, "done when"): a demo patient signs in through
the demo national identity provider and lands on their book; a book that opens read-only on a shared
phone becomes full after the hospital's activation code. The provider's page is checked like every page
(axe, CSP, no sideways scrolling) and kept as `oidc-demo-provider-360-vi.png`."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from pathlib import Path

from playwright.async_api import Browser, Page

from tests.browser.accessibility import Audit, audit, prepare, report, watch
from tests.browser.flows import sign_in
from tests.support.processes import HEALTHBOOK, healthbook_env

WIDTH, HEIGHT = 360, 740
AN_CCCD = "001090012345"
MOTHER = ("0987 654 321", "+84987654321")  # her own book and her son's, both read-only at first
SON_CCCD = "001216007788"


async def new_page(browser: Browser) -> Page:
    context = await browser.new_context(
        viewport={"width": WIDTH, "height": HEIGHT}, device_scale_factor=2, is_mobile=True, locale="vi-VN"
    )
    await prepare(context)
    return await context.new_page()


async def test_a_demo_patient_signs_in_with_the_national_id_app_and_lands_on_their_book(
    browser: Browser, demo_server: str, artifacts_dir: Path
) -> None:
    page = await new_page(browser)
    watching = watch(page)
    await page.goto(f"{demo_server}/login")
    await page.locator("a[href='/login/oidc']").click()
    await page.wait_for_url(re.compile(r"/demo-idp/authorize\?"))
    found: list[Audit] = [await audit(page, "oidc-demo-provider", "vi", watching, width=WIDTH)]
    await page.screenshot(path=str(artifacts_dir / f"oidc-demo-provider-{WIDTH}-vi.png"), full_page=True)
    await page.locator("a.choice", has_text=AN_CCCD).click()
    await page.wait_for_url(re.compile(r"/(consent|book)$"))
    if page.url.endswith("/consent"):
        await page.locator("button[name=accept]").click()
        await page.wait_for_url(re.compile(r"/book$"))
    assert "Nguyễn Văn An" in await page.locator("main").inner_text()
    assert "chỉ xem" not in (await page.locator("main").inner_text()).lower()  # confirmed: not read-only
    found.append(await audit(page, "oidc-book", "vi", watching, width=WIDTH))
    failing = [a for a in found if a.problems]
    assert not failing, report(failing)
    await page.context.close()


async def test_a_read_only_book_becomes_full_after_the_activation_code(
    browser: Browser, demo_server: str, sms_outbox: Path, database_url: str, var_dir: Path
) -> None:
    page = await new_page(browser)
    await sign_in(page, demo_server, sms_outbox, *MOTHER)
    assert page.url.endswith("/login/choose")
    await page.locator("form[action='/login/choose'] button", has_text="******788").click()
    await page.wait_for_url(re.compile(r"/(consent|book)$"))
    if page.url.endswith("/consent"):
        await page.locator("button[name=accept]").click()
        await page.wait_for_url(re.compile(r"/book$"))
    assert "chỉ xem" in (await page.locator("main").inner_text()).lower()  # "read-only on this phone"

    printed = await asyncio.to_thread(  # the desk's step, as the hospital runs it
        subprocess.run,
        [HEALTHBOOK, "patient", "activation-code", "--cccd", SON_CCCD],
        env=healthbook_env(var_dir, DATABASE_URL=database_url),
        capture_output=True,
        timeout=120,
        check=True,
    )
    code = json.loads(printed.stdout)["code"]
    await page.goto(f"{demo_server}/activate")
    await page.locator("#activation").fill(code)
    await page.locator("form[action='/activate'] button[type=submit]").click()
    await page.wait_for_url(re.compile(r"/book$"))
    main = (await page.locator("main").inner_text()).lower()
    assert "chỉ xem" not in main and "******788" in main
    await page.goto(f"{demo_server}/settings")
    son = await page.locator("li", has_text="******788").first.inner_text()
    assert "chỉ xem" not in son.lower()  # the son's book is full now; the mother's own stays read-only
    await page.context.close()
