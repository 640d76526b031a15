"""What browser tests do again and again: sign a demo patient in through the real pages, wait for what
the page does on its own time (polled from outside with `page.evaluate`: `wait_for_function` with a
string needs the page to compile it, which our CSP refuses)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

from playwright.async_api import Page

PHONE_FIELD, CODE_FIELD = "#phone", "#code"
# What Chromium logs for a page answered with a 4xx status (a refused scan, a stopped link): the page is the
# answer, and says why; tests expecting such a page forgive this line.
REFUSED_PAGE = re.compile(r"Failed to load resource: the server responded with a status of (400|404|422) ")


def texts_to(outbox: Path, phone: str) -> list[str]:
    if not outbox.exists():
        return []
    return [m["text"] for line in outbox.read_text().splitlines() if (m := json.loads(line))["to"] == phone]


async def code_sent_to(outbox: Path, phone: str, *, after: int = 0, timeout: float = 15) -> str:
    """The SMS goes out after the response: wait for the `after`+1-th one to this phone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(texts := texts_to(outbox, phone)) > after:
            (code,) = re.findall(r"\b\d{6}\b", texts[-1])
            return str(code)
        await asyncio.sleep(0.1)
    raise AssertionError(f"no SMS to {phone} within {timeout} s")


async def wait_until(page: Page, expression: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not await page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s: {expression}")
        await asyncio.sleep(0.1)


async def sign_in(page: Page, base_url: str, outbox: Path, phone: str, e164: str) -> None:
    """Phone, code from the outbox, consent if asked: the browser ends on /book (or /login/choose)."""
    before = len(texts_to(outbox, e164))
    await page.goto(f"{base_url}/login")
    await page.fill(PHONE_FIELD, phone)
    await page.locator("form[action='/login'] button[type=submit]").click()
    await page.wait_for_url(re.compile(r"/login/code\?c="))
    await page.fill(CODE_FIELD, await code_sent_to(outbox, e164, after=before))
    await page.locator("form[action='/login/code'] button[type=submit]").click()
    await page.wait_for_url(re.compile(r"/(book|consent|login/choose)$"))
    if page.url.endswith("/consent"):
        await page.locator("button[name=accept]").click()
        await page.wait_for_url(re.compile(r"/book$"))
