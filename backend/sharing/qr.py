"""The QR code of a share's viewer URL, as the phone shows it full screen (contract §5)."""

from __future__ import annotations

import io

import segno


def qr_svg(text: str, *, scalable: bool = False) -> bytes:
    """A minified SVG, error correction M (readable off a scratched or dim phone screen, still small).
    `scalable`: a viewBox and no fixed size, so a page can draw it as large as the screen allows."""
    code = segno.make(text, error="m", micro=False, boost_error=False)
    out = io.BytesIO()
    # Black on white with the 4-module quiet zone: the contrast scanners need, whatever the page's theme.
    code.save(out, kind="svg", scale=4, border=4, dark="#000", light="#fff", xmldecl=False, nl=False, omitsize=scalable)
    return out.getvalue()
