"""`/book/prescriptions` as the signed-in patient reads it: each prescription's code large, as text and as
a QR code for the pharmacy; the dose as the prescriber wrote it; called-off lines struck through; where
each prescription came from; narrowing by words; whatever a hospital wrote, escaped."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar import Litestar
from markupsafe import escape

from backend.healthbook.presenters import PRESCRIPTION_CODE
from tests.integration.auth.test_book_pages import signed_in
from tests.support.clock import FakeClock
from tests.support.hospital import CCCD, OTHER_FACILITY, Hospital, register
from tests.support.patients import NATIONAL_ID, PHONE_E164, Client, Outbox

pytestmark = pytest.mark.usefixtures("visit", "other_hospital")

SAMPLE_CODE = "0192984g7vsu-C"  # the sample visit's prescription: Metformin and Amlodipin, 30 days from 2 October
SAMPLE_DOSE = "1 viên/lần * 2 lần/ngày * 30 ngày [2 viên/ngày]"
OTHER_CODE = "01002K7MQ2XA-C"
ODD_DOSE = "Sáng 1 gói,  tối 1 gói\n(pha với 50 ml nước)"
HOSTILE_DRUG = '<script>alert("thuốc")</script>Vitamin C 500mg'
PATIENT = "urn:uuid:5a0f8f0e-3c1b-4d53-9a52-0d7c1f3e2b10"


@pytest.fixture
def clock() -> FakeClock:
    """Eleven days after the sample visit: its 30-day prescription is current."""
    return FakeClock(datetime(2025, 10, 13, 2, 0, tzinfo=UTC))


def medication_request(local_id: str, status: str = "active", **fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": local_id,
        "status": status,
        "intent": "order",
        "groupIdentifier": {"system": PRESCRIPTION_CODE, "value": OTHER_CODE},
        "subject": {"reference": PATIENT},
        "authoredOn": "2025-10-10T15:00:00+07:00",
        "requester": {"display": "BS. Đỗ Thị Lan"},
        "dispenseRequest": {
            "quantity": {"value": 10, "unit": "gói"},
            "expectedSupplyDuration": {"value": 5, "unit": "ngày", "system": "http://unitsofmeasure.org", "code": "d"},
        },
        **fields,
    }


@pytest.fixture
async def other_hospital(app: Litestar, client: Client, clock: FakeClock) -> None:
    """A second hospital's prescription: a drug it keeps as a Medication, one line called off, and a drug
    name with HTML in it."""
    hospital = Hospital(client, OTHER_FACILITY, await register(app, OTHER_FACILITY, "Bệnh viện Hữu Nghị"))
    resources = [
        {
            "resourceType": "Medication",
            "id": "siro-ho",
            "code": {"text": "Siro ho <b>Prospan</b>"},
            "ingredient": [
                {
                    "itemCodeableConcept": {"text": "Cao lá thường xuân"},
                    "strength": {"numerator": {"value": 35, "unit": "mg"}, "denominator": {"value": 5, "unit": "ml"}},
                }
            ],
        },
        medication_request(
            "dh-1",
            medicationReference={"reference": "Medication/siro-ho"},
            dosageInstruction=[{"text": ODD_DOSE, "patientInstruction": "Uống sau ăn"}],
        ),
        medication_request("dh-2", "cancelled", medicationCodeableConcept={"text": "Cefuroxim 500mg"}),
        medication_request("dh-3", medicationCodeableConcept={"text": HOSTILE_DRUG}),
    ]
    entries = [
        {
            "fullUrl": PATIENT,
            "resource": {
                "resourceType": "Patient",
                "id": "bn-1",
                "identifier": [{"system": NATIONAL_ID, "value": CCCD}],
                "name": [{"text": "Nguyễn Văn An"}],
                "telecom": [{"system": "phone", "value": PHONE_E164}],
            },
            "request": {"method": "PUT", "url": "Patient/bn-1"},
        },
        *(
            {
                "fullUrl": f"urn:uuid:00000000-0000-4000-8000-{number:012d}",
                "resource": resource,
                "request": {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"},
            }
            for number, resource in enumerate(resources, start=1)
        ),
    ]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    response = await hospital.push(bundle, timestamp=int(clock.now.timestamp()))
    assert response.status_code == 200, response.text


def card_of(page: str, code: str) -> str:
    """The markup of the prescription with this code."""
    cards = page.split('<li class="item card prescription">')[1:]
    found = [card for card in cards if f'<span class="prescription-code">{code}</span>' in card]
    assert len(found) == 1, (code, page[:2000])
    return found[0]


def line_of(card: str, drug: str) -> str:
    lines = [part.split("</li>", 1)[0] for part in re.split(r'<li class="item(?: called-off)?">', card)[1:]]
    found = [text for text in lines if drug in text]
    assert len(found) == 1, (drug, card)
    before = card.split(found[0], 1)[0]
    return before[before.rindex("<li ") :] + found[0]


async def test_each_prescription_shows_its_code_large_with_a_qr_code_the_dose_verbatim_and_its_source(
    client: Client, outbox: Outbox
) -> None:
    await signed_in(client, outbox)
    page = await client.get("/book/prescriptions")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "Đơn thuốc đang dùng" in page.text  # both are current: Vietnamese first
    sample = card_of(page.text, SAMPLE_CODE)
    assert '<h3 class="prescription-heading">' in sample
    qr = sample.split('<div class="qr" role="img" aria-label="', 1)[1]
    assert SAMPLE_CODE in qr.split('"', 1)[0]  # the QR code's accessible name says whose code it is
    assert qr.split(">", 1)[1].startswith('<svg width="160" height="160" aria-hidden="true" ')
    assert f'<span class="dose">{escape(SAMPLE_DOSE)}</span>' in sample
    assert "Metformin 500mg (viên nén)" in sample and "Amlodipin 5mg (viên nén)" in sample
    assert "BS. Lê Minh Tuấn" in sample and "02/10/2025 10:30" in sample
    assert '<p class="provenance">' in sample and "Bệnh viện 01929" in sample
    other = card_of(page.text, OTHER_CODE)
    assert f'<span class="dose">{escape(ODD_DOSE)}</span>' in other  # spaces and line break as written
    assert "35 mg/5 ml" in other and "10 gói" in other and "Bệnh viện Hữu Nghị" in other
    assert page.text.index(OTHER_CODE) < page.text.index(SAMPLE_CODE)  # newest first


async def test_a_called_off_line_is_struck_through_and_says_so(client: Client, outbox: Outbox) -> None:
    await signed_in(client, outbox)
    card = card_of((await client.get("/book/prescriptions")).text, OTHER_CODE)
    cancelled = line_of(card, "Cefuroxim 500mg")
    assert cancelled.startswith('<li class="item called-off">') and "Đã hủy" in cancelled
    assert line_of(card, "Uống sau ăn").startswith('<li class="item">')
    client.cookies.set("lang", "en")
    english = card_of((await client.get("/book/prescriptions")).text, OTHER_CODE)
    assert "Called off" in line_of(english, "Cefuroxim 500mg") and "Prescription code" in english
    assert "From Bệnh viện Hữu Nghị" in english  # the provenance macro speaks the reader's language too


async def test_html_a_hospital_wrote_is_shown_as_text(client: Client, outbox: Outbox) -> None:
    await signed_in(client, outbox)
    page = (await client.get("/book/prescriptions")).text
    assert str(escape(HOSTILE_DRUG)) in page
    assert "<script>alert" not in page and "<b>Prospan" not in page
    assert "Siro ho &lt;b&gt;Prospan&lt;/b&gt;" in page  # the Medication the line points at names the drug


async def test_words_and_hospital_narrow_the_prescriptions(client: Client, outbox: Outbox) -> None:
    await signed_in(client, outbox)
    words = (await client.get("/book/prescriptions", params={"q": "metformin"})).text
    assert SAMPLE_CODE in words and "Metformin" in words and OTHER_CODE not in words and "Amlodipin" not in words
    accents = (await client.get("/book/prescriptions", params={"q": "cefuroxim"})).text
    assert OTHER_CODE in accents and SAMPLE_CODE not in accents
    hospital = (await client.get("/book/prescriptions", params={"facility": OTHER_FACILITY})).text
    assert OTHER_CODE in hospital and SAMPLE_CODE not in hospital
    nothing = (await client.get("/book/prescriptions", params={"q": "khong co thuoc nay"})).text
    assert "Chưa có gì ở đây." in nothing and "<svg" not in nothing.split("<h1", 1)[1]
