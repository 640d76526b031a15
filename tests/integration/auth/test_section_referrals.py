"""`/book/referrals` as the signed-in patient reads it: each letter from one hospital to the next, how
many Vietnam calendar days it is still valid, expired and revoked ones apart and marked, where each came
from, and the section narrowed by hospital."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar import Litestar

from tests.support.clock import FakeClock
from tests.support.hospital import CCCD, FACILITY, OTHER_FACILITY, Hospital, register
from tests.support.patients import NATIONAL_ID, PHONE, PHONE_E164, Client, Outbox, browser_cookies, push_patient

MINH_AN = "Bệnh viện Đa khoa Minh An"
HUU_NGHI = "Bệnh viện Hữu Nghị Thủ Đô"
CATEGORY = [{"coding": [{"system": "http://snomed.info/sct", "code": "3457005", "display": "Patient referral"}]}]
PATIENT = "urn:uuid:5b0c8a2e-3f1d-4c6b-9a7e-2d4f6a8b0c1e"
HTML = '<script>alert("x")</script>'


@pytest.fixture
def clock() -> FakeClock:
    """23:59 on 25 November 2025 in Hanoi (16:59 UTC): a minute before the day changes there."""
    return FakeClock(datetime(2025, 11, 25, 16, 59, tzinfo=UTC))


def letter(number: str, start: str, end: str, *, to: str = OTHER_FACILITY, **changes: Any) -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "id": number.lower(),
        "status": "active",
        "intent": "order",
        "identifier": [{"system": "urn:vn:cskcb:giay-chuyen-tuyen", "value": number}],
        "category": CATEGORY,
        "code": {"text": f"Chuyển tuyến {number}"},
        "subject": {"reference": PATIENT},
        "performer": [{"reference": f"Organization/{to}", "display": "a name the registry overrides"}],
        "occurrencePeriod": {"start": start, "end": end},
        **changes,
    }


async def push(hospital: Hospital, clock: FakeClock, *resources: dict[str, Any]) -> None:
    """A transaction of the test patient (this phone, this CCCD) and these letters, signed now."""
    patient = {
        "resourceType": "Patient",
        "id": "bn-012345",
        "identifier": [{"system": NATIONAL_ID, "value": CCCD}],
        "name": [{"text": "Nguyễn Văn An"}],
        "telecom": [{"system": "phone", "value": PHONE_E164, "use": "mobile"}],
    }
    entries = [
        {"fullUrl": PATIENT, "resource": patient, "request": {"method": "PUT", "url": "Patient/bn-012345"}},
        *(
            {
                "fullUrl": f"urn:uuid:00000000-0000-4000-8000-{number:012d}",
                "resource": resource,
                "request": {"method": "PUT", "url": f"ServiceRequest/{resource['id']}"},
            }
            for number, resource in enumerate(resources)
        ),
    ]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    response = await hospital.push(bundle, timestamp=int(clock.now.timestamp()))
    assert response.status_code == 200, response.text


async def signed_in(client: Client, outbox: Outbox, *, language: str = "vi") -> None:
    """Signed in through the web forms, consent given, reading in this language."""
    session, csrf = await browser_cookies(client, outbox, PHONE)
    client.cookies.set("__Host-session", session)
    client.cookies.set("__Host-csrf", csrf)
    version = (await client.get("/api/patient/v1/privacy-notice")).json()["version"]
    answer = await client.post("/api/patient/v1/consent", json={"version": version}, headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 204, answer.text
    client.cookies.set("lang", language)


def words(page: str) -> str:
    """What a person reads: the text without tags, spaces collapsed."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page))).strip()


async def read(client: Client, **params: str) -> str:
    page = await client.get("/book/referrals", params=params)
    assert page.status_code == 200, page.text[:500]
    assert page.headers["cache-control"] == "no-store"
    return page.text


@pytest.fixture
async def letters(app: Litestar, client: Client, clock: FakeClock) -> None:
    minh_an = Hospital(client, FACILITY, await register(app, FACILITY, MINH_AN))
    huu_nghi = Hospital(client, OTHER_FACILITY, await register(app, OTHER_FACILITY, HUU_NGHI))
    await push(
        minh_an,
        clock,
        letter(
            "CT-SOON",
            "2025-11-14",
            "2025-11-28",
            reasonCode=[{"text": "Vượt quá khả năng chuyên môn của cơ sở"}],
            note=[
                {"text": f"Dấu hiệu lâm sàng: đau ngực {HTML}"},
                {"text": "Hướng điều trị tiếp theo: Chụp mạch vành"},
            ],
        ),
        letter("CT-TODAY", "2025-11-11", "2025-11-25"),
        letter("CT-EXPIRED", "2025-11-06", "2025-11-20"),
        letter("CT-REVOKED", "2025-11-20", "2025-12-04", status="revoked"),
        {**letter("XN-ORDER", "2025-11-20", "2025-12-04"), "category": [{"text": "Xét nghiệm"}]},  # not a letter
    )
    await push(huu_nghi, clock, letter("CT-BACK", "2025-11-21", "2025-12-05", to=FACILITY))


@pytest.mark.usefixtures("letters")
async def test_letters_read_from_to_with_days_left_and_expired_ones_apart(client: Client, outbox: Outbox) -> None:
    await signed_in(client, outbox, language="en")
    text = words(await read(client))
    assert f"From {MINH_AN} → To {HUU_NGHI}" in text and f"From {HUU_NGHI} → To {MINH_AN}" in text
    assert "a name the registry overrides" not in text
    assert "Referral number: CT-SOON" in text and "XN-ORDER" not in text
    assert "Valid from 14/11/2025 to 28/11/2025 · 3 days left" in text
    assert "Valid from 11/11/2025 to 25/11/2025 · expires today" in text
    assert "Reason for referral: Vượt quá khả năng chuyên môn của cơ sở" in text
    assert "Next treatment: Chụp mạch vành" in text and "Clinical summary Dấu hiệu lâm sàng: đau ngực" in text
    valid, others = text.split("Expired, used or not valid")
    # Valid letters, soonest to expire first; then the rest, newest first.
    assert [valid.index(n) for n in ("CT-TODAY", "CT-SOON", "CT-BACK")] == sorted(
        valid.index(n) for n in ("CT-TODAY", "CT-SOON", "CT-BACK")
    )
    assert "CT-REVOKED" in others and "CT-EXPIRED" in others and "CT-REVOKED" not in valid
    assert others.index("CT-REVOKED") < others.index("CT-EXPIRED")
    assert "Revoked by the hospital" in others and "Expired" in others
    # Where each came from, received at the test clock's time, and its signature state.
    assert f"From {MINH_AN} · received 25/11/2025 23:59 not signed" in text
    assert f"From {HUU_NGHI} · received 25/11/2025 23:59 not signed" in text


@pytest.mark.usefixtures("letters")
async def test_text_from_the_hospital_is_escaped(client: Client, outbox: Outbox) -> None:
    await signed_in(client, outbox)
    page = await read(client)
    assert HTML not in page and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page


@pytest.mark.usefixtures("letters")
async def test_a_letter_ending_today_expires_at_midnight_in_vietnam(
    client: Client, outbox: Outbox, clock: FakeClock
) -> None:
    await signed_in(client, outbox, language="en")
    valid, _ = words(await read(client)).split("Expired, used or not valid")
    assert "CT-TODAY" in valid
    clock.advance(minutes=1)  # 00:00 on 26 November in Hanoi, still the 25th in UTC
    valid, others = words(await read(client)).split("Expired, used or not valid")
    assert "CT-TODAY" in others and "CT-TODAY" not in valid
    assert "Valid from 14/11/2025 to 28/11/2025 · 2 days left" in valid


@pytest.mark.usefixtures("letters")
async def test_the_section_is_in_vietnamese_and_narrows_to_one_hospital(client: Client, outbox: Outbox) -> None:
    await signed_in(client, outbox)
    page = await read(client)
    assert '<html lang="vi"' in page and 'href="/book/referrals" aria-current="page"' in page
    assert f"Từ {MINH_AN}" in words(page) and "nhận ngày" in page  # provenance, in Vietnamese
    narrowed = words(await read(client, facility=OTHER_FACILITY))
    assert "CT-BACK" in narrowed
    assert not any(number in narrowed for number in ("CT-SOON", "CT-TODAY", "CT-EXPIRED", "CT-REVOKED"))
    assert "CT-BACK" not in words(await read(client, facility=FACILITY))


async def test_a_book_without_letters_says_so(app: Litestar, client: Client, outbox: Outbox, clock: FakeClock) -> None:
    hospital = Hospital(client, FACILITY, await register(app, FACILITY, MINH_AN))
    await push_patient(hospital, CCCD, "Nguyễn Văn An", PHONE, timestamp=int(clock.now.timestamp()))
    await signed_in(client, outbox, language="en")
    text = words(await read(client))
    assert "No referral letter yet." in text and "Valid now" not in text
