"""The documents section's build() and how a file is served: attachments from whatever a hospital sent
(no content, odd types, data that is not base64, links elsewhere), summaries' XHTML read as text, and
only harmless kinds of file ever shown in the browser."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest

from backend.healthbook.sections import SECTIONS, Seeing
from backend.healthbook.sections.documents import MAX_SECTION_DEPTH, SECTION, build, narrative_text
from backend.healthbook.sections.documents_attachments import (
    OPAQUE,
    binary_id,
    disposition,
    inline_data,
    known_size,
    serving,
    size_text,
)
from backend.records.reads import StoredRecordView

NOW = datetime(2025, 10, 13, 2, 0, tzinfo=UTC)
SEEING = Seeing({"01929": "Bệnh viện Đa khoa Minh An"}, NOW)
PDF = b"%PDF-1.4\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 8
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 8


def view(resource_type: str, served_id: str, content: dict[str, Any], *, status: str | None = None) -> StoredRecordView:
    return StoredRecordView(
        served_id=served_id,
        resource_type=resource_type,
        facility_code="01929",
        facility_name="Bệnh viện 01929",
        version=1,
        updated_at=NOW,
        signature="unsigned",
        date=None,
        date_end=None,
        status=status,
        content={"resourceType": resource_type, "id": served_id, **content},
    )


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def div(markup: str) -> dict[str, str]:
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{markup}</div>'}


def test_the_section_reads_documents_and_summaries() -> None:
    assert SECTIONS["documents"] is SECTION
    assert set(SECTION.resource_types) == {"DocumentReference", "Composition"}
    assert build([], SEEING) == {"documents": []}


def test_a_document_with_nothing_in_it() -> None:
    (shown,) = build([view("DocumentReference", "01929-tl-0", {"content": "x", "type": 5})], SEEING)["documents"]
    assert shown["title"] is None and shown["files"] == [] and shown["when"] is None
    assert shown["where"] == {"code": "01929", "name": "Bệnh viện 01929"}
    assert shown["provenance"]["facility"]["code"] == "01929"


def test_each_attachment_says_whether_it_can_be_opened_or_saved() -> None:
    content = {
        "type": {"text": "Giấy ra viện"},
        "description": "Giấy ra viện",  # the same words as the type: said once
        "date": "2025-10-02T11:00:00+07:00",
        "custodian": {"reference": "Organization/01929"},
        "content": [
            {
                "attachment": {
                    "contentType": "application/pdf",
                    "url": "Binary/01929-pdf-1",
                    "title": "Giấy ra viện.pdf",
                    "size": 48213,
                }
            },
            {"attachment": {"contentType": "text/plain; charset=UTF-8", "data": b64("Lời dặn".encode())}},
            {"attachment": {"contentType": "text/plain; charset=windows-1258", "data": b64(b"x")}},
            {"attachment": {"contentType": "text/html", "data": b64(b"<script>alert(1)</script>")}},
            {"attachment": {"contentType": "image/png", "url": "https://his.example.vn/a.png"}},
            {"attachment": {"contentType": "application/pdf", "data": "không phải base64!"}},
            {"attachment": "x"},
            "x",
        ],
    }
    (shown,) = build([view("DocumentReference", "01929-tl-1", content)], SEEING)["documents"]
    assert shown["title"] == "Giấy ra viện" and shown["description"] is None
    assert shown["where"] == {"code": "01929", "name": "Bệnh viện Đa khoa Minh An"}
    files = [(f["part"], f["kind"], f["size"], f["available"], f["openable"]) for f in shown["files"]]
    assert files == [
        (0, "PDF", "48 KB", True, True),
        (1, "TXT", "11 B", True, True),
        (2, "TXT", "1 B", True, False),  # not UTF-8: saved, not shown
        (3, "text/html", "25 B", True, False),
        (4, "PNG", None, False, False),  # kept at the hospital: nothing to serve
        (5, "PDF", None, False, False),  # not base64: nothing to serve
        (6, None, None, False, False),
    ]  # a content entry that is not an object is no part at all


def test_a_document_title_falls_back_to_its_description_then_its_file() -> None:
    described = view("DocumentReference", "01929-tl-1", {"description": "Phim X-quang <b>ngực</b>"})
    named = view("DocumentReference", "01929-tl-2", {"content": [{"attachment": {"title": "phim.jpg"}}]})
    shown = build([described, named], SEEING)["documents"]
    assert [d["title"] for d in shown] == ["Phim X-quang <b>ngực</b>", "phim.jpg"]  # verbatim: the page escapes


def test_a_replaced_document_is_marked() -> None:
    (shown,) = build([view("DocumentReference", "01929-tl-1", {}, status="superseded")], SEEING)["documents"]
    assert shown["superseded"] is True


def test_a_summary_is_read_as_sections_of_plain_text() -> None:
    summary = view(
        "Composition",
        "01929-tt-1",
        {
            "title": "Tóm tắt hồ sơ bệnh án",
            "date": "2025-10-04",
            "author": [{"reference": "Organization/01929"}],
            "section": [
                {"title": "Chẩn đoán ra viện", "text": div("<p>Cơn đau thắt ngực &amp; &lt;b&gt;THA&lt;/b&gt;</p>")},
                {
                    "code": {"text": "Diễn biến"},
                    "text": div("Ngày 1: sốt<br/>Ngày 2: <b>hết sốt</b><ul><li>một</li><li>hai</li></ul>"),
                },
                {"title": "Trống"},
                {"text": div("<script>alert(1)</script><style>p{}</style>Chỉ có chữ")},
                {},
                "x",
            ],
        },
        status="preliminary",
    )
    (shown,) = build([summary], SEEING)["documents"]
    assert shown["kind"] == "summary" and shown["preliminary"] is True and shown["when"] == "2025-10-04"
    assert [(s["title"], s["text"]) for s in shown["sections"]] == [
        ("Chẩn đoán ra viện", "Cơn đau thắt ngực & <b>THA</b>"),  # text, escaped by the page
        ("Diễn biến", "Ngày 1: sốt\nNgày 2: hết sốt\n• một\n• hai"),
        ("Trống", None),
        (None, "Chỉ có chữ"),
    ]


def test_a_summary_without_sections_shows_its_narrative() -> None:
    (shown,) = build([view("Composition", "01929-tt-1", {"text": div("<p>Ra viện</p>")})], SEEING)["documents"]
    assert shown["title"] is None and shown["sections"] == [{"title": None, "text": "Ra viện", "depth": 0}]


def test_deeply_nested_sections_are_flattened_without_recursion() -> None:
    section: dict[str, Any] = {"title": "cuối", "text": div("đáy")}
    for depth in range(3000):
        section = {"title": f"mức {depth}", "section": [section]}
    (shown,) = build([view("Composition", "01929-tt-1", {"section": [section]})], SEEING)["documents"]
    assert len(shown["sections"]) == MAX_SECTION_DEPTH + 1
    deepest = shown["sections"][-1]
    assert deepest["title"] == "mức 2995" and deepest["text"].startswith("mức 2994\nmức 2993\n")
    assert len(deepest["text"].split("\n")) == 1000  # what lies deeper still is not read


def test_very_long_text_is_kept_whole() -> None:
    long_text = "Quá trình bệnh lý " * 5000
    assert narrative_text(div(long_text)) == long_text.strip()
    assert narrative_text(None) is None and narrative_text({"div": 5}) is None and narrative_text(div("  ")) is None


@pytest.mark.parametrize(
    ("declared", "body", "served_type"),
    [
        ("application/pdf", PDF, "application/pdf"),
        ("Application/PDF; name=x", PDF, "application/pdf"),
        ("image/png", PNG, "image/png"),
        ("image/jpeg", JPEG, "image/jpeg"),
        ("text/plain", "Lời dặn".encode(), "text/plain"),
        ("text/plain; charset=utf-8", b"ok", "text/plain"),
    ],
)
def test_harmless_kinds_are_shown_inline(declared: str, body: bytes, served_type: str) -> None:
    served = serving(declared, body, "tệp")
    assert served.media_type == served_type and served.disposition.startswith("inline; ")


@pytest.mark.parametrize(
    ("declared", "body"),
    [
        ("text/html", b"<script>alert(1)</script>"),
        ("image/svg+xml", b"<svg onload=alert(1)>"),
        ("application/javascript", b"alert(1)"),
        ("application/pdf", b"<html><script>alert(1)</script>"),  # says PDF, is not one
        ("image/png", JPEG),
        ("text/plain", b"\xff\xfe\x00x"),  # not UTF-8
        ("text/plain; charset=utf-7", b"+ADw-script+AD4-"),
        (None, PDF),
        ("", PDF),
        (5, PDF),
    ],
)
def test_anything_else_is_only_ever_saved(declared: Any, body: bytes) -> None:
    served = serving(declared, body, "trang.html")
    assert served.media_type == OPAQUE
    assert served.disposition.startswith("attachment; ") and "inline" not in served.disposition


def test_file_names_are_safe_ascii_with_the_real_name_beside() -> None:
    assert disposition("inline", "Tóm tắt hồ sơ bệnh án", (".pdf",)) == (
        'inline; filename="Tom tat ho so benh an.pdf"; '
        "filename*=UTF-8''T%C3%B3m%20t%E1%BA%AFt%20h%E1%BB%93%20s%C6%A1%20b%E1%BB%87nh%20%C3%A1n.pdf"
    )
    assert 'filename="Giay ra vien.pdf"' in disposition("inline", "Giấy ra viện.PDF"[:-4] + ".pdf", (".pdf",))
    assert 'filename="anh.jpeg"' in disposition("inline", "ảnh.jpeg", (".jpg", ".jpeg"))
    assert 'filename="tai-lieu.pdf"' in disposition("inline", None, (".pdf",))
    assert 'filename="tai-lieu.txt"' in disposition("inline", " ..\r\n ", (".txt",))
    hostile = disposition("attachment", 'a"; filename=evil.html\r\nX-Header: 1/../b\\c', ())
    assert "\r" not in hostile and "\n" not in hostile
    ascii_name = hostile.split('filename="', 1)[1].split('"', 1)[0]
    assert ascii_name == "a- filename-evil.htmlX-Header- 1 .. b c"
    assert "evil.html%0D" not in hostile and "%2F" not in hostile  # no line breaks, no path separators
    assert len(disposition("inline", "x" * 5000, (".pdf",))) < 400


def test_attachment_bytes_and_sizes() -> None:
    assert inline_data({"data": b64(PDF)}) == PDF
    wrapped = "\n".join(b64(PDF)[i : i + 8] for i in range(0, len(b64(PDF)), 8))
    assert inline_data({"data": wrapped}) == PDF  # base64 wrapped in lines, as some exports do
    assert inline_data({"data": "không phải base64"}) is None and inline_data({"data": 5}) is None
    assert inline_data({}) is None
    assert known_size({"size": 10}, None) == 10 and known_size({"size": 10}, b"12345") == 10
    assert known_size({"size": True}, None) is None and known_size({"size": -1}, None) is None
    assert known_size({"data": b64(b"12345")}, b"12345") == 5
    assert binary_id({"url": "Binary/01929-pdf-1"}) == "01929-pdf-1"
    assert binary_id({"url": "https://his.example.vn/Binary/1"}) is None and binary_id({"url": "Binary/../x"}) is None
    assert [size_text(n) for n in (None, 0, 999, 1000, 48_213, 2_600_000)] == [
        None,
        "0 B",
        "999 B",
        "1 KB",
        "48 KB",
        "3 MB",
    ]
