"""Building QĐ130 pushes for tests: the sample envelope's tables, changed field by field."""

from __future__ import annotations

import base64
import json
import re
import textwrap
from collections.abc import Iterable
from typing import Any

from litestar import Litestar

from tests.support.hospital import Hospital, fetch, register, sample

XML = "application/xml"
EPISODE = "010024387541014"  # MA_LK of the samples
XML_FACILITY = "01002"  # the facility that sends the samples


async def xml_sender(app: Litestar, client: Any) -> Hospital:
    return Hospital(client, XML_FACILITY, await register(app, XML_FACILITY, "Bệnh viện Hữu Nghị Thủ Đô (mẫu)"))


async def push_xml(hospital: Hospital, body: bytes, **options: Any) -> Any:
    return await hospital.push(body, kind="xml130", content_type=options.pop("content_type", XML), **options)


async def current(app: Litestar, facility: str = XML_FACILITY) -> dict[str, Any]:
    """Every record of the facility, current versions, by `Type/id`, with its patient's CCCD."""
    rows = await fetch(
        app,
        "SELECT r.resource_type, r.resource_id, r.version, r.deleted, r.content, r.episode, r.source_table,"
        " p.cccd FROM record r JOIN facility f ON f.id = r.facility_id"
        " LEFT JOIN patient p ON p.id = r.patient_id WHERE f.code = $1",
        facility,
    )
    found = {}
    for row in rows:
        content = row["content"]
        found[f"{row['resource_type']}/{row['resource_id']}"] = {
            **dict(row),
            "content": json.loads(content) if isinstance(content, str) else content,
        }
    return found


def of_type(records: dict[str, Any], resource_type: str, *, deleted: bool = False) -> list[dict[str, Any]]:
    return [row for key, row in records.items() if key.startswith(f"{resource_type}/") and row["deleted"] == deleted]


_FILE = re.compile(rb"<LOAIHOSO>(XML\d+)</LOAIHOSO>\s*<NOIDUNGFILE>([^<]*)</NOIDUNGFILE>")


def sample_tables() -> dict[str, str]:
    """The inner tables of the sample envelope, decoded: {"XML1": "<?xml …><TONG_HOP>…", …}."""
    envelope = sample("xml130-envelope.xml")
    return {kind.decode(): base64.b64decode(content).decode() for kind, content in _FILE.findall(envelope)}


def with_field(table: str, name: str, value: str | None) -> str:
    """`table` with field `name` set to `value` (None removes the element; a missing one is added)."""
    pattern = re.compile(rf"<{name}>[^<]*</{name}>|<{name}/>")
    if value is None:
        return pattern.sub("", table)
    if pattern.search(table):
        return pattern.sub(f"<{name}>{value}</{name}>", table, count=1)
    return re.sub(r"(<MA_LK>[^<]*</MA_LK>)", rf"\1<{name}>{value}</{name}>", table, count=1)


def envelope(
    tables: list[tuple[str, str]], *, code: str = "01002", created: str = "20251002", wrap: bool = False
) -> bytes:
    return envelope_of_hosos([tables], code=code, created=created, wrap=wrap)


def envelope_of_hosos(
    hosos: list[list[tuple[str, str]]], *, code: str = "01002", created: str = "20251002", wrap: bool = False
) -> bytes:
    """An envelope with one `HOSO` per list of (LOAIHOSO, table) pairs."""
    parts = []
    for tables in hosos:
        files = []
        for kind, content in tables:
            encoded = base64.b64encode(content.encode()).decode()
            if wrap:  # HIS exports wrap base64 at 76 columns
                encoded = "\n".join(textwrap.wrap(encoded, 76))
            files.append(f"<FILEHOSO><LOAIHOSO>{kind}</LOAIHOSO><NOIDUNGFILE>{encoded}</NOIDUNGFILE></FILEHOSO>")
        parts.append("<HOSO>" + "".join(files) + "</HOSO>")
    return (
        '<?xml version="1.0" encoding="utf-8"?><GIAMDINHHS>'
        f"<THONGTINDONVI><MACSKCB>{code}</MACSKCB></THONGTINDONVI>"
        f"<THONGTINHOSO><NGAYLAP>{created}</NGAYLAP><SOLUONGHOSO>{len(hosos)}</SOLUONGHOSO><DANHSACHHOSO>"
        + "".join(parts)
        + "</DANHSACHHOSO></THONGTINHOSO><CHUKYDONVI></CHUKYDONVI></GIAMDINHHS>"
    ).encode()


def drug_lines(ma_lk: str, stts: Iterable[int | str], **fields: str) -> str:
    """An XML2 table with one drug line per STT; `fields` are added to every line."""
    extra = "".join(f"<{name}>{value}</{name}>" for name, value in fields.items())
    lines = "".join(
        f"<CHI_TIET_THUOC><MA_LK>{ma_lk}</MA_LK><STT>{stt}</STT><TEN_THUOC>Thuốc {stt}</TEN_THUOC>{extra}"
        "</CHI_TIET_THUOC>"
        for stt in stts
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><CHITIEU_CHITIET_THUOC><DSACH_CHI_TIET_THUOC>'
        f"{lines}</DSACH_CHI_TIET_THUOC></CHITIEU_CHITIET_THUOC>"
    )


def result_lines(ma_lk: str, values: dict[str, str], *, separate_services: bool = False) -> str:
    """An XML4 table: one result line per (MA_CHI_SO → GIA_TRI); each its own service when asked."""
    lines = "".join(
        f"<CHI_TIET_CLS><MA_LK>{ma_lk}</MA_LK><STT>{number}</STT><MA_CHI_SO>{code}</MA_CHI_SO>"
        + (f"<MA_DICH_VU>DV{number}</MA_DICH_VU>" if separate_services else "")
        + f"<TEN_CHI_SO>Chỉ số {code}</TEN_CHI_SO><GIA_TRI>{value}</GIA_TRI><NGAY_KQ>202510020930</NGAY_KQ>"
        "</CHI_TIET_CLS>"
        for number, (code, value) in enumerate(values.items(), start=1)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><CHITIEU_CHITIET_DICHVUCANLAMSANG><DSACH_CHI_TIET_CLS>'
        f"{lines}</DSACH_CHI_TIET_CLS></CHITIEU_CHITIET_DICHVUCANLAMSANG>"
    )
