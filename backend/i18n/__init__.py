"""Translations: Vietnamese first, English on request, through Babel catalogues.

Source strings (msgids) are English; `vi/LC_MESSAGES/messages.po` holds the Vietnamese, and a test
fails while any string lacks it. Catalogues are compiled in memory at start-up, so no build step can
leave a stale `.mo` behind. `make messages` re-extracts the strings from code and templates.
"""

from __future__ import annotations

import gettext
import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALES = ("vi", "en")
DEFAULT_LOCALE = "vi"
LANGUAGE_COOKIE = "lang"
CATALOGUE_DIR = Path(__file__).resolve().parent


def gettext_noop(message: str) -> str:
    """Mark a string for extraction where it is defined; it is translated where it is shown."""
    return message


@cache
def translations(locale: str) -> gettext.NullTranslations:
    """The catalogue for `locale`; English (the source language) needs none."""
    po_file = CATALOGUE_DIR / locale / "LC_MESSAGES" / "messages.po"
    if locale not in LOCALES or not po_file.exists():
        return gettext.NullTranslations()
    with po_file.open("rb") as handle:
        catalogue = read_po(handle, locale=locale)
    compiled = io.BytesIO()
    write_mo(compiled, catalogue)
    compiled.seek(0)
    return Translations(compiled)


def chosen_locale(cookies: dict[str, str]) -> str:
    """The reader's choice from the language switch, else Vietnamese."""
    wanted = cookies.get(LANGUAGE_COOKIE, "")
    return wanted if wanted in LOCALES else DEFAULT_LOCALE
