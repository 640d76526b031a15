"""Vietnamese first: every string in code and templates has its Vietnamese translation."""

from __future__ import annotations

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from backend.i18n import CATALOGUE_DIR, translations
from backend.paths import ROOT

KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}


def extracted_messages() -> set[str]:
    found: set[str] = set()
    methods = [("backend/**.py", "python"), ("templates/**.html", "jinja2")]
    for _file, _line, message, _comments, _context in extract_from_dir(
        ROOT, method_map=methods, keywords=KEYWORDS, options_map={"templates/**.html": {"encoding": "utf-8"}}
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_string_has_a_vietnamese_translation() -> None:
    with (CATALOGUE_DIR / "vi" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalogue = read_po(handle, locale="vi")
    translated = {
        message.id if isinstance(message.id, str) else message.id[0]  # plural forms: (singular, plural)
        for message in catalogue
        if message.id and message.string and all(message.string) and not message.fuzzy
    }
    missing = sorted(extracted_messages() - translated)
    assert not missing, f"run `make messages` and translate: {missing}"


def test_catalogue_translates_and_english_is_the_source() -> None:
    assert translations("vi").gettext("Page not found") == "Không tìm thấy trang"
    assert translations("en").gettext("Page not found") == "Page not found"
    assert translations("xx").gettext("Page not found") == "Page not found"
