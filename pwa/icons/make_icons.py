"""Generate the Sổ Sức Khỏe app icons (PNG + SVG favicon).

The mark is a white health book (a notebook with a binding strip and a
medical cross on its cover) on a calm teal background.  All geometry is
defined once, on a 512×512 design grid, and used both for the raster icons
(drawn with Pillow at 4× and downsampled for anti-aliasing) and for the SVG.

How to run (Pillow is only needed to regenerate; the outputs are committed):

    python3 -m venv /tmp/iconvenv
    /tmp/iconvenv/bin/pip install Pillow
    /tmp/iconvenv/bin/python pwa/icons/make_icons.py

It overwrites, in the directory of this script:
    icon-192.png, icon-512.png    purpose "any" (rounded square, transparent corners)
    maskable-512.png              purpose "maskable" (full-bleed, mark in the 80% safe zone)
    apple-touch-icon.png          180×180, opaque full-bleed (iOS rounds it itself)
    favicon.svg                   the same mark as a small SVG
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parent

TEAL = "#0b7a75"  # keep in sync with theme_color in pwa/manifest.webmanifest
WHITE = "#ffffff"

GRID = 512  # design grid
BG_RADIUS = 112  # corner radius of the rounded-square background ("any" icons)

# The book, on the design grid, centred on (256, 256).
BOOK = (144, 102, 368, 410)  # x0, y0, x1, y1 of the white cover
BOOK_RADIUS = 30
SPINE_X = (184, 200)  # teal groove that separates the binding from the cover
CROSS_C = (284, 256)  # centre of the cross on the cover
CROSS_ARM = 124  # full length of each bar
CROSS_BAR = 40  # thickness of each bar
CROSS_RADIUS = 6


def _cross_rects() -> list[tuple[float, float, float, float]]:
    cx, cy = CROSS_C
    h, t = CROSS_ARM / 2, CROSS_BAR / 2
    return [(cx - t, cy - h, cx + t, cy + h), (cx - h, cy - t, cx + h, cy + t)]


def _draw_mark(draw: ImageDraw.ImageDraw, scale: float, offset: float) -> None:
    """Draw the mark; design coordinate v maps to v*scale + offset pixels."""

    def tr(box):
        return tuple(v * scale + offset for v in box)

    draw.rounded_rectangle(tr(BOOK), radius=BOOK_RADIUS * scale, fill=WHITE)
    x0, x1 = SPINE_X
    draw.rectangle(tr((x0, BOOK[1] - 1, x1, BOOK[3] + 1)), fill=TEAL)
    for rect in _cross_rects():
        draw.rounded_rectangle(tr(rect), radius=CROSS_RADIUS * scale, fill=TEAL)


def render(size: int, *, full_bleed: bool, mark_scale: float = 1.0) -> Image.Image:
    """Render one icon.

    full_bleed: background fills the whole square (maskable / apple-touch);
    otherwise a rounded square with transparent corners.
    mark_scale: shrink the mark around the centre (for the maskable safe zone).
    """
    ss = 4  # supersampling factor
    big = size * ss
    img = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    k = big / GRID
    if full_bleed:
        draw.rectangle((0, 0, big, big), fill=TEAL)
    else:
        draw.rounded_rectangle((0, 0, big - 1, big - 1), radius=BG_RADIUS * k, fill=TEAL)
    scale = k * mark_scale
    offset = (big - GRID * scale) / 2
    _draw_mark(draw, scale, offset)
    img = img.resize((size, size), Image.Resampling.LANCZOS)
    if full_bleed:
        img = img.convert("RGB")
    return img


def _hex(c: str) -> tuple[int, int, int]:
    return tuple(int(c[i : i + 2], 16) for i in (1, 3, 5))


LEVELS = 64  # palette entries per ramp


def save_png(img: Image.Image, name: str) -> None:
    """Save as an exact two-colour palette PNG (small, and the flat colours stay exact).

    Every pixel is either a teal-to-white blend (the mark's anti-aliased
    edges) or teal with partial alpha (the background's rounded corners), so
    a palette of two ramps reproduces the image without colour drift.
    """
    teal, white = _hex(TEAL), _hex(WHITE)
    span = sum((w - t) ** 2 for t, w in zip(teal, white, strict=True))
    n = LEVELS - 1
    palette: list[int] = []
    alpha: list[int] = []
    for i in range(LEVELS):  # ramp 1: teal with alpha i/n (index 0 = fully transparent)
        palette += teal
        alpha.append(round(255 * i / n))
    for i in range(LEVELS):  # ramp 2: opaque teal -> white
        palette += [round(t + (w - t) * i / n) for t, w in zip(teal, white, strict=True)]
        alpha.append(255)
    rgba = img.convert("RGBA")
    idx = []
    pixels = getattr(rgba, "get_flattened_data", rgba.getdata)()  # Pillow >= 13 : older
    for r, g, b, a in pixels:
        if a < 255:
            idx.append(round(a / 255 * n))
        else:
            f = sum((c - t) * (w - t) for c, t, w in zip((r, g, b), teal, white, strict=True)) / span
            idx.append(LEVELS + round(min(max(f, 0.0), 1.0) * n))
    out = Image.new("P", rgba.size)
    out.putpalette(palette)
    out.putdata(idx)
    if img.mode == "RGBA":
        out.save(OUT / name, format="PNG", optimize=True, transparency=bytes(alpha))
    else:  # opaque: ramp 1 is never used, write no tRNS chunk
        out.save(OUT / name, format="PNG", optimize=True)


def svg() -> str:
    x0, y0, x1, y1 = BOOK
    sx0, sx1 = SPINE_X
    cross = "".join(
        f'<rect x="{a:g}" y="{b:g}" width="{c - a:g}" height="{d - b:g}" rx="{CROSS_RADIUS}"/>'
        for a, b, c, d in _cross_rects()
    )
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 512 512">'
        f'<rect width="512" height="512" rx="{BG_RADIUS}" fill="{TEAL}"/>'
        f'<rect x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}" rx="{BOOK_RADIUS}" fill="{WHITE}"/>'
        f'<g fill="{TEAL}"><rect x="{sx0}" y="{y0 - 1}" width="{sx1 - sx0}" height="{y1 - y0 + 2}"/>'
        f"{cross}</g></svg>\n"
    )


def main() -> None:
    save_png(render(192, full_bleed=False), "icon-192.png")
    save_png(render(512, full_bleed=False), "icon-512.png")
    # Maskable: the safe zone is a circle of radius 0.4*size around the centre.
    # The book's half-diagonal on the grid is ~190 px (0.37); 0.85 brings it
    # to ~0.30 of the size (measured), well inside even the tightest platform masks.
    save_png(render(512, full_bleed=True, mark_scale=0.85), "maskable-512.png")
    save_png(render(180, full_bleed=True), "apple-touch-icon.png")
    (OUT / "favicon.svg").write_text(svg(), encoding="utf-8")


if __name__ == "__main__":
    main()
