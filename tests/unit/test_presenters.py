"""present(): every kind of stored record as one plain item, from whatever a hospital sent (fields missing,
odd JSON types, unknown codes, very long text, markup kept as text for the templates to escape), named in
the reader's language and never by its raw FHIR type."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from backend.healthbook.presenters import DETAIL_LENGTH, LABELS, OTHER_RECORD, one_line, present
from backend.i18n import translations
from backend.records.reads import Narrowing
from backend.records.xml130.fhir_pieces import ICD10
from tests.unit.test_overview import render_page
from tests.unit.test_section_visits import view

FACILITIES = {"01929": "Bệnh viện Đa khoa Minh An", "01002": "Bệnh viện Hữu Nghị Thủ Đô"}
ON = datetime(2025, 10, 1, 1, 0, tzinfo=UTC)  # 08:00 in Hanoi
HOSTILE = '<img src=x onerror="alert(1)">'
# Every kind of record a section of the book reads (FACILITY_LEVEL ones are never an item), and Procedure.
STORED = (
    "Appointment",
    "ServiceRequest",
    "MedicationRequest",
    "AllergyIntolerance",
    "Encounter",
    "Condition",
    "Observation",
    "DiagnosticReport",
    "DocumentReference",
    "Composition",
    "CarePlan",
    "Immunization",
    "Procedure",
)
ODD_VALUES: list[Any] = [None, "", "x", 7, True, [], ["x", 1, None], {}, {"text": 1, "coding": "x"}]


def shown(resource_type: str, content: dict[str, Any], **options: Any) -> dict[str, Any]:
    return present(view(resource_type, f"01929-{resource_type.lower()}-1", content, **options), FACILITIES)


def test_every_kind_of_record_the_book_keeps_has_a_name_in_both_languages() -> None:
    vietnamese = translations("vi")
    assert set(STORED) <= set(LABELS)
    for resource_type in STORED:
        label = shown(resource_type, {})["label"]
        assert label != resource_type or resource_type == "Procedure"  # the English word happens to be FHIR's
        assert vietnamese.gettext(label) != label, resource_type
    assert vietnamese.gettext(LABELS["Condition"]) == "Chẩn đoán"
    assert vietnamese.gettext(LABELS["Observation"]) == "Kết quả xét nghiệm"
    assert vietnamese.gettext(LABELS["DocumentReference"]) == "Tài liệu"
    assert vietnamese.gettext(LABELS["Encounter"]) == "Lần khám"
    assert vietnamese.gettext(LABELS["MedicationRequest"]) == "Thuốc"


def test_a_kind_the_book_has_no_word_for_is_another_record_never_its_type_name() -> None:
    item = shown("RiskAssessment", {"prediction": [{"outcome": {"text": "x"}}]})
    assert item["label"] == OTHER_RECORD and item["title"] is None and item["type"] == "RiskAssessment"
    assert translations("vi").gettext(OTHER_RECORD) == "Thông tin khác"


def test_nothing_sent_means_no_title_and_no_words_of_either_language_baked_in() -> None:
    for resource_type in STORED:
        item = shown(resource_type, {})
        assert item["title"] is None and item["detail"] is None, resource_type
        assert item["provenance"] == {
            "facility": {"code": "01929", "name": "Bệnh viện 01929"},
            "received": "2025-10-13T02:00:00+00:00",
            "signature": "unsigned",
        }
        assert item["date"] is None and item["day"] is None


@pytest.mark.parametrize("resource_type", STORED)
def test_odd_json_in_any_field_does_not_break_a_presenter(resource_type: str) -> None:
    fields = (
        "code", "type", "serviceType", "appointmentType", "description", "start", "end", "participant",
        "performer", "reasonCode", "occurrencePeriod", "identifier", "note", "category", "dosageInstruction",
        "dispenseRequest", "groupIdentifier", "requester", "medicationCodeableConcept", "reaction", "period",
        "serviceProvider", "valueQuantity", "valueString", "valueInteger", "valueCodeableConcept", "conclusion",
        "content", "title", "vaccineCode",
    )  # fmt: skip
    for odd in ODD_VALUES:
        item = shown(resource_type, dict.fromkeys(fields, odd))
        assert item["title"] is None or isinstance(item["title"], str)
        assert item["detail"] is None or isinstance(item["detail"], str)


def test_a_diagnosis_reads_as_its_icd10_code_and_name_and_an_unknown_code_as_it_came() -> None:
    coded = {"code": {"coding": [{"system": ICD10, "code": "I10", "display": "Tăng huyết áp vô căn"}]}}
    assert shown("Condition", coded)["title"] == "I10 Tăng huyết áp vô căn"
    named = {"code": {"text": "Đái tháo đường týp 2", "coding": [{"system": ICD10, "code": "E11"}]}}
    assert shown("Condition", named)["title"] == "E11 Đái tháo đường týp 2"
    assert shown("Condition", {"code": {"coding": [{"system": ICD10, "code": "E11"}]}})["title"] == "E11"
    assert shown("Condition", {"code": {"coding": [{"system": "urn:other", "code": "ZZ-1"}]}})["title"] == "ZZ-1"


def test_a_result_reads_as_the_test_and_its_value() -> None:
    code = {"text": "Glucose máu"}
    assert shown("Observation", {"code": code, "valueQuantity": {"value": 7.2, "unit": "mmol/L"}})["detail"] == (
        "7.2 mmol/L"
    )
    assert shown("Observation", {"code": code, "valueQuantity": {"value": 0.5, "comparator": "<"}})["detail"] == "< 0.5"
    assert shown("Observation", {"code": code, "valueString": "Âm tính"})["detail"] == "Âm tính"
    assert (
        shown("Observation", {"code": code, "valueCodeableConcept": {"coding": [{"code": "POS"}]}})["detail"] == "POS"
    )
    assert shown("Observation", {"code": code, "valueInteger": 3})["detail"] == "3"
    assert shown("Observation", {"code": code, "valueQuantity": {"value": True}})["detail"] is None
    assert shown("Observation", {"code": code})["title"] == "Glucose máu"


def test_documents_summaries_advice_vaccinations_and_procedures_have_a_title() -> None:
    attachment = {"content": [{"attachment": {"title": "Phiếu X-quang.pdf"}}], "type": {"text": "Chẩn đoán hình ảnh"}}
    assert shown("DocumentReference", attachment)["title"] == "Phiếu X-quang.pdf"
    assert shown("DocumentReference", attachment)["detail"] == "Chẩn đoán hình ảnh"
    assert shown("DocumentReference", {"type": {"text": "Giấy ra viện"}})["title"] == "Giấy ra viện"
    assert shown("Composition", {"title": "Tóm tắt hồ sơ bệnh án"})["title"] == "Tóm tắt hồ sơ bệnh án"
    assert shown("CarePlan", {"title": "Lời dặn", "description": "Ăn nhạt"})["detail"] == "Ăn nhạt"
    assert shown("Immunization", {"vaccineCode": {"text": "Vắc xin cúm"}})["title"] == "Vắc xin cúm"
    assert shown("Procedure", {"code": {"coding": [{"code": "89.52"}]}})["title"] == "89.52"
    assert shown("DiagnosticReport", {"code": {"text": "Công thức máu"}, "conclusion": "Bình thường"})["detail"] == (
        "Bình thường"
    )


def test_a_service_request_is_a_referral_letter_only_with_the_referral_category() -> None:
    category = [{"coding": [{"system": "http://snomed.info/sct", "code": "3457005"}]}]
    letter = shown("ServiceRequest", {"category": category, "performer": [{"reference": "Organization/01002"}]})
    assert letter["label"] == LABELS["ServiceRequest"] and letter["to"] == {
        "code": "01002",
        "name": FACILITIES["01002"],
    }
    order = shown("ServiceRequest", {"code": {"text": "Chụp CT sọ não"}})
    assert order["label"] != LABELS["ServiceRequest"] and order["title"] == "Chụp CT sọ não"
    assert translations("vi").gettext(order["label"]) == "Phiếu chỉ định"


def test_very_long_text_is_one_short_line_as_a_detail_and_whole_elsewhere() -> None:
    long_text = "Uống thuốc sau ăn sáng,\n  không bỏ liều. " * 100
    item = shown(
        "MedicationRequest",
        {"medicationCodeableConcept": {"text": long_text}, "dosageInstruction": [{"text": long_text}]},
    )
    assert item["title"] == long_text and item["dose"] == long_text  # verbatim where it is shown in full
    assert item["detail"].endswith("…") and len(item["detail"]) <= DETAIL_LENGTH + 1 and "\n" not in item["detail"]
    assert one_line("x" * 500) == "x" * DETAIL_LENGTH + "…"  # no space to cut at
    assert one_line("  a \n b ") == "a b" and one_line("   ") is None and one_line(7) is None


def test_html_is_kept_as_text_for_the_templates_which_escape_it() -> None:
    item = shown("Condition", {"code": {"text": HOSTILE}})
    assert item["title"] == HOSTILE
    found = {"visits": [{**item, "provenance": item["provenance"]}]}
    page = render_page("book/search.html", found=found, narrowing=Narrowing(words="x"))
    assert HOSTILE not in page and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page


def test_search_results_are_named_in_the_readers_language() -> None:
    found = {
        "visits": [shown("Condition", {}), shown("Encounter", {}, date=ON)],
        "results": [
            shown("Observation", {"code": {"text": "HbA1c"}, "valueQuantity": {"value": 7.1, "unit": "%"}}, date=ON)
        ],
        "documents": [shown("Composition", {})],
    }
    vietnamese = render_page("book/search.html", found=found, narrowing=Narrowing(words="x"))
    english = render_page("book/search.html", "en", found=found, narrowing=Narrowing(words="x"))
    assert "Chẩn đoán" in vietnamese and "Lần khám" in vietnamese and "Tóm tắt bệnh án" in vietnamese
    assert "HbA1c" in vietnamese and "7.1 %" in vietnamese and "Kết quả xét nghiệm · 01/10/2025 08:00" in vietnamese
    assert "Diagnosis" in english and "Visit" in english and "Medical summary" in english
    for raw in ("Condition", "Encounter", "Observation", "Composition"):
        assert f">{raw}<" not in vietnamese and f">{raw}<" not in english
