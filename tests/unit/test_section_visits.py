"""The visits section's build(): Encounters as cards with their Conditions, CarePlans and outcome, from
whatever a hospital sent (fields missing, unknown codes, references to nothing, odd JSON types, long
text and markup, which the template escapes)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from backend.healthbook.sections import SECTIONS, Seeing
from backend.healthbook.sections.visits import SECTION, build
from backend.records.reads import StoredRecordView

NOW = datetime(2025, 10, 13, 2, 0, tzinfo=UTC)
SEEING = Seeing({"01929": "Bệnh viện Đa khoa Minh An"}, NOW)
ICD10 = "http://hl7.org/fhir/sid/icd-10"


def view(
    resource_type: str,
    served_id: str,
    content: dict[str, Any],
    *,
    date: datetime | None = None,
    status: str | None = None,
    signature: str = "unsigned",
    facility: str = "01929",
) -> StoredRecordView:
    return StoredRecordView(
        served_id=served_id,
        resource_type=resource_type,
        facility_code=facility,
        facility_name=f"Bệnh viện {facility}",
        version=1,
        updated_at=NOW,
        signature=signature,
        date=date,
        date_end=None,
        status=status,
        content={"resourceType": resource_type, "id": served_id, **content},
    )


def condition(served_id: str, code: str | None = None, name: str | None = None, **more: Any) -> StoredRecordView:
    coding = {"system": ICD10, **({"code": code} if code else {}), **({"display": name} if name else {})}
    return view("Condition", served_id, {"code": {"coding": [coding]}, **more})


def encounter(served_id: str = "01929-kb-1", /, **content: Any) -> StoredRecordView:
    start = content.get("period", {}).get("start") if isinstance(content.get("period"), dict) else None
    date = datetime.fromisoformat(start) if isinstance(start, str) and "T" in start else None
    return view("Encounter", served_id, content, date=date, status=content.get("status"))


def cards(built: dict[str, Any]) -> list[dict[str, Any]]:
    return [card for year in built["years"] for card in year["visits"]]


def test_the_section_reads_visits_with_their_conditions_and_advice() -> None:
    assert SECTIONS["visits"] is SECTION
    assert set(SECTION.resource_types) >= {"Encounter", "Condition", "CarePlan"}
    assert SECTION.template == "book/visits.html"


def test_nothing_is_an_empty_book() -> None:
    assert build([], SEEING) == {"years": [], "other_diagnoses": [], "other_advice": [], "immunizations": []}


def test_an_encounter_with_nothing_in_it_is_still_a_card() -> None:
    (card,) = cards(build([view("Encounter", "01929-kb-0", {})], SEEING))
    assert card["start"] is None and card["end"] is None and card["same_days"] is None
    assert card["department"] is None and card["department_code"] is None
    assert card["kind"] is None and card["kind_text"] is None
    assert card["diagnoses"] == [] and card["advice"] == [] and card["reasons"] == []
    assert card["where"] == {"code": "01929", "name": "Bệnh viện 01929"}  # the sender, when no serviceProvider
    assert card["provenance"]["facility"]["code"] == "01929"


def test_odd_json_types_are_skipped_not_fatal() -> None:
    odd = encounter(
        period="yesterday",
        diagnosis={"condition": "Condition/x"},
        reasonCode="đau bụng",
        type=[None, "K01", {"coding": "x"}],
        extension=[1, {"url": "urn:vn:moh:ket-qua-dieu-tri"}],
        hospitalization=["x"],
        location=[{"location": "Phòng 3"}],
    )
    (card,) = cards(
        build([odd, condition("01929-cd-x", encounter=["x"]), view("CarePlan", "01929-cp", {"note": "x"})], SEEING)
    )
    assert card["start"] is None and card["diagnoses"] == [] and card["reasons"] == [] and card["outcome"] is None
    assert card["department"] is None and card["discharge"] is None


def test_an_outpatient_visit_in_full() -> None:
    visit = encounter(
        status="finished",
        **{"class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}},
        period={"start": "2025-10-02T08:10:00+07:00", "end": "2025-10-02T10:45:00+07:00"},
        serviceProvider={"reference": "Organization/01929", "display": "BV cũ"},
        type=[{"coding": [{"system": "urn:vn:moh:ma-khoa", "code": "K03"}]}],
        reasonCode=[{"text": "Đau ngực khi gắng sức"}, {"coding": [{"code": "R07.4"}]}],
        extension=[{"url": "urn:vn:moh:ket-qua-dieu-tri", "valueCodeableConcept": {"text": "Đỡ"}}],
        hospitalization={"dischargeDisposition": {"coding": [{"code": "1", "display": "Ra viện"}]}},
    )
    (card,) = cards(build([visit], SEEING))
    assert card["start"] == "2025-10-02T08:10:00+07:00"
    assert card["end"] is None  # the same day: not a stay
    assert card["where"] == {"code": "01929", "name": "Bệnh viện Đa khoa Minh An"}  # the registry's name
    assert (card["department"], card["department_code"]) == (None, "K03")  # a bare MA_KHOA: no table of them
    assert card["kind"] == "Outpatient visit" and card["kind_text"] is None
    assert card["reasons"] == ["Đau ngực khi gắng sức", "R07.4"]
    assert (card["outcome"], card["discharge"]) == ("Đỡ", "Ra viện")
    assert card["status"] is None
    assert card["same_days"] == "facility=01929&since=2025-10-02&until=2025-10-02"


def test_a_stay_shows_its_end_and_its_days() -> None:
    stay = encounter(
        status="in-progress",
        **{"class": {"code": "IMP"}},
        period={"start": "2025-10-02T23:30:00+07:00", "end": "2025-10-05T00:10:00+07:00"},
        type=[{"text": "Khoa Tim mạch", "coding": [{"system": "urn:vn:moh:ma-khoa", "code": "K03"}]}],
    )
    (card,) = cards(build([stay], SEEING))
    assert card["end"] == "2025-10-05T00:10:00+07:00" and card["kind"] == "Inpatient stay"
    assert card["department"] == "Khoa Tim mạch" and card["status"] == "ongoing"
    assert card["same_days"] == "facility=01929&since=2025-10-02&until=2025-10-05"


def test_an_unknown_visit_class_shows_the_senders_words() -> None:
    (card,) = cards(build([encounter(**{"class": {"code": "XYZ", "display": "Khám sức khỏe lái xe"}})], SEEING))
    assert card["kind"] is None and card["kind_text"] == "Khám sức khỏe lái xe"
    (card,) = cards(build([encounter(**{"class": {"code": "XYZ"}}, status="cancelled")], SEEING))
    assert card["kind"] is None and card["kind_text"] is None and card["status"] == "cancelled"


def test_department_falls_back_to_the_location() -> None:
    (card,) = cards(build([encounter(location=[{"location": {"display": "Phòng khám 12"}}])], SEEING))
    assert card["department"] == "Phòng khám 12"


def test_diagnoses_by_rank_then_the_conditions_naming_the_visit_each_once() -> None:
    visit = encounter(
        diagnosis=[
            {"condition": {"reference": "Condition/01929-cd-2"}, "rank": 2},
            {"condition": {"reference": "Condition/01929-cd-gone", "display": "Sỏi thận"}, "rank": True},
            {"condition": {"reference": "Condition/01929-cd-1"}, "rank": 1},
            {"condition": {"reference": "Condition/01929-cd-nothing"}},  # not in the book, no words: left out
            {"condition": {"reference": "Condition/01929-cd-1"}, "rank": 3},  # twice: once
        ]
    )
    main = condition("01929-cd-1", "I20.8", "Cơn đau thắt ngực ổn định")
    other = condition("01929-cd-2", "I10")  # a bare code: no name table here
    naming = condition("01929-cd-3", "E11.9", encounter={"reference": "Encounter/01929-kb-1"})
    naming_too = condition("01929-cd-1b", "I20.8", encounter={"reference": "Encounter/01929-kb-1"})
    built = build([visit, naming_too, naming, other, main], SEEING)
    (card,) = cards(built)
    shown = [(d["code"], d["name"], d["main"]) for d in card["diagnoses"]]
    assert shown == [
        ("I20.8", "Cơn đau thắt ngực ổn định", True),
        ("I10", None, False),
        (None, "Sỏi thận", False),
        ("E11.9", None, False),  # naming the visit themselves, in the order sent (read newest first)
    ]  # and a second Condition coded I20.8: one line per code
    assert built["other_diagnoses"] == []


def test_a_diagnosis_name_comes_from_what_the_hospital_wrote() -> None:
    visit = encounter(diagnosis=[{"condition": {"reference": f"Condition/01929-cd-{n}"}} for n in range(5)])
    conditions = [
        view(
            "Condition", "01929-cd-0", {"code": {"coding": [{"system": ICD10, "code": "J18.9"}], "text": "Viêm phổi"}}
        ),
        view(
            "Condition",
            "01929-cd-1",
            {"code": {"coding": [{"system": "http://snomed.info/sct", "code": "233604007", "display": "Pneumonia"}]}},
        ),
        view("Condition", "01929-cd-2", {"code": {"coding": [{"system": "urn:his:local", "code": "VP01"}]}}),
        view("Condition", "01929-cd-3", {"code": {"coding": [{"system": ICD10, "code": "U07.1", "display": "U07.1"}]}}),
        view("Condition", "01929-cd-4", {}),  # nothing to show: left out
    ]
    (card,) = cards(build([visit, *conditions], SEEING))
    assert [(d["code"], d["name"]) for d in card["diagnoses"]] == [
        ("J18.9", "Viêm phổi"),
        (None, "Pneumonia"),
        (None, "VP01"),  # another system's bare code: better than nothing
        ("U07.1", None),
    ]


def test_a_ruled_out_diagnosis_and_one_whose_signature_differs_are_marked() -> None:
    visit = encounter(diagnosis=[{"condition": {"reference": "Condition/01929-cd-1"}}], signature="verified")
    visit = view("Encounter", "01929-kb-1", visit.content, signature="verified")
    ruled_out = view(
        "Condition",
        "01929-cd-1",
        {
            "code": {"coding": [{"system": ICD10, "code": "I21.9"}]},
            "verificationStatus": {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "refuted"}]
            },
        },
        signature="invalid",
    )
    (card,) = cards(build([visit, ruled_out], SEEING))
    (diagnosis,) = card["diagnoses"]
    assert diagnosis["ruled_out"] is True
    assert diagnosis["provenance"]["signature"] == "invalid"  # shown apart: it differs from the visit's


def test_conditions_of_no_visit_shown_are_listed_apart() -> None:
    visit = encounter()
    alone = condition("01929-cd-a", "K21.9", "Trào ngược dạ dày", recordedDate="2023-01-05")
    elsewhere = condition(
        "01929-cd-b",
        "J45",
        clinicalStatus={"coding": [{"code": "resolved"}]},
        encounter={"reference": "Encounter/01929-kb-9"},
    )
    empty = view("Condition", "01929-cd-c", {"code": {}})
    built = build([visit, alone, elsewhere, empty], SEEING)
    assert cards(built)[0]["diagnoses"] == []
    assert [(d["code"], d["name"], d["when"]) for d in built["other_diagnoses"]] == [
        ("K21.9", "Trào ngược dạ dày", "2023-01-05"),
        ("J45", None, None),
    ]
    assert built["other_diagnoses"][1]["over"] is False  # no clinical-status system: not read
    assert all(d["provenance"]["facility"]["code"] == "01929" for d in built["other_diagnoses"])


def test_the_doctors_advice_is_the_careplan_of_the_visit_verbatim() -> None:
    long_text = "Ăn nhạt. " * 2000 + "<script>alert(1)</script>"
    visit = encounter()
    plan = view(
        "CarePlan",
        "01929-cp-1",
        {
            "title": "Lời dặn của bác sĩ",
            "description": long_text,
            "note": [{"text": "Tái khám sau 30 ngày"}, {"text": "   "}, "x"],
            "activity": [
                {"detail": {"description": "Đo huyết áp mỗi sáng"}},
                {"detail": {"code": {"text": "Tập thể dục"}}},
                5,
            ],
            "encounter": {"reference": "Encounter/01929-kb-1"},
        },
    )
    titled_only = view(
        "CarePlan", "01929-cp-2", {"title": "Chế độ ăn", "encounter": {"reference": "Encounter/01929-kb-1"}}
    )
    loose = view("CarePlan", "01929-cp-3", {"description": "Nghỉ ngơi", "created": "2025-09-01"})
    built = build([visit, plan, titled_only, loose], SEEING)
    (card,) = cards(built)
    assert [a["texts"] for a in card["advice"]] == [
        [long_text, "Tái khám sau 30 ngày", "Đo huyết áp mỗi sáng", "Tập thể dục"],
        ["Chế độ ăn"],
    ]
    assert [(a["texts"], a["when"]) for a in built["other_advice"]] == [(["Nghỉ ngơi"], "2025-09-01")]


def test_visits_are_grouped_by_year_newest_first_undated_last() -> None:
    newer = encounter("01929-kb-2", period={"start": "2025-01-01T00:30:00+07:00"})  # 2024 in UTC, 2025 here
    older = encounter("01929-kb-1", period={"start": "2023-06-01T08:00:00+07:00"})
    undated = encounter("01929-kb-0")
    built = build([newer, older, undated], SEEING)  # as read: newest first, undated last
    assert [(year["year"], len(year["visits"])) for year in built["years"]] == [("2025", 1), ("2023", 1), (None, 1)]


def test_vaccinations_are_their_own_list() -> None:
    shot = view(
        "Immunization",
        "01929-tc-1",
        {
            "vaccineCode": {"text": "Cúm mùa"},
            "occurrenceDateTime": "2024-10-01",
            "protocolApplied": [{"doseNumberPositiveInt": 2}],
            "lotNumber": "AB12",
        },
    )
    skipped = view(
        "Immunization",
        "01929-tc-2",
        {"occurrenceString": "mùa thu 2020", "protocolApplied": [{"doseNumberPositiveInt": True}]},
        status="not-done",
    )
    built = build([shot, skipped], SEEING)
    assert [(i["title"], i["when"], i["dose"], i["lot"], i["not_done"]) for i in built["immunizations"]] == [
        ("Cúm mùa", "2024-10-01", "2", "AB12", False),
        (None, "mùa thu 2020", None, None, True),
    ]
