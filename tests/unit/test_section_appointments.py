"""The appointments section as a pure function and as its page: which appointments are still ahead (a
whole-day follow-up from QĐ130's NGAY_TAI_KHAM until its day is over), what a person reads of each (the
day alone for a whole-day one), whatever a hospital left out or put in its text."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from backend.healthbook.sections.appointments import SECTION, appointment, build
from backend.healthbook.sections.base import Seeing
from backend.records.reads import Narrowing, StoredRecordView
from backend.records.xml130.mapping import Episode, map_xml1
from backend.records.xml130.rows import Xml1
from tests.unit.test_overview import appointment_view, main_of, render_page

FACILITIES = {"01929": "Bệnh viện Đa khoa Minh An"}
# 3 November 2025 in Hanoi: its last minute, and the first of the 4th.
LAST_MINUTE = datetime(2025, 11, 3, 16, 58, tzinfo=UTC)
NEXT_DAY = datetime(2025, 11, 3, 17, 0, tzinfo=UTC)
HOSTILE = "<script>alert(1)</script>"


def follow_up_from_xml1(day: str = "2025-11-03") -> StoredRecordView:
    """The Appointment the QĐ130 intake makes of NGAY_TAI_KHAM, stored with its dates."""
    row = Xml1(
        where="XML1[0]",
        ma_lk="010024387541014",
        cccd="001090012345",
        facility="01929",
        name="Nguyễn Văn An",
        birth_date=None,
        gender=None,
        blood_group=None,
        address=None,
        phone=None,
        insurance_cards=[],
        admitted="2025-10-03T08:00:00+07:00",
        discharged="2025-10-03T11:00:00+07:00",
        reason=None,
        diagnosis_text=[],
        main_icd=None,
        other_icds=[],
        visit_kind=None,
        department=None,
        outcome=None,
        discharge_kind=None,
        advice=None,
        follow_ups=[day],
    )
    episode = Episode(row.ma_lk, "01929", row.cccd, has_encounter=True, has_follow_up_letter=False, signed_on=None)
    (content,) = [m.resource for m in map_xml1(row, episode) if m.resource["resourceType"] == "Appointment"]
    fields = {key: value for key, value in content.items() if key not in ("resourceType", "id")}
    return appointment_view(content["id"], **fields)


def upcoming_and_past(views: list[StoredRecordView], now: datetime) -> tuple[list[str], list[str]]:
    built = build(views, Seeing(FACILITIES, now))
    return [item["id"] for item in built["upcoming"]], [item["id"] for item in built["past"]]


def section_page(views: list[StoredRecordView], now: datetime = LAST_MINUTE, lang: str = "vi") -> str:
    context = {
        "section": SECTION,
        "narrowing": Narrowing(),
        "narrowing_days": {"since": "", "until": ""},
        "senders": [],
        **build(views, Seeing(FACILITIES, now)),
    }
    return main_of(render_page(SECTION.template, lang, **context))


def test_the_section_is_appointments() -> None:
    assert SECTION.name == "appointments" and SECTION.resource_types == ("Appointment",)
    assert build([], Seeing(FACILITIES, LAST_MINUTE)) == {"upcoming": [], "past": []}


def test_a_follow_up_day_from_qd130_is_a_whole_day_shown_without_a_time() -> None:
    item = appointment(follow_up_from_xml1(), Seeing(FACILITIES, LAST_MINUTE))
    assert item["whole_day"] is True and item["when"] == "2025-11-03"
    assert item["where"] == {"code": "01929", "name": "Bệnh viện Đa khoa Minh An"}
    page = section_page([follow_up_from_xml1()])
    assert "03/11/2025" in page and "00:00" not in page and "23:59" not in page


def test_a_whole_day_follow_up_is_upcoming_until_its_day_is_over() -> None:
    follow_up = follow_up_from_xml1()
    timed = appointment_view("01929-hk-2", start="2025-11-03T08:00:00+07:00", end="2025-11-03T08:30:00+07:00")
    assert upcoming_and_past([follow_up, timed], LAST_MINUTE) == ([follow_up.reference], [timed.reference])
    assert upcoming_and_past([follow_up, timed], NEXT_DAY) == ([], [follow_up.reference, timed.reference])
    assert "/book/calendar/" in section_page([follow_up], LAST_MINUTE)
    assert "/book/calendar/" not in section_page([follow_up], NEXT_DAY)


def test_a_timed_appointment_shows_its_time_and_soonest_comes_first() -> None:
    later = appointment_view("01929-hk-3", start="2025-12-01T14:00:00+07:00")
    sooner = appointment_view("01929-hk-2", start="2025-11-20T08:30:00+07:00", end="2025-11-20T09:00:00+07:00")
    assert upcoming_and_past([later, sooner], LAST_MINUTE) == ([sooner.reference, later.reference], [])
    item = appointment(sooner, Seeing(FACILITIES, LAST_MINUTE))
    assert item["whole_day"] is False and item["when"] == "2025-11-20T08:30:00+07:00"
    assert "20/11/2025 08:30" in section_page([sooner])


def test_a_timed_stay_of_a_day_or_more_keeps_its_time_and_is_past_once_begun() -> None:
    """Only a span from midnight in Vietnam is a date without a time: an admission from 08:00 is not."""
    admission = appointment_view("01929-hk-4", start="2025-11-03T08:00:00+07:00", end="2025-11-05T08:00:00+07:00")
    item = appointment(admission, Seeing(FACILITIES, LAST_MINUTE))
    assert item["whole_day"] is False and item["when"] == "2025-11-03T08:00:00+07:00"
    assert upcoming_and_past([admission], LAST_MINUTE) == ([], [admission.reference])  # begun at 08:00


def test_a_called_off_appointment_is_past_and_struck_through_even_ahead() -> None:
    cancelled = appointment_view(start="2025-12-01T08:00:00+07:00")._replace(status="cancelled")
    assert upcoming_and_past([cancelled], LAST_MINUTE) == ([], [cancelled.reference])
    page = section_page([cancelled])
    assert "called-off" in page and "Đã hủy" in page and "/book/calendar/" not in page


def test_nothing_sent_but_the_sender_still_reads_as_a_follow_up_without_a_date() -> None:
    bare = appointment_view()
    item = appointment(bare, Seeing(FACILITIES, LAST_MINUTE))
    assert item["title"] is None and item["when"] is None and item["whole_day"] is False
    assert item["where"] == {"code": "01929", "name": "Bệnh viện 01929"} and item["department"] is None
    assert item["bring"] == [] and item["number"] is None and item["provenance"]["signature"] == "unsigned"
    page = section_page([bare])
    assert "Hẹn khám lại" in page and "Chưa có ngày" in page and "/book/calendar/" not in page
    english = section_page([bare], lang="en")
    assert "Follow-up appointment" in english and "Date not given" in english and "Hẹn khám lại" not in english


def test_odd_json_and_unknown_codes_do_not_break_an_appointment() -> None:
    odd: dict[str, Any] = {
        "start": 20251103,
        "end": ["x"],
        "participant": [1, {"actor": "x"}, {"actor": {"reference": "Location/1", "display": "Phòng 12"}}],
        "serviceType": [{"coding": [{"system": "urn:unknown", "code": "TK-99"}]}],
        "identifier": [{"value": "GH-1"}, "x"],
        "note": "x",
        "description": 5,
    }
    item = appointment(appointment_view(**{k: v for k, v in odd.items() if k != "start"}), Seeing(FACILITIES, NEXT_DAY))
    assert item["title"] == "TK-99" and item["department"] == "Phòng 12" and item["number"] == "GH-1"
    assert item["end"] is None and item["bring"] == []
    assert section_page([appointment_view(specialty="x", participant={"actor": 1})])


def test_html_is_escaped_and_long_text_is_kept_whole_in_the_section() -> None:
    long_text = "Nhịn ăn sáng trước khi lấy máu. " * 200
    hostile = appointment_view(
        start="2025-11-20T08:30:00+07:00",
        serviceType=[{"text": HOSTILE}],
        specialty=[{"text": HOSTILE}],
        description=long_text,
        comment=HOSTILE,
        identifier=[{"value": HOSTILE}],
    )
    item = appointment(hostile, Seeing(FACILITIES, LAST_MINUTE))
    assert item["title"] == HOSTILE and item["bring"] == [long_text, HOSTILE]  # as sent: the template escapes
    page = section_page([hostile])
    assert "<script>" not in page and page.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 4
    assert long_text.strip() in page
