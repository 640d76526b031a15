"""The start page, the language switch and the PWA files, with the headers every page must carry."""

from __future__ import annotations

import json
import re

from litestar import Litestar
from litestar.testing import AsyncTestClient

Client = AsyncTestClient[Litestar]


def _script_nonces(html: str) -> set[str]:
    return set(re.findall(r'<script[^>]*\snonce="([^"]+)"', html))


async def test_start_page_is_vietnamese_and_explains_sign_in(client: Client) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert '<html lang="vi">' in html
    assert "Đăng nhập bằng số điện thoại" in html
    assert 'href="/login"' in html and 'href="/login/oidc"' in html
    assert '<link rel="manifest" href="/manifest.webmanifest">' in html


def csp_directives(policy: str) -> dict[str, list[str]]:
    """A Content-Security-Policy header as {directive: its source list}; a repeated directive fails."""
    directives: dict[str, list[str]] = {}
    for part in policy.split(";"):
        if words := part.split():
            name = words[0].lower()
            assert name not in directives, f"{name} twice: browsers keep the first, a review would read the last"
            directives[name] = words[1:]
    return directives


def parameterless_get_paths(app: Litestar) -> list[str]:
    """Every GET route of the app that needs no path parameter (pages, API reads, the schema...)."""
    return sorted({route.path for route in app.routes if "{" not in route.path and "GET" in route.methods})


async def test_every_page_carries_the_security_headers(app: Litestar, client: Client) -> None:
    """Check F2 (CSP) and F3 (headers) on every parameterless GET route of the app, whatever it answers (a page,
    a redirect to sign in, a 401), plus a 404, a static asset and a refused form (403): scripts only from
    this origin with a nonce (no `unsafe-inline`/`unsafe-eval`), `object-src 'none'`, `base-uri 'none'` and
    `frame-ancestors 'none'`, each exactly so. Routes with path parameters are not walked here; the headers
    come from one `before_send` hook that sees every response (backend/web/security.py)."""
    paths = [*parameterless_get_paths(app), "/no-such-page", "/static/css/app.css"]
    assert len(paths) > 20, paths  # the walk found the app's routes
    responses = [(path, await client.get(path, follow_redirects=False)) for path in paths]
    responses.append(("POST /language without a token", await client.post("/language", data={"lang": "en"})))
    assert responses[-1][1].status_code == 403
    for path, response in responses:
        csp = response.headers["content-security-policy"]
        directives = csp_directives(csp)
        assert directives["object-src"] == ["'none'"], path
        assert directives["base-uri"] == ["'none'"], path
        assert directives["frame-ancestors"] == ["'none'"], path
        (nonce,) = [source for source in directives["script-src"] if source.startswith("'nonce-")]
        assert directives["script-src"] == ["'self'", nonce], path
        assert re.fullmatch(r"'nonce-[A-Za-z0-9_-]{20,}'", nonce), path
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, path
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["referrer-policy"] == "same-origin", path
        assert "strict-transport-security" not in response.headers, path  # dev: no HSTS
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"]), path


async def test_every_script_carries_this_responses_nonce(client: Client) -> None:
    first, second = await client.get("/"), await client.get("/")
    nonce = re.search(r"'nonce-([^']+)'", first.headers["content-security-policy"])
    assert nonce is not None
    assert _script_nonces(first.text) == {nonce.group(1)}
    assert "<script>" not in first.text and " on" + "load=" not in first.text
    assert _script_nonces(second.text) != _script_nonces(first.text)  # a fresh nonce per response


async def test_pages_are_not_stored_but_static_assets_are_cached(client: Client) -> None:
    assert (await client.get("/")).headers["cache-control"] == "no-store"
    assert (await client.get("/healthz")).headers["cache-control"] == "no-store"
    static = await client.get("/static/css/app.css")
    assert static.status_code == 200
    assert "max-age=" in static.headers["cache-control"] and "public" in static.headers["cache-control"]


async def test_a_well_formed_request_id_from_a_proxy_is_kept(client: Client) -> None:
    response = await client.get("/", headers={"X-Request-ID": "lb-2c9f1e77a0"})
    assert response.headers["x-request-id"] == "lb-2c9f1e77a0"
    response = await client.get("/", headers={"X-Request-ID": "bad id\twith spaces"})
    assert response.headers["x-request-id"] != "bad id\twith spaces"


async def test_unknown_page_is_a_readable_404_page(client: Client) -> None:
    response = await client.get("/no-such-page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Không tìm thấy trang" in response.text


async def test_htmx_error_is_a_fragment_for_the_message_area(client: Client) -> None:
    response = await client.get("/no-such-page", headers={"HX-Request": "true"})
    assert response.status_code == 404
    assert response.headers["hx-retarget"] == "#flash"
    assert "<html" not in response.text and 'role="alert"' in response.text


async def test_unknown_api_path_answers_json(client: Client) -> None:
    response = await client.get("/api/patient/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"] == "not-found"


async def test_unknown_hospital_api_path_answers_operation_outcome(client: Client) -> None:
    response = await client.post("/api/hospital/v1/01929/nothing-here", content=b"{}")
    assert response.status_code in (404, 405)
    assert response.headers["content-type"].startswith("application/fhir+json")
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["severity"] == "error"


async def test_language_switch_sets_english_and_returns_to_the_page(client: Client) -> None:
    page = await client.get("/offline")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    response = await client.post(
        "/language",
        data={"lang": "en", "next": "/offline", "_csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/offline"
    english = await client.get("/")
    assert '<html lang="en">' in english.text
    assert "Sign in with your phone number" in english.text


async def test_language_switch_never_redirects_off_site(client: Client) -> None:
    page = await client.get("/")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        response = await client.post(
            "/language",
            data={"lang": "en", "next": target, "_csrf_token": token.group(1)},
            follow_redirects=False,
        )
        assert response.headers["location"] == "/", target


async def test_forms_without_the_csrf_token_are_refused(client: Client) -> None:
    await client.get("/")  # receives the CSRF cookie
    response = await client.post("/language", data={"lang": "en", "next": "/"})
    assert response.status_code == 403
    assert "lang" not in response.cookies
    forged = await client.post("/language", data={"lang": "en", "next": "/", "_csrf_token": "0" * 128})
    assert forged.status_code == 403


async def test_csrf_cookie_is_host_prefixed_secure_and_http_only(client: Client) -> None:
    response = await client.get("/")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-csrf=")
    for attribute in ("Secure", "HttpOnly", "Path=/"):
        assert attribute in cookie
    assert "Domain" not in cookie


async def test_web_manifest_names_real_icons(client: Client) -> None:
    response = await client.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/manifest+json")
    manifest = json.loads(response.content)
    assert manifest["lang"] == "vi" and manifest["start_url"] == "/" and manifest["display"] == "standalone"
    sizes = {(icon["sizes"], icon.get("purpose", "any")) for icon in manifest["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes
    for icon in manifest["icons"]:
        image = await client.get(icon["src"])
        assert image.status_code == 200 and image.content.startswith(b"\x89PNG"), icon["src"]


async def test_service_worker_lists_the_hashed_shell(client: Client) -> None:
    response = await client.get("/sw.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cache-control"] == "no-cache"
    assert "__SHELL" not in response.text
    urls = json.loads(re.search(r"const SHELL_URLS = (\[.*?\]);", response.text).group(1))  # type: ignore[union-attr]
    assert "/static/css/app.css?v=" in " ".join(urls)
    for url in urls:
        assert (await client.get(url)).status_code == 200, url


async def test_openapi_document_is_served_in_dev(client: Client) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "Sổ Sức Khỏe API"


async def test_a_404_page_issues_a_csrf_token_so_its_language_switch_works(client: Client) -> None:
    page = await client.get("/no-such-page")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert token is not None and page.headers["set-cookie"].startswith("__Host-csrf=")
    response = await client.post(
        "/language", data={"lang": "en", "next": "/", "_csrf_token": token.group(1)}, follow_redirects=False
    )
    assert response.status_code == 303


async def test_a_form_from_another_origin_is_refused(client: Client) -> None:
    page = await client.get("/")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    response = await client.post(
        "/language",
        data={"lang": "en", "next": "/", "_csrf_token": token.group(1)},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403


async def test_htmx_requests_send_the_token_in_a_header(client: Client) -> None:
    page = await client.get("/")
    token = re.search(r'"X-CSRF-Token": "([^"]+)"', page.text)
    assert token is not None
    response = await client.post(
        "/language", data={"lang": "en", "next": "/"}, headers={"X-CSRF-Token": token.group(1)}, follow_redirects=False
    )
    assert response.status_code == 303


def test_an_error_message_with_a_percent_sign_renders(app: Litestar) -> None:
    # Runtime text goes through translate(), never through _() and its %-formatting.
    template = app.template_engine.get_template("errors/_error.html")  # type: ignore[union-attr]
    html = template.render(
        title="Page not found", message="the code 100% matches another", status_code=409, request_id="r", request=None
    )
    assert "100% matches" in html and "Không tìm thấy trang" in html
