"""The pure parts of the FHIR intake: ids, served ids, dates, index columns."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from backend.records.fhir.index import fold, index_columns, parse_fhir_date
from backend.records.fhir.parse import content_hash, parse_bundle
from backend.records.fhir.references import served_id
from tests.support.hospital import sample, sample_json


def test_served_ids_are_prefixed_and_stay_valid_fhir_ids() -> None:
    assert served_id("01929", "kb-1") == "01929-kb-1"
    long_id = "x" * 64
    served = served_id("01929", long_id)
    assert served.startswith("01929.") and len(served) <= 64
    assert served_id("01929", long_id) == served  # stable
    # A short id shaped like a hash can never meet a hashed long one: "-" versus "."
    assert served_id("01929", served.split(".")[1]) != served


def test_content_hash_ignores_key_order() -> None:
    assert content_hash({"a": 1, "b": [1, 2]}) == content_hash({"b": [1, 2], "a": 1})
    assert content_hash({"a": 1}) != content_hash({"a": 2})


@pytest.mark.parametrize(
    ("value", "end", "expected"),
    [
        ("2025-10-02T08:10:00+07:00", False, datetime(2025, 10, 2, 1, 10, tzinfo=UTC)),
        ("2025-10-02T01:10:00Z", False, datetime(2025, 10, 2, 1, 10, tzinfo=UTC)),
        ("2025-10-02", False, datetime(2025, 10, 1, 17, 0, tzinfo=UTC)),
        ("2025-10", False, datetime(2025, 9, 30, 17, 0, tzinfo=UTC)),
        ("2025", False, datetime(2024, 12, 31, 17, 0, tzinfo=UTC)),
        ("2025-10-16", True, datetime(2025, 10, 16, 16, 59, 59, 999999, tzinfo=UTC)),
        ("2025-12", True, datetime(2025, 12, 31, 16, 59, 59, 999999, tzinfo=UTC)),
    ],
)
def test_fhir_dates_are_vietnam_days(value: str, end: bool, expected: datetime) -> None:
    parsed = parse_fhir_date(value, end=end)
    assert parsed is not None and parsed.astimezone(UTC) == expected


@pytest.mark.parametrize("value", ["", "tomorrow", "2025-13-01", "2025-02-30", "T"])
def test_unreadable_dates_are_none(value: str) -> None:
    assert parse_fhir_date(value) is None


def test_prescription_lines_are_current_for_their_supply() -> None:
    line = sample_json("fhir-visit-bundle.json")["entry"][5]["resource"]
    columns = index_columns("MedicationRequest", line)
    assert columns.date is not None and columns.date_end is not None
    assert (columns.date_end - columns.date).days == 30
    del line["dispenseRequest"]
    columns = index_columns("MedicationRequest", line)
    assert (columns.date_end - columns.date).days == 90  # type: ignore[operator]


def test_index_columns_of_a_diagnosis() -> None:
    condition = sample_json("fhir-visit-bundle.json")["entry"][2]["resource"]
    columns = index_columns("Condition", condition)
    assert "http://hl7.org/fhir/sid/icd-10|E11.9" in columns.codes
    assert "dai thao duong" in columns.search_text and "e11.9" in columns.search_text
    assert not columns.deleted


def test_entered_in_error_by_verification_status() -> None:
    condition = sample_json("fhir-visit-bundle.json")["entry"][2]["resource"]
    condition["verificationStatus"] = {"coding": [{"code": "entered-in-error"}]}
    assert index_columns("Condition", condition).deleted


def test_fold_strips_vietnamese_marks() -> None:
    assert fold("Đái tháo đường  TYPE 2") == "dai thao duong type 2"
    assert fold("Bệnh viện Hữu Nghị") == "benh vien huu nghi"


def test_parse_reads_conditional_and_explicit_targets() -> None:
    parsed = parse_bundle(sample("fhir-visit-bundle.json"))
    patient = parsed.entries[0]
    assert patient.method == "PUT" and patient.resource_id == "bn-012345"
    assert patient.conditional is not None and patient.conditional.value == "001090012345"
    correction = parse_bundle(sample("fhir-correction-bundle.json"))
    assert [entry.resource_id for entry in correction.entries] == ["dt-84g7vsu-2", "xn-hba1c"]


def test_a_bom_is_tolerated() -> None:
    parsed = parse_bundle(b"\xef\xbb\xbf" + json.dumps(sample_json("fhir-visit-bundle.json")).encode())
    assert len(parsed.entries) == 10
