"""`ips_document` (backend/sharing/ips) on a real book: the sample visit pushed by the sample hospital,
the day after it took place, so its prescriptions, follow-up and referral letter are all current."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from fhir.resources.R4B.bundle import Bundle
from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.audit import Reader
from backend.database import raw_transaction
from backend.errors import NotFound
from backend.records.reads import find_patient
from backend.sharing.ips import ips_document, missing_record_ids
from tests.support.clock import FakeClock
from tests.support.hospital import CCCD, FACILITY, Hospital, count, own_database, register, sample_json

BASE_URL = "https://testserver.local"
OTHER_CCCD = "079085054321"
RECIPIENT = Reader(actor="BS. Trần Hữu Nghĩa", role="recipient", purpose="SMART Health Link", channel="shl")
# 3 October 2025, 10:00 in Hanoi: the morning after the sample visit.
MORNING_AFTER = datetime(2025, 10, 3, 3, 0, tzinfo=UTC)
REQUIRED = {"11450-4", "48765-2", "10160-0"}


async def document(
    app: Litestar, cccd: str, record_ids: list[str] | None, reader: Reader | None = None, now: datetime = MORNING_AFTER
) -> Any:
    async with own_database(app) as database, raw_transaction(database) as connection:
        patient_id = await find_patient(connection, cccd)
        assert patient_id is not None
        async with connection.transaction():
            return await ips_document(
                connection, patient_id, record_ids, reader or Reader.patient(patient_id), BASE_URL, now
            )


def sections(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    composition = bundle["entry"][0]["resource"]
    return {section["code"]["coding"][0]["code"]: section for section in composition["section"]}


def resources(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{e['resource']['resourceType']}/{e['resource']['id']}": e["resource"] for e in bundle["entry"]}


def other_patients_visit() -> dict[str, Any]:
    bundle = sample_json("fhir-visit-bundle.json")
    patient = bundle["entry"][0]["resource"]
    patient["identifier"] = [{"system": "http://fhir.ehealth.gov.vn/core/sid/national_id", "value": OTHER_CCCD}]
    patient["name"] = [{"text": "Trần Thị Bình"}]
    patient["id"] = "bn-054321"
    bundle["entry"][0]["request"]["url"] = (
        f"Patient?identifier=http://fhir.ehealth.gov.vn/core/sid/national_id|{OTHER_CCCD}"
    )
    for entry in bundle["entry"][1:]:
        entry["resource"]["id"] = "b-" + entry["resource"]["id"]
    return bundle


@pytest.fixture
async def hospital(app: Litestar, client: AsyncTestClient[Litestar], clock: FakeClock) -> Hospital:
    """The sample hospital, after pushing the sample visit of An, and a visit of Bình."""
    hospital = Hospital(client, FACILITY, await register(app, FACILITY))
    for body in (sample_json("fhir-visit-bundle.json"), other_patients_visit()):
        response = await hospital.push(body, timestamp=int(clock.now.timestamp()))
        assert response.status_code == 200, response.text
    return hospital


async def test_a_summary_of_everything_is_a_valid_ips_document(app: Litestar, hospital: Hospital) -> None:
    bundle = await document(app, CCCD, None)
    Bundle.model_validate(bundle)  # FHIR R4B, every entry included
    assert bundle["type"] == "document" and bundle["identifier"]["value"].startswith("urn:uuid:")
    composition = bundle["entry"][0]["resource"]
    assert composition["resourceType"] == "Composition" and composition["status"] == "final"
    assert composition["type"]["coding"][0]["code"] == "60591-5"
    found = resources(bundle)
    assert found[composition["subject"]["reference"]]["resourceType"] == "Patient"
    assert [e["resource"]["resourceType"] for e in bundle["entry"]].count("Patient") == 1
    assert found[composition["author"][0]["reference"]]["resourceType"] == "Device"
    by_code = sections(bundle)
    assert REQUIRED | {"30954-2", "11369-6", "18776-5", "46240-8"} <= set(by_code)
    listed = {code: [entry["reference"] for entry in s.get("entry", [])] for code, s in by_code.items()}
    assert listed["11450-4"] == [f"Condition/{FACILITY}-cd-E119", f"Condition/{FACILITY}-cd-I10"] or sorted(
        listed["11450-4"]
    ) == [f"Condition/{FACILITY}-cd-E119", f"Condition/{FACILITY}-cd-I10"]
    assert listed["48765-2"] == [f"AllergyIntolerance/{FACILITY}-du-penicillin"]
    assert len(listed["10160-0"]) == 2
    assert sorted(listed["18776-5"]) == [
        f"Appointment/{FACILITY}-hk-20251002",
        f"ServiceRequest/{FACILITY}-ct-20251002",
    ]
    assert listed["30954-2"] == [f"Observation/{FACILITY}-xn-hba1c"]
    assert by_code["11369-6"]["emptyReason"]["coding"][0]["code"] == "unavailable"  # no vaccination in the book
    for code, section in by_code.items():
        assert section["text"]["div"].startswith('<div xmlns="http://www.w3.org/1999/xhtml">'), code
        for reference in listed[code]:
            assert reference in found, reference
    assert "E11.9" in by_code["11450-4"]["text"]["div"] and "0192984g7vsu-C" in by_code["10160-0"]["text"]["div"]
    assert "Bình" not in json.dumps(bundle, ensure_ascii=False)  # nothing of the other patient


async def test_every_clinical_entry_keeps_its_source_and_signature_state(app: Litestar, hospital: Hospital) -> None:
    bundle = await document(app, CCCD, None)
    found = resources(bundle)
    for section in sections(bundle).values():
        for entry in section.get("entry", []):
            meta = found[entry["reference"]]["meta"]
            assert meta["source"] == FACILITY
            assert {"system": "urn:healthbook:signature", "code": "unsigned"} in meta["tag"]


async def test_every_reference_resolves_inside_the_document(app: Litestar, hospital: Hospital) -> None:
    bundle = await document(app, CCCD, None)
    found = resources(bundle)
    for entry in bundle["entry"]:
        assert entry["fullUrl"] == f"{BASE_URL}/fhir/{entry['resource']['resourceType']}/{entry['resource']['id']}"
        for reference in references(entry["resource"]):
            assert reference in found, reference


def references(node: Any) -> list[str]:
    if isinstance(node, list):
        return [found for item in node for found in references(item)]
    if isinstance(node, dict):
        own = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return own + [found for value in node.values() for found in references(value)]
    return []


async def test_picked_records_only_and_the_rest_withheld(app: Litestar, hospital: Hospital) -> None:
    picked = [f"MedicationRequest/{FACILITY}-dt-84g7vsu-1", f"ServiceRequest/{FACILITY}-ct-20251002"]
    bundle = await document(app, CCCD, picked)
    Bundle.model_validate(bundle)
    by_code = sections(bundle)
    assert [e["reference"] for e in by_code["10160-0"]["entry"]] == [picked[0]]
    assert [e["reference"] for e in by_code["18776-5"]["entry"]] == [picked[1]]
    for code in ("11450-4", "48765-2", "30954-2", "11369-6", "46240-8"):
        assert by_code[code]["emptyReason"]["coding"][0]["code"] == "withheld", code
        assert "withheld" in by_code[code]["text"]["div"]
    kinds = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert kinds == {"Composition", "Patient", "Device", "MedicationRequest", "ServiceRequest", "Organization"}
    # The visit they belong to was not picked: the reference is cut, its id not given away.
    assert "Encounter" not in json.dumps(bundle)


async def test_another_patients_ids_never_leak(app: Litestar, hospital: Hospital) -> None:
    theirs = f"Condition/{FACILITY}-b-cd-E119"
    mine = f"Condition/{FACILITY}-cd-I10"
    bundle = await document(app, CCCD, [mine, theirs, "Condition/nonsense", "not a reference"])
    assert f"Condition/{FACILITY}-b-cd-E119" not in json.dumps(bundle)
    assert [e["reference"] for e in sections(bundle)["11450-4"]["entry"]] == [mine]
    with pytest.raises(NotFound):
        await document(app, CCCD, [theirs])
    with pytest.raises(NotFound):
        await document(app, CCCD, [])
    async with own_database(app) as database, raw_transaction(database) as connection:
        patient_id = await find_patient(connection, CCCD)
        assert isinstance(patient_id, UUID)
        assert await missing_record_ids(connection, patient_id, [mine, theirs]) == [theirs]


async def test_a_recipient_reading_is_logged_once_and_the_patient_not_at_all(app: Litestar, hospital: Hospital) -> None:
    before = await count(app, "access_event")
    await document(app, CCCD, None)
    assert await count(app, "access_event") == before
    bundle = await document(app, CCCD, None, RECIPIENT)
    assert await count(app, "access_event") == before + 1
    async with own_database(app) as database, raw_transaction(database) as connection:
        logged = await connection.fetchrow("SELECT channel, resource_ids FROM access_event ORDER BY id DESC LIMIT 1")
    assert logged is not None and logged["channel"] == "shl"
    shared = {key for key in resources(bundle) if key.split("/")[0] not in ("Composition", "Device", "Organization")}
    assert set(logged["resource_ids"]) == shared


async def test_a_summary_months_later_holds_no_past_plans_nor_old_prescriptions(
    app: Litestar, hospital: Hospital
) -> None:
    bundle = await document(app, CCCD, None, now=datetime(2026, 1, 5, 3, 0, tzinfo=UTC))
    by_code = sections(bundle)
    for code in ("18776-5", "10160-0"):  # the follow-up is past, the letter expired, the 30 days' pills taken
        assert by_code[code]["emptyReason"]["coding"][0]["code"] == "unavailable", code
    assert len(by_code["11450-4"]["entry"]) == 2  # diagnoses stay


async def test_a_picked_lab_report_comes_with_its_values(app: Litestar, hospital: Hospital, clock: FakeClock) -> None:
    report = {
        "resourceType": "DiagnosticReport",
        "id": "kq-hba1c-20251002",
        "status": "final",
        "code": {"text": "Phiếu kết quả xét nghiệm HbA1c"},
        "subject": {"reference": "Patient/bn-012345"},
        "effectiveDateTime": "2025-10-02T09:30:00+07:00",
        "result": [{"reference": "Observation/xn-hba1c"}],
    }
    pushed = await hospital.push(
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [{"resource": report, "request": {"method": "PUT", "url": "DiagnosticReport/kq-hba1c-20251002"}}],
        },
        timestamp=int(clock.now.timestamp()),
    )
    assert pushed.status_code == 200, pushed.text
    bundle = await document(app, CCCD, [f"DiagnosticReport/{FACILITY}-kq-hba1c-20251002"])
    Bundle.model_validate(bundle)
    shared = resources(bundle)
    assert f"Observation/{FACILITY}-xn-hba1c" in shared  # the value the report reports
    (result,) = shared[f"DiagnosticReport/{FACILITY}-kq-hba1c-20251002"]["result"]
    assert result["reference"] == f"Observation/{FACILITY}-xn-hba1c"
