"""The index columns of a record: what the book, sharing and search filter and sort on, extracted once
at write time so that no reader opens the JSON to choose records."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from backend.clock import VIETNAM
from backend.phones import normalize_phone

PRESCRIPTION_VALIDITY_WITHOUT_SUPPLY = timedelta(days=90)  # contract §4: "90 days from authoredOn"

# Where each type keeps the date a person would sort it by, and the end of its relevance.
_DATE_PATHS: dict[str, tuple[str, ...]] = {
    "Encounter": ("period.start",),
    "Condition": ("recordedDate", "onsetDateTime", "onsetPeriod.start"),
    "AllergyIntolerance": ("recordedDate", "onsetDateTime"),
    "MedicationRequest": ("authoredOn",),
    "MedicationStatement": ("effectiveDateTime", "effectivePeriod.start", "dateAsserted"),
    "Observation": ("effectiveDateTime", "effectivePeriod.start", "effectiveInstant", "issued"),
    "DiagnosticReport": ("effectiveDateTime", "effectivePeriod.start", "issued"),
    "Appointment": ("start", "created"),
    "ServiceRequest": ("authoredOn", "occurrenceDateTime", "occurrencePeriod.start"),
    "Immunization": ("occurrenceDateTime", "recorded"),
    "Procedure": ("performedDateTime", "performedPeriod.start"),
    "DocumentReference": ("date", "context.period.start"),
    "Composition": ("date",),
    "CarePlan": ("period.start", "created"),
    "Provenance": ("recorded",),
    "List": ("date",),
}
_END_PATHS: dict[str, tuple[str, ...]] = {
    "Encounter": ("period.end",),
    "Appointment": ("end", "start"),
    "ServiceRequest": ("occurrencePeriod.end",),
    "CarePlan": ("period.end",),
}
_CODE_ELEMENTS = (
    "code",
    "medicationCodeableConcept",
    "vaccineCode",
    "category",
    "type",
    "class",
    "serviceType",
    "reasonCode",
)
_TEXT_ELEMENTS = (*_CODE_ELEMENTS, "description")


@dataclass(frozen=True)
class IndexColumns:
    status: str | None
    source_updated: datetime | None  # the sender's meta.lastUpdated: an older version never replaces a newer one
    deleted: bool
    date: datetime | None
    date_end: datetime | None
    codes: list[str]
    identifiers: list[str]
    search_text: str
    phones: list[str]  # a Patient's phone numbers, E.164: which books a phone may open


def index_columns(resource_type: str, resource: dict[str, Any]) -> IndexColumns:
    status = resource.get("status") if isinstance(resource.get("status"), str) else None
    start = _first_date(resource, _DATE_PATHS.get(resource_type, ()), end=False)
    end = _first_date(resource, _END_PATHS.get(resource_type, ()), end=True)
    if resource_type == "MedicationRequest":
        end = _prescription_end(resource, start)
    return IndexColumns(
        status=status,
        source_updated=_source_updated(resource),
        deleted=is_entered_in_error(resource),
        date=start,
        date_end=end,
        codes=sorted(_codes(resource)),
        identifiers=sorted(_identifiers(resource)),
        search_text=fold(" ".join(_texts(resource))),
        phones=sorted(_phones(resource)) if resource_type == "Patient" else [],
    )


def is_entered_in_error(resource: dict[str, Any]) -> bool:
    """`status` or `verificationStatus` says the record was a mistake: it leaves the book (history keeps it)."""
    if resource.get("status") == "entered-in-error":
        return True
    verification = resource.get("verificationStatus")
    if isinstance(verification, dict):
        return any(c.get("code") == "entered-in-error" for c in verification.get("coding") or [] if isinstance(c, dict))
    return False


def fold(text: str) -> str:
    """Lower case without diacritics, for search: `Đái tháo đường` → `dai thao duong`."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    return re.sub(r"\s+", " ", stripped).strip().lower()


def parse_fhir_date(value: str, *, end: bool = False) -> datetime | None:
    """A FHIR date, dateTime or instant as an aware datetime. Dates and partial dates are Vietnam-local
    days (`2025-10` → 1 October 00:00 +07:00, or the last instant of the month when `end`)."""
    try:
        if "T" in value:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=VIETNAM)
            return parsed.astimezone(UTC)  # raises here, not later, for year 1 at +14:00
        parts = [int(part) for part in value.split("-")]
        year, month, day = [*parts, 1, 1][:3]
        first = date(year, month, day)
        if not end:
            return datetime(first.year, first.month, first.day, tzinfo=VIETNAM).astimezone(UTC)
        if len(parts) == 1:
            following = date(year + 1, 1, 1)
        elif len(parts) == 2:
            following = date(year + (month == 12), month % 12 + 1, 1)
        else:
            following = first + timedelta(days=1)
        last = datetime(following.year, following.month, following.day, tzinfo=VIETNAM) - timedelta(microseconds=1)
        return last.astimezone(UTC)
    except (ValueError, TypeError, OverflowError):  # also years 1 and 9999, at the edges of what we can hold
        return None


def _first_date(resource: dict[str, Any], paths: tuple[str, ...], *, end: bool) -> datetime | None:
    for path in paths:
        value: Any = resource
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str) and (parsed := parse_fhir_date(value, end=end)) is not None:
            return parsed
    return None


def _shifted(moment: datetime, by: timedelta) -> datetime | None:
    try:
        return moment + by
    except OverflowError:
        return None


def _source_updated(resource: dict[str, Any]) -> datetime | None:
    meta = resource.get("meta")
    value = meta.get("lastUpdated") if isinstance(meta, dict) else None
    return parse_fhir_date(value) if isinstance(value, str) else None


def _prescription_end(resource: dict[str, Any], authored: datetime | None) -> datetime | None:
    """Until when a prescription is current (contract §4): through its supply period, counted from
    `authoredOn`, or to the end of its dispensing window when that is later (a repeat prescription);
    90 days from `authoredOn` when it gives neither."""
    supply = _supply_duration(resource)
    supply_end = _shifted(authored, supply) if authored is not None and supply is not None else None
    window_end = _first_date(resource, ("dispenseRequest.validityPeriod.end",), end=True)
    ends = [end for end in (supply_end, window_end) if end is not None]
    if ends:
        return max(ends)
    return _shifted(authored, PRESCRIPTION_VALIDITY_WITHOUT_SUPPLY) if authored is not None else None


def _supply_duration(resource: dict[str, Any]) -> timedelta | None:
    duration = (resource.get("dispenseRequest") or {}).get("expectedSupplyDuration") or {}
    value, unit = duration.get("value"), duration.get("code") or duration.get("unit")
    days_per_unit = {
        "d": 1,
        "day": 1,
        "days": 1,
        "ngày": 1,
        "wk": 7,
        "week": 7,
        "tuần": 7,
        "mo": 30,
        "tháng": 30,
    }
    if isinstance(value, int | float) and value > 0 and unit in days_per_unit:
        return timedelta(days=min(float(value) * days_per_unit[unit], 3650))
    return None


def _concepts(resource: dict[str, Any], names: tuple[str, ...]) -> list[dict[str, Any]]:
    concepts: list[dict[str, Any]] = []
    for name in names:
        value = resource.get(name)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict):
                concepts.append(item)
    return concepts


def _codes(resource: dict[str, Any]) -> set[str]:
    tokens = set()
    for concept in _concepts(resource, _CODE_ELEMENTS):
        codings = concept.get("coding") if "coding" in concept else [concept]  # `class` is a bare Coding
        for coding in codings or []:
            if isinstance(coding, dict) and isinstance(coding.get("code"), str):
                tokens.add(f"{coding.get('system') or ''}|{coding['code']}")
    return tokens


def _identifiers(resource: dict[str, Any]) -> set[str]:
    """`system|value` and the bare `value` (people type a prescription code without its system)."""
    tokens = set()
    candidates = list(resource.get("identifier") or []) if isinstance(resource.get("identifier"), list) else []
    if isinstance(resource.get("identifier"), dict):
        candidates.append(resource["identifier"])
    if isinstance(resource.get("groupIdentifier"), dict):
        candidates.append(resource["groupIdentifier"])
    for identifier in candidates:
        if isinstance(identifier, dict) and isinstance(identifier.get("value"), str):
            tokens.add(f"{identifier.get('system') or ''}|{identifier['value']}")
            tokens.add(identifier["value"])
    return tokens


def _phones(resource: dict[str, Any]) -> set[str]:
    values = [
        contact["value"]
        for contact in resource.get("telecom") or []
        if isinstance(contact, dict)
        and contact.get("system") in ("phone", "sms")
        and isinstance(contact.get("value"), str)
    ]
    return {phone for value in values if (phone := normalize_phone(value)) is not None}


def _texts(resource: dict[str, Any]) -> list[str]:
    texts: list[str] = []
    for concept in _concepts(resource, _TEXT_ELEMENTS):
        if isinstance(concept.get("text"), str):
            texts.append(concept["text"])
        for coding in concept.get("coding") or []:
            if isinstance(coding, dict) and isinstance(coding.get("display"), str):
                texts.append(coding["display"])
            if isinstance(coding, dict) and isinstance(coding.get("code"), str):
                texts.append(coding["code"])
    if isinstance(resource.get("description"), str):
        texts.append(resource["description"])
    # Numbers people read off paper: a prescription code, a referral or appointment letter number.
    texts.extend(sorted({token.split("|")[-1] for token in _identifiers(resource)}))
    return texts
