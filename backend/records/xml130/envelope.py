"""Reading what a hospital information system exports for Social Insurance (Decision 130/QĐ-BYT as
amended by 4750/QĐ-BYT): the `GIAMDINHHS` envelope, whose `FILEHOSO` carry each table base64-encoded,
or one table on its own. Only safe XML is read: no DTD, no entity, no external reference (defusedxml).

Everything here turns bytes into rows of field values; what the fields mean is `tables.py`'s business.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeXml
from defusedxml import DefusedXmlException

from backend.errors import BadRequest, Issue, Unprocessable

# The tables we map, with their root element and, for multi-row tables, the path to each row.
TABLE_ROOTS = {
    "XML1": "TONG_HOP",
    "XML2": "CHITIEU_CHITIET_THUOC",
    "XML4": "CHITIEU_CHITIET_DICHVUCANLAMSANG",
    "XML8": "CHI_TIEU_DU_LIEU_TOM_TAT_HO_SO_BENH_AN",
    "XML13": "CHI_TIEU_GIAYCHUYENTUYEN",
    "XML14": "CHI_TIEU_GIAYHEN_KHAMLAI",
}
ROW_PATHS = {"XML2": "DSACH_CHI_TIET_THUOC/CHI_TIET_THUOC", "XML4": "DSACH_CHI_TIET_CLS/CHI_TIET_CLS"}
_TABLE_OF_ROOT = {root: table for table, root in TABLE_ROOTS.items()}
_LOAIHOSO = re.compile(r"^XML([0-9]|1[0-5])$")
_ASCII_SPACE = re.compile(rb"[ \t\r\n\f\v]+")
MAX_TABLES = 2000

Row = dict[str, str | None]


@dataclass
class Table:
    """One table as received: its name (`XML13`), and its rows (field → text, empty elements as None).
    `rows` is empty for the known tables we keep as received but do not map (XML3, XML5…)."""

    name: str
    rows: list[Row] = field(default_factory=list)


@dataclass
class Received:
    """A whole push: an envelope with its facility code and date, or one bare table."""

    envelope: bool
    facility_code: str | None  # MACSKCB
    created: str | None  # NGAYLAP
    tables: list[Table]
    signature_present: bool = False


def read_push(body: bytes) -> Received:
    root = _parse(body, "the body")
    name = _local(root.tag)
    if name == "GIAMDINHHS":
        return _read_envelope(root)
    if name in _TABLE_OF_ROOT:
        table = _TABLE_OF_ROOT[name]
        return Received(False, None, None, [Table(table, _rows(table, root))])
    raise BadRequest(f"the root element is <{name[:60]}>: expected GIAMDINHHS or one of the QĐ130 tables")


def _read_envelope(root: Element) -> Received:
    facility_code = _text(root.find("THONGTINDONVI/MACSKCB"))
    created = _text(root.find("THONGTINHOSO/NGAYLAP"))
    tables: list[Table] = []
    issues: list[Issue] = []
    files = root.findall("THONGTINHOSO/DANHSACHHOSO/HOSO/FILEHOSO")
    if len(files) > MAX_TABLES:
        raise Unprocessable(f"an envelope may carry at most {MAX_TABLES} tables")
    for number, file in enumerate(files):
        where = f"FILEHOSO[{number}]"
        kind = (_text(file.find("LOAIHOSO")) or "").upper()
        if not _LOAIHOSO.match(kind):
            issues.append(Issue(f"LOAIHOSO {kind[:20]!r} is not one of XML0 to XML15", f"{where}.LOAIHOSO"))
            continue
        content = _decode_base64((file.findtext("NOIDUNGFILE") or "").encode(), f"{where}.NOIDUNGFILE")
        inner = _parse(content, f"{where}.NOIDUNGFILE ({kind})")
        if kind in TABLE_ROOTS:
            if _local(inner.tag) != TABLE_ROOTS[kind]:
                issues.append(
                    Issue(f"a {kind} table has the root <{TABLE_ROOTS[kind]}>, not <{_local(inner.tag)[:60]}>", where)
                )
                continue
            tables.append(Table(kind, _rows(kind, inner)))
        else:
            tables.append(Table(kind))  # known, not mapped: kept as received in the delivery
    if issues:
        raise Unprocessable(issues[0].message, issues=issues[:20])
    if not files:
        raise Unprocessable("the envelope carries no FILEHOSO", issues=[Issue("no tables", "DANHSACHHOSO")])
    signature = root.find("CHUKYDONVI")
    return Received(
        True, facility_code, created, tables, signature_present=signature is not None and len(signature) > 0
    )


def _rows(table: str, root: Element) -> list[Row]:
    elements = root.findall(ROW_PATHS[table]) if table in ROW_PATHS else [root]
    return [{_local(child.tag): _text(child) for child in element} for element in elements]


def _parse(data: bytes, what: str) -> Element:
    """Well-formed, safe XML or a 400: no DTD, no entities (billion laughs), no external references."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        root: Element = SafeXml.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise BadRequest(f"{what}: DTDs and entity declarations are not accepted ({type(exc).__name__})") from None
    except (ParseError, ValueError) as exc:
        raise BadRequest(f"{what} is not well-formed XML: {exc}") from None
    return root


def _decode_base64(encoded: bytes, where: str) -> bytes:
    """Strict base64 after removing ASCII whitespace (HIS exports wrap lines); Python's lenient default
    would skip garbage silently."""
    try:
        return base64.b64decode(_ASCII_SPACE.sub(b"", encoded), validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"{where} is not valid base64") from None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _text(element: Element | None) -> str | None:
    if element is None or element.text is None:
        return None
    text = element.text.strip()
    return text or None
