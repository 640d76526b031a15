"""`GET /view` (contract §6): one static page for everyone, its script under the response's nonce, and every
message the script can show rendered by the server, in the reader's language. The script itself is read
for what it must never do with a link's key or a file's narrative (the browser tests show what it does)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.app import create_app
from backend.paths import PWA_DIR
from tests.conftest import make_settings

Client = AsyncTestClient[Litestar]
SCRIPT = PWA_DIR / "js" / "view.js"


@pytest.fixture
async def page_client(tmp_path: Path) -> AsyncIterator[Client]:
    """The app over a database it never reaches: the page reads none."""
    settings = make_settings(tmp_path, DATABASE_URL="postgresql://nobody@127.0.0.1:9/nothing")
    async with AsyncTestClient(create_app(settings), base_url="https://testserver.local") as client:
        yield client


def _script_source() -> str:
    # Comments left out: they may name what the code must not do.
    return re.sub(r"^\s*//.*$", "", SCRIPT.read_text(), flags=re.MULTILINE)


async def test_the_viewer_page_is_public_static_and_under_the_csp(page_client: Client) -> None:
    response = await page_client.get("/view")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    nonce = re.search(r"'nonce-([^']+)'", response.headers["content-security-policy"])
    assert nonce is not None
    assert re.search(rf'<script src="/static/js/view\.js\?v=[0-9a-f]+" nonce="{nonce.group(1)}" defer>', html)
    assert re.search(r'<link rel="stylesheet" href="/static/css/view\.css\?v=[0-9a-f]+">', html)
    assert "<script>" not in html and "style=" not in html and "hx-on" not in html
    form = re.search(r"<form[^>]*data-open-form[^>]*>", html)
    assert form is not None and 'hx-boost="false"' in form.group(0)
    assert "connect-src 'self'" in response.headers["content-security-policy"]


async def test_every_message_the_script_shows_is_on_the_page(page_client: Client) -> None:
    html = (await page_client.get("/view")).text
    on_page = set(re.findall(r'data-message="([a-z-]+)"', html))
    words = set(re.findall(r'data-word="([a-z]+)"', html))
    source = _script_source()
    asked = set(re.findall(r'(?:stop|showProblem|say|Problem)\("([a-z-]+)"', source))
    asked |= set(re.findall(r'"(passcode-(?:wrong|exhausted|needed))"', source))
    assert asked and asked <= on_page, sorted(asked - on_page)
    assert set(re.findall(r'word\("([a-z]+)"\)', source)) <= words
    assert {"verified", "unsigned", "invalid", "male", "female", "other", "unknown"} <= words


async def test_the_page_speaks_the_readers_language(page_client: Client) -> None:
    vietnamese = (await page_client.get("/view")).text
    assert '<html lang="vi">' in vietnamese
    page_client.cookies.set("lang", "en")
    english = (await page_client.get("/view")).text
    assert '<html lang="en">' in english and "Open the records" in english


def test_the_script_keeps_the_key_in_memory_and_narratives_as_text() -> None:
    source = _script_source()
    for never in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "createContextualFragment",
        "localStorage",
        "sessionStorage",
        "indexedDB",
        "caches.",
        "document.cookie",
        "console.",
        "eval(",
        "new Function",
        'setAttribute("on',
        "srcdoc",
    ):
        assert never not in source, never
    # Requests go to the link's own URLs, checked to be this page's origin, and nowhere else.
    assert source.count("fetch(") == 1
    assert "url.origin !== location.origin" in source and "where.origin !== location.origin" in source
    # The key is imported for decrypting only, and cannot be exported again.
    assert re.search(r'importKey\("raw", key, \{ name: "AES-GCM" \}, false, \["decrypt"\]\)', source)
