"""Reading what a hospital information system exports for Social Insurance (Decision 130/QĐ-BYT as
amended by 4750/QĐ-BYT): the `GIAMDINHHS` envelope, whose `FILEHOSO` carry each table base64-encoded,
or one table on its own. Only safe XML is read: no DTD, no entity, no external reference (defusedxml),
and only UTF-8 (contract §3.3).

Elements are matched by local name, so a default namespace some exporters add changes nothing; an
element the appendix has once (a field, `LOAIHOSO`) that occurs twice is refused, never resolved by
picking one. Everything here turns bytes into rows of field values; what the fields mean is `rows.py`'s
business.
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

# The tables we map, with their root element.
TABLE_ROOTS = {
    "XML1": "TONG_HOP",
    "XML2": "CHITIEU_CHITIET_THUOC",
    "XML4": "CHITIEU_CHITIET_DICHVUCANLAMSANG",
    "XML8": "CHI_TIEU_DU_LIEU_TOM_TAT_HO_SO_BENH_AN",
    "XML13": "CHI_TIEU_GIAYCHUYENTUYEN",
    "XML14": "CHI_TIEU_GIAYHEN_KHAMLAI",
}
# Multi-row tables: the list under the root, and each row in it (standards: XML2, XML4).
ROW_PATHS = {"XML2": ("DSACH_CHI_TIET_THUOC", "CHI_TIET_THUOC"), "XML4": ("DSACH_CHI_TIET_CLS", "CHI_TIET_CLS")}
MAX_TABLES = 2000
# Each row makes at least one record, so a push with more rows than this is refused before mapping.
MAX_RECORDS = 5000
_TABLE_OF_ROOT = {root: table for table, root in TABLE_ROOTS.items()}
_LOAIHOSO = re.compile(r"^XML([0-9]|1[0-5])$")
_ASCII_SPACE = re.compile(rb"[ \t\r\n\f\v]+")
_DECLARED_ENCODING = re.compile(rb"""^<\?xml[^>]*?\sencoding\s*=\s*["']([^"']*)["']""")


@dataclass
class Row:
    """One row: field → text (empty elements as None), and the fields that occur more than once."""

    fields: dict[str, str | None]
    repeated: list[str] = field(default_factory=list)


@dataclass
class Table:
    """One table as received: its name (`XML13`), where it sits in the push (`FILEHOSO[2]`, or `XML13`
    for a bare table), the `HOSO` that carried it, and its rows. `rows` is empty for the known tables
    we keep as received but do not map (XML3, XML5…), and for a mapped list table with no row."""

    name: str
    where: str
    hoso: int = 0
    rows: list[Row] = field(default_factory=list)

    @property
    def mapped(self) -> bool:
        return self.name in TABLE_ROOTS


@dataclass
class Received:
    """A whole push: an envelope with its facility code and date, or one bare table."""

    envelope: bool
    facility_code: str | None  # MACSKCB
    created: str | None  # NGAYLAP
    tables: list[Table]


def read_push(body: bytes) -> Received:
    root = _parse(body, "the body", None)
    name = _local(root.tag)
    if name == "GIAMDINHHS":
        return _read_envelope(root)
    if name in _TABLE_OF_ROOT:
        table = Table(_TABLE_OF_ROOT[name], _TABLE_OF_ROOT[name])
        table.rows = _rows(table, root)
        _check_size([table])
        return Received(False, None, None, [table])
    raise BadRequest(f"the root element is <{name[:60]}>: expected GIAMDINHHS or one of the QĐ130 tables")


def _read_envelope(root: Element) -> Received:
    issues: list[Issue] = []
    unit = _only(root, "THONGTINDONVI", "THONGTINDONVI", issues)
    facility_code = _text(_only(unit, "MACSKCB", "THONGTINDONVI.MACSKCB", issues))
    info = _only(root, "THONGTINHOSO", "THONGTINHOSO", issues)
    created = _text(_only(info, "NGAYLAP", "THONGTINHOSO.NGAYLAP", issues))
    hosos = [hoso for listing in _children(info, "DANHSACHHOSO") for hoso in _children(listing, "HOSO")]
    files = [(number, file) for number, hoso in enumerate(hosos) for file in _children(hoso, "FILEHOSO")]
    if len(files) > MAX_TABLES:
        raise Unprocessable(f"an envelope may carry at most {MAX_TABLES} tables")
    tables: list[Table] = []
    for position, (hoso, file) in enumerate(files):
        where = f"FILEHOSO[{position}]"
        kind = (_text(_only(file, "LOAIHOSO", f"{where}.LOAIHOSO", issues)) or "").upper()
        content = _only(file, "NOIDUNGFILE", f"{where}.NOIDUNGFILE", issues)
        if not _LOAIHOSO.fullmatch(kind):
            issues.append(Issue(f"LOAIHOSO {kind[:20]!r} is not one of XML0 to XML15", f"{where}.LOAIHOSO"))
            continue
        decoded = _decode_base64((content.text if content is not None else None) or "", f"{where}.NOIDUNGFILE")
        inner = _parse(decoded, f"{where}.NOIDUNGFILE ({kind})", f"{where}.NOIDUNGFILE")
        table = Table(kind, where, hoso)
        if table.mapped:
            if _local(inner.tag) != TABLE_ROOTS[kind]:
                message = f"a {kind} table has the root <{TABLE_ROOTS[kind]}>, not <{_local(inner.tag)[:60]}>"
                issues.append(Issue(message, where))
                continue
            table.rows = _rows(table, inner, issues)
        tables.append(table)  # an unmapped one is kept as received in the delivery
    if issues:
        raise Unprocessable(issues[0].message, issues=issues[:20])
    if not files:
        raise Unprocessable("the envelope carries no FILEHOSO", issues=[Issue("no tables", "DANHSACHHOSO")])
    _check_size(tables)
    return Received(True, facility_code, created, tables)  # CHUKYDONVI: backend/signatures/xml.py


def _rows(table: Table, root: Element, issues: list[Issue] | None = None) -> list[Row]:
    """The rows of a table. A list table's rows must sit in its list element: rows anywhere else would
    be silently skipped, and a push carrying XMLn replaces what XMLn made before."""
    if table.name not in ROW_PATHS:
        return [_row(root)]
    found: list[Issue] = []
    listing, row = ROW_PATHS[table.name]
    elements = []
    for child in root:
        if _local(child.tag) != listing:
            found.append(Issue(f"<{_local(child.tag)[:60]}> is not <{listing}>: rows go in <{listing}>", table.where))
            continue
        for element in child:
            if _local(element.tag) == row:
                elements.append(element)
            else:
                found.append(Issue(f"<{_local(element.tag)[:60]}> in <{listing}> is not a <{row}>", table.where))
    if found and issues is not None:
        issues += found
    elif found:
        raise Unprocessable(found[0].message, issues=found[:20])
    return [_row(element) for element in elements]


def _row(element: Element) -> Row:
    row = Row({})
    for child in element:
        name = _local(child.tag)
        if name in row.fields and name not in row.repeated:
            row.repeated.append(name)
        row.fields[name] = _text(child)
    return row


def _check_size(tables: list[Table]) -> None:
    rows = sum(len(table.rows) for table in tables)
    if rows > MAX_RECORDS:
        message = f"a push may make at most {MAX_RECORDS} records, and this one has {rows} rows: split it"
        where = tables[0].where if len(tables) == 1 else "DANHSACHHOSO"
        raise Unprocessable(message, issues=[Issue(message, where, "too-costly")])


def _parse(data: bytes, what: str, where: str | None) -> Element:
    """Well-formed, safe UTF-8 XML or a 400: no DTD, no entities (billion laughs), no external references."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    _check_utf8(data, what, where)
    try:
        root: Element = SafeXml.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise _bad(f"{what}: DTDs and entity declarations are not accepted ({type(exc).__name__})", where) from None
    except (ParseError, ValueError, LookupError) as exc:
        raise _bad(f"{what} is not well-formed XML: {exc}", where) from None
    return root


def _check_utf8(data: bytes, what: str, where: str | None) -> None:
    """Contract §3.3 says UTF-8. Other encodings expat would honour (UTF-16, windows-1258) are refused,
    and so are codec names it would look up (`rot13`, `zlib`): an export in the wrong encoding is a bug
    to fix at the hospital, not text to guess at."""
    declared = _DECLARED_ENCODING.match(data)
    if declared and declared.group(1).lower() not in (b"utf-8", b"utf8"):
        encoding = declared.group(1)[:30].decode("ascii", "replace")
        raise _bad(f"{what} declares the encoding {encoding!r}: only UTF-8 is accepted", where)
    if data.startswith((b"\xff\xfe", b"\xfe\xff", b"<\x00", b"\x00<")):
        raise _bad(f"{what} is UTF-16: only UTF-8 is accepted", where)


def _decode_base64(encoded: str, where: str) -> bytes:
    """Strict base64 after removing ASCII whitespace (HIS exports wrap lines); Python's lenient default
    would skip garbage silently."""
    try:
        return base64.b64decode(_ASCII_SPACE.sub(b"", encoded.encode()), validate=True)
    except (binascii.Error, ValueError):
        raise _bad(f"{where} is not valid base64", where) from None


def _bad(message: str, where: str | None) -> BadRequest:
    return BadRequest(message, issues=[Issue(message, where, "structure")] if where else ())


def _children(parent: Element | None, name: str) -> list[Element]:
    return [child for child in parent if _local(child.tag) == name] if parent is not None else []


def _only(parent: Element | None, name: str, where: str, issues: list[Issue]) -> Element | None:
    """The one child called `name`; a second one is a problem, never silently ignored."""
    found = _children(parent, name)
    if len(found) > 1:
        issues.append(Issue(f"{where} occurs {len(found)} times", where))
    return found[0] if found else None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _text(element: Element | None) -> str | None:
    if element is None or element.text is None:
        return None
    text = element.text.strip()
    return text or None
