"""A small line chart of one test over time, as numbers for an inline SVG (the template draws it; no
JavaScript). Every coordinate is a number formatted here, so nothing a hospital wrote can reach the
drawing. Time runs left to right in proportion; the reference range is a shaded band."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

WIDTH, HEIGHT, MARGIN = 280, 72, 6


@dataclass(frozen=True)
class Dot:
    x: str
    y: str
    r: str


@dataclass(frozen=True)
class Sparkline:
    width: int
    height: int
    line: str  # a polyline's `points`, oldest first
    dots: tuple[Dot, ...]
    band: tuple[str, str] | None  # the reference range: its top `y` and its `height`


def sparkline(
    points: Sequence[tuple[datetime, float]], low: float | None = None, high: float | None = None
) -> Sparkline | None:
    """The chart of at least two finite values; `low` and `high` bound the shaded band (either may be
    missing: the band then runs to the chart's edge)."""
    kept = sorted(
        ((when, value) for when, value in points if math.isfinite(value)), key=lambda point: point[0].timestamp()
    )
    if len(kept) < 2:
        return None
    low = low if low is not None and math.isfinite(low) else None
    high = high if high is not None and math.isfinite(high) else None
    if low is not None and high is not None and low > high:  # a range the wrong way round: no band
        low = high = None
    bounds = [bound for bound in (low, high) if bound is not None]
    # Scaled into [-1, 1] first, so that no difference of two huge numbers overflows to infinity.
    scale = max(1.0, *(abs(value) for _, value in kept), *(abs(bound) for bound in bounds))
    values = [value / scale for _, value in kept]
    scaled_bounds = [bound / scale for bound in bounds]
    bottom, top = min(values + scaled_bounds), max(values + scaled_bounds)
    if top == bottom:  # all equal: a flat line across the middle
        bottom, top = bottom - 1, top + 1

    def y(value: float) -> float:
        return MARGIN + (1 - (value - bottom) / (top - bottom)) * (HEIGHT - 2 * MARGIN)

    times = [when.timestamp() for when, _ in kept]
    span = times[-1] - times[0]
    steps = [(t - times[0]) / span for t in times] if span > 0 else [n / (len(kept) - 1) for n in range(len(kept))]
    xs = [MARGIN + step * (WIDTH - 2 * MARGIN) for step in steps]
    ys = [y(value) for value in values]
    band = None
    if bounds:
        band_top = y(high / scale) if high is not None else y(top)
        band_bottom = y(low / scale) if low is not None else y(bottom)
        band = (_f(band_top), _f(max(0.0, band_bottom - band_top)))
    last = len(kept) - 1
    return Sparkline(
        width=WIDTH,
        height=HEIGHT,
        line=" ".join(f"{_f(x)},{_f(y_)}" for x, y_ in zip(xs, ys, strict=True)),
        dots=tuple(
            Dot(_f(x), _f(y_), "4" if n == last else "2.5") for n, (x, y_) in enumerate(zip(xs, ys, strict=True))
        ),
        band=band,
    )


def _f(coordinate: float) -> str:
    return f"{coordinate:.1f}"
