"""The prescriptions section's build(): stored MedicationRequests → prescriptions as the patient got them,
with whatever a hospital left out, got wrong or wrote at length."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from backend.healthbook.presenters import PRESCRIPTION_CODE
from backend.healthbook.sections.base import Seeing
from backend.healthbook.sections.prescriptions import SECTION, build, qr_svg
from backend.records.reads import StoredRecordView

NOW = datetime(2025, 10, 13, 2, 0, tzinfo=UTC)  # 09:00 on 13 October 2025 in Hanoi
SEEING = Seeing({"01929": "Bệnh viện Đa khoa Minh An", "01002": "Bệnh viện Hữu Nghị"}, NOW)
CODE = "0192984g7vsu-C"


def view(
    local_id: str,
    content: dict[str, Any] | None = None,
    *,
    facility: str = "01929",
    resource_type: str = "MedicationRequest",
    days_ago: float | None = 11,
    current_for: float | None = 19,
    signature: str = "unsigned",
) -> StoredRecordView:
    """A stored record as read_records gives it; `date` and `date_end` as the index would have them."""
    content = {"resourceType": resource_type, "id": f"{facility}-{local_id}", **(content or {})}
    when = NOW - timedelta(days=days_ago) if days_ago is not None else None
    return StoredRecordView(
        served_id=f"{facility}-{local_id}",
        resource_type=resource_type,
        facility_code=facility,
        facility_name=SEEING.facilities.get(facility, facility),
        version=1,
        updated_at=NOW - timedelta(days=1),
        signature=signature,
        date=when,
        date_end=NOW + timedelta(days=current_for) if current_for is not None else None,
        status=content.get("status") if isinstance(content.get("status"), str) else None,
        content=content,
    )


def line(
    local_id: str, code: str | None = CODE, drug: str = "Metformin 500mg", status: str = "active", **extra: Any
) -> dict[str, Any]:
    content: dict[str, Any] = {
        "status": status,
        "intent": "order",
        "medicationCodeableConcept": {"text": drug},
        "authoredOn": "2025-10-02T10:30:00+07:00",
        "requester": {"display": "BS. Lê Minh Tuấn"},
        "dosageInstruction": [
            {"text": "1 viên/lần * 2 lần/ngày * 30 ngày [2 viên/ngày]", "patientInstruction": "Uống sau ăn"}
        ],
        "dispenseRequest": {
            "quantity": {"value": 60, "unit": "viên"},
            "expectedSupplyDuration": {"value": 30, "unit": "ngày", "system": "http://unitsofmeasure.org", "code": "d"},
        },
        **extra,
    }
    if code is not None:
        content["groupIdentifier"] = {"system": PRESCRIPTION_CODE, "value": code}
    return content


def everything(views: list[StoredRecordView]) -> list[dict[str, Any]]:
    built = build(views, SEEING)
    return [*built["current"], *built["older"]]


def test_the_section_keeps_its_name_and_reads_the_medications_its_lines_point_at() -> None:
    assert SECTION.name == "prescriptions" and SECTION.template == "book/prescriptions.html"
    assert "MedicationRequest" in SECTION.resource_types and "Medication" in SECTION.resource_types


def test_lines_sharing_a_prescription_code_are_one_prescription_even_when_read_interleaved() -> None:
    views = [
        view("dt-a-2", line("dt-a-2", drug="Amlodipin 5mg")),
        view("dt-b-1", line("dt-b-1", code="01929ZZZZZZZ-C", drug="Paracetamol 500mg")),
        view("dt-a-10", line("dt-a-10", drug="Vitamin B1")),
        view("dt-a-1", line("dt-a-1")),
        # The code may come as an identifier only, and must still join its prescription.
        view("dt-a-3", {**line("dt-a-3", code=None), "identifier": [{"system": PRESCRIPTION_CODE, "value": CODE}]}),
    ]
    shown = everything(views)
    assert sorted(p["code"] for p in shown) == sorted([CODE, "01929ZZZZZZZ-C"])
    one = next(p for p in shown if p["code"] == CODE)
    assert [item["id"] for item in one["lines"]] == [
        "MedicationRequest/01929-dt-a-1",
        "MedicationRequest/01929-dt-a-2",
        "MedicationRequest/01929-dt-a-3",
        "MedicationRequest/01929-dt-a-10",  # in the order the lines were numbered, not as text sorts
    ]
    assert one["facility"] == {"code": "01929", "name": "Bệnh viện Đa khoa Minh An"}
    assert one["prescribers"] == ["BS. Lê Minh Tuấn"] and one["date"] == "2025-10-02T10:30:00+07:00"


def test_without_a_code_lines_group_by_encounter_then_by_day_and_facility() -> None:
    visit = {"reference": "Encounter/01929-kb-1"}
    views = [
        view("x-1", line("x-1", code=None, encounter=visit)),
        view("x-2", line("x-2", code=None, encounter=visit, authoredOn="2025-10-03")),
        view("y-1", line("y-1", code=None)),
        view("y-2", line("y-2", code=None, authoredOn="2025-10-02T16:00:00Z")),  # 23:00 in Hanoi: same day
        view("z-1", line("z-1", code=None), facility="01002"),  # same day, another hospital
        view("w-1", line("w-1", code=None, authoredOn=None), days_ago=None),  # nothing to join: alone
        view("w-2", line("w-2", code=None, authoredOn="not a date"), days_ago=None),
        view("g-1", line("g-1", code=None, groupIdentifier={"system": "urn:his:don", "value": "D1"})),
        view("g-2", line("g-2", code=None, groupIdentifier={"system": "urn:his:don", "value": "D1"})),
    ]
    groups = sorted(sorted(item["id"].split("/")[1] for item in p["lines"]) for p in everything(views))
    assert groups == [
        ["01002-z-1"],
        ["01929-g-1", "01929-g-2"],
        ["01929-w-1"],
        ["01929-w-2"],
        ["01929-x-1", "01929-x-2"],
        ["01929-y-1", "01929-y-2"],
    ]
    assert all(p["code"] is None and p["qr_svg"] is None for p in everything(views))


def test_current_prescriptions_come_first_then_the_others_newest_first() -> None:
    views = [
        view("old-1", line("old-1", code="OLD1"), days_ago=400, current_for=-300),
        view("now-1", line("now-1", code="NOW1"), days_ago=11, current_for=19),
        view("recent-1", line("recent-1", code="RECENT1"), days_ago=40, current_for=-10),  # supply ran out
        view("held-1", line("held-1", code="HELD1", status="on-hold"), days_ago=2, current_for=28),
        view("new-1", line("new-1", code="NEW1"), days_ago=1, current_for=89),
        view("nodate-1", line("nodate-1", code="NODATE1", authoredOn=None), days_ago=None, current_for=None),
    ]
    built = build(views, SEEING)
    assert [p["code"] for p in built["current"]] == ["NEW1", "NOW1"]
    assert [p["code"] for p in built["older"]] == ["HELD1", "RECENT1", "OLD1", "NODATE1"]
    assert built["current"][0]["until"] == (NOW + timedelta(days=89)).date().isoformat()
    assert built["older"][0]["until"] is None and built["older"][0]["lines"][0]["status_word"] == "On hold"


def test_a_cancelled_or_stopped_line_is_called_off_with_a_word_and_the_rest_stays_current() -> None:
    views = [
        view("dt-1", line("dt-1")),
        view("dt-2", line("dt-2", status="cancelled", drug="Amlodipin 5mg")),
        view("dt-3", line("dt-3", status="stopped", drug="Vitamin C")),
    ]
    (one,) = build(views, SEEING)["current"]
    assert [(item["called_off"], item["status_word"]) for item in one["lines"]] == [
        (False, None),
        (True, "Called off"),
        (True, "Stopped"),
    ]
    assert not one["called_off"] and one["qr_svg"] is not None
    assert [item["current"] for item in one["lines"]] == [True, False, False]


def test_a_prescription_whose_every_line_is_called_off_is_older_and_offers_no_qr_code() -> None:
    views = [
        view("dt-1", line("dt-1", status="cancelled")),
        view("dt-2", line("dt-2", status="entered-in-error")),
    ]
    built = build(views, SEEING)
    (gone,) = built["older"]
    assert built["current"] == [] and gone["called_off"] and gone["qr_svg"] is None and gone["code"] == CODE
    assert gone["lines"][1]["status_word"] == "Entered in error"


def test_the_dose_text_is_kept_exactly_as_the_prescriber_wrote_it() -> None:
    odd = "  Sáng 1 viên,  tối ½ viên\n(uống   sau ăn)  * 30 ngày [1,5 viên/ngày]  "
    views = [view("dt-1", line("dt-1", dosageInstruction=[{"text": odd}, {"text": "Ngày 2: 2 viên"}, {"text": ""}]))]
    (item,) = everything(views)[0]["lines"]
    assert item["doses"] == [odd, "Ngày 2: 2 viên"] and item["instructions"] == []


def test_quantity_strength_and_supply_read_as_a_person_says_them() -> None:
    medication = {
        "resourceType": "Medication",
        "code": {"coding": [{"system": "urn:vn:thuoc", "code": "40.17", "display": "Augmentin"}]},
        "ingredient": [
            {"itemCodeableConcept": {"text": "Amoxicilin"}, "strength": {"numerator": {"value": 500, "unit": "mg"}}},
            {
                "itemCodeableConcept": {"text": "Acid clavulanic"},
                "strength": {"numerator": {"value": 62.5, "unit": "mg"}, "denominator": {"value": 5, "unit": "ml"}},
            },
        ],
    }
    syrup = {
        "resourceType": "Medication",
        "id": "siro",
        "code": {"text": "Siro ho"},
        "ingredient": [
            {"strength": {"numerator": {"value": 2, "code": "mg"}, "denominator": {"value": 1, "unit": "ml"}}}
        ],
    }
    views = [
        view(
            "dt-1",
            {
                **line("dt-1"),
                "medicationCodeableConcept": None,
                "medicationReference": {"reference": "Medication/01929-aug/_history/2"},
            },
        ),
        view(
            "dt-2",
            {
                **line("dt-2"),
                "medicationCodeableConcept": None,
                "medicationReference": {"reference": "#siro"},
                "contained": [syrup],
                "dispenseRequest": {
                    "quantity": {"value": 1.0, "code": "chai"},
                    "expectedSupplyDuration": {"value": 2, "unit": "tuần"},
                },
            },
        ),
        view(
            "dt-3",
            {
                **line("dt-3"),
                "medicationCodeableConcept": None,
                "medicationReference": {"reference": "Medication/01929-unknown", "display": "Thuốc X"},
                "dispenseRequest": {
                    "quantity": {"value": 0.5, "unit": "hộp"},
                    "expectedSupplyDuration": {"value": 0, "unit": "d"},
                },
            },
        ),
        view("aug", medication, resource_type="Medication", days_ago=None, current_for=None),
    ]
    first, second, third = everything(views)[0]["lines"]
    assert (first["drug"], first["strength"]) == ("Augmentin", "Amoxicilin 500 mg + Acid clavulanic 62.5 mg/5 ml")
    assert (first["quantity"], first["supply_days"], first["supply"]) == ("60 viên", 30, None)
    assert (second["drug"], second["strength"], second["quantity"]) == ("Siro ho", "2 mg/ml", "1 chai")
    assert (second["supply_days"], second["supply"]) == (None, "2 tuần")
    assert (third["drug"], third["strength"], third["quantity"]) == ("Thuốc X", None, "0.5 hộp")
    assert (third["supply_days"], third["supply"]) == (None, None)  # a supply of 0 days says nothing


def test_the_prescriber_is_the_name_written_else_the_practitioner_else_the_certificate_number() -> None:
    practitioner = {"resourceType": "Practitioner", "name": [{"family": "Phạm", "given": ["Thu", "Hà"]}]}
    views = [
        view("a-1", line("a-1", code="A", requester={"reference": "Practitioner/01929-bs-ha"})),
        view("b-1", line("b-1", code="B", requester={"identifier": {"value": "001234/HNO-CCHN"}})),
        view("c-1", line("c-1", code="C", requester="BS. Chuỗi")),
        view("d-1", line("d-1", code="D", requester={"reference": "Organization/01929"})),
        view("bs-ha", practitioner, resource_type="Practitioner", days_ago=None, current_for=None),
    ]
    prescribers = {p["code"]: p["prescribers"] for p in everything(views)}
    assert prescribers == {"A": ["Phạm Thu Hà"], "B": ["001234/HNO-CCHN"], "C": [], "D": []}


def test_missing_and_misshapen_fields_give_empty_values_never_an_error() -> None:
    misshapen = {
        "status": "active",
        "medicationCodeableConcept": "Metformin",
        "identifier": {"system": PRESCRIPTION_CODE, "value": CODE},
        "groupIdentifier": {"system": PRESCRIPTION_CODE, "value": "   "},
        "dosageInstruction": "1 viên",
        "dispenseRequest": {"quantity": {"value": True, "unit": "viên"}, "expectedSupplyDuration": "30 ngày"},
        "medicationReference": "Medication/x",
        "note": [{"text": 5}, "ghi chú", {"text": "Tái khám sau 30 ngày"}],
        "encounter": "Encounter/1",
    }
    views = [
        view("empty", {}, days_ago=None, current_for=None),
        view("odd", misshapen),
        view("unknown", {"status": "unknown", "medicationCodeableConcept": {"coding": [{"code": "ZZZ"}]}}),
    ]
    shown = everything(views)
    assert len(shown) == 3
    lines = {item["id"].split("/")[1]: item for p in shown for item in p["lines"]}
    assert lines["01929-empty"]["drug"] is None and lines["01929-empty"]["doses"] == []
    assert lines["01929-odd"]["drug"] is None and lines["01929-odd"]["quantity"] is None
    assert lines["01929-odd"]["notes"] == ["Tái khám sau 30 ngày"]
    assert lines["01929-unknown"]["drug"] == "ZZZ" and lines["01929-unknown"]["status_word"] is None
    assert {p["code"] for p in shown} == {None}  # a code with no value, or not in a list, is no code


def test_html_and_very_long_text_are_kept_as_they_came_for_the_template_to_escape() -> None:
    html = '<img src=x onerror="alert(1)">Metformin'
    long_text = "Uống sau ăn sáng. " * 500
    views = [view("dt-1", line("dt-1", drug=html, dosageInstruction=[{"text": html, "patientInstruction": long_text}]))]
    (item,) = everything(views)[0]["lines"]
    assert item["drug"] == html and item["doses"] == [html] and item["instructions"] == [long_text]


def test_only_a_code_of_safe_characters_becomes_a_qr_code_of_about_160_pixels() -> None:
    svg = qr_svg(CODE)
    assert svg is not None and svg.startswith('<svg width="160" height="160" aria-hidden="true" ')
    assert "viewBox=" in svg and svg.endswith("</svg>") and "<script" not in svg
    assert qr_svg("0192984G7VSU.C_1") is not None and qr_svg("x" * 64) is not None
    for unsafe in ['"><script>alert(1)</script>', "ĐƠN-1", "DON 1", "", "x" * 65, "a\n", None]:
        assert qr_svg(unsafe) is None, unsafe
    views = [view("dt-1", line("dt-1", code="<b>DON</b>"))]
    (shown,) = everything(views)
    assert shown["code"] == "<b>DON</b>" and shown["qr_svg"] is None


def test_a_prescription_shows_its_worst_signature_and_its_latest_version() -> None:
    views = [
        view("dt-1", line("dt-1"), signature="verified"),
        view("dt-2", line("dt-2"), signature="invalid"),
        view("dt-3", line("dt-3"), signature="unsigned"),
    ]
    (shown,) = everything(views)
    assert shown["provenance"]["signature"] == "invalid"
    assert [item["signature"] for item in shown["lines"]] == ["verified", "invalid", "unsigned"]  # which line
    assert shown["provenance"]["facility"] == {"code": "01929", "name": "Bệnh viện Đa khoa Minh An"}
    verified = everything([view("dt-1", line("dt-1"), signature="verified")])[0]
    assert verified["provenance"]["signature"] == "verified"


def test_no_records_build_an_empty_section() -> None:
    assert build([], SEEING) == {"current": [], "older": []}


def test_a_prescription_past_its_supply_period_shows_its_code_as_text_without_a_qr_code() -> None:
    built = build([view("dt-1", line("dt-1"), days_ago=60, current_for=-30)], SEEING)
    (older,) = built["older"]
    assert older["code"] == CODE and older["qr_svg"] is None and not older["called_off"]
