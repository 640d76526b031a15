"""The IPS document builder (backend/sharing/ips/bundle.py and the pieces it uses), on records as odd as
hospitals send them: missing fields, unknown codes, very long text, markup in free text."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import defusedxml.ElementTree
from fhir.resources.R4B.bundle import Bundle

from backend.records.reads import StoredRecordView
from backend.sharing.ips.bundle import FILE_LEFT_OUT, Contents, document_bundle
from backend.sharing.ips.describe import MAX_TEXT, codes, describe
from backend.sharing.ips.narrative import Row, section_narrative
from backend.sharing.ips.references import NOT_SHARED
from backend.sharing.ips.sections import section_of

NOW = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)
BASE = "https://sosuckhoe.example"
PATIENT = {
    "resourceType": "Patient",
    "id": "01929-bn-1",
    "name": [{"text": "Nguyễn Văn An"}],
    "birthDate": "1990-03-15",
}
REQUIRED = ("11450-4", "48765-2", "10160-0")


def view(resource_type: str, served_id: str, content: dict[str, Any], signature: str = "verified") -> StoredRecordView:
    return StoredRecordView(
        served_id,
        resource_type,
        "01929",
        "Bệnh viện Đa khoa Minh An",
        1,
        NOW,
        signature,
        NOW,
        None,
        None,
        {"resourceType": resource_type, "id": served_id, **_SUBJECT.get(resource_type, {}), **content},
    )


# What FHIR requires of these kinds (the intake stores only valid records); everything else may be missing.
_SUBJECT = {
    kind: {"subject": {"reference": "Patient/01929-bn-1"}} for kind in ("Condition", "Observation", "MedicationRequest")
}


def build(records: list[StoredRecordView], *, picked: bool = False, patient: dict[str, Any] | None = None) -> Any:
    contents = Contents(
        records=records,
        listed=[(r.resource_type, r.served_id) for r in records if r.resource_type not in ("Binary", "Medication")],
        patient={**(patient or PATIENT), "meta": {"source": "01929"}},
        same_patient=["Patient/01002-bn-9"],
        facilities={"01929": "Bệnh viện Đa khoa Minh An"},
        picked=picked,
    )
    bundle = document_bundle(contents, BASE, NOW, uuid.UUID(int=1))
    Bundle.model_validate(bundle)  # FHIR R4B
    return bundle


def sections(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["code"]["coding"][0]["code"]: s for s in bundle["entry"][0]["resource"]["section"]}


def entry(bundle: dict[str, Any], reference: str) -> dict[str, Any]:
    return next(
        e["resource"] for e in bundle["entry"] if f"{e['resource']['resourceType']}/{e['resource']['id']}" == reference
    )


def test_an_empty_book_still_has_the_required_sections_saying_no_information() -> None:
    bundle = build([])
    found = sections(bundle)
    for code in REQUIRED:
        assert found[code]["emptyReason"]["coding"][0]["code"] == "unavailable"
        assert "entry" not in found[code]
    assert bundle["entry"][0]["resource"]["resourceType"] == "Composition"
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["Composition", "Patient", "Device"]


def test_picked_documents_say_withheld_never_none_known() -> None:
    bundle = build(
        [
            view(
                "Condition",
                "01929-c1",
                {"code": {"text": "Tăng huyết áp"}, "subject": {"reference": "Patient/01929-bn-1"}},
            )
        ],
        picked=True,
    )
    found = sections(bundle)
    assert found["11450-4"]["entry"] == [{"reference": "Condition/01929-c1"}]
    for code in ("48765-2", "10160-0", "30954-2", "11369-6", "18776-5", "46240-8"):
        assert found[code]["emptyReason"]["coding"][0]["code"] == "withheld"
    assert "nilknown" not in str(bundle) and "notasked" not in str(bundle)


def test_html_in_record_text_is_escaped_and_the_narrative_is_well_formed_xml() -> None:
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)> & \x00\x1b'
    bundle = build(
        [
            view(
                "AllergyIntolerance",
                "01929-a1",
                {"code": {"text": hostile}, "patient": {"reference": "Patient/01929-bn-1"}},
            )
        ]
    )
    div = sections(bundle)["48765-2"]["text"]["div"]
    assert "<script>" not in div and "&lt;script&gt;" in div and "<img" not in div
    defusedxml.ElementTree.fromstring(div)  # parses: escaped, and no character XML forbids


def test_very_long_text_is_cut_in_the_narrative_but_kept_in_the_resource() -> None:
    long = "rất dài " * 2000
    bundle = build([view("Condition", "01929-c1", {"code": {"text": long}})])
    div = sections(bundle)["11450-4"]["text"]["div"]
    assert len(div) < MAX_TEXT + 1000 and "…" in div
    assert entry(bundle, "Condition/01929-c1")["code"]["text"] == long


def test_records_missing_everything_and_unknown_codes_still_make_a_row() -> None:
    bundle = build(
        [
            view("Condition", "01929-c1", {}),
            view(
                "Observation",
                "01929-o1",
                {"status": "final", "code": {"coding": [{"system": "urn:odd", "code": "Z-9"}]}},
            ),
            view(
                "MedicationRequest",
                "01929-m1",
                {"status": "active", "intent": "order", "medicationReference": {"reference": "Medication/01929-x"}},
            ),
        ]
    )
    found = sections(bundle)
    assert "(không ghi tên)" in found["11450-4"]["text"]["div"]
    assert "urn:odd Z-9" in found["30954-2"]["text"]["div"]
    # A Medication the document does not hold: the reference is cut, never left dangling.
    assert entry(bundle, "MedicationRequest/01929-m1")["medicationReference"] == {"display": NOT_SHARED}


def test_every_clinical_entry_keeps_source_and_signature_tag() -> None:
    bundle = build([view("Condition", "01929-c1", {"code": {"text": "x"}}, signature="invalid")])
    meta = entry(bundle, "Condition/01929-c1")["meta"]
    assert meta["source"] == "01929"
    assert {"system": "urn:healthbook:signature", "code": "invalid"} in meta["tag"]
    assert "chữ ký số không hợp lệ" in sections(bundle)["11450-4"]["text"]["div"]


def test_references_resolve_or_are_cut_and_the_other_patient_records_become_one() -> None:
    condition = {
        "code": {"text": "x"},
        "subject": {"reference": "Patient/01002-bn-9"},  # the same person, as another hospital knows them
        "encounter": {"reference": "Encounter/01929-not-shared", "display": "Khám ngày 1/2"},
        "asserter": {"reference": "Organization/01929"},
        "recorder": {"reference": "Organization/01002"},  # a facility the registry does not know
    }
    bundle = build([view("Condition", "01929-c1", condition)])
    shared = entry(bundle, "Condition/01929-c1")
    assert shared["subject"] == {"reference": "Patient/01929-bn-1"}
    assert shared["encounter"] == {"display": "Khám ngày 1/2"}
    assert shared["asserter"] == {"reference": "Organization/01929"}
    assert shared["recorder"] == {"display": NOT_SHARED}
    assert entry(bundle, "Organization/01929")["name"] == "Bệnh viện Đa khoa Minh An"
    assert [e["resource"]["resourceType"] for e in bundle["entry"]].count("Patient") == 1


def test_original_files_travel_as_binary_entries_or_say_they_were_left_out() -> None:
    def document(served: str, url: str) -> StoredRecordView:
        attachment = {"contentType": "application/pdf", "url": url, "title": "Giấy ra viện"}
        return view("DocumentReference", served, {"status": "current", "content": [{"attachment": attachment}]})

    binary = view("Binary", "01929-scan1", {"contentType": "application/pdf", "data": "JVBERi0="})
    bundle = build([document("01929-d1", "Binary/scan1"), document("01929-d2", "Binary/01929-too-big"), binary])
    assert entry(bundle, "DocumentReference/01929-d1")["content"][0]["attachment"]["url"] == "Binary/01929-scan1"
    assert "url" not in entry(bundle, "DocumentReference/01929-d2")["content"][0]["attachment"]
    div = sections(bundle)["documents"]["text"]["div"]
    assert div.count(FILE_LEFT_OUT) == 1 and "Giấy ra viện" in div


def test_a_book_without_a_patient_record_names_the_person_by_cccd_only() -> None:
    absent = [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown"}]
    patient = {
        "resourceType": "Patient",
        "id": str(uuid.UUID(int=7)),
        "name": [{"extension": absent}],
        "_birthDate": {"extension": absent},
    }
    bundle = build([], patient=patient)
    assert "người bệnh" in bundle["entry"][0]["resource"]["text"]["div"]


def test_conditions_over_go_to_past_illness() -> None:
    resolved = {"clinicalStatus": {"coding": [{"code": "resolved"}]}}
    assert section_of("Condition", resolved) == "past_illness"
    assert section_of("Condition", {}) == "problems"
    assert section_of("Patient", {}) is None and section_of("Basic", {}) is None


def test_describe_and_codes_tolerate_wrong_types() -> None:
    odd = {"code": "not a concept", "dosageInstruction": "x", "valueQuantity": {"value": "7"}, "type": [1, None]}
    for kind in ("Condition", "MedicationRequest", "Observation", "Encounter", "DocumentReference", "Unknown"):
        assert describe(kind, odd, {}) == "(không ghi tên)"
    assert codes(odd) == []


def test_the_narrative_of_an_empty_section_says_why() -> None:
    assert "withheld" in section_narrative("Dị ứng", [], withheld=True, picked=True)["div"]
    made = section_narrative("Dị ứng", [Row("a", [], None, "01929", "odd-state")], withheld=False, picked=False)
    assert "odd-state" in made["div"]
