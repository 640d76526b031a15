"""The web sign-in, consent and settings pages of contract §6, driven as a browser without JavaScript would:
plain forms with their CSRF token, POST then redirect, over https so the `__Host-` cookies are kept."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from litestar import Litestar

from backend.phones import normalize_phone
from tests.support.clock import FakeClock
from tests.support.hospital import OTHER_FACILITY, Hospital, count, fetch, register
from tests.support.patients import PHONE, Client, Outbox, issue_code, patient_uuid, push_patient

DISTRICT = "01010"  # `visit` registers the sample facility 01929
MOTHER = "0987 654 321"
CHILD_A = ("001215000111", "Lê Minh Anh")
CHILD_B = ("001218000222", "Lê Minh Bảo")
AN_CCCD = "001090012345"
CSRF_FIELD = re.compile(r'name="_csrf_token" value="([^"]+)"')
SIGNED_IN_PAGES = ("/book", "/settings", "/consent", "/login/choose", "/activate")


class Forms(HTMLParser):
    """The forms of a page: each one's attributes and the attributes of its buttons and inputs."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self._open = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append({"attrs": attributes, "controls": []})
            self._open = True
        elif tag in ("button", "input") and self._open:
            self.forms[-1]["controls"].append({"tag": tag, **attributes})

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = False

    def with_action(self, action: str) -> list[dict[str, Any]]:
        return [form for form in self.forms if form["attrs"].get("action") == action]


def submit_buttons(form: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        control
        for control in form["controls"]
        if (control["tag"] == "button" and control.get("type", "submit") == "submit")
        or (control["tag"] == "input" and control.get("type") == "submit")
    ]


def csrf_in(html: str) -> str:
    found = CSRF_FIELD.search(html)
    assert found is not None, html
    return found.group(1)


async def csrf(client: Client) -> str:
    """This browser's CSRF token, as any page's form carries it (the start page needs no session)."""
    return csrf_in((await client.get("/")).text)


async def ask_for_code(client: Client, phone: str) -> Any:
    page = await client.get("/login")
    return await client.post("/login", data={"phone": phone, "_csrf_token": csrf_in(page.text)}, follow_redirects=False)


def challenge_of(sent: Any) -> str:
    assert sent.status_code == 303, sent.text
    location = str(sent.headers["location"])
    assert location.startswith("/login/code?c="), location
    return location.split("c=", 1)[1]


async def enter_code(client: Client, challenge: str, code: str) -> Any:
    return await client.post(
        "/login/code",
        data={"challenge": challenge, "code": code, "_csrf_token": await csrf(client)},
        follow_redirects=False,
    )


async def sign_in_web(client: Client, outbox: Outbox, phone: str = PHONE) -> Any:
    """The phone form, then the code form; the answer to the code (a redirect)."""
    challenge = challenge_of(await ask_for_code(client, phone))
    signed_in = await enter_code(client, challenge, outbox.last_code(normalize_phone(phone) or ""))
    assert signed_in.status_code == 303, signed_in.text
    return signed_in


async def post_form(client: Client, path: str, **fields: str) -> Any:
    return await client.post(path, data={**fields, "_csrf_token": await csrf(client)}, follow_redirects=False)


async def accept_consent(client: Client) -> Any:
    page = await client.get("/consent")
    assert page.status_code == 200, page.text
    return await client.post(
        "/consent", data={"accept": "1", "_csrf_token": csrf_in(page.text)}, follow_redirects=False
    )


async def api_book(client: Client) -> Any:
    """The overview through the API, authenticated by the page's session cookie."""
    return await client.get("/api/patient/v1/book")


async def switch_to_english(client: Client) -> None:
    switched = await post_form(client, "/language", lang="en", next="/login")
    assert switched.status_code == 303


def heading(html: str) -> str:
    found = re.search(r"<h1>(.*?)</h1>", html, re.S)
    assert found is not None, html
    return found.group(1).strip()


def field_error(html: str, element_id: str) -> str:
    found = re.search(rf'<p id="{element_id}"[^>]*role="alert"[^>]*>(.*?)</p>', html, re.S)
    assert found is not None, html
    return " ".join(found.group(1).split())


@pytest.fixture
async def two_children(app: Litestar, client: Client) -> None:
    """A mother's mobile, given for her two children at two facilities."""
    await push_patient(Hospital(client, DISTRICT, await register(app, DISTRICT)), *CHILD_A, MOTHER)
    await push_patient(Hospital(client, OTHER_FACILITY, await register(app, OTHER_FACILITY)), *CHILD_B, MOTHER)


# The phone and code forms


async def test_login_page_has_a_tel_field_a_csrf_token_and_a_national_id_link(client: Client) -> None:
    page = await client.get("/login")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    (form,) = Forms(page.text).with_action("/login")
    assert form["attrs"]["method"] == "post"
    (phone,) = [control for control in form["controls"] if control.get("name") == "phone"]
    assert phone["type"] == "tel" and phone["autocomplete"] == "tel"
    assert any(control.get("name") == "_csrf_token" and control.get("value") for control in form["controls"])
    assert 'href="/login/oidc"' in page.text


async def test_code_page_asks_for_a_numeric_one_time_code(client: Client) -> None:
    page = await client.get(f"/login/code?c={challenge_of(await ask_for_code(client, PHONE))}")
    assert page.status_code == 200
    (form,) = Forms(page.text).with_action("/login/code")
    assert form["attrs"]["method"] == "post"
    (code,) = [control for control in form["controls"] if control.get("name") == "code"]
    assert code["autocomplete"] == "one-time-code" and code["inputmode"] == "numeric"
    assert any(control.get("name") == "_csrf_token" for control in form["controls"])


async def test_login_and_code_pages_are_vietnamese_by_default(client: Client, outbox: Outbox) -> None:
    login = await client.get("/login")
    assert '<html lang="vi">' in login.text
    for english in ("Enter the phone number you gave at the hospital", "Phone number", "Send me a code"):
        assert english not in login.text, english
    refused = await ask_for_code(client, "12345")
    assert "enter a Vietnamese phone number" not in refused.text
    assert not heading(login.text).isascii()  # Vietnamese has diacritics
    challenge = challenge_of(await ask_for_code(client, PHONE))
    code = await client.get(f"/login/code?c={challenge}")
    assert '<html lang="vi">' in code.text and not heading(code.text).isascii()
    for english in ("Enter your code", "6-digit code", "We sent a text message"):
        assert english not in code.text, english
    wrong = await enter_code(client, challenge, "000000" if outbox.last_code() != "000000" else "111111")
    assert wrong.status_code == 400
    assert "not right" not in wrong.text and "tries left" not in wrong.text


async def test_login_and_code_pages_are_english_when_the_reader_chose_english(client: Client) -> None:
    await switch_to_english(client)
    login = await client.get("/login")
    assert '<html lang="en">' in login.text
    assert "Phone number" in login.text and "Send me a code" in login.text
    code = await client.get(f"/login/code?c={challenge_of(await ask_for_code(client, PHONE))}")
    assert '<html lang="en">' in code.text
    assert "Enter your code" in code.text and "6-digit code" in code.text


@pytest.mark.usefixtures("visit")
async def test_a_wrong_code_shows_the_code_form_again_with_the_tries_left(client: Client, outbox: Outbox) -> None:
    challenge = challenge_of(await ask_for_code(client, PHONE))
    right = outbox.last_code()
    wrong = "000000" if right != "000000" else "111111"
    refused = await enter_code(client, challenge, wrong)
    assert refused.status_code == 400
    (form,) = Forms(refused.text).with_action("/login/code")
    controls = {control.get("name"): control for control in form["controls"]}
    assert controls["challenge"]["value"] == challenge
    assert controls["code"]["autocomplete"] == "one-time-code" and controls["code"]["aria-invalid"] == "true"
    assert re.search(r"\b4\b", field_error(refused.text, "code-error"))
    assert "__Host-session" not in refused.headers.get("set-cookie", "")
    # The right code still works after a wrong one.
    assert (await enter_code(client, challenge, right)).headers["location"] == "/book"


@pytest.mark.usefixtures("visit")
async def test_a_challenge_killed_by_five_wrong_codes_goes_back_to_the_phone_form(
    client: Client, outbox: Outbox
) -> None:
    challenge = challenge_of(await ask_for_code(client, PHONE))
    right = outbox.last_code()
    wrong = "000000" if right != "000000" else "111111"
    statuses = [(await enter_code(client, challenge, wrong)).status_code for _ in range(5)]
    assert statuses == [400] * 5
    dead = await enter_code(client, challenge, right)
    assert dead.status_code == 410
    (form,) = Forms(dead.text).with_action("/login")
    assert any(control.get("type") == "tel" for control in form["controls"])
    assert field_error(dead.text, "phone-error")
    assert "__Host-session" not in dead.headers.get("set-cookie", "")


@pytest.mark.usefixtures("visit")
async def test_an_expired_challenge_goes_back_to_the_phone_form(
    client: Client, outbox: Outbox, clock: FakeClock
) -> None:
    challenge = challenge_of(await ask_for_code(client, PHONE))
    clock.advance(minutes=5, seconds=1)
    dead = await enter_code(client, challenge, outbox.last_code())
    assert dead.status_code == 410
    assert Forms(dead.text).with_action("/login") and field_error(dead.text, "phone-error")


@pytest.mark.parametrize("typed", ["12345", "0912 345 67a", '<b>0912</b>"'])
async def test_a_bad_phone_number_is_explained_on_the_form_which_keeps_what_was_typed(
    client: Client, outbox: Outbox, typed: str
) -> None:
    refused = await ask_for_code(client, typed)
    assert refused.status_code == 400 and refused.headers["content-type"].startswith("text/html")
    (form,) = Forms(refused.text).with_action("/login")
    (phone,) = [control for control in form["controls"] if control.get("name") == "phone"]
    assert phone["value"] == typed and phone["aria-invalid"] == "true"  # the parser unescapes the value
    assert field_error(refused.text, "phone-error")
    assert "<b>0912" not in refused.text  # escaped, never markup
    assert outbox.messages() == []


# Several books: choosing one, activation codes


@pytest.mark.usefixtures("two_children")
async def test_a_phone_with_several_books_chooses_one_then_consents_then_reads_it(
    app: Litestar, client: Client, outbox: Outbox, clock: FakeClock
) -> None:
    signed_in = await sign_in_web(client, outbox, MOTHER)
    assert signed_in.headers["location"] == "/login/choose"
    for before_choosing in ("/consent", "/book"):
        early = await client.get(before_choosing, follow_redirects=False)
        assert (early.status_code, early.headers["location"]) == (303, "/login/choose")
    choose = await client.get("/login/choose")
    assert choose.status_code == 200
    assert CHILD_A[1] in choose.text and CHILD_B[1] in choose.text and "001******111" in choose.text
    assert CHILD_A[0] not in choose.text and CHILD_B[0] not in choose.text
    forms = Forms(choose.text).with_action("/login/choose")
    assert len(forms) == 2 and all(form["attrs"]["method"] == "post" for form in forms)
    offered = {control["value"] for form in forms for control in form["controls"] if control.get("name") == "book"}
    book_b = await patient_uuid(app, CHILD_B[0])
    assert offered == {await patient_uuid(app, CHILD_A[0]), book_b}

    chosen = await post_form(client, "/login/choose", book=book_b)
    assert chosen.status_code == 303 and chosen.headers["location"] == "/book"
    assert (await client.get("/book", follow_redirects=False)).headers["location"] == "/consent"
    accepted = await accept_consent(client)
    assert accepted.headers["location"] == "/book"
    book = await client.get("/book")
    assert book.status_code == 200 and CHILD_B[1] in book.text and CHILD_A[1] not in book.text
    overview = await api_book(client)
    assert overview.json()["patient"]["name"] == CHILD_B[1] and overview.json()["read_only"] is True

    # The next sign-in chooses again, and the consent given for this child is not asked twice.
    client.cookies.clear()
    clock.advance(seconds=61)
    assert (await sign_in_web(client, outbox, MOTHER)).headers["location"] == "/login/choose"
    assert (await post_form(client, "/login/choose", book=book_b)).headers["location"] == "/book"


@pytest.mark.usefixtures("visit", "two_children")
async def test_choosing_another_patients_book_or_garbage_is_refused(
    app: Litestar, client: Client, outbox: Outbox
) -> None:
    await sign_in_web(client, outbox, MOTHER)
    foreign = await post_form(client, "/login/choose", book=await patient_uuid(app, AN_CCCD))
    assert foreign.status_code == 404 and "Nguyễn" not in foreign.text
    garbage = await post_form(client, "/login/choose", book="not-a-book")
    assert garbage.status_code == 400 and 'role="alert"' in garbage.text
    assert (await api_book(client)).status_code == 404  # still no book open


@pytest.mark.usefixtures("two_children")
async def test_an_activation_code_on_the_web_opens_the_book_in_full(
    app: Litestar, client: Client, outbox: Outbox
) -> None:
    code = await issue_code(app, CHILD_A[0])
    await sign_in_web(client, outbox, MOTHER)
    form_page = await client.get("/activate")
    assert form_page.status_code == 200
    (form,) = Forms(form_page.text).with_action("/activate")
    assert form["attrs"]["method"] == "post" and any(c.get("name") == "code" for c in form["controls"])
    activated = await client.post(
        "/activate", data={"code": code.lower(), "_csrf_token": csrf_in(form_page.text)}, follow_redirects=False
    )
    assert activated.status_code == 303 and activated.headers["location"] == "/book"
    overview = await api_book(client)
    assert overview.json()["patient"]["name"] == CHILD_A[1] and overview.json()["read_only"] is False
    settings = await client.get("/settings")
    assert re.search(rf"{CHILD_A[1]} · 001\*{{6}}111</li>", settings.text)  # no longer marked read-only


@pytest.mark.usefixtures("two_children")
async def test_a_wrong_activation_code_shows_the_form_again_with_an_error(client: Client, outbox: Outbox) -> None:
    await sign_in_web(client, outbox, MOTHER)
    refused = await post_form(client, "/activate", code="ABCD-EFGH-JKLM")
    assert refused.status_code == 400 and refused.headers["content-type"].startswith("text/html")
    (form,) = Forms(refused.text).with_action("/activate")
    (field,) = [control for control in form["controls"] if control.get("name") == "code"]
    assert field["aria-invalid"] == "true" and field_error(refused.text, "activation-error")
    assert (await api_book(client)).status_code == 404


# Consent


@pytest.mark.usefixtures("visit")
async def test_the_consent_page_is_one_form_whose_only_submit_button_is_accept(client: Client, outbox: Outbox) -> None:
    assert (await sign_in_web(client, outbox)).headers["location"] == "/book"
    page = await client.get("/consent")
    assert page.status_code == 200
    forms = Forms(page.text)
    (form,) = forms.with_action("/consent")
    assert form["attrs"]["method"] == "post"
    (button,) = submit_buttons(form)
    assert button["name"] == "accept"
    assert all(f["attrs"].get("action") != "/consent" for f in forms.forms if f is not form)


@pytest.mark.usefixtures("visit")
async def test_consent_without_accept_is_refused_readably(app: Litestar, client: Client, outbox: Outbox) -> None:
    await sign_in_web(client, outbox)
    refused = await post_form(client, "/consent")
    assert 400 <= refused.status_code < 500
    assert refused.headers["content-type"].startswith("text/html") and 'role="alert"' in refused.text
    assert await count(app, "consent") == 0
    assert (await client.get("/book", follow_redirects=False)).headers["location"] == "/consent"


@pytest.mark.usefixtures("visit")
async def test_consent_without_the_csrf_token_is_403(app: Litestar, client: Client, outbox: Outbox) -> None:
    await sign_in_web(client, outbox)
    forged = await client.post("/consent", data={"accept": "1"}, follow_redirects=False)
    assert forged.status_code == 403
    assert await count(app, "consent") == 0


@pytest.mark.usefixtures("visit")
async def test_after_consent_the_book_shows_the_patient_and_the_next_sign_in_skips_consent(
    app: Litestar, client: Client, outbox: Outbox, clock: FakeClock
) -> None:
    await sign_in_web(client, outbox)
    assert (await accept_consent(client)).headers["location"] == "/book"
    book = await client.get("/book")
    assert book.status_code == 200 and "Nguyễn Văn An" in book.text
    client.cookies.clear()
    clock.advance(seconds=61)
    assert (await sign_in_web(client, outbox)).headers["location"] == "/book"
    assert await count(app, "consent") == 1


# Pages without a session; headers; settings


@pytest.mark.parametrize("path", SIGNED_IN_PAGES)
async def test_a_signed_in_page_without_a_session_goes_to_the_sign_in_page(client: Client, path: str) -> None:
    plain = await client.get(path, follow_redirects=False)
    assert plain.status_code == 303 and plain.headers["location"] == "/login"
    htmx = await client.get(path, headers={"HX-Request": "true"}, follow_redirects=False)
    assert htmx.headers["hx-redirect"] == "/login"
    assert 200 <= htmx.status_code < 300


@pytest.mark.usefixtures("visit", "two_children")
async def test_every_sign_in_page_carries_the_security_headers(client: Client, outbox: Outbox) -> None:
    responses = [
        await client.get("/login"),
        await ask_for_code(client, "12345"),
        await client.get("/login/code?c=x"),
        await client.get("/book", follow_redirects=False),
    ]
    await sign_in_web(client, outbox, MOTHER)
    responses += [await client.get(path, follow_redirects=False) for path in SIGNED_IN_PAGES]
    responses.append(await post_form(client, "/activate", code="nope"))
    client.cookies.clear()
    await sign_in_web(client, outbox)
    responses += [await client.get("/consent"), await post_form(client, "/consent")]
    for response in responses:
        where = f"{response.request.method} {response.request.url.path} {response.status_code}"
        directives = {
            part.split()[0]: part.split()[1:]
            for part in response.headers["content-security-policy"].split(";")
            if part.strip()
        }
        assert "'unsafe-inline'" not in directives.get("script-src", directives["default-src"]), where
        assert directives["frame-ancestors"] == ["'none'"], where
        assert response.headers["x-content-type-options"] == "nosniff", where
        assert response.headers["referrer-policy"], where


@pytest.mark.usefixtures("visit")
async def test_settings_offers_the_download_and_sign_out_forms(client: Client, outbox: Outbox) -> None:
    await sign_in_web(client, outbox)
    await accept_consent(client)
    page = await client.get("/settings")
    assert page.status_code == 200
    assert 'href="/api/patient/v1/book/fhir"' in page.text
    forms = Forms(page.text)
    for action in ("/logout", "/logout/everywhere"):
        (form,) = forms.with_action(action)
        assert form["attrs"]["method"] == "post", action
        assert any(control.get("name") == "_csrf_token" for control in form["controls"]), action
        assert submit_buttons(form), action
    download = await client.get("/api/patient/v1/book/fhir")
    assert download.status_code == 200 and download.json()["type"] == "collection"
    assert download.headers["cache-control"] == "no-store"
    signed_out = await client.post("/logout", data={"_csrf_token": csrf_in(page.text)}, follow_redirects=False)
    assert signed_out.status_code == 303
    assert (await client.get("/settings", follow_redirects=False)).headers["location"] == "/login"


@pytest.mark.usefixtures("two_children")
async def test_the_owner_sees_the_phones_of_the_book_and_removes_a_confirmed_one(
    app: Litestar, client: Client, outbox: Outbox, clock: FakeClock
) -> None:
    # The mother confirms her son's book on her phone with a code from the desk.
    await sign_in_web(client, outbox, MOTHER)
    code = await issue_code(app, CHILD_A[0])
    form_page = await client.get("/activate")
    await client.post("/activate", data={"code": code, "_csrf_token": csrf_in(form_page.text)})
    client.cookies.clear()

    # Later the son, grown up, confirms his own book: he sees his mother's phone and removes it.
    await push_patient(Hospital(client, "01011", await register(app, "01011")), *CHILD_A, "0933 111 222")
    clock.advance(seconds=61)
    await sign_in_web(client, outbox, "0933 111 222")
    settings = await client.get("/settings")
    assert "+8498****321" in settings.text and "+8493****222" in settings.text
    assert "0987654321" not in settings.text.replace(" ", "")  # masked where it is shown
    (remove,) = Forms(settings.text).with_action("/settings/phones/forget")
    mother = next(control["value"] for control in remove["controls"] if control.get("name") == "phone")
    removed = await post_form(client, "/settings/phones/forget", phone=mother)
    assert removed.status_code == 303 and removed.headers["location"] == "/settings"
    after = (await client.get("/settings")).text
    assert "+8498****321" in after  # still given by the hospital: only the hospital can correct that
    assert Forms(after).with_action("/settings/phones/forget") == []  # but no longer confirmed
    assert (await post_form(client, "/settings/phones/forget", phone=mother)).status_code == 404

    # The mother's phone lists the son's book read-only again.
    client.cookies.clear()
    clock.advance(seconds=61)
    await sign_in_web(client, outbox, MOTHER)
    assert "001******111 · chỉ xem" in (await client.get("/login/choose")).text


@pytest.mark.usefixtures("two_children")
async def test_a_read_only_book_does_not_show_or_change_who_opens_it(
    app: Litestar, client: Client, outbox: Outbox
) -> None:
    await sign_in_web(client, outbox, MOTHER)
    await post_form(client, "/login/choose", book=await patient_uuid(app, CHILD_A[0]))
    settings = await client.get("/settings")
    assert settings.status_code == 200 and "/settings/phones/forget" not in settings.text
    refused = await post_form(client, "/settings/phones/forget", phone="+84987654321")
    assert refused.status_code == 403


@pytest.mark.usefixtures("visit")
async def test_the_consent_page_lets_a_person_who_declines_sign_out(client: Client, outbox: Outbox) -> None:
    await sign_in_web(client, outbox)
    (sign_out,) = Forms((await client.get("/consent")).text).with_action("/logout")
    assert submit_buttons(sign_out)


@pytest.mark.usefixtures("visit")
async def test_signing_in_again_in_one_browser_ends_the_session_it_held(
    app: Litestar, client: Client, outbox: Outbox, clock: FakeClock
) -> None:
    await sign_in_web(client, outbox)
    first_cookie = client.cookies.get("__Host-session")
    clock.advance(seconds=61)
    sent = await client.post("/login", data={"phone": PHONE, "_csrf_token": await csrf(client)}, follow_redirects=False)
    challenge = challenge_of(sent)
    await enter_code(client, challenge, outbox.last_code())
    sessions = await fetch(app, "SELECT revoked_at FROM auth_session ORDER BY created_at")
    assert [row["revoked_at"] is not None for row in sessions] == [True, False]
    assert first_cookie != client.cookies.get("__Host-session")
