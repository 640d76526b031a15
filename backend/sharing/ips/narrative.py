"""A section's narrative (`Composition.section.text`): an XHTML table in Vietnamese, one row per record,
with its codes, date, source facility and signature state. Every piece of record text is escaped (a
hospital's free text may hold markup), and characters XML cannot carry are dropped, so the `div` is
always well-formed XHTML."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

XHTML = "http://www.w3.org/1999/xhtml"
# Characters XML 1.0 does not allow (controls other than tab and line breaks, lone surrogates, U+FFFE/F).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

SIGNATURES = {
    "verified": "chữ ký số hợp lệ (verified)",
    "unsigned": "không có chữ ký số (unsigned)",
    "invalid": "chữ ký số không hợp lệ (invalid)",
}
WITHHELD = "Người bệnh không chia sẻ mục này (withheld)."
UNAVAILABLE = "Sổ sức khỏe chưa có thông tin về mục này (no information available)."
ONLY_PICKED = "Chỉ gồm các mục người bệnh chọn chia sẻ."


@dataclass(frozen=True)
class Row:
    what: str
    codes: list[str]
    when: str | None  # the local date (and time) of the record, as shown
    facility: str  # the sending facility: its code, and its name where the registry knows it
    signature: str  # verified | unsigned | invalid
    note: str | None = None  # e.g. an original file too large to carry


def text(value: Any) -> str:
    """Record text made safe inside XHTML."""
    return html.escape(_NOT_XML.sub("", str(value)), quote=True)


def section_narrative(title: str, rows: list[Row], *, withheld: bool, picked: bool) -> dict[str, str]:
    """`Narrative` (status `generated`) for one section: its rows, or why it has none."""
    parts = [f'<div xmlns="{XHTML}">', f"<h3>{text(title)}</h3>"]
    if not rows:
        parts.append(f"<p>{WITHHELD if withheld else UNAVAILABLE}</p>")
    else:
        if picked:
            parts.append(f"<p>{ONLY_PICKED}</p>")
        parts.append(
            "<table><thead><tr><th>Nội dung</th><th>Mã</th><th>Ngày</th><th>Cơ sở gửi</th><th>Chữ ký số</th>"
            "</tr></thead><tbody>"
        )
        parts.extend(_row(row) for row in rows)
        parts.append("</tbody></table>")
    parts.append("</div>")
    return {"status": "generated", "div": "".join(parts)}


def _row(row: Row) -> str:
    what = text(row.what) + (f"<br/>{text(row.note)}" if row.note else "")
    cells = (
        what,
        text(", ".join(row.codes)) if row.codes else "—",
        text(row.when) if row.when else "—",
        text(row.facility),
        text(SIGNATURES.get(row.signature, row.signature)),
    )
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def patient_narrative(name: str, identifiers: list[str]) -> dict[str, str]:
    """The Composition's own short narrative: whose summary this is, and who made it."""
    ids = f"<p>{text(', '.join(identifiers))}</p>" if identifiers else ""
    return {
        "status": "generated",
        "div": f'<div xmlns="{XHTML}"><p>Tóm tắt hồ sơ sức khỏe của {text(name)}, do Sổ Sức Khỏe lập theo yêu cầu của'
        f" người bệnh từ dữ liệu các cơ sở khám chữa bệnh đã gửi.</p>{ids}</div>",
    }
