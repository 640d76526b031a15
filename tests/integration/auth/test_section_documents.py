"""The documents section (`/book/documents`) and its files (`/book/documents/{id}/file`): a hospital's
attachments listed with open and download links, summaries shown as text, and each file served only to
its own patient, as itself only when a browser can show it harmlessly."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar import Litestar

from tests.support.clock import FakeClock
from tests.support.hospital import FACILITY, OTHER_FACILITY, Hospital, register, sample, sample_json
from tests.support.patients import Client, Outbox, browser_cookies, push_patient

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
ADVICE = "Lời dặn: uống đủ nước, tái khám sau 30 ngày"
PATIENT_URL = "urn:uuid:cd613e30-d8f1-6adf-91b7-584a2265b1f5"  # the sample bundle's patient
BINARY_URL = "urn:uuid:6f1c2a8e-0b7d-4c1e-9a55-2f3b4c5d6e70"
DOCUMENT = "01929-tl-1"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2025, 10, 13, 2, 0, tzinfo=UTC))


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def attachment(content_type: str, title: str, **where: Any) -> dict[str, Any]:
    return {"attachment": {"contentType": content_type, "title": title, **where}}


def document_bundle(patient: dict[str, Any], *, document_id: str = "tl-1", facility: str = FACILITY) -> dict[str, Any]:
    """A scan with five attachments (a PDF sent as a Binary, text, an HTML page, something calling itself
    a PDF, a file kept elsewhere) and an XML8-like summary with markup in its text."""
    subject = {"reference": patient["fullUrl"]}
    document = {
        "resourceType": "DocumentReference",
        "id": document_id,
        "status": "current",
        "type": {"text": "Tóm tắt hồ sơ bệnh án"},
        "subject": subject,
        "date": "2025-10-02T11:00:00+07:00",
        "content": [
            attachment("application/pdf", "Tóm tắt hồ sơ bệnh án.pdf", url=BINARY_URL),
            attachment("text/plain; charset=utf-8", "Lời dặn", data=b64(ADVICE)),
            attachment("text/html", '<b>trang</b>".html', data=b64("<script>alert(1)</script>")),
            attachment("application/pdf", "giả.pdf", data=b64("<html><script>alert(1)</script></html>")),
            attachment("image/png", "ảnh", url="https://his.example.vn/anh.png"),
        ],
    }
    summary = {
        "resourceType": "Composition",
        "id": f"{document_id}-tomtat",
        "status": "final",
        "type": {"coding": [{"system": "http://loinc.org", "code": "34133-9"}]},
        "subject": subject,
        "date": "2025-10-02T11:30:00+07:00",
        "author": [{"reference": f"Organization/{facility}"}],
        "title": "Tóm tắt hồ sơ bệnh án (ra viện)",
        "section": [
            {
                "title": "Chẩn đoán ra viện",
                "text": {
                    "status": "generated",
                    "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>Đau ngực &amp; &lt;b&gt;khó thở&lt;/b&gt;</p>'
                    "<p>Tăng huyết áp</p></div>",
                },
            }
        ],
    }
    binary = {"resourceType": "Binary", "id": f"{document_id}-pdf", "contentType": "application/pdf", "data": b64(PDF)}
    entries = [
        patient,
        {"fullUrl": BINARY_URL, "resource": binary, "request": {"method": "POST", "url": "Binary"}},
        {"resource": document, "request": {"method": "POST", "url": "DocumentReference"}},
        {"resource": summary, "request": {"method": "POST", "url": "Composition"}},
    ]
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


@pytest.fixture
async def hospital(app: Litestar, client: Client, clock: FakeClock) -> Hospital:
    """The sample visit, and the document bundle, from the sample hospital."""
    hospital = Hospital(client, FACILITY, await register(app, FACILITY))
    patient = sample_json("fhir-visit-bundle.json")["entry"][0]
    for body in (sample("fhir-visit-bundle.json"), document_bundle(patient)):
        pushed = await hospital.push(body, timestamp=int(clock.now.timestamp()))
        assert pushed.status_code == 200, pushed.text
    return hospital


async def signed_in(client: Client, outbox: Outbox, phone: str = "0912 345 678", *, consent: bool = True) -> None:
    session, csrf = await browser_cookies(client, outbox, phone)
    client.cookies.set("__Host-session", session)
    client.cookies.set("__Host-csrf", csrf)
    if consent:
        version = (await client.get("/api/patient/v1/privacy-notice")).json()["version"]
        answer = await client.post("/api/patient/v1/consent", json={"version": version}, headers={"X-CSRF-Token": csrf})
        assert answer.status_code == 204, answer.text


def file_url(document: str = DOCUMENT, part: int | str = 0) -> str:
    return f"/book/documents/{document}/file?part={part}"


@pytest.mark.usefixtures("hospital")
async def test_the_section_lists_each_file_with_open_and_download_links_and_summaries_as_text(
    client: Client, outbox: Outbox
) -> None:
    await signed_in(client, outbox)
    page = await client.get("/book/documents")
    assert page.status_code == 200, page.text
    text = page.text
    assert "Tóm tắt hồ sơ bệnh án" in text and "02/10/2025 11:00" in text
    href = 'href="/book/documents/01929-tl-1/file?part=0"'
    assert f'hx-boost="false" {href}>' in text and f"{href} download>" in text  # open, and save
    assert 'href="/book/documents/01929-tl-1/file?part=4"' not in text  # kept at the hospital: no link
    # Markup a hospital sent is shown as text, never as markup.
    assert "&lt;b&gt;trang&lt;/b&gt;" in text and "<b>trang" not in text and "<script>alert" not in text
    assert "Chẩn đoán ra viện" in text and "Đau ngực &amp; &lt;b&gt;khó thở&lt;/b&gt;\nTăng huyết áp" in text
    assert "Tóm tắt hồ sơ bệnh án (ra viện)" in text


@pytest.mark.usefixtures("hospital")
async def test_a_pdf_sent_as_a_binary_opens_inline_with_its_name(client: Client, outbox: Outbox) -> None:
    await signed_in(client, outbox)
    answer = await client.get(file_url(part=0))
    assert answer.status_code == 200, answer.text
    assert answer.content == PDF
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-content-type-options"] == "nosniff"
    disposition = answer.headers["content-disposition"]
    assert disposition.startswith("inline; filename=\"Tom tat ho so benh an.pdf\"; filename*=UTF-8''")
    assert "T%C3%B3m%20t%E1%BA%AFt%20h%E1%BB%93%20s%C6%A1%20b%E1%BB%87nh%20%C3%A1n.pdf" in disposition


@pytest.mark.usefixtures("hospital")
async def test_text_sent_inline_is_utf8_text(client: Client, outbox: Outbox) -> None:
    await signed_in(client, outbox)
    answer = await client.get(file_url(part=1))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/plain; charset=utf-8"
    assert answer.content.decode() == ADVICE
    assert answer.headers["content-disposition"].startswith('inline; filename="Loi dan.txt"')


@pytest.mark.usefixtures("hospital")
@pytest.mark.parametrize("part", [2, 3])
async def test_html_or_a_false_pdf_is_only_ever_saved_never_shown(client: Client, outbox: Outbox, part: int) -> None:
    await signed_in(client, outbox)
    answer = await client.get(file_url(part=part))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/octet-stream"
    disposition = answer.headers["content-disposition"]
    assert disposition.startswith("attachment; ") and "inline" not in disposition
    assert '"' not in disposition.split('filename="', 1)[1].split('"', 1)[0]  # the name's own quote is gone
    assert b"<script>" in answer.content  # the bytes as sent, to save


@pytest.mark.usefixtures("hospital")
async def test_nothing_and_garbage_are_404(client: Client, outbox: Outbox) -> None:
    await signed_in(client, outbox)
    nothing = await client.get(file_url("01929-nothing"))
    assert nothing.status_code == 404 and "text/html" in nothing.headers["content-type"]
    for url in (
        file_url(part=4),  # a file kept at the hospital, not sent
        file_url(part=5),
        file_url(part=-1),
        file_url(part=10**9),
        file_url("01929-tl-1-tomtat"),  # a Composition is not a DocumentReference
        file_url("01929-tl-1-pdf"),  # nor is a Binary
        file_url("x" * 500),
        file_url("%3Cscript%3E"),
    ):
        answer = await client.get(url)
        assert answer.status_code == 404, (url, answer.status_code)
        per_request = re.compile(r"[0-9a-f]{32}|nonce=\"[^\"]*\"|/book/documents/[^\"]*/file")
        assert per_request.sub("", answer.text) == per_request.sub("", nothing.text), url
    assert (await client.get(file_url(part="abc"))).status_code == 400
    assert (await client.get(file_url("..%2F..%2Fetc"))).status_code == 404
    assert (await client.get(f"/book/results/{DOCUMENT}/file")).status_code == 404  # files are the documents'


async def test_another_patients_document_is_the_same_404_as_none(
    app: Litestar, client: Client, outbox: Outbox, clock: FakeClock, hospital: Hospital
) -> None:
    other = Hospital(client, OTHER_FACILITY, await register(app, OTHER_FACILITY))
    await push_patient(other, "079085054321", "Trần Thị Bình", "0987 654 321", timestamp=int(clock.now.timestamp()))
    theirs = {
        "fullUrl": "urn:uuid:0b0b0b0b-0000-4000-8000-000000000001",
        "resource": {
            "resourceType": "Patient",
            "id": "bn-054321",
            "identifier": [{"system": "http://fhir.ehealth.gov.vn/core/sid/national_id", "value": "079085054321"}],
        },
        "request": {
            "method": "PUT",
            "url": "Patient?identifier=http://fhir.ehealth.gov.vn/core/sid/national_id|079085054321",
        },
    }
    pushed = await other.push(
        document_bundle(theirs, document_id="tl-b", facility=OTHER_FACILITY), timestamp=int(clock.now.timestamp())
    )
    assert pushed.status_code == 200, pushed.text
    await signed_in(client, outbox)  # A, the sample patient
    theirs_answer = await client.get(file_url("01002-tl-b"))
    nobody = await client.get(file_url("01002-tl-nobody"))
    assert (theirs_answer.status_code, nobody.status_code) == (404, 404)
    per_request = re.compile(r"[0-9a-f]{32}|nonce=\"[^\"]*\"")
    assert per_request.sub("", theirs_answer.text).replace("tl-b", "ID") == per_request.sub("", nobody.text).replace(
        "tl-nobody", "ID"
    )
    assert PDF not in theirs_answer.content
    own = await client.get(file_url(part=0))
    assert own.status_code == 200 and own.content == PDF


@pytest.mark.usefixtures("hospital")
async def test_files_need_a_signed_in_consented_book(client: Client, outbox: Outbox) -> None:
    answer = await client.get(file_url(), follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/login")
    await signed_in(client, outbox, consent=False)
    assert (await client.get(file_url())).status_code == 404
