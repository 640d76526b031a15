"""`/settings` itself (issue 7): the language choice, how to confirm a read-only book, and every settings page
in Vietnamese (the default) and in English. Every form posts, with its CSRF token."""

from __future__ import annotations

import re
from typing import Any

import pytest
from litestar import Litestar

from tests.integration.auth.test_web_pages import (
    CHILD_A,
    CHILD_B,
    DISTRICT,
    MOTHER,
    Forms,
    accept_consent,
    heading,
    post_form,
    sign_in_web,
    submit_buttons,
    switch_to_english,
)
from tests.support.clock import FakeClock
from tests.support.hospital import OTHER_FACILITY, Hospital, register
from tests.support.patients import Client, Outbox, issue_code, patient_uuid, push_patient, sign_in_app

# English that the Vietnamese pages must not show (the new parts of /settings and the closing page).
ENGLISH = (
    "Where you are signed in",
    "This browser",
    "Sign out everywhere else",
    "Withdraw my consent",
    "Close your account",
    "What is kept, and why",
    "for the security of the service",
    "read-only on this phone: you can read it",
)


@pytest.fixture
async def two_children(app: Litestar, client: Client) -> None:
    """A mother's mobile, given for her two children: each book opens read-only on it."""
    await push_patient(Hospital(client, DISTRICT, await register(app, DISTRICT)), *CHILD_A, MOTHER)
    await push_patient(Hospital(client, OTHER_FACILITY, await register(app, OTHER_FACILITY)), *CHILD_B, MOTHER)


def settings_language_forms(html: str) -> list[dict[str, Any]]:
    """The page's own language choice (the top bar's switch posts to /language too)."""
    return [form for form in Forms(html).with_action("/language") if form["attrs"].get("class") == "settings-choices"]


def every_form_posts_with_its_token(html: str) -> None:
    forms = Forms(html).forms
    assert forms
    for form in forms:
        assert form["attrs"]["method"] == "post", form
        assert any(control.get("name") == "_csrf_token" for control in form["controls"]), form
        assert submit_buttons(form), form


@pytest.mark.usefixtures("visit")
async def test_the_language_is_chosen_on_the_page_through_the_language_switch(client: Client, outbox: Outbox) -> None:
    await sign_in_web(client, outbox)
    page = await client.get("/settings")
    (choice,) = settings_language_forms(page.text)
    assert choice["attrs"]["hx-boost"] == "false"  # the whole document changes language
    buttons = {button["value"]: button["aria-pressed"] for button in submit_buttons(choice)}
    assert buttons == {"vi": "true", "en": "false"}
    chosen = await post_form(client, "/language", lang="en", next="/settings")
    assert (chosen.status_code, chosen.headers["location"]) == (303, "/settings")
    english = await client.get("/settings")
    assert '<html lang="en">' in english.text and heading(english.text) == "Settings"
    (choice,) = settings_language_forms(english.text)
    assert {button["value"]: button["aria-pressed"] for button in submit_buttons(choice)} == {
        "vi": "false",
        "en": "true",
    }


@pytest.mark.usefixtures("two_children")
async def test_a_read_only_book_shows_how_to_confirm_it_and_a_confirmed_one_says_so(
    app: Litestar, client: Client, outbox: Outbox
) -> None:
    await sign_in_web(client, outbox, MOTHER)
    await post_form(client, "/login/choose", book=await patient_uuid(app, CHILD_A[0]))
    await switch_to_english(client)
    page = (await client.get("/settings")).text
    assert re.search(r'<a class="button primary" href="/login/oidc" hx-boost="false">', page)  # another site's redirect
    assert 'href="/activate"' in page and "is read-only on this phone" in page
    assert "The open book is confirmed for this phone." not in page

    # The desk's activation code confirms the book on this phone.
    assert (await post_form(client, "/activate", code=await issue_code(app, CHILD_A[0]))).status_code == 303
    page = (await client.get("/settings")).text
    assert "The open book is confirmed for this phone." in page and 'href="/login/oidc"' not in page


@pytest.mark.usefixtures("visit", "two_children")
@pytest.mark.parametrize("language", ["vi", "en"])
async def test_every_settings_page_renders_in_both_languages(
    app: Litestar, client: Client, outbox: Outbox, clock: FakeClock, language: str
) -> None:
    """The owner's settings (signed in in the app too) and closing page; a read-only book's settings, and its
    refusal to close."""
    pages = []
    await sign_in_app(client, outbox)
    clock.advance(seconds=61)
    await sign_in_web(client, outbox)
    await accept_consent(client)
    if language == "en":
        await switch_to_english(client)
    pages += [await client.get("/settings"), await client.get("/settings/account/close")]
    client.cookies.clear()
    await sign_in_web(client, outbox, MOTHER)
    await post_form(client, "/login/choose", book=await patient_uuid(app, CHILD_A[0]))
    if language == "en":
        await switch_to_english(client)
    pages += [await client.get("/settings"), await client.get("/settings/account/close")]
    assert [page.status_code for page in pages] == [200, 200, 200, 403]
    for page in pages:
        where = f"{page.request.url.path} {page.status_code}"
        assert f'<html lang="{language}">' in page.text, where
        if page.status_code == 200:
            every_form_posts_with_its_token(page.text)
            assert heading(page.text).isascii() == (language == "en"), where  # Vietnamese has diacritics
        if language == "vi":
            assert not [english for english in ENGLISH if english in page.text], where
    if language == "en":
        every_page = "".join(page.text for page in pages)
        assert [english for english in ENGLISH if english not in every_page] == []
