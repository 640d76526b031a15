"""The results section as pure functions: stored Observations and DiagnosticReports in, test groups,
flags, trends and reports out; and the chart's geometry. Hospitals send odd things: values missing, text
where a number belongs, one test in two units, unknown codes, HTML in names."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from backend.clock import VIETNAM
from backend.healthbook.sections.base import Seeing
from backend.healthbook.sections.results import BLOOD_GROUP, LOINC, TEST_CODE, build
from backend.healthbook.sections.results_sparkline import HEIGHT, WIDTH, sparkline
from backend.healthbook.sections.results_values import number_text, reading, reference_range
from backend.records.reads import StoredRecordView

NOW = datetime(2026, 1, 10, 3, 0, tzinfo=UTC)
SEEING = Seeing({"01929": "Bệnh viện Đa khoa Minh An"}, NOW)
HOSPITALS = {"01929": "Bệnh viện Đa khoa Minh An", "01002": "Bệnh viện Hữu Nghị Thủ Đô"}
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
HBA1C = {"coding": [{"system": LOINC, "code": "4548-4", "display": "Hemoglobin A1c"}], "text": "HbA1c"}


def at(day: str) -> datetime:
    return datetime.fromisoformat(f"{day}T09:00:00+07:00")


def stored(content: dict[str, Any], day: str | None, facility: str = "01929", **fields: Any) -> StoredRecordView:
    served = f"{facility}-{content.get('id', 'x')}"
    return StoredRecordView(
        served_id=served,
        resource_type=content["resourceType"],
        facility_code=facility,
        facility_name=HOSPITALS[facility],
        version=1,
        updated_at=NOW,
        signature=fields.get("signature", "unsigned"),
        date=at(day) if day else None,
        date_end=None,
        status=fields.get("status", content.get("status")),
        content={**content, "id": served},
    )


def observation(local_id: str, code: Any = None, **parts: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": local_id,
        "status": "final",
        "code": HBA1C if code is None else code,
        **parts,
    }


def quantity(value: Any, unit: str | None = "%") -> dict[str, Any]:
    return {"valueQuantity": {"value": value, **({"unit": unit} if unit else {})}}


def flagged(code: str, system: str | None = INTERPRETATION) -> dict[str, Any]:
    return {"interpretation": [{"coding": [{"code": code, **({"system": system} if system else {})}]}]}


def ranged(low: float | None = None, high: float | None = None, unit: str | None = None, **more: Any) -> dict[str, Any]:
    bounds: dict[str, Any] = dict(more)
    if low is not None:
        bounds["low"] = {"value": low, **({"unit": unit} if unit else {})}
    if high is not None:
        bounds["high"] = {"value": high, **({"unit": unit} if unit else {})}
    return {"referenceRange": [bounds]}


def results(*views: StoredRecordView) -> dict[str, Any]:
    return build(list(views), SEEING)


def coordinates(chart: Any) -> list[tuple[float, float]]:
    pairs = [tuple(float(number) for number in point.split(",")) for point in chart.line.split()]
    return [(x, y) for x, y in pairs]


# --- Grouping -------------------------------------------------------------------------------------------


def test_one_test_from_several_hospitals_and_years_is_one_group_newest_value_first() -> None:
    built = results(
        stored(observation("a", **quantity(6.8)), "2024-01-05"),
        stored(observation("b", **quantity(7.4)), "2025-10-02", facility="01002"),
        stored(observation("c", **quantity(7.1)), "2024-11-20"),
    )
    [group] = built["groups"]
    assert group["title"] == "HbA1c" and group["anchor"] == "test-1"
    assert [item["value"] for item in group["entries"]] == ["7.4 %", "7.1 %", "6.8 %"]
    assert group["latest"]["facility"] == {"code": "01002", "name": "Bệnh viện Hữu Nghị Thủ Đô"}
    assert group["latest"]["provenance"]["facility"]["code"] == "01002"
    assert [item["facility"]["code"] for item in group["entries"]] == ["01002", "01929", "01929"]
    assert group["latest"]["day"] == "2025-10-02"


def test_loinc_and_ministry_codes_join_through_a_result_that_carries_both() -> None:
    moh_only = {"coding": [{"system": TEST_CODE, "code": "XN-HBA1C"}], "text": "Định lượng HbA1c"}
    both = {"coding": [{"system": TEST_CODE, "code": "XN-HBA1C"}, HBA1C["coding"][0]]}
    built = results(
        stored(observation("loinc", **quantity(7.0)), "2025-01-01"),
        stored(observation("moh", moh_only, **quantity(7.2)), "2025-02-01", facility="01002"),
        stored(observation("both", both, **quantity(7.3)), "2025-03-01"),
    )
    assert len(built["groups"]) == 1 and len(built["groups"][0]["entries"]) == 3


def test_different_codes_are_different_tests_and_the_most_recent_test_comes_first() -> None:
    glucose = {"coding": [{"system": LOINC, "code": "15074-8"}], "text": "Glucose máu lúc đói"}
    built = results(
        stored(observation("h1", **quantity(7.0)), "2024-06-01"),
        stored(observation("g1", glucose, **quantity(6.1, "mmol/L")), "2025-08-01"),
        stored(observation("h2", **quantity(7.2)), "2025-01-01"),
        stored(observation("undated", {"text": "Cholesterol"}, **quantity(5.0, "mmol/L")), None),
    )
    assert [group["title"] for group in built["groups"]] == ["Glucose máu lúc đói", "HbA1c", "Cholesterol"]
    assert [group["anchor"] for group in built["groups"]] == ["test-1", "test-2", "test-3"]


def test_unknown_codes_group_by_name_and_a_result_with_no_name_stands_alone() -> None:
    local = {"coding": [{"system": "urn:vn:cskcb:01929:xn", "code": "X1"}], "text": "  Ure   máu "}
    built = results(
        stored(observation("u1", local, **quantity(5.1, "mmol/L")), "2025-01-01"),
        stored(observation("u2", {"text": "ure MÁU"}, **quantity(5.4, "mmol/L")), "2025-02-01"),
        stored(observation("n1", {}, **quantity(1)), "2025-03-01"),
        stored(observation("n2", {"coding": "not a list"}, **quantity(2)), "2025-04-01"),
        # A coded result never joins a same-named uncoded one: a name must not bridge two codes.
        stored(observation("h", {**HBA1C, "text": "Ure máu"}, **quantity(7)), "2024-01-01"),
    )
    sizes = sorted(len(group["entries"]) for group in built["groups"])
    assert sizes == [1, 1, 1, 2]
    unnamed = [group for group in built["groups"] if group["title"] is None]
    assert len(unnamed) == 2


def test_the_blood_group_is_left_out_and_vital_signs_are_results() -> None:
    blood = {"coding": [{"system": LOINC, "code": BLOOD_GROUP}], "text": "Nhóm máu"}
    systolic = {"coding": [{"system": LOINC, "code": "8480-6"}], "text": "Huyết áp tâm thu"}
    vital = [{"coding": [{"code": "vital-signs"}]}]
    built = results(
        stored(observation("bg", blood, valueCodeableConcept={"text": "O Rh+"}), "2025-01-01"),
        stored(observation("sbp", systolic, category=vital, **quantity(138, "mmHg")), "2025-01-01"),
    )
    assert [group["title"] for group in built["groups"]] == ["Huyết áp tâm thu"]


def test_a_panel_sent_as_components_gives_each_component_its_own_test() -> None:
    panel = {
        "code": {"coding": [{"system": LOINC, "code": "85354-9"}], "text": "Huyết áp"},
        "component": [
            {"code": {"coding": [{"system": LOINC, "code": "8480-6"}], "text": "Tâm thu"}, **quantity(150, "mmHg")},
            {"code": {"coding": [{"system": LOINC, "code": "8462-4"}], "text": "Tâm trương"}, **quantity(85, "mmHg")},
        ],
    }
    alone = {"coding": [{"system": LOINC, "code": "8480-6"}], "text": "Huyết áp tâm thu"}
    members = {"hasMember": [{"reference": "Observation/x"}]}
    built = results(
        stored(observation("bp", **panel), "2025-05-01"),
        stored(observation("sbp", alone, **quantity(140, "mmHg")), "2025-04-01"),
        stored(observation("header", {"text": "Bộ xét nghiệm"}, **members), "2025-05-01"),
    )
    titles = {group["title"]: len(group["entries"]) for group in built["groups"]}
    assert titles == {"Tâm thu": 2, "Tâm trương": 1}


# --- Values, ranges and flags ------------------------------------------------------------------------------


def test_every_kind_of_value_is_shown_and_a_missing_one_says_why() -> None:
    built = results(
        stored(observation("q", {"text": "A"}, **quantity(7.20, "%")), "2025-01-06"),
        stored(observation("s", {"text": "B"}, valueString="  Âm tính "), "2025-01-05"),
        stored(
            observation("c", {"text": "C"}, valueCodeableConcept={"coding": [{"display": "Dương tính"}]}), "2025-01-04"
        ),
        stored(observation("d", {"text": "D"}, dataAbsentReason={"text": "Mẫu bị vỡ hồng cầu"}), "2025-01-03"),
        stored(observation("n", {"text": "E"}), "2025-01-02"),
        stored(
            observation("lt", {"text": "F"}, valueQuantity={"value": 0.5, "comparator": "<", "unit": "mg/L"}),
            "2025-01-01",
        ),
    )
    latest = {group["title"]: group["latest"] for group in built["groups"]}
    assert latest["A"]["value"] == "7.2 %" and latest["A"]["number"] == 7.2
    assert latest["B"]["value"] == "Âm tính" and latest["B"]["number"] is None
    assert latest["C"]["value"] == "Dương tính"
    assert latest["D"]["value"] is None and latest["D"]["absent"] == "Mẫu bị vỡ hồng cầu"
    assert latest["E"]["value"] is None and latest["E"]["absent"] is None and latest["E"]["flag"] is None
    assert latest["F"]["value"] == "< 0.5 mg/L" and latest["F"]["number"] is None  # a bound, not a point


def test_a_day_or_month_is_shown_as_the_hospital_wrote_it_never_as_a_made_up_midnight() -> None:
    built = results(
        stored(observation("a", {"text": "A"}, effectiveDateTime="2023-01-01", **quantity(1)), "2023-01-01"),
        stored(observation("b", {"text": "B"}, effectiveDateTime="2023-05", **quantity(1)), "2023-05-01"),
        stored(observation("c", {"text": "C"}, effectiveDateTime="2025-01-01T23:30:00Z", **quantity(1)), "2025-01-02"),
    )
    shown = {group["title"]: (group["latest"]["date"], group["latest"]["day"]) for group in built["groups"]}
    assert shown["A"] == ("2023-01-01", "2023-01-01") and shown["B"] == ("2023-05", "2023-05")
    assert shown["C"] == (at("2025-01-02").isoformat(), "2025-01-02")


@pytest.mark.parametrize(
    ("holder", "text", "number"),
    [
        (quantity(True), None, None),
        (quantity("7,2"), "7,2 %", None),
        (quantity(None), None, None),
        (quantity(float("nan")), None, None),
        (quantity(10**400), None, None),
        (quantity(123456789012345678, "/L"), "1.23457e+17 /L", 1.2345678901234568e17),
        (quantity(-3), "-3 %", -3.0),
        ({"valueQuantity": {"value": 5, "code": "mmol/L"}}, "5 mmol/L", 5.0),
        ({"valueInteger": 12}, "12", 12.0),
        ({"valueQuantity": "7.2"}, None, None),
        ({"valueString": "   "}, None, None),
    ],
)
def test_odd_values(holder: dict[str, Any], text: str | None, number: float | None) -> None:
    found = reading(holder)
    assert (found.text if found else None) == text
    assert (found.number if found else None) == number


def test_numbers_are_written_plainly() -> None:
    assert [number_text(value) for value in (7.2, 148.0, -0.0, -3.5, 1e20, 0.0001)] == [
        "7.2",
        "148",
        "0",
        "-3.5",
        "1e+20",
        "0.0001",
    ]


def test_reference_ranges_are_shown_from_their_text_or_their_bounds() -> None:
    assert reference_range(ranged(3.9, 6.4, "mmol/L"), "mmol/L") is not None
    shown = {
        "both": reference_range(ranged(3.9, 6.4, "mmol/L"), "mmol/L"),
        "high": reference_range(ranged(high=6.5), "%"),
        "low": reference_range(ranged(low=60), None),
        "text": reference_range(ranged(3.9, 6.4, text="3,9 - 6,4 (người lớn)"), "mmol/L"),
    }
    assert {name: found.text if found else None for name, found in shown.items()} == {
        "both": "3.9–6.4 mmol/L",
        "high": "≤ 6.5 %",
        "low": "≥ 60",
        "text": "3,9 - 6,4 (người lớn)",
    }
    assert reference_range({"referenceRange": [{}]}, "%") is None
    assert reference_range({"referenceRange": "nonsense"}, "%") is None
    backwards = reference_range(ranged(10, 2), None)
    assert backwards is not None and backwards.low is None and backwards.high is None


def test_the_hospitals_flag_comes_first_then_the_range_decides() -> None:
    cases = {
        "H": (flagged("H"), "high"),
        "HH": (flagged("HH"), "critical_high"),
        "LL": (flagged("ll", system=None), "critical_low"),
        "A": (flagged("A"), "abnormal"),
        "N-against-range": ({**flagged("N"), **ranged(high=6.5)}, "normal"),
        "unknown-code": ({**flagged("XYZ"), **ranged(high=6.5)}, "above"),
        "other-system": ({**flagged("H", system="urn:other"), **ranged(low=8)}, "below"),
        "inside": (ranged(5, 8), "within"),
        "other-unit": (ranged(high=40, unit="mmol/mol"), None),
        "no-range": ({}, None),
    }
    views = [
        stored(observation(name, {"text": name}, **quantity(7.2, "%"), **parts), "2025-01-01")
        for name, (parts, _) in cases.items()
    ]
    got = {group["title"]: group["latest"]["flag"] for group in results(*views)["groups"]}
    for name, (_, expected) in cases.items():
        assert (got[name]["code"] if got[name] else None) == expected, name
    assert got["H"] == {"code": "high", "words": "High", "marker": "▲", "alert": True, "computed": False}
    assert got["inside"] == {"code": "within", "words": "In range", "marker": "", "alert": False, "computed": True}
    assert got["unknown-code"]["computed"] is True


def test_html_in_text_is_kept_as_text_for_the_template_to_escape() -> None:
    name = {"text": "<script>alert(1)</script>"}
    built = results(
        stored(observation("x", name, valueString="<b>cao</b>", note=[{"text": "<img src=x>"}]), "2025-01-01")
    )
    [group] = built["groups"]
    assert group["title"] == "<script>alert(1)</script>" and group["latest"]["value"] == "<b>cao</b>"
    assert group["latest"]["notes"] == ["<img src=x>"]


# --- Trends ----------------------------------------------------------------------------------------------


def test_a_repeated_number_has_a_trend_from_first_to_last() -> None:
    views = [
        stored(observation(f"h{n}", **quantity(value), **ranged(high=6.5, unit="%")), day)
        for n, (value, day) in enumerate([(6.8, "2024-01-05"), (7.4, "2025-10-02"), (7.1, "2024-11-20")])
    ]
    [group] = results(*views)["groups"]
    trend = group["trend"]
    assert trend["count"] == 3 and trend["left_out"] == 0
    assert trend["first"]["value"] == "6.8 %" and trend["last"]["value"] == "7.4 %"
    assert trend["range"] == "≤ 6.5 %" and trend["chart"].band is not None
    xs = [x for x, _ in coordinates(trend["chart"])]
    assert xs == sorted(xs) and xs[0] < xs[1] < xs[2]


def test_strings_mixed_with_numbers_chart_only_the_numbers() -> None:
    views = [
        stored(observation("a", **quantity(7.0)), "2025-01-01"),
        stored(observation("b", valueString="Mẫu không đạt"), "2025-02-01"),
        stored(observation("c", **quantity(7.5)), "2025-03-01"),
        stored(observation("d", **quantity(8.0)), "2025-04-01", status="cancelled"),
    ]
    [group] = results(*views)["groups"]
    assert len(group["entries"]) == 4
    assert group["trend"]["count"] == 2 and group["trend"]["left_out"] == 2


def test_units_that_differ_between_hospitals_are_never_on_one_line() -> None:
    views = [
        stored(observation("a", **quantity(53, "mmol/mol")), "2025-06-01", facility="01002"),
        stored(observation("b", **quantity(7.0, "%")), "2025-01-01"),
        stored(observation("c", **quantity(48, "mmol/mol")), "2025-03-01", facility="01002"),
        stored(observation("d", **quantity(6.6, "%")), "2024-06-01"),
        stored(observation("e", **quantity(50, "MMOL/MOL")), "2024-01-01"),
    ]
    [group] = results(*views)["groups"]
    trend = group["trend"]
    assert trend["count"] == 3 and trend["left_out"] == 2  # the newest is in mmol/mol: % stays off the line
    assert trend["last"]["value"] == "53 mmol/mol" and trend["first"]["value"] == "50 MMOL/MOL"


def test_one_value_only_or_one_per_unit_has_no_trend() -> None:
    [one] = results(stored(observation("a", **quantity(7.0)), "2025-01-01"))["groups"]
    two_units = results(
        stored(observation("a", **quantity(7.0, "%")), "2025-01-01"),
        stored(observation("b", **quantity(53, "mmol/mol")), "2025-02-01"),
    )
    words = results(
        stored(observation("a", valueString="Âm tính"), "2025-01-01"),
        stored(observation("b", valueString="Dương tính"), "2025-02-01"),
    )
    undated = results(stored(observation("a", **quantity(7.0)), None), stored(observation("b", **quantity(7.1)), None))
    assert one["trend"] is None and two_units["groups"][0]["trend"] is None
    assert words["groups"][0]["trend"] is None and undated["groups"][0]["trend"] is None


# --- Reports ---------------------------------------------------------------------------------------------


def test_a_report_shows_its_conclusion_and_the_results_it_groups() -> None:
    report = {
        "resourceType": "DiagnosticReport",
        "id": "dv-1",
        "status": "final",
        "code": {"text": "Xét nghiệm sinh hóa máu"},
        "conclusion": "  Đường huyết cao  ",
        "conclusionCode": [{"text": "Tăng đường huyết"}, "junk"],
        "result": [
            {"reference": "Observation/01929-a"},
            {"reference": "Observation/01929-a/_history/2"},
            {"reference": "Observation/01929-gone", "display": "Glucose"},
            {"reference": "Observation/01929-gone2"},
            {"reference": 7},
            "junk",
        ],
    }
    built = results(
        stored(observation("a", **quantity(7.4), **flagged("H")), "2025-10-02"),
        stored(report, "2025-10-02"),
    )
    [shown] = built["reports"]
    assert shown["title"] == "Xét nghiệm sinh hóa máu" and shown["conclusion"] == "Đường huyết cao"
    assert shown["findings"] == ["Tăng đường huyết"]
    assert shown["results"][0] == {
        "anchor": "test-1",
        "title": "HbA1c",
        "value": "7.4 %",
        "flag": built["groups"][0]["latest"]["flag"],
    }
    assert [line["title"] for line in shown["results"]] == ["HbA1c", "HbA1c", "Glucose"]
    assert shown["not_shown"] == 2 and shown["provenance"]["facility"]["code"] == "01929"


def test_nothing_to_show_is_empty() -> None:
    assert results() == {"groups": [], "reports": []}
    odd = results(stored({"resourceType": "DiagnosticReport", "id": "r"}, None))
    assert odd["reports"][0]["title"] is None and odd["reports"][0]["results"] == []


# --- The chart -------------------------------------------------------------------------------------------


def days(*values: float) -> list[tuple[datetime, float]]:
    start = datetime(2024, 1, 1, tzinfo=VIETNAM)
    return [(start + timedelta(days=30 * n), value) for n, value in enumerate(values)]


def inside(chart: Any) -> bool:
    numbers = [n for point in coordinates(chart) for n in point]
    numbers += [float(part) for dot in chart.dots for part in (dot.x, dot.y, dot.r)]
    if chart.band:
        numbers += [float(part) for part in chart.band]
    points = coordinates(chart)
    return (
        all(math.isfinite(n) for n in numbers)
        and all(0 <= x <= WIDTH and 0 <= y <= HEIGHT for x, y in points)
        and (chart.band is None or 0 <= float(chart.band[0]) <= HEIGHT)
    )


def test_the_chart_runs_left_to_right_in_time_higher_values_higher() -> None:
    chart = sparkline(days(5, 7, 6), low=4, high=6.5)
    assert chart is not None and inside(chart)
    (x0, y0), (x1, y1), (x2, y2) = coordinates(chart)
    assert x0 < x1 < x2 and y1 < y2 < y0  # SVG y grows downwards
    top, height = (float(part) for part in chart.band or ("nan", "nan"))
    assert top < y0 < top + height  # 5 is inside 4–6.5
    assert [dot.r for dot in chart.dots] == ["2.5", "2.5", "4"]  # the newest stands out


def test_the_chart_sorts_by_time_and_spaces_by_time() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    chart = sparkline([(start + timedelta(days=300), 2.0), (start, 1.0), (start + timedelta(days=30), 3.0)])
    assert chart is not None
    (x0, _), (x1, _), (x2, _) = coordinates(chart)
    assert x1 - x0 < (x2 - x1) / 5


@pytest.mark.parametrize(
    "values",
    [
        (7.0, 7.0, 7.0),
        (-40.0, -12.5, 3.0),
        (1e308, -1e308, 1.7e308),
        (1e-300, 2e-300),
        (5e-324, 5e-324),
        (0.0, 1e15),
    ],
)
def test_odd_numbers_stay_inside_the_chart(values: tuple[float, ...]) -> None:
    chart = sparkline(days(*values), low=-1e308, high=1e308)
    assert chart is not None and inside(chart)
    plain = sparkline(days(*values))
    assert plain is not None and inside(plain) and plain.band is None


def test_equal_values_draw_a_flat_line_across_the_middle() -> None:
    chart = sparkline(days(7, 7, 7))
    assert chart is not None
    assert {y for _, y in coordinates(chart)} == {HEIGHT / 2}


def test_one_point_or_none_is_no_chart_and_non_finite_values_are_dropped() -> None:
    assert sparkline([]) is None
    assert sparkline(days(7)) is None
    assert sparkline(days(7, float("nan"))) is None
    chart = sparkline(days(7, float("inf"), 8))
    assert chart is not None and len(chart.dots) == 2


def test_the_band_follows_the_bounds_it_has() -> None:
    only_high = sparkline(days(5, 9), high=6.5)
    only_low = sparkline(days(50, 40), low=60)
    backwards = sparkline(days(5, 9), low=10, high=2)
    infinite = sparkline(days(5, 9), low=float("-inf"), high=float("nan"))
    assert only_high is not None and only_high.band is not None
    assert float(only_high.band[0]) + float(only_high.band[1]) == pytest.approx(HEIGHT - 6, abs=0.1)  # to the bottom
    assert only_low is not None and only_low.band is not None and float(only_low.band[0]) == pytest.approx(6)
    assert backwards is not None and backwards.band is None
    assert infinite is not None and infinite.band is None


def test_all_on_one_day_is_spread_evenly() -> None:
    moment = datetime(2025, 1, 1, tzinfo=UTC)
    chart = sparkline([(moment, 1.0), (moment, 2.0), (moment, 3.0)])
    assert chart is not None
    xs = [x for x, _ in coordinates(chart)]
    assert xs[1] - xs[0] == pytest.approx(xs[2] - xs[1], abs=0.1)
