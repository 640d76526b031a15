"""Documents (tài liệu): the files hospitals attach (`DocumentReference`: a discharge paper, a scan, a
PDF summary), to open or save, and the summaries they write as structured text (`Composition`: the XML8
tóm tắt hồ sơ bệnh án), shown as sections to read. Newest first."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from backend.healthbook.fhir_text import concept_text, facility_of, first, items, provenance
from backend.healthbook.sections.base import Section, Seeing
from backend.healthbook.sections.documents_attachments import (
    attachments,
    binary_id,
    inline_data,
    known_size,
    shown_as_itself,
    size_text,
    type_label,
)
from backend.i18n import gettext_noop as N_  # noqa: N812 - the gettext convention
from backend.records.reads import StoredRecordView

MAX_SECTION_DEPTH = 4  # Composition sections nest; deeper ones are read as part of their parent


def document(view: StoredRecordView, seeing: Seeing) -> dict[str, Any]:
    """A DocumentReference: what it is, when, and its files (each opened by its position, `part`)."""
    content = view.content
    files = []
    for part, attachment in enumerate(attachments(content)):
        data = inline_data(attachment)  # decoded once: it may be large
        available = data is not None or binary_id(attachment) is not None
        files.append(
            {
                "part": part,
                "title": _text(attachment.get("title")),
                "kind": type_label(attachment.get("contentType")),
                "size": size_text(known_size(attachment, data)),
                "created": _text(attachment.get("creation")),
                "available": available,
                "openable": available and shown_as_itself(attachment.get("contentType")),
            }
        )
    period = _dict(_dict(content.get("context")).get("period"))
    kind = concept_text(content.get("type"))
    description = _text(content.get("description"))
    return {
        "kind": "file",
        "id": view.reference,
        "served_id": view.served_id,
        "title": kind or description or next((f["title"] for f in files if f["title"]), None),
        "category": concept_text(first(content.get("category"))),
        "description": description if description != kind else None,
        "when": _text(content.get("date")) or _text(period.get("start")),
        "where": _custodian(content, seeing) or {"code": view.facility_code, "name": view.facility_name},
        "files": files,
        "sections": [],
        "superseded": view.status == "superseded",
        "preliminary": content.get("docStatus") == "preliminary",
        "provenance": provenance(view),
    }


def summary(view: StoredRecordView, seeing: Seeing) -> dict[str, Any]:
    """A Composition: its title and its sections' text, as plain text to read."""
    content = view.content
    sections = list(_sections(content.get("section"), 0))
    if not sections and (text := narrative_text(content.get("text"))):
        sections = [{"title": None, "text": text, "depth": 0}]
    where = next(
        (found for author in items(content.get("author")) if (found := facility_of(author, seeing.facilities))), None
    )
    return {
        "kind": "summary",
        "id": view.reference,
        "served_id": view.served_id,
        "title": _text(content.get("title")) or concept_text(content.get("type")),
        "category": concept_text(first(content.get("category"))),
        "when": _text(content.get("date")),
        "where": where or {"code": view.facility_code, "name": view.facility_name},
        "description": None,
        "files": [],
        "sections": sections,
        "superseded": False,
        "preliminary": view.status == "preliminary",
        "provenance": provenance(view),
    }


def build(views: list[StoredRecordView], seeing: Seeing) -> dict[str, Any]:
    shown = []
    for view in views:  # newest first, as read
        if view.resource_type == "DocumentReference":
            shown.append(document(view, seeing))
        elif view.resource_type == "Composition":
            shown.append(summary(view, seeing))
    return {"documents": shown}


def narrative_text(narrative: Any) -> str | None:
    """A FHIR Narrative (`{"div": "<div xmlns=…>…</div>"}`) as plain text, one line per paragraph, list
    item or row: its markup is read, never rendered."""
    div = narrative.get("div") if isinstance(narrative, dict) else None
    if not isinstance(div, str):
        return None
    reader = _TextOfMarkup()
    reader.feed(div)
    reader.close()
    lines = [" ".join(line.split()) for line in "".join(reader.parts).split("\n")]
    text = "\n".join(line for line in lines if line)
    return text or None


class _TextOfMarkup(HTMLParser):
    _BLOCKS = frozenset("p div br li tr h1 h2 h3 h4 h5 h6 table ul ol dl dt dd pre blockquote section".split())
    _HIDDEN = frozenset(["script", "style"])

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self._hidden += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append(" ")
        if tag == "li":
            self.parts.append("• ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def _sections(value: Any, depth: int) -> list[dict[str, Any]]:
    """Sections in reading order, nested ones after their parent; below `MAX_SECTION_DEPTH` levels a
    section's descendants are read as part of its own text."""
    found: list[dict[str, Any]] = []
    for section in items(value):
        title = _text(section.get("title")) or concept_text(section.get("code"))
        text = narrative_text(section.get("text"))
        if depth == MAX_SECTION_DEPTH:
            text = "\n".join(filter(None, [text, *_descendants_text(section)])) or None
        if title or text:
            found.append({"title": title, "text": text, "depth": depth})
        if depth < MAX_SECTION_DEPTH:
            found += _sections(section.get("section"), depth + 1)
    return found


def _descendants_text(section: dict[str, Any]) -> list[str]:
    """Titles and texts of every section under this one, without recursion (a sender may nest deeply)."""
    found: list[str] = []
    stack = list(reversed(items(section.get("section"))))
    while stack and len(found) < 1000:
        node = stack.pop()
        found += filter(None, [_text(node.get("title")), narrative_text(node.get("text"))])
        stack += reversed(items(node.get("section")))
    return found


def _custodian(content: dict[str, Any], seeing: Seeing) -> dict[str, str | None] | None:
    for reference in [content.get("custodian"), *items(content.get("author"))]:
        if found := facility_of(reference, seeing.facilities):
            return found
    return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


SECTION = Section(
    name="documents",
    title=N_("Documents"),
    resource_types=("DocumentReference", "Composition"),
    template="book/documents.html",
    build=build,
)
