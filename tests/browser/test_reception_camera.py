"""The reception desk's camera, paste and print buttons (`pwa/js/reception.js`, issue 9) in Chromium, with no
real camera: Chromium's fake capture device plays a video of a QR code (a .y4m file made here with segno),
and the page reads it and submits the scan form, through jsQR (lazily loaded, as on Linux desktops) and,
where this Chromium has one that reads QR codes, through `BarcodeDetector`.

The page is this module's own, served by `page.route` at https://desk.test (https, so a secure context)
with the app's Content-Security-Policy: it carries exactly the hooks the reception desk's template
provides, so these tests do not depend on that template, and the script and jsQR are the files we ship.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import segno
from playwright.async_api import Browser, BrowserContext, Page, Route, async_playwright

from backend.paths import ROOT
from backend.web.security import content_security_policy
from tests.browser.accessibility import RECORD_CSP_VIOLATIONS, Watch, watch
from tests.browser.conftest import CHROMIUM_FLAGS
from tests.browser.flows import wait_until

ORIGIN = "https://desk.test"
SCRIPT_PATH, JSQR_PATH = "/static/js/reception.js", "/static/vendor/jsqr/jsQR.js"
SCRIPT_FILE, JSQR_FILE = ROOT / "pwa" / "js" / "reception.js", ROOT / "pwa" / "vendor" / "jsqr" / "jsQR.js"
JSQR_THAT_NEVER_FINDS = "window.jsQR = function () { return null; };"

# What a patient's phone shows at the desk: a share's viewer link, its key in the fragment (made up here).
SHARE = {
    "url": "https://sosuckhoe.test/shl/manifest/Qm9va1NoYXJlMTIzNDU2Nzg5MA",
    "flag": "P",
    "label": "Khám tổng quát",
}
SHARE_JSON = json.dumps(
    {**SHARE, "key": base64.urlsafe_b64encode(bytes(range(32))).decode().rstrip("=")}, separators=(",", ":")
)
QR_TEXT = "https://sosuckhoe.test/view#shlink:/" + base64.urlsafe_b64encode(SHARE_JSON.encode()).decode().rstrip("=")
PASTED_TEXT = "https://sosuckhoe.test/view#shlink:/eyJ1cmwiOiJodHRwczovL3Bhc3RlZC50ZXN0In0"

MESSAGES = {
    "looking": "Point the camera at the QR code on the patient's phone",
    "denied": "The browser was not allowed to use the camera: allow it in the address bar",
    "unavailable": "No camera found on this computer",
    "paste-denied": "The browser did not allow reading the clipboard: paste with Ctrl+V",
}

# Chromium's fake camera plays this file in a loop: 4:2:0 YUV, a QR code drawn large, black on white.
WIDTH, HEIGHT, FRAMES = 640, 480, 3
BLACK, WHITE, NEUTRAL_CHROMA = 16, 235, 128
Y4M_HEADER = f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F10:1 Ip A1:1 C420jpeg\n".encode()
QUIET_ZONE = 4  # modules of white around the code, as the QR standard asks

# In every page of these tests, before its own scripts: `window.print` only counts its calls, and every
# camera stream the page gets is kept where the test can see whether its tracks were stopped.
RECORD_PRINT_AND_STREAMS = """
window.__printed = 0;
window.print = function () { window.__printed += 1; };
window.__streams = [];
if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
  const getUserMedia = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = function (constraints) {
    return getUserMedia(constraints).then(function (stream) { window.__streams.push(stream); return stream; });
  };
}
"""
NO_BARCODE_DETECTOR = "delete window.BarcodeDetector;"
CAMERA_FAILS_WITH = """
navigator.mediaDevices.getUserMedia = function () {
  return Promise.reject(new DOMException("refused in this test", "%s"));
};
"""

QR_DETECTOR_PRESENT = (
    "async () => typeof BarcodeDetector === 'function'"
    " && (await BarcodeDetector.getSupportedFormats()).includes('qr_code')"
)
TRACKS_ALL_ENDED = (
    "window.__streams.length > 0 && window.__streams.every((s) => s.getTracks().every((t) => t.readyState === 'ended'))"
)
STATUS_TEXT = "document.querySelector('[data-camera-status]').textContent"


def qr_video(text: str) -> bytes:
    """A few frames of a .y4m video showing `text` as a QR code, each module a square of whole pixels."""
    matrix = segno.make(text, error="m", micro=False).matrix
    size = len(matrix)
    scale = min(WIDTH, HEIGHT) // (size + 2 * QUIET_ZONE)
    assert scale >= 3, f"a {size}-module code is too dense for a {WIDTH}x{HEIGHT} frame"
    left, top = (WIDTH - size * scale) // 2, (HEIGHT - size * scale) // 2
    luma = bytearray([WHITE]) * (WIDTH * HEIGHT)
    for row_index, row in enumerate(matrix):
        line = b"".join(bytes([BLACK if dark else WHITE]) * scale for dark in row)
        for dy in range(scale):
            start = (top + row_index * scale + dy) * WIDTH + left
            luma[start : start + len(line)] = line
    chroma = bytes([NEUTRAL_CHROMA]) * ((WIDTH // 2) * (HEIGHT // 2))
    frame = b"FRAME\n" + bytes(luma) + chroma + chroma
    return Y4M_HEADER + frame * FRAMES


@pytest.fixture(scope="module")
async def camera_browser(chromium_path: Path, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Browser]:
    """Chromium whose camera films the QR code of `QR_TEXT`, allowed without asking."""
    video = tmp_path_factory.mktemp("camera") / "qr.y4m"
    video.write_bytes(qr_video(QR_TEXT))
    flags = [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    ]
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(chromium_path), headless=True, args=[*CHROMIUM_FLAGS, *flags]
        )
        yield launched
        await launched.close()


@dataclass
class Desk:
    """The pages of https://desk.test as the app would serve them, and what the browser asked of it."""

    jsqr_source: str = field(default_factory=lambda: JSQR_FILE.read_text())
    fetched: list[str] = field(default_factory=list)  # paths of the scripts the browser loaded
    posted: list[str] = field(default_factory=list)  # bodies of the scan form's submissions

    async def serve(self, route: Route) -> None:
        request = route.request
        path = urlsplit(request.url).path
        if path == "/reception" and request.method == "POST":
            self.posted.append(request.post_data or "")
            await self.page(route, result=True)
        elif path == "/reception" and request.method == "GET":
            await self.page(route, result=False)
        elif path in (SCRIPT_PATH, JSQR_PATH):
            self.fetched.append(path)
            body = SCRIPT_FILE.read_text() if path == SCRIPT_PATH else self.jsqr_source
            await route.fulfill(body=body, headers=self.headers("text/javascript"))
        else:
            await route.fulfill(status=404, body="not found", headers=self.headers("text/plain"))

    @staticmethod
    def headers(content_type: str, nonce: str = "") -> dict[str, str]:
        return {
            "Content-Type": f"{content_type}; charset=utf-8",
            "Content-Security-Policy": content_security_policy(
                nonce or secrets.token_urlsafe(18), upgrade_insecure=False
            ),
            "X-Content-Type-Options": "nosniff",
        }

    async def page(self, route: Route, *, result: bool) -> None:
        """The desk page with the template's hooks; after a submission, the result page's print button too."""
        nonce = secrets.token_urlsafe(18)
        messages = " ".join(f'data-msg-{name}="{text}"' for name, text in MESSAGES.items())
        printing = '<button type="button" class="button" data-print hidden>Print summary</button>' if result else ""
        html = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Reception</title></head>
<body><main>
<h1>Reception</h1>
<form id="scan-form" method="post" action="/reception" hx-boost="false">
  <input type="hidden" name="_csrf" value="csrf-token-of-this-test">
  <label for="scan">Scanned code</label>
  <input id="scan" name="scan" type="text" autocomplete="off" autocapitalize="off" spellcheck="false">
  <button type="submit" class="button primary">Open</button>
</form>
<div class="scan-tools" data-scan-tools data-jsqr-src="{JSQR_PATH}?v=test" {messages}>
  <button type="button" class="button" data-camera-start hidden>Use camera</button>
  <button type="button" class="button" data-paste hidden>Paste link</button>
</div>
<div class="camera" data-camera hidden>
  <video data-camera-video playsinline muted></video>
  <p data-camera-status role="status" aria-live="polite"></p>
  <button type="button" class="button" data-camera-stop>Stop camera</button>
</div>
{printing}
</main>
<script src="{SCRIPT_PATH}?v=test" nonce="{nonce}" defer></script>
</body></html>"""
        await route.fulfill(body=html, headers=self.headers("text/html", nonce))


@pytest.fixture
async def context(camera_browser: Browser) -> AsyncIterator[BrowserContext]:
    opened = await camera_browser.new_context(ignore_https_errors=True, locale="en-US")
    await opened.add_init_script(RECORD_CSP_VIOLATIONS)
    await opened.add_init_script(RECORD_PRINT_AND_STREAMS)
    yield opened
    await opened.close()


async def open_desk(context: BrowserContext, desk: Desk, *init_scripts: str) -> tuple[Page, Watch]:
    """The desk page, once its script has shown the buttons this browser can use."""
    for script in init_scripts:
        await context.add_init_script(script)
    page = await context.new_page()
    watching = watch(page)
    await page.route(f"{ORIGIN}/**", desk.serve)
    await page.goto(f"{ORIGIN}/reception")
    assert await page.evaluate("window.isSecureContext"), "https://desk.test should be a secure context"
    await wait_until(page, "!document.querySelector('[data-camera-start]').hidden")
    return page, watching


async def submitted(desk: Desk, timeout: float = 20) -> str:
    """The value of `scan` in the scan form's first submission."""
    deadline = time.monotonic() + timeout
    while not desk.posted:
        if time.monotonic() > deadline:
            raise AssertionError(f"the scan form was not submitted within {timeout} s")
        await asyncio.sleep(0.1)
    (body,) = desk.posted
    fields = parse_qs(body, strict_parsing=True)
    assert fields["_csrf"] == ["csrf-token-of-this-test"], "the form was not submitted as a whole"
    (scan,) = fields["scan"]
    return scan


async def assert_clean(page: Page, watching: Watch) -> None:
    assert await page.evaluate("window.__cspViolations") == []
    assert watching.console_errors == []


async def test_the_camera_reads_the_qr_code_with_jsqr_and_submits_it(context: BrowserContext) -> None:
    desk = Desk()
    page, watching = await open_desk(context, desk, NO_BARCODE_DETECTOR)
    assert not await page.evaluate("'BarcodeDetector' in window")
    assert JSQR_PATH not in desk.fetched, "jsQR is loaded only when the camera starts"

    async with page.expect_navigation():
        await page.locator("[data-camera-start]").click()
    assert await submitted(desk) == QR_TEXT
    assert desk.fetched.count(JSQR_PATH) == 1, desk.fetched
    # The result page: the camera is off (the page it ran in is gone), the print button is there.
    await wait_until(page, "!document.querySelector('[data-print]').hidden")
    assert await page.evaluate("document.querySelector('[data-camera]').hidden")
    await assert_clean(page, watching)


async def test_the_camera_reads_the_qr_code_with_barcode_detector_where_chromium_has_one(
    context: BrowserContext,
) -> None:
    desk = Desk()
    page, watching = await open_desk(context, desk)
    if not await page.evaluate(QR_DETECTOR_PRESENT):
        pytest.skip("this Chromium has no BarcodeDetector for QR codes (none on Linux): only jsQR was tested")

    await page.locator("[data-camera-start]").click()
    assert await submitted(desk) == QR_TEXT
    assert JSQR_PATH not in desk.fetched, "BarcodeDetector read the code: jsQR should not have been loaded"
    await assert_clean(page, watching)


async def test_stop_camera_stops_the_tracks_and_hides_the_camera(context: BrowserContext) -> None:
    # A jsQR that never finds a code: the camera stays on until the stop button.
    desk = Desk(jsqr_source=JSQR_THAT_NEVER_FINDS)
    page, watching = await open_desk(context, desk, NO_BARCODE_DETECTOR)
    box, video = page.locator("[data-camera]"), page.locator("[data-camera-video]")

    await page.locator("[data-camera-start]").click()
    await wait_until(page, "document.querySelector('[data-camera-video]').readyState >= 2")
    await wait_until(page, f"{STATUS_TEXT} === {json.dumps(MESSAGES['looking'])}")
    assert await box.is_visible() and await video.is_visible()
    assert await page.evaluate("window.__streams.length") == 1
    assert desk.fetched.count(JSQR_PATH) == 1

    await page.locator("[data-camera-stop]").click()
    await wait_until(page, TRACKS_ALL_ENDED)
    assert await box.is_hidden()
    assert await page.evaluate("document.activeElement.hasAttribute('data-camera-start')")

    # Started again, then the page is left: pagehide lets the camera go too.
    await page.locator("[data-camera-start]").click()
    await wait_until(page, "window.__streams.length === 2 && window.__streams[1].active")
    await page.evaluate("window.dispatchEvent(new PageTransitionEvent('pagehide'))")
    await wait_until(page, TRACKS_ALL_ENDED)
    assert await box.is_hidden()
    assert desk.posted == []
    await assert_clean(page, watching)


@pytest.mark.parametrize(("error", "shown"), [("NotAllowedError", "denied"), ("NotFoundError", "unavailable")])
async def test_a_camera_that_cannot_start_says_why(context: BrowserContext, error: str, shown: str) -> None:
    desk = Desk()
    page, watching = await open_desk(context, desk, CAMERA_FAILS_WITH % error)

    await page.locator("[data-camera-start]").click()
    await wait_until(page, f"{STATUS_TEXT} === {json.dumps(MESSAGES[shown])}")
    assert await page.locator("[data-camera-status]").is_visible()
    assert await page.locator("[data-camera-video]").is_hidden()
    assert await page.locator("[data-camera-stop]").is_hidden()
    assert desk.posted == []
    await assert_clean(page, watching)


async def test_paste_submits_the_link_on_the_clipboard(context: BrowserContext) -> None:
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=ORIGIN)
    desk = Desk()
    page, watching = await open_desk(context, desk)
    await wait_until(page, "!document.querySelector('[data-paste]').hidden")
    await page.evaluate("(text) => navigator.clipboard.writeText(text)", f"  {PASTED_TEXT}\n")

    async with page.expect_navigation():
        await page.locator("[data-paste]").click()
    assert await submitted(desk) == PASTED_TEXT  # trimmed
    await assert_clean(page, watching)


async def test_paste_refused_says_so_and_leaves_the_scan_box_to_ctrl_v(context: BrowserContext) -> None:
    # No clipboard-read permission granted in this context: headless Chromium refuses to read, as a
    # browser does when the person says no.
    desk = Desk()
    page, watching = await open_desk(context, desk)

    await page.locator("[data-paste]").click()
    await wait_until(page, f"{STATUS_TEXT} === {json.dumps(MESSAGES['paste-denied'])}")
    assert await page.locator("[data-camera-status]").is_visible()
    assert await page.evaluate("document.activeElement.id") == "scan"
    assert desk.posted == []
    await assert_clean(page, watching)


async def test_the_print_button_prints_the_result_page(context: BrowserContext) -> None:
    desk = Desk()
    page, watching = await open_desk(context, desk)
    assert await page.locator("[data-print]").count() == 0  # only a result page has one

    await page.fill("#scan", PASTED_TEXT)
    async with page.expect_navigation():
        await page.press("#scan", "Enter")
    assert await submitted(desk) == PASTED_TEXT
    await wait_until(page, "!document.querySelector('[data-print]').hidden")
    assert await page.evaluate("window.__printed") == 0

    await page.locator("[data-print]").click()
    assert await page.evaluate("window.__printed") == 1
    await assert_clean(page, watching)
