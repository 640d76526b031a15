"""One result value as a person reads it: the value and its unit, the reference range, and a flag (the
hospital's interpretation, else worked out from the range). Hospitals send numbers as numbers, as text
("Âm tính") or not at all, and ranges with or without units; nothing here may fail on any of it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from backend.healthbook.fhir_text import concept_text, first, items
from backend.i18n import gettext_noop as N_  # noqa: N812 - the gettext convention

# Observation.interpretation (FHIR R4 binding: v3 ObservationInterpretation, formerly v2 table 0078).
INTERPRETATION_SYSTEMS = frozenset(
    {
        None,
        "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
        "http://terminology.hl7.org/CodeSystem/v2-0078",
        "http://hl7.org/fhir/v2/0078",
    }
)
HOSPITAL_FLAGS = {
    "H": "high",
    "HU": "high",  # significantly high
    "HH": "critical_high",
    "L": "low",
    "LU": "low",
    "LL": "critical_low",
    "A": "abnormal",
    "AA": "critical",
    "N": "normal",
}
# Shown beside the flag's words (never instead of them, never colour alone); hidden from screen readers.
MARKERS = {
    "high": "▲",
    "above": "▲",
    "critical_high": "▲▲",
    "low": "▼",
    "below": "▼",
    "critical_low": "▼▼",
    "abnormal": "!",
    "critical": "!!",
    "normal": "",
    "within": "",
}
QUIET = frozenset({"normal", "within"})
# The words of each flag (translated where shown).
FLAG_WORDS = {
    "high": N_("High"),
    "low": N_("Low"),
    "critical_high": N_("Very high"),
    "critical_low": N_("Very low"),
    "abnormal": N_("Abnormal"),
    "critical": N_("Critically abnormal"),
    "normal": N_("Normal"),
    "above": N_("Above range"),
    "below": N_("Below range"),
    "within": N_("In range"),
}


@dataclass(frozen=True)
class Reading:
    """What a value says: `text` as shown (`< 0.5 mmol/L`, `Âm tính`); `number` only when it is a plain,
    exact number (a `<` or `>` comparator makes it a bound, not a point to plot)."""

    text: str | None
    number: float | None
    unit: str | None


@dataclass(frozen=True)
class Range:
    low: float | None
    high: float | None
    text: str | None  # as shown


def number(value: Any) -> float | None:
    """A finite JSON number as a float (booleans are not numbers, and some ints are too big for one)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        converted = float(value)
    except OverflowError:
        return None
    return converted if math.isfinite(converted) else None


def number_text(value: float) -> str:
    """A number written plainly: `7.2`, `148`, `-3`, `1.5e+20`."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    text = repr(value)
    return f"{value:.6g}" if "e" in text else text


def unit_key(unit: str | None) -> str:
    """Units compared as hospitals write them: `mmol/L` and `mmol/l` are one unit."""
    return "".join((unit or "").split()).casefold()


def _unit(quantity: dict[str, Any]) -> str | None:
    for name in ("unit", "code"):
        if isinstance(quantity.get(name), str) and quantity[name].strip():
            return str(quantity[name]).strip()
    return None


def _joined(*parts: str | None) -> str | None:
    return " ".join(part for part in parts if part) or None


def reading(holder: dict[str, Any]) -> Reading | None:
    """The value[x] of an Observation or of one of its components; None when there is none."""
    quantity = holder.get("valueQuantity")
    if isinstance(quantity, dict):
        unit = _unit(quantity)
        raw, amount = quantity.get("value"), number(quantity.get("value"))
        comparator = quantity.get("comparator") if quantity.get("comparator") in ("<", "<=", ">=", ">") else None
        shown: str | None
        if amount is not None:
            shown = str(raw) if isinstance(raw, int) and len(str(raw)) <= 15 else number_text(amount)
        else:
            shown = str(raw).strip() if isinstance(raw, str) and raw.strip() else None  # "7,2" sent as text
        if shown is None:
            return None
        return Reading(_joined(comparator, shown, unit), None if comparator else amount, unit)
    integer = number(holder.get("valueInteger"))
    if integer is not None:
        return Reading(number_text(integer), integer, None)
    text = holder.get("valueString")
    if isinstance(text, str) and text.strip():
        return Reading(text.strip(), None, None)
    concept = concept_text(holder.get("valueCodeableConcept"))
    return Reading(concept, None, None) if concept else None


def absent_reason(holder: dict[str, Any]) -> str | None:
    """Why there is no value, in the hospital's words (`dataAbsentReason`)."""
    return concept_text(holder.get("dataAbsentReason"))


def reference_range(holder: dict[str, Any], unit: str | None) -> Range | None:
    """The first reference range: its own text if the hospital wrote one, else its bounds. Bounds in a
    unit other than the value's are shown but never compared with it (a range without a unit, or a
    value without one, is taken to be in the same unit)."""
    found = first(items(holder.get("referenceRange")))
    if found is None:
        return None
    low_quantity = found.get("low") if isinstance(found.get("low"), dict) else {}
    high_quantity = found.get("high") if isinstance(found.get("high"), dict) else {}
    low, high = number(low_quantity.get("value")), number(high_quantity.get("value"))
    range_unit = _unit(high_quantity) or _unit(low_quantity)
    text: str | None = found["text"].strip() if isinstance(found.get("text"), str) else None
    if not text:
        shown_unit = range_unit or unit
        if low is not None and high is not None:
            text = _joined(f"{number_text(low)}–{number_text(high)}", shown_unit)
        elif high is not None:
            text = _joined(f"≤ {number_text(high)}", shown_unit)
        elif low is not None:
            text = _joined(f"≥ {number_text(low)}", shown_unit)
    if range_unit is not None and unit is not None and unit_key(range_unit) != unit_key(unit):
        low = high = None
    if low is not None and high is not None and low > high:
        low = high = None
    if not text and low is None and high is None:
        return None
    return Range(low, high, text or None)


def flag(holder: dict[str, Any], value: Reading | None, bounds: Range | None) -> dict[str, Any] | None:
    """The hospital's interpretation (H, L, HH, LL, A, AA, N), else the value against the range."""
    for concept in items(holder.get("interpretation")):
        for coding in items(concept.get("coding")):
            code = HOSPITAL_FLAGS.get(str(coding.get("code") or "").upper())
            if code is not None and coding.get("system") in INTERPRETATION_SYSTEMS:
                return _flag(code, computed=False)
    if value is None or value.number is None or bounds is None or (bounds.low is None and bounds.high is None):
        return None
    if bounds.high is not None and value.number > bounds.high:
        return _flag("above", computed=True)
    if bounds.low is not None and value.number < bounds.low:
        return _flag("below", computed=True)
    return _flag("within", computed=True)


def _flag(code: str, *, computed: bool) -> dict[str, Any]:
    return {
        "code": code,
        "words": FLAG_WORDS[code],
        "marker": MARKERS[code],
        "alert": code not in QUIET,
        "computed": computed,
    }
