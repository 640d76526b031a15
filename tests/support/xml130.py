"""Building QĐ130 pushes for tests: the sample envelope's tables, changed field by field."""

from __future__ import annotations

import base64
import re
import textwrap

from tests.support.hospital import sample

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
    files = []
    for kind, content in tables:
        encoded = base64.b64encode(content.encode()).decode()
        if wrap:  # HIS exports wrap base64 at 76 columns
            encoded = "\n".join(textwrap.wrap(encoded, 76))
        files.append(f"<FILEHOSO><LOAIHOSO>{kind}</LOAIHOSO><NOIDUNGFILE>{encoded}</NOIDUNGFILE></FILEHOSO>")
    return (
        '<?xml version="1.0" encoding="utf-8"?><GIAMDINHHS>'
        f"<THONGTINDONVI><MACSKCB>{code}</MACSKCB></THONGTINDONVI>"
        f"<THONGTINHOSO><NGAYLAP>{created}</NGAYLAP><SOLUONGHOSO>1</SOLUONGHOSO><DANHSACHHOSO><HOSO>"
        + "".join(files)
        + "</HOSO></DANHSACHHOSO></THONGTINHOSO><CHUKYDONVI></CHUKYDONVI></GIAMDINHHS>"
    ).encode()
