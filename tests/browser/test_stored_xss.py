"""Check F2, stored XSS, in Chromium: what a hostile hospital pushes through the real webhook, and what a
patient or a reader types, is shown as text and never run, wherever it is shown.

A facility registered under a hostile name pushes, signed as the webhook asks, one visit whose every free
text a page shows carries the same payload (an inline script, an image and an SVG with handlers, an
attribute breaker, a `</textarea>` breaker, a `javascript:` link), each behind a marker saying which field
it is: the visit's kind and reason, a diagnosis, an allergy, a prescription (drug, dose, how to take it,
prescriber, note, and its prescription code, the one value put into a page unescaped once it is a QR
code), a result and its note, a follow-up appointment and what to bring, a referral (reason, destination,
note), a document and a summary (`Composition`) whose narrative `text.div` holds real `<script>`, `<img>`
and `<svg>` elements besides the payload as text. The patient then signs in, types the payload into the
search box and into a share's name; a reader opens that share in `/view` under a hostile name; the demo
receptionist scans it at the desk.

On every page: `window.__xss` is unset, no dialog opened, the page logged no error and raised no CSP
violation (an injected handler that the CSP refused would raise one), no element of the payload is in the
DOM (no `img[src=x]`, no handler attribute, no `javascript:` URL, no script that is not ours), the fields
that page shows have the payload in their text, and the answer's CSP has a nonce that every script of
the page carries, and `object-src 'none'`. A screenshot of each page is kept as `xss-{page}.png`.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from playwright.async_api import Browser, BrowserContext, Dialog, Page, Response

from backend.clock import VIETNAM
from backend.demo import ensure_demo_staff
from backend.healthbook.sections import SECTIONS
from tests.browser.accessibility import RECORD_CSP_VIOLATIONS, Watch, watch
from tests.browser.flows import REFUSED_PAGE, sign_in
from tests.browser.test_reception_desk import scan_like_a_usb_scanner
from tests.browser.test_staff_pages import sign_in as staff_sign_in
from tests.conftest import make_settings, serving
from tests.support.hospital import FACILITY, register, sample_json, webhook_headers

PHONE, E164 = "0912 345 678", "+84912345678"  # the sample patient's own mobile: his book opens in full
PAYLOAD = (
    "<script>window.__xss=1</script>"
    ' <img src=x onerror="window.__xss=1">'
    ' "><svg onload=window.__xss=1>'
    ' </title></textarea><a href="javascript:window.__xss=1">javascript:window.__xss=1</a>'
)
LABEL = "'\"></title><svg onload=window.__xss=1>"  # a share's name (40 characters at most), its page's <title>
CODE = "XSS-CODE<svg onload=window.__xss=1>"  # a prescription code: made a QR code (unescaped SVG) if it looks safe
SEARCH = 'XSS-DRUG "><svg onload=window.__xss=1>'  # typed into the book's search box: finds the drug
READER = 'XSS-READER <img src=x onerror="window.__xss=1"><script>window.__xss=1</script>'  # typed in /view


def hostile(field: str) -> str:
    """The payload behind a marker naming the field that carries it."""
    return f"XSS-{field} {PAYLOAD}"


# --- What the hospital pushes -------------------------------------------------------------------------


def narrative(field: str) -> dict[str, str]:
    """A FHIR Narrative with the payload as text, and real script, image and SVG elements besides."""
    div = (
        '<div xmlns="http://www.w3.org/1999/xhtml">'
        f"<p>{html.escape(hostile(field), quote=False)}</p>"
        '<script>window.__xss=1</script><img src="x" onerror="window.__xss=1"/><svg onload="window.__xss=1"/>'
        '<a href="javascript:window.__xss=1">XSS-LINK</a>'
        "</div>"
    )
    return {"status": "generated", "div": div}


def hostile_visit(now: datetime) -> dict[str, Any]:
    """The sample visit (tests/fixtures/samples), today, its free texts hostile; plus a document and a
    summary. Dates are moved so that the prescription is current, the appointment upcoming and the referral
    valid: the overview shows them all."""
    bundle = sample_json("fhir-visit-bundle.json")
    today, patient = now.date(), bundle["entry"][0]["fullUrl"]
    resources = {entry["resource"]["id"]: entry["resource"] for entry in bundle["entry"]}

    encounter = resources["kb-20251002-01"]
    encounter["period"] = {"start": now.isoformat(timespec="seconds")}
    encounter["type"] = [{"text": hostile("VISIT")}]
    encounter["reasonCode"] = [{"text": hostile("VISIT-REASON")}]
    for condition in (resources["cd-E119"], resources["cd-I10"]):
        condition["recordedDate"] = today.isoformat()
    diagnosis = resources["cd-E119"]["code"]
    diagnosis["text"] = diagnosis["coding"][0]["display"] = hostile("DIAGNOSIS")
    resources["cd-E119"]["note"] = [{"text": hostile("DIAGNOSIS-NOTE")}]
    allergy = resources["du-penicillin"]
    allergy["code"] = {"text": hostile("ALLERGY")}
    allergy["reaction"][0]["manifestation"] = [{"text": hostile("REACTION")}]
    for line in (resources["dt-84g7vsu-1"], resources["dt-84g7vsu-2"]):
        line["authoredOn"] = now.isoformat(timespec="seconds")
        line["groupIdentifier"]["value"] = line["identifier"][0]["value"] = CODE
    drug = resources["dt-84g7vsu-1"]
    drug["medicationCodeableConcept"] = {"text": hostile("DRUG")}
    drug["dosageInstruction"] = [{"text": hostile("DOSE"), "patientInstruction": hostile("HOW-TO-TAKE")}]
    drug["requester"] = {"display": hostile("PRESCRIBER")}
    drug["note"] = [{"text": hostile("DRUG-NOTE")}]
    result = resources["xn-hba1c"]
    result["effectiveDateTime"] = now.isoformat(timespec="seconds")
    result["code"]["text"] = hostile("RESULT")
    result["note"] = [{"text": hostile("RESULT-NOTE")}]
    appointment = resources["hk-20251002"]
    start = (now + timedelta(days=10)).replace(hour=8, minute=0, second=0, microsecond=0)
    appointment["start"] = start.isoformat()
    appointment["end"] = (start + timedelta(minutes=30)).isoformat()
    appointment["serviceType"] = [{"text": hostile("APPOINTMENT")}]
    appointment["description"] = hostile("APPOINTMENT-BRING")
    appointment["comment"] = hostile("APPOINTMENT-COMMENT")
    referral = resources["ct-20251002"]
    referral["authoredOn"] = now.isoformat(timespec="seconds")
    referral["occurrencePeriod"] = {"start": today.isoformat(), "end": (today + timedelta(days=14)).isoformat()}
    referral["code"] = {"text": hostile("REFERRAL")}
    referral["reasonCode"] = [{"text": hostile("REFERRAL-REASON")}]
    referral["performer"] = [{"reference": "Organization/01002", "display": hostile("REFERRAL-TO")}]
    referral["note"] = [{"text": hostile("REFERRAL-NOTE")}]

    encounter_url = bundle["entry"][1]["fullUrl"]
    document = {
        "resourceType": "DocumentReference",
        "id": "tl-xss-1",
        "status": "current",
        "type": {"text": hostile("DOCUMENT")},
        "description": hostile("DOCUMENT-DESCRIPTION"),
        "subject": {"reference": patient},
        "date": now.isoformat(timespec="seconds"),
        "content": [
            {"attachment": {"contentType": "text/html", "url": "javascript:window.__xss=1", "title": hostile("FILE")}}
        ],
        "context": {"encounter": [{"reference": encounter_url}]},
    }
    summary = {
        "resourceType": "Composition",
        "id": "tt-xss-1",
        "status": "final",
        "type": {"text": "Tóm tắt hồ sơ bệnh án"},
        "subject": {"reference": patient},
        "encounter": {"reference": encounter_url},
        "date": now.isoformat(timespec="seconds"),
        "author": [{"reference": f"Organization/{FACILITY}"}],
        "title": hostile("SUMMARY"),
        "section": [{"title": hostile("SUMMARY-SECTION"), "text": narrative("SECTION-NARRATIVE")}],
    }
    for extra in (document, summary):
        bundle["entry"].append(
            {
                "fullUrl": f"urn:uuid:{extra['id']}",
                "resource": extra,
                "request": {"method": "POST", "url": extra["resourceType"]},
            }
        )
    return bundle


async def push(base_url: str, secret: str, bundle: dict[str, Any]) -> None:
    body = json.dumps(bundle, ensure_ascii=False).encode()
    async with httpx.AsyncClient(base_url=base_url) as hospital:
        answer = await hospital.post(
            f"/api/hospital/v1/{FACILITY}/fhir", content=body, headers=webhook_headers(secret, body)
        )
    assert answer.status_code == 200, answer.text
    statuses = [entry["response"]["status"] for entry in answer.json()["entry"]]
    assert all(status.startswith(("200", "201")) for status in statuses), statuses


# --- What every page must be ------------------------------------------------------------------------------

# Elements and attributes the payload would leave if it were parsed as markup. Our own pages have no
# handler attribute, no `javascript:` URL, no inline script, no frame or plug-in.
INJECTED = """
() => {
  const found = [];
  const where = (e) => e.outerHTML.slice(0, 120);
  for (const e of document.querySelectorAll("img[src='x'], svg[onload], iframe, object, embed, base, textarea")) {
    found.push("element: " + where(e));
  }
  for (const e of document.querySelectorAll("*")) {
    for (const a of e.attributes) {
      if (/^on/i.test(a.name)) found.push("handler " + a.name + ": " + where(e));
      if (/^\\s*javascript:/i.test(a.value)) found.push("javascript: URL in " + a.name + ": " + where(e));
    }
  }
  for (const s of document.scripts) {
    if (!s.src || s.textContent.includes("__xss")) found.push("script: " + where(s));
  }
  return found;
}
"""

# Text as a reader sees it: text nodes outside scripts and styles, white space collapsed.
SHOWN_TEXT = """
() => {
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const parts = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.parentElement.closest("script, style, template, noscript")) parts.push(node.data);
  }
  return parts.join("").replace(/\\s+/g, " ");
}
"""


@dataclass
class Visit:
    """What the browser did on the pages: dialogs and console lines come as they happen."""

    watching: Watch
    dialogs: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def follow(page: Page) -> Visit:
    visit = Visit(watch(page))

    async def refuse(dialog: Dialog) -> None:
        visit.dialogs.append(f"{dialog.type}: {dialog.message}")
        await dialog.dismiss()

    page.on("dialog", refuse)
    return visit


async def new_context(browser: Browser, width: int, height: int) -> BrowserContext:
    context = await browser.new_context(viewport={"width": width, "height": height}, locale="vi-VN")
    await context.add_init_script(RECORD_CSP_VIOLATIONS)
    return context


async def check(
    page: Page, visit: Visit, name: str, response: Response | None, shows: list[str], artifacts: Path
) -> None:
    """Everything F2 asks of the page shown now; what fails goes to `visit.problems`, under `name`."""
    problems: list[str] = []
    if response is not None:  # None: swapped in by htmx, whose scripts (and nonce) are those of the first page
        policy = await response.header_value("content-security-policy") or ""
        directives = {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.strip()}
        nonces = {s.removeprefix("'nonce-").rstrip("'") for s in directives.get("script-src", []) if "nonce-" in s}
        if len(nonces) != 1 or "'unsafe-inline'" in directives.get("script-src", []):
            problems.append(f"script-src without one nonce: {policy!r}")
        if directives.get("object-src") != ["'none'"]:
            problems.append(f"object-src is not 'none': {policy!r}")
        script_nonces = set(await page.evaluate("[...document.scripts].map((s) => s.nonce)"))
        if script_nonces - nonces:
            problems.append(f"scripts whose nonce is not the answer's: {script_nonces - nonces}")
    if await page.evaluate("typeof window.__xss") != "undefined":
        problems.append("window.__xss was set: the payload ran")
    problems += await page.evaluate(INJECTED)
    problems += [f"CSP violation: {v}" for v in await page.evaluate("window.__cspViolations || []")]
    problems += [f"dialog: {d}" for d in visit.dialogs]
    errors = [e for e in visit.watching.console_errors if not REFUSED_PAGE.search(e)]
    problems += [f"console: {e}" for e in errors]
    text = await page.evaluate(SHOWN_TEXT)
    problems += [f"not shown as text: {shown[:40]}…" for shown in shows if " ".join(shown.split()) not in text]
    visit.dialogs.clear()
    visit.watching.console_errors.clear()
    visit.problems += [f"{name}: {p}" for p in problems]
    await page.screenshot(path=str(artifacts / f"xss-{name}.png"), full_page=True)


async def open_and_check(
    page: Page, visit: Visit, base_url: str, path: str, shows: list[str], artifacts: Path, name: str = ""
) -> None:
    """Load `path` in full and check it; named after its path unless `name` is given."""
    response = await page.goto(f"{base_url}{path}", wait_until="load")
    assert response is not None, path
    await check(page, visit, name or path.split("?")[0].strip("/").replace("/", "-"), response, shows, artifacts)


# --- The test ----------------------------------------------------------------------------------------------


def fields(*markers: str) -> list[str]:
    return [hostile(marker) for marker in markers]


# What each page of the book shows of the hostile visit, in full (the overview cuts longer texts short).
BOOK_PAGES = {
    "/book": fields("FACILITY", "VISIT", "DRUG", "ALLERGY", "APPOINTMENT", "REFERRAL", "REFERRAL-TO"),
    "/book/appointments": fields("FACILITY", "APPOINTMENT", "APPOINTMENT-BRING", "APPOINTMENT-COMMENT"),
    "/book/prescriptions": [CODE, *fields("FACILITY", "DRUG", "DOSE", "HOW-TO-TAKE", "PRESCRIBER", "DRUG-NOTE")],
    "/book/referrals": fields("FACILITY", "REFERRAL", "REFERRAL-TO", "REFERRAL-REASON", "REFERRAL-NOTE"),
    "/book/results": fields("FACILITY", "RESULT", "RESULT-NOTE"),
    "/book/visits": fields("FACILITY", "VISIT", "VISIT-REASON", "DIAGNOSIS"),
    "/book/documents": fields(
        "FACILITY", "DOCUMENT", "DOCUMENT-DESCRIPTION", "FILE", "SUMMARY", "SUMMARY-SECTION", "SECTION-NARRATIVE"
    ),
    "/book/allergies": fields("FACILITY", "ALLERGY", "REACTION"),
}
# What a share's summary (IPS) shows, decrypted in /view or opened at the desk.
SHARED = [
    LABEL,
    CODE,
    *fields("FACILITY", "VISIT", "DIAGNOSIS", "DIAGNOSIS-NOTE", "ALLERGY", "REACTION", "DRUG", "DOSE", "HOW-TO-TAKE"),
    *fields("RESULT", "APPOINTMENT", "APPOINTMENT-BRING", "REFERRAL", "REFERRAL-TO", "REFERRAL-NOTE", "DOCUMENT"),
]


@pytest.fixture
def server(database_url: str, var_dir: Path, tmp_path: Path, sms_outbox: Path) -> Iterator[str]:
    """A live server over an empty book, its text messages in `sms_outbox`."""
    with serving(database_url, var_dir, tmp_path / "server.log", SMS_BACKEND=f"file:{sms_outbox}") as base_url:
        yield base_url


async def test_f2_hostile_text_pushed_or_typed_is_shown_as_text_and_never_run(
    browser: Browser,
    app: Litestar,
    server: str,
    database_url: str,
    var_dir: Path,
    sms_outbox: Path,
    artifacts_dir: Path,
) -> None:
    secret = await register(app, FACILITY, hostile("FACILITY"))
    await push(server, secret, hostile_visit(datetime.now(VIETNAM)))
    assert set(BOOK_PAGES) == {"/book", *(f"/book/{name}" for name in SECTIONS)}

    phone = await new_context(browser, 360, 740)
    page = await phone.new_page()
    visit = follow(page)
    await sign_in(page, server, sms_outbox, PHONE, E164)
    for path, shows in BOOK_PAGES.items():
        await open_and_check(page, visit, server, path, shows, artifacts_dir)

    # The patient types the payload into the search box (htmx swaps the answer in), then as a share's name.
    await page.goto(f"{server}/book")
    await page.locator("#q").fill(SEARCH)
    async with page.expect_response(lambda r: "/book/search?" in r.url):
        await page.locator("#q").press("Enter")
    await page.wait_for_url(re.compile(r"/book/search\?q="))
    await check(page, visit, "book-search-swapped", None, fields("FACILITY", "DRUG"), artifacts_dir)
    assert await page.locator("#q").input_value() == SEARCH
    await open_and_check(page, visit, server, page.url.removeprefix(server), fields("FACILITY", "DRUG"), artifacts_dir)

    await page.goto(f"{server}/shares")
    await page.locator("#label").fill(LABEL)
    await page.locator("button.share-button").click()
    await page.wait_for_url(re.compile(r"/shares/[0-9a-f-]{36}$"))
    share_path = page.url.removeprefix(server)
    await open_and_check(page, visit, server, share_path, [LABEL], artifacts_dir, name="share")
    assert (await page.title()).startswith(f"{LABEL} · ")
    viewer_url = await page.locator("[data-copy-link]").get_attribute("data-copy-link")
    assert viewer_url is not None

    # A reader opens the share in /view under a hostile name: the browser decrypts what was pushed and shows it.
    elsewhere = await new_context(browser, 360, 740)
    reader = await elsewhere.new_page()
    reading = follow(reader)
    response = await reader.goto(viewer_url)
    await reader.locator("#viewer-recipient").fill(READER)
    await reader.get_by_role("button", name=re.compile("Mở hồ sơ")).click()
    await reader.locator("[data-documents] h2").first.wait_for()
    await check(reader, reading, "view", response, SHARED, artifacts_dir)
    await elsewhere.close()

    # The patient sees who opened it.
    shares_shows = [LABEL, READER, *fields("FACILITY", "DRUG", "REFERRAL", "RESULT")]  # with what may be picked
    await open_and_check(page, visit, server, "/shares", shares_shows, artifacts_dir)
    await open_and_check(page, visit, server, "/access-log", [READER], artifacts_dir)
    await phone.close()

    # The demo receptionist, of the hostile facility, scans the share at the desk.
    receptionist, _ = await ensure_demo_staff(make_settings(var_dir, DATABASE_URL=database_url), database_url)
    desk = await new_context(browser, 1280, 800)
    page = await desk.new_page()
    at_desk = follow(page)
    await staff_sign_in(page, server, receptionist)
    async with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/reception")) as scan:
        await scan_like_a_usb_scanner(page, server, viewer_url)
    await page.locator(".desk-summary").wait_for()
    await check(page, at_desk, "reception", await scan.value, SHARED, artifacts_dir)
    await desk.close()

    problems = visit.problems + reading.problems + at_desk.problems
    assert not problems, "\n".join(problems)
