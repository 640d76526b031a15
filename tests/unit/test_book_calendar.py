"""An appointment as an iCalendar file (RFC 5545): CRLF lines folded at 75 octets, text escaped, times
in UTC, a whole-day appointment (a bare date, or QĐ130's NGAY_TAI_KHAM stored as 00:00 to 23:59) all day,
named in the reader's language when the hospital gave it no name."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from backend.healthbook.calendar import appointment_ics
from backend.healthbook.sections.appointments import appointment
from backend.healthbook.sections.base import Seeing
from tests.unit.test_section_appointments import FACILITIES, follow_up_from_xml1

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def item(**changes: Any) -> dict[str, Any]:
    return {
        "served_id": "01929-hk-1",
        "title": "Tái khám Nội tổng hợp",
        "start": "2026-12-14T08:00:00+07:00",
        "end": "2026-12-14T08:30:00+07:00",
        "whole_day": False,
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
    ics = appointment_ics(item(start="2026-12-14", end=None, whole_day=True), NOW, "h")
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


def test_a_qd130_follow_up_day_is_an_all_day_event_not_24_hours_from_midnight() -> None:
    follow_up = appointment(follow_up_from_xml1("2026-12-14"), Seeing(FACILITIES, NOW))
    ics = appointment_ics(follow_up, NOW, "h")
    assert ics is not None
    lines = unfolded(ics)
    assert "DTSTART;VALUE=DATE:20261214" in lines and "DTEND;VALUE=DATE:20261215" in lines  # DTEND: the next day
    assert not any(line.startswith(("DTSTART:", "DTEND:")) for line in lines)


def test_a_whole_day_appointment_over_several_days_ends_the_day_after_its_last() -> None:
    days = item(start="2026-12-14T00:00:00+07:00", end="2026-12-16T00:00:00+07:00", whole_day=True)
    lines = unfolded(appointment_ics(days, NOW, "h") or "")
    assert "DTSTART;VALUE=DATE:20261214" in lines and "DTEND;VALUE=DATE:20261216" in lines
    odd_end = item(start="2026-12-14T00:00:00+07:00", end="not a time", whole_day=True)
    assert "DTEND;VALUE=DATE:20261215" in unfolded(appointment_ics(odd_end, NOW, "h") or "")
    assert appointment_ics(item(start="not a day", whole_day=True), NOW, "h") is None


def test_an_untitled_appointment_is_named_in_the_readers_language() -> None:
    assert "SUMMARY:Hẹn khám lại" in unfolded(appointment_ics(item(title=None), NOW, "h") or "")
    assert "SUMMARY:Hẹn khám lại" in unfolded(appointment_ics(item(title=None), NOW, "h", "vi") or "")
    english = unfolded(appointment_ics(item(title=None), NOW, "h", "en") or "")
    assert "SUMMARY:Follow-up appointment" in english
    assert "SUMMARY:Tái khám Nội tổng hợp" in unfolded(appointment_ics(item(), NOW, "h", "en") or "")
