"""An appointment as an iCalendar file (RFC 5545), to add to the phone's calendar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from backend.clock import VIETNAM
from backend.healthbook.fhir_text import local_date
from backend.i18n import DEFAULT_LOCALE, translations
from backend.i18n import gettext_noop as N_  # noqa: N812 - the gettext convention

PRODID = "-//So Suc Khoe//Health book//VI"
UNTITLED = N_("Follow-up appointment")  # the event's name when the hospital gave the appointment none


def appointment_ics(item: dict[str, Any], now: datetime, host: str, locale: str = DEFAULT_LOCALE) -> str | None:
    """One VEVENT of an `appointment()` item, in the reader's language, or None when the appointment has
    no time to put in a calendar. Times go out in UTC (no time-zone table needed); a whole-day
    appointment is an all-day event."""
    when = _when(item)
    if when is None:
        return None
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:{item['served_id']}@{host}",
        f"DTSTAMP:{_utc(now)}",
        *when,
        f"SUMMARY:{_escape(item['title'] or translations(locale).gettext(UNTITLED))}",
    ]
    where = ", ".join(part for part in ((item["where"] or {}).get("name"), item["department"]) if part)
    if where:
        lines.append(f"LOCATION:{_escape(where)}")
    if item["bring"]:
        lines.append(f"DESCRIPTION:{_escape(chr(10).join(item['bring']))}")
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "".join(_fold(line) + "\r\n" for line in lines)


def _when(item: dict[str, Any]) -> list[str] | None:
    if item["whole_day"]:
        return _whole_days(item["start"], item["end"])
    begins = _parse(item["start"] or "")
    if begins is None:
        return None
    ends = _parse(item["end"] or "") or begins + timedelta(minutes=30)
    return [f"DTSTART:{_utc(begins)}", f"DTEND:{_utc(max(ends, begins))}"]


def _whole_days(start: str | None, end: str | None) -> list[str] | None:
    """An all-day event on the Vietnam days the appointment covers (00:00 to 23:59 is one day); DTEND is
    the day after the last one (RFC 5545 §3.6.1)."""
    first_day = local_date(start)
    if first_day is None:
        return None
    ends = _parse(end or "")
    last_day = (ends - timedelta(seconds=1)).astimezone(VIETNAM).date() if ends else first_day  # an end is exclusive
    return [
        f"DTSTART;VALUE=DATE:{first_day:%Y%m%d}",
        f"DTEND;VALUE=DATE:{max(first_day, last_day) + timedelta(days=1):%Y%m%d}",
    ]


def _parse(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=VIETNAM)  # FHIR local times are Vietnam's


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\r\n", "\n").replace("\n", "\\n")


def _fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after a space, never inside a character."""
    encoded, current = line.encode(), b""
    parts: list[bytes] = []
    for char in line:
        piece = char.encode()
        if len(current) + len(piece) > (75 if not parts else 74):
            parts.append(current)
            current = b""
        current += piece
    parts.append(current)
    assert b"".join(parts) == encoded
    return "\r\n ".join(part.decode() for part in parts)
