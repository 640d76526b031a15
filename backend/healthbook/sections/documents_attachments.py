"""A document's attachments: what the documents section lists, and how `/book/documents/{id}/file` serves
one (backend/healthbook/document_files.py). Pure functions of the stored FHIR.

A hospital declares each attachment's type (`Attachment.contentType`). A browser renders what it is
told, so only a few harmless kinds are ever served as themselves, and only when the bytes begin the way
that kind always does; anything else (an HTML page, a script, a Word file) is served as opaque bytes to
save, never to show (`application/octet-stream` with `attachment`)."""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from backend.healthbook.fhir_text import items

OPAQUE = "application/octet-stream"
TEXT = "text/plain"

# What we serve as itself: the media type, how its bytes must begin (None: any UTF-8 text), its file
# name extensions (the first is added to a name that has none of them).
_SHOWN: dict[str, tuple[bytes | None, tuple[str, ...]]] = {
    "application/pdf": (b"%PDF-", (".pdf",)),
    "image/jpeg": (b"\xff\xd8\xff", (".jpg", ".jpeg")),
    "image/png": (b"\x89PNG\r\n\x1a\n", (".png",)),
    TEXT: (None, (".txt",)),
}
_LABELS = {"application/pdf": "PDF", "image/jpeg": "JPEG", "image/png": "PNG", TEXT: "TXT"}
_BINARY = re.compile(r"^Binary/([A-Za-z0-9\-.]{1,64})$")
_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._ -]+")


@dataclass(frozen=True)
class Served:
    """How a file goes out: its Content-Type (text is UTF-8: the response adds `charset=utf-8` to every
    `text/` type) and Content-Disposition."""

    media_type: str
    disposition: str


def media_type(declared: Any) -> tuple[str, str | None]:
    """`Text/Plain; charset=UTF-8` → (`text/plain`, `utf-8`); anything unreadable → ("", None)."""
    if not isinstance(declared, str):
        return "", None
    base, *parameters = declared.split(";")
    charset = None
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return base.strip().lower(), charset


def shown_as_itself(declared: Any) -> bool:
    """Whether a browser may show this kind of file (the bytes are checked again when it is served)."""
    base, charset = media_type(declared)
    return base in _SHOWN and (base != TEXT or charset in (None, "utf-8", "utf8"))


def type_label(declared: Any) -> str | None:
    base, _ = media_type(declared)
    return _LABELS.get(base) or (base[:40] if base else None)


def attachments(content: dict[str, Any]) -> list[dict[str, Any]]:
    """`DocumentReference.content[].attachment`, in order (their position is the `part` served)."""
    return [
        attachment if isinstance(attachment := entry.get("attachment"), dict) else {}
        for entry in items(content.get("content"))
    ]


def binary_id(attachment: dict[str, Any]) -> str | None:
    """The id in `url: "Binary/…"` (a reference to a Binary the hospital sent with the document)."""
    match = _BINARY.match(str(attachment.get("url") or ""))
    return match.group(1) if match else None


def inline_data(attachment_or_binary: dict[str, Any]) -> bytes | None:
    """`data` (base64), decoded; None when there is none or it is not base64."""
    data = attachment_or_binary.get("data")
    if not isinstance(data, str) or not data.strip():
        return None
    try:
        return base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def known_size(attachment: dict[str, Any], data: bytes | None) -> int | None:
    """The size a hospital gave, else the size of the data it sent inline (`data`, decoded)."""
    size = attachment.get("size")
    if isinstance(size, int) and not isinstance(size, bool) and size >= 0:
        return size
    return len(data) if data is not None else None


def size_text(size: int | None) -> str | None:
    """`532 B`, `48 KB`, `3 MB`: whole units, enough to decide whether to download on a slow connection."""
    if size is None:
        return None
    if size < 1000:
        return f"{size} B"
    if size < 1_000_000:
        return f"{round(size / 1000)} KB"
    return f"{round(size / 1_000_000)} MB"


def serving(declared: Any, body: bytes, title: Any) -> Served:
    """The Content-Type and Content-Disposition for these bytes: shown inline only for an allowed type
    whose bytes look like it; anything else an opaque download."""
    base, _ = media_type(declared)
    expected = _SHOWN.get(base)
    if expected is None or not shown_as_itself(declared) or not _looks_like(base, expected[0], body):
        return Served(OPAQUE, disposition("attachment", title))
    return Served(base, disposition("inline", title, expected[1]))


def _looks_like(base: str, magic: bytes | None, body: bytes) -> bool:
    if magic is not None:
        return body.startswith(magic)
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return base == TEXT


def disposition(kind: str, title: Any, extensions: tuple[str, ...] = ()) -> str:
    """RFC 6266: an ASCII `filename` every browser reads, and the real name as `filename*` (RFC 8187).
    A file shown as itself gets its type's extension; an opaque one keeps the name the hospital gave."""
    name = unicodedata.normalize("NFC", title.strip()) if isinstance(title, str) else ""
    name = "".join(char for char in name if unicodedata.category(char)[0] not in "CZ" or char == " ")
    name = name.replace("/", " ").replace("\\", " ").strip(" .")[:100].strip() or "tai-lieu"
    if extensions and not name.lower().endswith(extensions):
        name += extensions[0]
    ascii_name = _ascii(name)
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def _ascii(name: str) -> str:
    """`Tóm tắt hồ sơ.pdf` → `Tom tat ho so.pdf`: letters without their marks, anything else a `-`."""
    folded = unicodedata.normalize("NFD", name.replace("đ", "d").replace("Đ", "D"))
    plain = "".join(char for char in folded if not unicodedata.combining(char))
    plain = _UNSAFE_IN_NAME.sub("-", plain).strip(" .-")
    return plain or "tai-lieu"
