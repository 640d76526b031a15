"""What the desk makes of a shared IPS document (backend/reception/summary.py): the person, each section's
items with source and signature state, and a print summary holding only what is current."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from backend.reception.summary import desk_summary

NOW = datetime(2025, 10, 3, 3, 0, tzinfo=UTC)
LOINC = "http://loinc.org"
REFERRAL = {"coding": [{"system": "http://snomed.info/sct", "code": "3457005"}], "text": "Giấy chuyển tuyến"}


def meta(signature: str | None = "verified") -> dict[str, Any]:
    tags = [{"system": "urn:healthbook:signature", "code": signature}] if signature else []
    return {"source": "01929", "lastUpdated": "2025-10-02T03:00:00+00:00", "tag": tags}


RESOURCES: list[dict[str, Any]] = [
    {"resourceType": "AllergyIntolerance", "id": "a1", "code": {"text": "Penicillin"}, "meta": meta()},
    {
        "resourceType": "MedicationRequest",
        "id": "m-now",
        "status": "active",
        "authoredOn": "2025-10-02",
        "medicationCodeableConcept": {"text": "Metformin"},
        "meta": meta("invalid"),
    },
    {
        "resourceType": "MedicationRequest",
        "id": "m-old",
        "status": "active",
        "authoredOn": "2025-01-02",
        "medicationCodeableConcept": {"text": "Old antibiotic"},
        "meta": meta("forged-code"),
    },
    {
        "resourceType": "ServiceRequest",
        "id": "r-valid",
        "status": "active",
        "category": [REFERRAL],
        "code": {"text": "Tim mạch"},
        "occurrencePeriod": {"start": "2025-10-02", "end": "2025-10-16"},
        "meta": meta(None),
    },
    {
        "resourceType": "ServiceRequest",
        "id": "r-over",
        "status": "active",
        "category": [REFERRAL],
        "code": {"text": "Expired referral"},
        "occurrencePeriod": {"start": "2025-09-01", "end": "2025-09-15"},
    },
    {"resourceType": "Appointment", "id": "ap-next", "status": "booked", "start": "2025-11-03T08:00:00+07:00"},
    {"resourceType": "Appointment", "id": "ap-past", "status": "booked", "start": "2025-09-03T08:00:00+07:00"},
    # Shared, shown on screen, but not on paper: the book's overview leaves each of these out too.
    {
        "resourceType": "AllergyIntolerance",
        "id": "a-over",
        "code": {"text": "Resolved allergy"},
        "clinicalStatus": {"coding": [{"code": "resolved"}]},
    },
    {
        "resourceType": "AllergyIntolerance",
        "id": "a-refuted",
        "code": {"text": "Refuted allergy"},
        "verificationStatus": {"coding": [{"code": "refuted"}]},
    },
    {
        "resourceType": "MedicationRequest",
        "id": "m-undated",
        "status": "active",
        "medicationCodeableConcept": {"text": "Undated"},
    },
    {
        "resourceType": "ServiceRequest",
        "id": "r-open",
        "status": "active",
        "category": [REFERRAL],
        "code": {"text": "No end"},
    },
    {"resourceType": "Appointment", "id": "ap-undated", "status": "booked", "description": "Undated"},
    # A follow-up given as a date alone: still ahead all of its day.
    {"resourceType": "Appointment", "id": "ap-today", "status": "booked", "start": "2025-10-03", "end": "2025-10-03"},
    {
        "resourceType": "ServiceRequest",
        "id": "r-today",
        "status": "active",
        "category": [REFERRAL],
        "code": {"text": "Ends today"},
        "occurrencePeriod": {"start": "2025-09-20", "end": "2025-10-03"},
    },
]


def document(sections: list[dict[str, Any]]) -> dict[str, Any]:
    patient = {"resourceType": "Patient", "id": "p", "name": [{"text": "Nguyễn Văn An"}], "birthDate": "1990-03-15"}
    patient |= {"gender": "female", "identifier": [{"system": "x/national_id", "value": "001090012345"}]}
    composition = {"resourceType": "Composition", "id": "c", "subject": {"reference": "Patient/p"}, "section": sections}
    entries = [composition, patient, *RESOURCES]
    return {"resourceType": "Bundle", "type": "document", "entry": [{"resource": r} for r in entries]}


def section(code: str, ids: list[str] | None = None, reason: str | None = None) -> dict[str, Any]:
    made: dict[str, Any] = {"title": "Mục", "code": {"coding": [{"system": LOINC, "code": code}]}}
    if ids:
        made["entry"] = [{"reference": ref} for ref in ids]
    if reason:
        made["emptyReason"] = {"coding": [{"code": reason}]}
    return made


def test_the_person_the_sections_and_each_items_source_and_signature() -> None:
    summary = desk_summary(
        document(
            [
                section("48765-2", ["AllergyIntolerance/a1"]),
                section("10160-0", ["MedicationRequest/m-now", "MedicationRequest/m-old"]),
                section("11369-6", reason="withheld"),
                section("99999-9", ["Nothing/here"], reason="unavailable"),
            ]
        ),
        {"01929": "Bệnh viện Minh An"},
        NOW,
    )
    assert (summary.name, summary.birth_date, summary.gender) == ("Nguyễn Văn An", "1990-03-15", "female")
    assert summary.identifiers == ["CCCD: 001090012345"]
    allergies, medicines, vaccines, unknown = summary.groups
    assert allergies.title == "Allergies" and allergies.items[0].what.startswith("Penicillin")
    assert allergies.items[0].provenance["facility"] == {"code": "01929", "name": "Bệnh viện Minh An"}
    # An unknown signature code is never shown as anything but a failure.
    assert [item.provenance["signature"] for item in medicines.items] == ["invalid", "invalid"]
    assert vaccines.items == [] and vaccines.empty_reason == "withheld"
    assert unknown.title == "Mục" and unknown.items == [] and unknown.empty_reason == "unavailable"


def test_the_print_summary_keeps_only_what_is_current() -> None:
    every = [f"{r['resourceType']}/{r['id']}" for r in RESOURCES]
    summary = desk_summary(
        document(
            [
                section("48765-2", [ref for ref in every if ref.startswith("Allergy")]),
                section("10160-0", [ref for ref in every if ref.startswith("Medication")]),
                section("18776-5", [ref for ref in every if ref.startswith(("Service", "Appointment"))]),
            ]
        ),
        {},
        NOW,
    )
    printed = {name: [item.what for item in part.items] for name, part in summary.printed.items()}
    assert not any(part.withheld for part in summary.printed.values())
    assert [what.split(";")[0] for what in printed["allergies"]] == ["Penicillin"]
    assert [what.split(";")[0] for what in printed["prescriptions"]] == ["Metformin"]
    assert [what.split("; ")[1] for what in printed["referrals"]] == ["Tim mạch", "Ends today"]
    assert [item.when_text for item in summary.printed["appointments"].items] == ["03/11/2025 08:00", "03/10/2025"]
    (plan,) = [group for group in summary.groups if group.key == "plan_of_care"]
    assert len(plan.items) == 8  # the screen shows everything shared; only the printed page is narrowed
    unsigned = next(item for item in plan.items if "Tim mạch" in item.what)
    assert unsigned.provenance["signature"] == "unsigned" and unsigned.when_text == "02/10/2025"


def test_a_document_missing_its_parts_still_gives_a_page() -> None:
    bare = {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Composition"}}]}
    summary = desk_summary(bare, {}, NOW)
    assert summary.groups == [] and summary.birth_date is None and summary.gender is None
    assert all(part.items == [] and part.withheld for part in summary.printed.values())  # never "none known"
