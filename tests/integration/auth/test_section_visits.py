"""The visits section (`/book/visits`) as the signed-in patient reads it: each visit with its diagnoses
(ICD-10 code and the hospital's name for it), the doctor's advice, the outcome, whether it came as FHIR
or as QĐ130 XML; diagnoses found by words even when their visit is not; vaccinations."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar import Litestar

from tests.support.clock import FakeClock
from tests.support.hospital import FACILITY, Hospital, register, sample, sample_json
from tests.support.patients import Client, Outbox, browser_cookies
from tests.support.xml130 import EPISODE, envelope, push_xml, sample_tables, with_field, xml_sender

XML_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>'
PATIENT_URL = "urn:uuid:cd613e30-d8f1-6adf-91b7-584a2265b1f5"  # the sample bundle's patient


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2025, 10, 13, 2, 0, tzinfo=UTC))


@pytest.fixture
async def hospital(app: Litestar, client: Client, clock: FakeClock) -> Hospital:
    hospital = Hospital(client, FACILITY, await register(app, FACILITY))
    pushed = await hospital.push(sample("fhir-visit-bundle.json"), timestamp=int(clock.now.timestamp()))
    assert pushed.status_code == 200, pushed.text
    return hospital


async def signed_in(client: Client, outbox: Outbox) -> None:
    session, csrf = await browser_cookies(client, outbox, "0912 345 678")
    client.cookies.set("__Host-session", session)
    client.cookies.set("__Host-csrf", csrf)
    version = (await client.get("/api/patient/v1/privacy-notice")).json()["version"]
    answer = await client.post("/api/patient/v1/consent", json={"version": version}, headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 204, answer.text


def entry(resource: dict[str, Any]) -> dict[str, Any]:
    return {"resource": resource, "request": {"method": "POST", "url": resource["resourceType"]}}


def odd_bundle() -> dict[str, Any]:
    """What a hospital may also send: a stay with markup in its texts and advice, a problem noted outside
    any visit, and a vaccination."""
    patient = sample_json("fhir-visit-bundle.json")["entry"][0]
    subject = {"reference": PATIENT_URL}
    stay_url = "urn:uuid:5a0c1d2e-3f40-4b5c-8d6e-7f8091a2b3c4"
    stay = {
        "resourceType": "Encounter",
        "id": "nt-1",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "subject": subject,
        "serviceProvider": {"reference": "Organization/01929"},
        "period": {"start": "2024-03-04T09:00:00+07:00", "end": "2024-03-09T10:00:00+07:00"},
        "reasonCode": [{"text": "<img src=x onerror=alert(1)> Sốt cao"}],
        "diagnosis": [{"condition": {"reference": "urn:uuid:9c8d7e6f-5a4b-4c3d-8e2f-1a0b9c8d7e6f"}, "rank": 1}],
    }
    pneumonia = {
        "resourceType": "Condition",
        "id": "vp-1",
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "J18.9", "display": "Viêm phổi <b>"}]},
        "subject": subject,
        "recordedDate": "2024-03-04",
    }
    advice = {
        "resourceType": "CarePlan",
        "id": "ld-1",
        "status": "active",
        "intent": "plan",
        "subject": subject,
        "encounter": {"reference": stay_url},
        "description": "Uống thuốc đủ 7 ngày <script>alert(1)</script>",
    }
    problem = {
        "resourceType": "Condition",
        "id": "bl-1",
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "K21.9"}]},
        "subject": subject,
        "recordedDate": "2023-01-05",
    }
    vaccine = {
        "resourceType": "Immunization",
        "id": "tc-1",
        "status": "completed",
        "vaccineCode": {"text": "Cúm mùa 2024"},
        "patient": subject,
        "occurrenceDateTime": "2024-10-01T09:00:00+07:00",
        "protocolApplied": [{"doseNumberPositiveInt": 1}],
    }
    entries = [
        patient,
        {"fullUrl": stay_url, **entry(stay)},
        {"fullUrl": "urn:uuid:9c8d7e6f-5a4b-4c3d-8e2f-1a0b9c8d7e6f", **entry(pneumonia)},
        entry(advice),
        entry(problem),
        entry(vaccine),
    ]
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


@pytest.mark.usefixtures("hospital")
async def test_a_visit_shows_its_diagnoses_by_icd10_code_and_name_and_links_to_that_day(
    client: Client, outbox: Outbox
) -> None:
    await signed_in(client, outbox)
    page = await client.get("/book/visits")
    assert page.status_code == 200, page.text
    text = html.unescape(page.text)
    assert '<h2 id="year-1">2025</h2>' in text and "02/10/2025 08:10" in text and "Khám Nội tiết" in text
    assert text.index("E11.9") < text.index("Đái tháo đường type 2 không có biến chứng")
    assert "I10" in text and "Tăng huyết áp vô căn (nguyên phát)" in text
    day = "facility=01929&since=2025-10-02&until=2025-10-02"
    assert f'href="/book/prescriptions?{day}"' in text
    prescriptions = await client.get(f"/book/prescriptions?{day}")
    assert prescriptions.status_code == 200 and "Metformin" in prescriptions.text


@pytest.mark.usefixtures("hospital")
async def test_a_diagnosis_is_found_by_words_even_when_its_visit_is_not(client: Client, outbox: Outbox) -> None:
    await signed_in(client, outbox)
    page = await client.get("/book/visits", params={"q": "dai thao duong"})
    assert page.status_code == 200, page.text
    assert "E11.9" in page.text and "I10" not in page.text
    assert "Chưa có gì ở đây." not in page.text


async def test_advice_outcome_and_discharge_from_a_qd130_stay(
    app: Litestar, client: Client, outbox: Outbox, clock: FakeClock, hospital: Hospital
) -> None:
    xml1 = with_field(sample_tables()["XML1"], "MA_LOAI_KCB", "03")  # an inpatient stay
    xml1 = with_field(xml1, "NGAY_RA", "202510041130")
    xml8 = (
        f"{XML_DECLARATION}<CHI_TIEU_DU_LIEU_TOM_TAT_HO_SO_BENH_AN><MA_LK>{EPISODE}</MA_LK>"
        "<CHAN_DOAN_RV>Cơn đau thắt ngực ổn định</CHAN_DOAN_RV>"
        "<QT_BENHLY>Đau ngực &lt;b&gt;3 ngày&lt;/b&gt;</QT_BENHLY>"
        "<KET_QUA_DTRI>2</KET_QUA_DTRI><NGAY_CT>20251004</NGAY_CT></CHI_TIEU_DU_LIEU_TOM_TAT_HO_SO_BENH_AN>"
    )
    sender = await xml_sender(app, client)
    pushed = await push_xml(sender, envelope([("XML1", xml1), ("XML8", xml8)]), timestamp=int(clock.now.timestamp()))
    assert pushed.status_code == 200, pushed.text
    await signed_in(client, outbox)
    page = await client.get("/book/visits", params={"facility": "01002"})
    assert page.status_code == 200, page.text
    text = html.unescape(page.text)
    assert "02/10/2025 07:30 – 04/10/2025 11:30" in text  # a stay: from admission to discharge
    assert "Department K03" in text or "Khoa K03" in text  # MA_KHOA: the only thing QĐ130 sends of it
    assert "Đau ngực khi gắng sức" in text  # LY_DO_VV
    assert text.index("I20.8") < text.index("Cơn đau thắt ngực ổn định") < text.index("I10")  # main first
    assert "Ăn nhạt, tránh gắng sức; tái khám theo hẹn" in text  # GHI_CHU: the doctor's advice
    assert "Đỡ" in text and "Chuyển tuyến theo yêu cầu chuyên môn" in text  # KET_QUA_DTRI, MA_LOAI_RV
    documents = await client.get("/book/documents", params={"facility": "01002"})
    assert documents.status_code == 200, documents.text
    assert "Tóm tắt hồ sơ bệnh án" in documents.text and "Quá trình bệnh lý và diễn biến lâm sàng" in documents.text
    assert "Đau ngực &lt;b&gt;3 ngày&lt;/b&gt;" in documents.text and "<b>3" not in documents.text


async def test_markup_a_hospital_sent_is_shown_as_text_and_loose_records_are_listed(
    client: Client, outbox: Outbox, clock: FakeClock, hospital: Hospital
) -> None:
    pushed = await hospital.push(odd_bundle(), timestamp=int(clock.now.timestamp()))
    assert pushed.status_code == 200, pushed.text
    await signed_in(client, outbox)
    page = await client.get("/book/visits")
    assert page.status_code == 200, page.text
    text = page.text
    assert "<img src=x" not in text and "<script>alert" not in text and "Viêm phổi <b>" not in text
    assert "&lt;img src=x onerror=alert(1)&gt; Sốt cao" in text and "Viêm phổi &lt;b&gt;" in text
    assert "Uống thuốc đủ 7 ngày &lt;script&gt;" in text
    assert "04/03/2024 09:00 – 09/03/2024 10:00" in text
    assert [h for h in ("2025</h2>", "2024</h2>") if h in text] == ["2025</h2>", "2024</h2>"]
    assert text.index("2025</h2>") < text.index("2024</h2>")  # newest first
    assert "K21.9" in text and "05/01/2023" in text  # a problem noted outside any visit
    assert "Cúm mùa 2024" in text and "01/10/2024 09:00" in text  # a vaccination


@pytest.mark.usefixtures("hospital")
async def test_the_section_reads_in_english_too(client: Client, outbox: Outbox) -> None:
    await signed_in(client, outbox)
    client.cookies.set("lang", "en")
    page = await client.get("/book/visits")
    assert page.status_code == 200 and '<html lang="en"' in page.text
    assert "Outpatient visit" in page.text and "Diagnoses" in page.text and "From Bệnh viện 01929" in page.text


@pytest.mark.usefixtures("hospital")
async def test_another_hospital_narrows_to_nothing(client: Client, outbox: Outbox) -> None:
    await signed_in(client, outbox)
    page = await client.get("/book/visits", params={"facility": "01013"})
    assert page.status_code == 200 and "Chưa có gì ở đây." in page.text
