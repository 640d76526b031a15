"""The referral letters section as a pure function: which letters are valid (active, and their last day
not yet past in Vietnam), their order, and what a person reads of each, whatever a hospital left out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from backend.healthbook.sections.base import Seeing
from backend.healthbook.sections.referrals import SECTION, build, referral
from backend.records.reads import StoredRecordView
from backend.records.xml130.mapping import Episode, map_xml13
from backend.records.xml130.rows import Xml13

FACILITIES = {"01929": "Bệnh viện Đa khoa Minh An", "01002": "Bệnh viện Hữu Nghị Thủ Đô"}
# 23:59 on 25 November 2025 in Hanoi; a minute later (17:00 UTC, still the 25th there) it is the 26th.
LAST_MINUTE = datetime(2025, 11, 25, 16, 59, tzinfo=UTC)
MIDNIGHT = datetime(2025, 11, 25, 17, 0, tzinfo=UTC)
WRITTEN = datetime(2025, 11, 14, 3, 40, tzinfo=UTC)
CATEGORY = [{"coding": [{"system": "http://snomed.info/sct", "code": "3457005", "display": "Patient referral"}]}]


def letter(**changes: Any) -> dict[str, Any]:
    content: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": "01929-ct-1",
        "status": "active",
        "intent": "order",
        "category": CATEGORY,
        "code": {"text": "Chuyển tuyến khám chuyên khoa Tim mạch"},
        "requester": {"reference": "Organization/01929"},
        "performer": [{"reference": "Organization/01002", "display": "BV Hữu Nghị"}],
        "occurrencePeriod": {"start": "2025-11-14", "end": "2025-11-28"},
    }
    content.update(changes)
    return {key: value for key, value in content.items() if value is not None}


def view(
    content: dict[str, Any],
    *,
    served_id: str = "01929-ct-1",
    status: str | None = "active",
    date: datetime | None = WRITTEN,
    date_end: datetime | None = None,
    facility: str = "01929",
    signature: str = "unsigned",
) -> StoredRecordView:
    return StoredRecordView(
        served_id=served_id,
        resource_type="ServiceRequest",
        facility_code=facility,
        facility_name=FACILITIES.get(facility, "Bệnh viện khác"),
        version=1,
        updated_at=datetime(2025, 11, 14, 4, 0, tzinfo=UTC),
        signature=signature,
        date=date,
        date_end=date_end,
        status=status,
        content=content,
    )


def seeing(now: datetime = LAST_MINUTE) -> Seeing:
    return Seeing(FACILITIES, now)


def read(content: dict[str, Any], now: datetime = LAST_MINUTE, **options: Any) -> dict[str, Any]:
    return referral(view(content, **options), seeing(now))


def test_the_section_is_referral_letters_from_service_requests() -> None:
    assert SECTION.name == "referrals" and SECTION.resource_types == ("ServiceRequest",)
    assert SECTION.template == "book/referrals.html"


def test_a_letter_reads_from_the_sender_to_the_registry_name_of_its_destination() -> None:
    item = read(letter(identifier=[{"system": "urn:vn:cskcb:01929:giay-chuyen-tuyen", "value": "CT-7219/2025"}]))
    assert item["origin"] == {"code": "01929", "name": "Bệnh viện Đa khoa Minh An"}
    assert item["destination"] == {"code": "01002", "name": "Bệnh viện Hữu Nghị Thủ Đô"}  # the registry's, not display
    assert item["number"] == "CT-7219/2025" and item["title"] == "Chuyển tuyến khám chuyên khoa Tim mạch"
    assert item["valid_from"] == "2025-11-14" and item["valid_until"] == "2025-11-28"
    assert item["days_left"] == 3 and item["state"] == "valid"
    assert item["provenance"] == {
        "facility": {"code": "01929", "name": "Bệnh viện Đa khoa Minh An"},
        "received": "2025-11-14T04:00:00+00:00",
        "signature": "unsigned",
    }


def test_an_xml13_letter_shows_its_reason_diagnoses_summary_and_next_treatment() -> None:
    row = Xml13(
        where="XML13[0]",
        ma_lk="010024387541014",
        facility="01929",
        destination="01002",
        reason="2",
        number="125/2025/CT",
        record_number="HS-88",
        admitted="2025-11-10T08:00:00+07:00",
        discharged="2025-11-14T10:00:00+07:00",
        signs="Đau ngực khi gắng sức",
        diagnosis_text=["Cơn đau thắt ngực ổn định", "Tăng huyết áp"],
        main_icd="I20.8",
        other_icds=["I10"],
        course="Đau ngực 3 tháng nay",
        results="Điện tim: ST chênh xuống",
        treatment="Aspirin 81mg",
        services=None,
        drugs=None,
        next_treatment="Chụp động mạch vành",
        transport="Xe cứu thương",
        doctor="BS. Lê Văn Cường",
    )
    episode = Episode(
        "010024387541014", "01929", "001090012345", has_encounter=True, has_follow_up_letter=False, signed_on=None
    )
    item = read(map_xml13(row, episode)[0].resource)
    assert item["number"] == "125/2025/CT"  # the letter's number, not the record's (SO_HOSO)
    assert item["destination"] == {"code": "01002", "name": "Bệnh viện Hữu Nghị Thủ Đô"}
    assert item["reasons"] == ["Vượt quá khả năng chuyên môn của cơ sở"]
    assert item["diagnoses"] == [
        {"code": "I20.8", "text": "Cơn đau thắt ngực ổn định"},
        {"code": "I10", "text": "Tăng huyết áp"},
    ]
    assert item["next_treatment"] == ["Chụp động mạch vành"]
    assert {"label": "Dấu hiệu lâm sàng", "text": "Đau ngực khi gắng sức"} in item["summary"]
    assert {"label": "Tóm tắt kết quả xét nghiệm, cận lâm sàng", "text": "Điện tim: ST chênh xuống"} in item["summary"]
    assert {"label": "Bác sĩ ký giấy chuyển tuyến", "text": "BS. Lê Văn Cường"} in item["summary"]
    assert not any(note["label"] == "Hướng điều trị tiếp theo" for note in item["summary"])
    assert item["valid_from"] == "2025-11-14" and item["valid_until"] == "2025-11-28"  # 10 working days


def test_free_text_notes_and_supporting_info_stay_whole_in_the_summary() -> None:
    item = read(
        letter(
            note=[
                {"text": "Dấu hiệu lâm sàng: đau ngực. Hướng điều trị: đánh giá mạch vành."},
                {"text": "Lưu ý: nhịn ăn"},
            ],
            supportingInfo=[{"reference": "DocumentReference/01929-tl-1", "display": "Tóm tắt hồ sơ bệnh án"}, {}],
            patientInstruction="Mang theo phim chụp",
            reasonReference=[{"reference": "Condition/01929-b-1", "display": "Đau thắt ngực"}],
        )
    )
    assert item["summary"] == [
        {"label": "Dấu hiệu lâm sàng", "text": "đau ngực. Hướng điều trị: đánh giá mạch vành."},
        {"label": None, "text": "Lưu ý: nhịn ăn"},  # not a field the mapping writes: as it came
        {"label": None, "text": "Tóm tắt hồ sơ bệnh án"},
    ]
    assert item["next_treatment"] == [] and item["instructions"] == ["Mang theo phim chụp"]
    assert item["diagnoses"] == [{"code": None, "text": "Đau thắt ngực"}]


def test_a_letter_with_little_in_it_still_reads() -> None:
    item = read({"resourceType": "ServiceRequest", "category": CATEGORY}, status=None)
    assert item["origin"] == {"code": "01929", "name": "Bệnh viện Đa khoa Minh An"}  # the sender
    assert item["destination"] is None and item["number"] is None and item["title"] is None
    assert item["valid_until"] is None and item["days_left"] is None and item["state"] == "unknown"
    assert item["reasons"] == item["diagnoses"] == item["summary"] == item["next_treatment"] == []


def test_an_active_letter_without_a_period_is_not_counted_valid() -> None:
    for period in (None, {}, {"start": "2025-11-14"}, {"end": "soon"}, "2025-11-28"):
        item = read(letter(occurrencePeriod=period))
        assert item["state"] == "undated" and item["valid_until"] is None, period
    assert build([view(letter(occurrencePeriod=None))], seeing())["valid"] == []


def test_odd_shapes_are_skipped_not_fatal() -> None:
    item = read(
        letter(
            performer="Organization/01002",
            requester="01929",
            identifier=[{"value": ""}, "CT-1", {"system": "urn:other", "value": "X-9"}],
            reasonCode=[{"coding": [{"system": "urn:unknown", "code": "Z99"}]}, "reason", {}],
            note=[{"text": "  "}, {"text": 5}, "note"],
            code={"coding": [{"system": "urn:unknown", "code": "XYZ"}]},
        )
    )
    assert item["destination"] is None and item["origin"]["code"] == "01929"
    assert item["number"] == "X-9" and item["title"] == "XYZ"  # an unknown code reads as its code
    assert item["reasons"] == ["Z99"] and item["summary"] == []


def test_the_destination_is_a_place_not_a_person_and_an_unknown_code_stays_a_code() -> None:
    people_first = [
        {"reference": "Practitioner/01929-bs-1", "display": "BS. Trần Văn Bình"},
        {"display": "Khoa Tim mạch, Bệnh viện Bạch Mai"},
        {"reference": "Organization/01013", "display": "Bệnh viện Thanh Nhàn"},
    ]
    assert read(letter(performer=people_first))["destination"] == {"code": "01013", "name": "Bệnh viện Thanh Nhàn"}
    by_name = read(letter(performer=people_first[:2]))["destination"]
    assert by_name == {"code": None, "name": "Khoa Tim mạch, Bệnh viện Bạch Mai"}
    unknown = read(letter(performer=[{"reference": "Organization/99999"}]))["destination"]
    assert unknown == {"code": "99999", "name": None}
    logical = [{"type": "Organization", "identifier": {"system": "urn:vn:cskcb", "value": "01002"}}]
    assert read(letter(performer=logical))["destination"] == {"code": "01002", "name": "Bệnh viện Hữu Nghị Thủ Đô"}


def test_long_text_and_html_come_back_whole_and_unescaped_for_the_template_to_escape() -> None:
    long = "Đau ngực " * 2000
    html = '<script>alert("x")</script><b onmouseover=x>&amp;'
    item = read(
        letter(
            code={"text": html},
            reasonCode=[{"text": long}],
            note=[{"text": f"Hướng điều trị tiếp theo: {html}"}],
            performer=[{"display": html}],
        )
    )
    assert item["title"] == html and item["reasons"] == [long] and item["next_treatment"] == [html]
    assert item["destination"] == {"code": None, "name": html}


def test_a_letter_ending_today_is_valid_until_midnight_in_vietnam() -> None:
    today = letter(occurrencePeriod={"start": "2025-11-14", "end": "2025-11-25"})
    before = read(today, LAST_MINUTE)
    assert before["state"] == "valid" and before["days_left"] == 0  # "expires today"
    after = read(today, MIDNIGHT)
    assert after["state"] == "expired" and after["days_left"] == -1


def test_yesterday_today_and_tomorrow_are_vietnam_calendar_days() -> None:
    # 00:00 on 26 November in Hanoi, still 25 November in UTC.
    assert read(letter(occurrencePeriod={"end": "2025-11-25"}), MIDNIGHT)["state"] == "expired"
    assert read(letter(occurrencePeriod={"end": "2025-11-26"}), MIDNIGHT)["days_left"] == 0
    assert read(letter(occurrencePeriod={"end": "2025-11-27"}), MIDNIGHT)["days_left"] == 1
    # An end written as a moment is the Vietnam day it falls on: 17:30 UTC on the 25th is the 26th there.
    moment = read(letter(occurrencePeriod={"end": "2025-11-25T17:30:00Z"}), MIDNIGHT)
    assert moment["valid_until"] == "2025-11-26" and moment["state"] == "valid"
    last_minute = read(letter(occurrencePeriod={"end": "2025-11-25T23:59:00+07:00"}), MIDNIGHT)
    assert last_minute["state"] == "expired"


def test_a_partial_end_date_is_read_as_the_index_reads_it() -> None:
    # "2025-11" ends with November: the index stores its last instant, in Vietnam time.
    end_of_november = datetime(2025, 11, 30, 16, 59, 59, 999999, tzinfo=UTC)
    item = read(letter(occurrencePeriod={"end": "2025-11"}), date_end=end_of_november)
    assert item["valid_until"] == "2025-11-30" and item["days_left"] == 5 and item["state"] == "valid"


def test_the_number_is_the_letters_not_the_medical_records() -> None:
    record = {"system": "urn:vn:cskcb:01929:so-ho-so", "value": "HS-88"}
    assert read(letter(identifier=[record]))["number"] is None
    number = {"system": "urn:vn:cskcb:01929:giay-chuyen-tuyen", "value": "125/CT"}
    other = {"system": "urn:his:internal", "value": "9913"}
    assert read(letter(identifier=[record, other, number]))["number"] == "125/CT"


def test_only_active_letters_count_as_valid() -> None:
    for status in ("revoked", "completed", "entered-in-error", "draft", "on-hold"):
        assert read(letter(status=status), status=status)["state"] == status
    assert read(letter(status="unknown"), status="unknown")["state"] == "unknown"
    assert read(letter(status="active"), status="made-up")["state"] == "unknown"


def test_valid_letters_come_first_soonest_to_expire_then_the_rest_newest_first() -> None:
    def dated(served_id: str, end: str, *, status: str = "active", days_ago: int = 0) -> StoredRecordView:
        written = LAST_MINUTE - timedelta(days=days_ago)
        return view(
            letter(occurrencePeriod={"end": end}, status=status), served_id=served_id, status=status, date=written
        )

    views = [
        dated("late", "2025-12-20", days_ago=1),
        dated("expired-long-ago", "2025-10-01", days_ago=60),
        dated("revoked", "2025-12-01", status="revoked", days_ago=2),
        dated("soon", "2025-11-26", days_ago=10),
        dated("expired-yesterday", "2025-11-24", days_ago=5),
        dated("today", "2025-11-25", days_ago=20),
        view(letter(occurrencePeriod=None), served_id="undated", date=None),
        view(letter(category=None), served_id="a-lab-order"),
        view(letter(category=[{"coding": [{"system": "http://loinc.org", "code": "3457005"}]}]), served_id="other"),
    ]
    shown = build(views, seeing())
    assert [item["served_id"] for item in shown["valid"]] == ["today", "soon", "late"]
    assert [item["served_id"] for item in shown["others"]] == [
        "revoked",
        "expired-yesterday",
        "expired-long-ago",
        "undated",
    ]
    assert [item["state"] for item in shown["others"]] == ["revoked", "expired", "expired", "undated"]


def test_no_letter_at_all() -> None:
    assert build([], seeing()) == {"valid": [], "others": []}
