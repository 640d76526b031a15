"""An appointment as an iCalendar file (RFC 5545): CRLF lines folded at 75 octets, text escaped, times
in UTC, a date-only appointment all day."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from backend.healthbook.calendar import appointment_ics

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def item(**changes: Any) -> dict[str, Any]:
    return {
        "served_id": "01929-hk-1",
        "title": "Tái khám Nội tổng hợp",
        "start": "2026-12-14T08:00:00+07:00",
        "end": "2026-12-14T08:30:00+07:00",
        "where": {"code": "01929", "name": "Bệnh viện Đa khoa Minh An"},
        "department": "Khoa Nội",
        "bring": ["Mang theo sổ khám bệnh, đơn thuốc cũ; thẻ BHYT"],
        **changes,
    }


def unfolded(ics: str) -> list[str]:
    return ics.replace("\r\n ", "").split("\r\n")


def test_an_appointment_is_one_event_in_utc() -> None:
    ics = appointment_ics(item(), NOW, "so-suc-khoe.vn")
    assert ics is not None and ics.endswith("\r\n") and "\n" not in ics.replace("\r\n", "")
    lines = unfolded(ics)
    assert lines[0] == "BEGIN:VCALENDAR" and "END:VCALENDAR" in lines
    assert "UID:01929-hk-1@so-suc-khoe.vn" in lines and "DTSTAMP:20261126T080000Z" in lines
    assert "DTSTART:20261214T010000Z" in lines and "DTEND:20261214T013000Z" in lines
    assert "LOCATION:Bệnh viện Đa khoa Minh An\\, Khoa Nội" in lines
    assert "DESCRIPTION:Mang theo sổ khám bệnh\\, đơn thuốc cũ\\; thẻ BHYT" in lines


def test_long_lines_fold_at_75_octets_without_splitting_a_letter() -> None:
    ics = appointment_ics(item(title="Tái khám " * 30), NOW, "h")
    assert ics is not None
    for line in ics.split("\r\n"):
        assert len(line.encode()) <= 75
    assert "SUMMARY:" + "Tái khám " * 30 in "".join(unfolded(ics))


def test_a_date_only_appointment_is_all_day() -> None:
    ics = appointment_ics(item(start="2026-12-14", end=None), NOW, "h")
    assert ics is not None
    assert "DTSTART;VALUE=DATE:20261214" in unfolded(ics) and "DTEND;VALUE=DATE:20261215" in unfolded(ics)


def test_without_a_time_there_is_no_calendar_file() -> None:
    assert appointment_ics(item(start=None), NOW, "h") is None
    assert appointment_ics(item(start="soon"), NOW, "h") is None


def test_a_local_time_without_offset_is_vietnam_time_and_no_end_means_half_an_hour() -> None:
    ics = appointment_ics(item(start="2026-12-14T08:00:00", end=None, bring=[], department=None), NOW, "h")
    assert ics is not None
    lines = unfolded(ics)
    assert "DTSTART:20261214T010000Z" in lines and "DTEND:20261214T013000Z" in lines
    assert not any(line.startswith("DESCRIPTION") for line in lines)
    assert "LOCATION:Bệnh viện Đa khoa Minh An" in lines
