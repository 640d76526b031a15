"""The receiving viewer, `/view`, in Chromium on a 360-px phone (issue 9): a reader opens a patient's share
by its link, gives their name, and the browser decrypts the IPS document and shows it; a passcode link
asks for its passcode and says how many attempts are left; a stopped share says it opens nothing any more,
an expired link says so without asking anything, a link of another service is not followed, and a page
that is not a secure context says it cannot decrypt. A hostile narrative is shown as text only. The
patient's access log names the reader. Each state, in Vietnamese and English: axe-core finds no serious or
critical violation, nothing scrolls sideways, no CSP breach; screenshots kept as `view-{state}-360-{lang}.png`.

Where the server cannot produce a case (a crafted narrative, a compressed file, a busy server), the
browser's request for the manifest is answered by the test (`page.route`), with files encrypted as the
server would (`backend.sharing.jwe`)."""

from __future__ import annotations

import json
import re
import secrets
import time
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from playwright.async_api import Browser, BrowserContext, Page, Request, Route

from backend.sharing import jwe
from backend.sharing.links import b64url, b64url_decode, read_shlink
from tests.browser.accessibility import Audit, Watch, assert_axe_finds, audit, prepare, report, watch
from tests.browser.flows import code_sent_to, texts_to, wait_until

WIDTH, HEIGHT = 360, 740
PHONE, E164 = "0912 345 678", "+84912345678"  # Nguyễn Văn An, whose book opens in full on his phone
PATIENT_NAME = "Nguyễn Văn An"
READER = "Lê Thị Thu, lễ tân Bệnh viện Đa khoa Đống Đa"
LABEL = "Khám tim mạch, BV Bạch Mai"
PASSCODE = "2468"
API = "/api/patient/v1"
REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "shl"
IG_KEY = "rxTgYlOaKJPFtcEd0qcceN8wEU4p94SqAwIWQe6uX7Q"  # the SHL IG's example key
# What Chromium logs for any answer of 400 or more, fetch included: here, answers the page expects.
EXPECTED_FAILURES = re.compile(r"Failed to load resource: (the server responded with a status of (401|404|429)|net::)")


# --- Shares and links -------------------------------------------------------------------------------


async def patient_api(base_url: str, outbox: Path) -> httpx.AsyncClient:
    """An app signed in as the demo patient through the JSON API (contract §4), code from the SMS outbox."""
    client = httpx.AsyncClient(base_url=base_url)
    before = len(texts_to(outbox, E164))
    sent = await client.post(f"{API}/auth/otp", json={"phone": PHONE})
    assert sent.status_code == 202, sent.text
    code = await code_sent_to(outbox, E164, after=before)
    verified = await client.post(
        f"{API}/auth/otp/verify", json={"challenge_id": sent.json()["challenge_id"], "code": code}
    )
    assert verified.status_code == 200, verified.text
    client.headers["Authorization"] = f"Bearer {verified.json()['access_token']}"
    return client


async def make_share(api: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await api.post(f"{API}/shares", json={"label": LABEL, "expires_in": 3600, **fields})
    assert response.status_code == 201, response.text
    return dict(response.json())


def crafted_link(base_url: str, url: str, key: bytes, *, exp: float | None = None, flag: str = "") -> str:
    """A viewer URL as a share's QR code carries it (SHL spec), for a link the server never made."""
    payload = {"url": url, "key": b64url(key), "exp": int(exp or time.time() + 3600), "flag": flag, "label": LABEL}
    return f"{base_url}/view#shlink:/" + b64url(json.dumps(payload, separators=(",", ":")).encode())


def manifest_url(base_url: str) -> str:
    return f"{base_url}/api/shl/{b64url(secrets.token_bytes(32))}"  # no such share: the test answers it


def deflated_jwe(plaintext: bytes, key: bytes) -> str:
    """A `zip: DEF` file (raw DEFLATE, SHL spec), which our server never writes but receivers must read."""
    header = b64url(json.dumps({"alg": "dir", "enc": "A256GCM", "zip": "DEF"}).encode())
    packer = zlib.compressobj(wbits=-15)
    iv = secrets.token_bytes(12)
    sealed = AESGCM(key).encrypt(iv, packer.compress(plaintext) + packer.flush(), header.encode())
    return ".".join((header, "", b64url(iv), b64url(sealed[:-16]), b64url(sealed[-16:])))


def critical_jwe(plaintext: bytes, key: bytes) -> str:
    """A file whose header names a `crit` parameter: a receiver that does not know it must refuse it."""
    header = b64url(json.dumps({"alg": "dir", "enc": "A256GCM", "crit": ["exp"], "exp": 1}).encode())
    iv = secrets.token_bytes(12)
    sealed = AESGCM(key).encrypt(iv, plaintext, header.encode())
    return ".".join((header, "", b64url(iv), b64url(sealed[:-16]), b64url(sealed[-16:])))


Answer = Callable[[Route], Awaitable[None]]  # what the test answers to the page's request


def manifest_answer(*files: dict[str, str]) -> Answer:
    async def answer(route: Route) -> None:
        entries = [{"contentType": "application/fhir+json", "lastUpdated": "2025-10-03T03:00:00Z", **f} for f in files]
        await route.fulfill(status=200, json={"files": entries})

    return answer


def status_answer(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Answer:
    async def answer(route: Route) -> None:
        await route.fulfill(status=status, json=body, headers=headers or {})

    return answer


# --- The page -----------------------------------------------------------------------------------------


async def new_context(browser: Browser, base_url: str, lang: str, *, insecure: bool = False) -> BrowserContext:
    context = await browser.new_context(
        viewport={"width": WIDTH, "height": HEIGHT}, device_scale_factor=2, is_mobile=True, locale="vi-VN"
    )
    await prepare(context)
    if lang == "en":
        await context.add_cookies([{"name": "lang", "value": "en", "url": base_url}])
    if insecure:  # as on a plain-http address that is not this machine: no WebCrypto
        await context.add_init_script("Object.defineProperty(Crypto.prototype, 'subtle', {get: () => undefined})")
    return context


SHOWN_MESSAGES = (
    "[...document.querySelectorAll('[data-message]')].filter((e) => e.checkVisibility()).map((e) => e.dataset.message)"
)


# The page is done with a request: a document is shown, or a problem is.
SETTLED = "document.querySelector('[data-documents] h2') || document.querySelector('[data-problem]').checkVisibility()"


async def shown(page: Page) -> list[str]:
    messages: list[str] = await page.evaluate(SHOWN_MESSAGES)
    return messages


async def wait_for_message(page: Page, message: str) -> None:
    await wait_until(page, f"({SHOWN_MESSAGES}).includes({json.dumps(message)})")


async def wait_for_document(page: Page) -> None:
    await wait_until(page, SETTLED)
    assert await page.locator("[data-documents] h2").count() >= 1, await shown(page)


async def form_shown(page: Page) -> bool:
    return bool(await page.locator("[data-open-form]").is_visible())


async def open_with(page: Page, reader: str = READER, passcode: str | None = None) -> None:
    await page.locator("#viewer-recipient").fill(reader)
    if passcode is not None:
        await page.locator("#viewer-passcode").fill(passcode)
    await page.get_by_role("button", name=re.compile("Open the records|Mở hồ sơ")).click()


class Checks:
    """Audits and screenshots of each state, and the requests the page made."""

    def __init__(self, artifacts: Path) -> None:
        self.artifacts = artifacts
        self.audits: list[Audit] = []
        self.requests: list[str] = []

    def follow(self, page: Page) -> Watch:
        page.on("request", lambda request: self.note(request))
        return watch(page)

    def note(self, request: Request) -> None:
        self.requests.append(f"{request.method} {request.url}")

    def api_requests(self) -> list[str]:
        return [r for r in self.requests if "/api/" in r]

    async def check(self, page: Page, state: str, lang: str, watching: Watch) -> None:
        watching.console_errors[:] = [e for e in watching.console_errors if not EXPECTED_FAILURES.search(e)]
        self.audits.append(await audit(page, f"view-{state}", lang, watching, width=WIDTH))
        await page.screenshot(path=str(self.artifacts / f"view-{state}-{WIDTH}-{lang}.png"), full_page=True)

    def assert_clean(self) -> None:
        failing = [a for a in self.audits if a.problems]
        assert not failing, report(failing)


async def fresh(page: Page, url: str) -> None:
    """A new document (a link differing only after `#` would otherwise be a same-page navigation)."""
    await page.goto("about:blank")
    await page.goto(url)
    await wait_until(page, "document.readyState === 'complete'")


NARRATIVE_ATTRIBUTES = """
[...document.querySelectorAll('[data-documents] .viewer-narrative *')]
  .flatMap((e) => [...e.attributes].map((a) => e.localName + '@' + a.name))
  .filter((x) => !/@(role|class|aria-hidden)$/.test(x))
"""


# --- Shares the server made -----------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["vi", "en"])
async def test_a_reader_opens_a_share_and_the_patient_sees_who(
    browser: Browser, demo_server: str, sms_outbox: Path, artifacts_dir: Path, tmp_path: Path, lang: str
) -> None:
    api = await patient_api(demo_server, sms_outbox)
    plain = await make_share(api)
    with_passcode = await make_share(api, passcode=PASSCODE)
    stopped = await make_share(api)
    assert (await api.delete(f"{API}/shares/{stopped['id']}")).status_code == 204

    context = await new_context(browser, demo_server, "vi")
    page = await context.new_page()
    checks = Checks(artifacts_dir)
    watching = checks.follow(page)

    # Without a passcode: the name is asked, nothing is sent without it, then the document is decrypted here.
    await fresh(page, plain["viewer_url"])
    if lang == "en":  # the switch posts and is redirected back: the link after `#` comes back, never sent
        async with page.expect_navigation():
            await page.get_by_role("button", name="English").click()
        await wait_until(page, "document.readyState === 'complete' && document.documentElement.lang === 'en'")
        assert page.url == plain["viewer_url"]
        assert not [r for r in checks.requests if plain["shlink"][len("shlink:/") :] in r], checks.requests
    assert await form_shown(page) and not await page.locator("#viewer-passcode").is_visible()
    assert LABEL in await page.locator("[data-link]").inner_text()
    if lang == "vi":
        await assert_axe_finds(page)
    await checks.check(page, "form", lang, watching)
    await fresh(page, plain["viewer_url"])  # axe leaves empty style attributes behind
    await page.get_by_role("button", name=re.compile("Open the records|Mở hồ sơ")).click()
    assert await page.locator("#viewer-recipient-error").is_visible()
    assert await page.locator("#viewer-recipient").get_attribute("aria-invalid") == "true"
    assert checks.api_requests() == []
    await open_with(page)
    await wait_for_document(page)
    document = await page.locator("[data-documents]").inner_text()
    assert PATIENT_NAME in document
    assert await page.locator("[data-documents] .viewer-section").count() >= 3  # the IPS's required sections
    assert await page.locator("[data-documents] .viewer-narrative tr[role=row]").count() >= 1
    assert await page.evaluate(NARRATIVE_ATTRIBUTES) == []
    assert not await form_shown(page)
    assert checks.api_requests() == [f"POST {read_shlink(plain['shlink'])['url']}"]
    await checks.check(page, "opened", lang, watching)

    # With a passcode: a wrong one says how many attempts are left, the right one opens.
    await fresh(page, with_passcode["viewer_url"])
    assert await page.locator("#viewer-passcode").is_visible()
    await open_with(page, passcode="0000")
    await wait_for_message(page, "passcode-wrong")
    assert await page.locator("[data-attempts]").inner_text() == "9"
    assert await form_shown(page) and await page.locator("#viewer-passcode").input_value() == ""
    await checks.check(page, "passcode-wrong", lang, watching)
    await open_with(page, passcode=PASSCODE)
    await wait_for_document(page)
    assert PATIENT_NAME in await page.locator("[data-documents]").inner_text()

    # A share the patient stopped: one clear message, and no form to try again.
    await fresh(page, stopped["viewer_url"])
    await open_with(page)
    await wait_for_message(page, "gone")
    assert not await form_shown(page)
    await checks.check(page, "revoked", lang, watching)

    # The patient's access log names the reader as they gave their name on /view.
    log = await api.get(f"{API}/access-log")
    readers = [(event["actor"], event["channel"]) for event in log.json()["events"]]
    assert readers.count((READER, "shl")) == 2, readers
    # The server never saw a link's key: not in any request it logged (the demo server's log, tests/conftest.py).
    logged = (tmp_path / "server.log").read_text()
    assert "/view" in logged
    for share in (plain, with_passcode, stopped):
        assert str(read_shlink(share["shlink"])["key"]) not in logged

    checks.assert_clean()
    await api.aclose()
    await context.close()


# --- Links the server never made ----------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["vi", "en"])
async def test_a_link_that_cannot_be_opened_says_why_and_asks_nothing(
    browser: Browser, live_server: str, artifacts_dir: Path, lang: str
) -> None:
    key = secrets.token_bytes(32)
    checks = Checks(artifacts_dir)
    context = await new_context(browser, live_server, lang)
    page = await context.new_page()
    watching = checks.follow(page)

    await fresh(page, f"{live_server}/view")
    assert await shown(page) == ["no-link"]
    await fresh(page, f"{live_server}/view#shlink:/not*base64")
    assert await shown(page) == ["damaged"]
    await fresh(
        page,
        f"{live_server}/view#shlink:/" + b64url(b'{"url":"' + live_server.encode() + b'/api/shl/x","key":"c2hvcnQ"}'),
    )
    assert await shown(page) == ["damaged"]  # a key that is not 256 bits

    await fresh(page, crafted_link(live_server, manifest_url(live_server), key, exp=time.time() - 60))
    assert await shown(page) == ["expired"]
    assert LABEL in await page.locator("[data-link]").inner_text() and not await form_shown(page)
    await checks.check(page, "expired", lang, watching)

    await fresh(page, crafted_link(live_server, "https://shl.example.org/api/shl/abc", key))
    assert await shown(page) == ["elsewhere"] and not await form_shown(page)
    await checks.check(page, "elsewhere", lang, watching)
    # This origin, but not a manifest of ours: the page's cookies would go with it.
    for path in ("/api/patient/v1/shares", f"/api/shl/{'A' * 43}?x=1", "/api/shl/files/" + "A" * 43):
        await fresh(page, crafted_link(live_server, live_server + path, key))
        assert await shown(page) == ["elsewhere"] and not await form_shown(page), path
    assert checks.api_requests() == []

    # Where WebCrypto is missing (plain http to another machine), the page says it needs https.
    insecure = await new_context(browser, live_server, lang, insecure=True)
    page = await insecure.new_page()
    watching = checks.follow(page)
    await fresh(page, crafted_link(live_server, manifest_url(live_server), key))
    assert await shown(page) == ["insecure"] and not await form_shown(page)
    await checks.check(page, "insecure", lang, watching)
    assert checks.api_requests() == []

    checks.assert_clean()
    await insecure.close()
    await context.close()


HOSTILE = (
    '<div xmlns="http://www.w3.org/1999/xhtml"><h3>Dị ứng (Allergies)</h3>'
    '<p onclick="window.__pwned = 1" style="color: red" class="x" id="y">Dị ứng penicillin'
    '<img src="/pwned.png" onerror="window.__pwned = 2"/></p>'
    "<script>window.__pwned = 3</script>"
    "<table><thead><tr><th>Nội dung</th><th>Cơ sở gửi</th></tr></thead><tbody>"
    '<tr><td><a href="javascript:window.__pwned = 4">Bấm vào đây</a></td>'
    '<td><iframe src="/pwned"></iframe><b title="t">01929</b></td></tr></tbody></table>'
    '<svg onload="window.__pwned = 5"><image href="/pwned.svg"/></svg>'
    '<form action="/pwned"><input name="q"/><button>Gửi</button></form>'
    '<object data="/pwned"></object><math><mi xlink:href="javascript:window.__pwned = 6">m</mi></math>'
    "&lt;img src=x onerror=window.__pwned=7&gt;</div>"
)


INLINE_REFUSED = re.compile(
    r"(Executing inline event handler|Applying inline style) violates the following Content Security"
)


def document_bundle(narrative: str, *, name: dict[str, Any] | None = None, title: str = "Patient Summary") -> bytes:
    """A small IPS-shaped document Bundle: a Composition with one section, its Patient and its one record."""
    composition = {
        "resourceType": "Composition",
        "id": "c1",
        "language": "vi",
        "title": title,
        "date": "2025-10-03T03:00:00Z",
        "subject": {"reference": "Patient/p1"},
        "section": [
            {
                "title": "Dị ứng (Allergies)",
                "entry": [{"reference": "AllergyIntolerance/a1"}],
                "text": {"status": "generated", "div": narrative},
            }
        ],
    }
    patient = {
        "resourceType": "Patient",
        "id": "p1",
        "name": [name or {"family": "Trần", "given": ["Thị", "Bình"]}],
        "birthDate": "1985-07-09",
        "gender": "female",
    }
    allergy = {
        "resourceType": "AllergyIntolerance",
        "id": "a1",
        "meta": {"tag": [{"system": "urn:healthbook:signature", "code": "verified"}]},
    }
    entries = [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in (composition, patient, allergy)]
    return json.dumps({"resourceType": "Bundle", "type": "document", "entry": entries}).encode()


async def test_a_hostile_narrative_is_shown_as_text_only(
    browser: Browser, live_server: str, artifacts_dir: Path
) -> None:
    key = secrets.token_bytes(32)
    url = manifest_url(live_server)
    name = {"text": "<b onmouseover='window.__pwned = 8'>Trần Thị Bình</b>"}
    compact = jwe.encrypt(document_bundle(HOSTILE, name=name, title="<i>Tóm tắt</i>"), key)
    checks = Checks(artifacts_dir)
    context = await new_context(browser, live_server, "vi")
    page = await context.new_page()
    watching = checks.follow(page)
    await page.route(url, manifest_answer({"embedded": compact}))

    await fresh(page, crafted_link(live_server, url, key))
    await open_with(page)
    await wait_for_document(page)
    await page.wait_for_timeout(500)  # an image's error or a handler would have fired by now
    documents = page.locator("[data-documents]")
    assert await page.evaluate("window.__pwned") is None
    for tag in ("img", "script", "a", "iframe", "svg", "image", "form", "input", "button", "object", "math", "style"):
        assert await documents.locator(tag).count() == 0, tag
    assert await page.evaluate(NARRATIVE_ATTRIBUTES) == []
    assert await documents.locator(".viewer-narrative p").count() == 1
    assert await documents.locator(".viewer-narrative b").count() == 1
    text = await documents.inner_text()
    assert "<img src=x onerror=window.__pwned=7>" in text  # escaped markup stays text
    assert "<b onmouseover='window.__pwned = 8'>Trần Thị Bình</b>" in text  # so does a name
    assert "<i>Tóm tắt</i>" in text and "Bấm vào đây" in text and "Dị ứng penicillin" in text
    assert not [r for r in checks.requests if "pwned" in r], checks.requests
    assert await documents.locator(".badge-ok").count() == 1  # the record's verified signature, quietly
    # Chromium checks the CSP as soon as a parser sets an `on…` or `style` attribute, even in the inert
    # document DOMParser makes (its own Sanitizer API, `setHTML`, does the same): the narrative's
    # attributes are refused, and reported, before the rebuild drops them. Those refusals only.
    refused = await page.evaluate("window.__cspViolations.splice(0)")
    assert refused and all(v.startswith(("script-src-attr inline", "style-src-attr inline")) for v in refused), refused
    watching.console_errors[:] = [e for e in watching.console_errors if not INLINE_REFUSED.match(e)]
    await checks.check(page, "hostile", "vi", watching)
    checks.assert_clean()
    await context.close()


async def test_files_decrypt_from_where_the_spec_allows_and_fail_closed_otherwise(
    browser: Browser, live_server: str, artifacts_dir: Path
) -> None:
    narrative = '<div xmlns="http://www.w3.org/1999/xhtml"><p>Không có dị ứng đã biết.</p></div>'
    context = await new_context(browser, live_server, "vi")
    page = await context.new_page()
    checks = Checks(artifacts_dir)
    checks.follow(page)

    async def outcome(manifest: Answer, key: bytes, *, flag: str = "") -> list[str]:
        """Open a crafted link whose manifest `manifest` answers: the messages shown, [] once decrypted."""
        url = manifest_url(live_server)
        await page.route(url, manifest)
        await fresh(page, crafted_link(live_server, url, key, flag=flag))
        await open_with(page, passcode="1234" if "P" in flag else None)
        await wait_until(page, SETTLED)
        return await shown(page)

    # A compressed file (zip: DEF), at a `location` of this origin.
    key = secrets.token_bytes(32)
    where = f"{live_server}/api/shl/files/{b64url(secrets.token_bytes(32))}"
    await page.route(where, lambda route: route.fulfill(body=deflated_jwe(document_bundle(narrative), key)))
    assert await outcome(manifest_answer({"location": where}), key) == []
    assert "Không có dị ứng đã biết." in await page.locator("[data-documents]").inner_text()
    assert f"GET {where}" in checks.requests

    # The SHL IG's own IPS example: no `cty`, a `kid`, another maker's Bundle.
    example = REFERENCE / "ips-example-jwe.txt"
    if example.exists():
        ig_key = b64url_decode(IG_KEY)
        assert await outcome(manifest_answer({"embedded": example.read_text().strip()}), ig_key) == []
        assert await page.locator("[data-documents] .viewer-section").count() >= 3

    # Fails closed: a file that inflates past 32 MiB, one sealed with another key, one elsewhere.
    bomb = deflated_jwe(b"0" * (33 * 1024 * 1024), key)
    assert await outcome(manifest_answer({"embedded": bomb}), key) == ["undecryptable"]
    other = jwe.encrypt(document_bundle(narrative), secrets.token_bytes(32))
    assert await outcome(manifest_answer({"embedded": other}), key) == ["undecryptable"]
    assert not await form_shown(page)
    not_a_document = jwe.encrypt(json.dumps({"resourceType": "Patient", "id": "p1"}).encode(), key)
    assert await outcome(manifest_answer({"embedded": not_a_document}), key) == ["unreadable"]
    elsewhere = "https://files.example.org/shl/abc"
    assert await outcome(manifest_answer({"location": elsewhere}), key) == ["elsewhere"]
    assert not [r for r in checks.requests if "example.org" in r]
    own_api = f"{live_server}/api/patient/v1/book/fhir"
    assert await outcome(manifest_answer({"location": own_api}), key) == ["elsewhere"]
    assert not [r for r in checks.requests if "/book/fhir" in r]
    assert await outcome(manifest_answer({"embedded": critical_jwe(document_bundle(narrative), key)}), key) == [
        "undecryptable"
    ]

    # What the manifest may answer instead of files.
    assert await outcome(status_answer(401, {"remainingAttempts": 5}), key) == ["passcode-needed"]
    assert await page.locator("#viewer-passcode").is_visible()  # a link that did not say `P` asks anyway
    assert await outcome(status_answer(401, {"remainingAttempts": 0}), key, flag="P") == ["passcode-exhausted"]
    assert not await form_shown(page)
    assert await outcome(status_answer(404, {}), key) == ["gone"]
    assert await outcome(status_answer(500, {}), key) == ["unexpected"]
    assert await form_shown(page)
    assert await outcome(lambda route: route.abort(), key) == ["offline"]
    assert await outcome(status_answer(429, {}, {"Retry-After": "2"}), key) == ["busy"]
    submit = page.locator("[data-open-form] button[type=submit]")
    assert await submit.is_disabled()
    await wait_until(page, "!document.querySelector('[data-open-form] button[type=submit]').disabled", timeout=5)
    await context.close()
