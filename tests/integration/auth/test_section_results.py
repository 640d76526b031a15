"""`/book/results` as the signed-in patient reads it (contract §6, issue 6): one card per test whatever
hospital or year it came from, a trend chart and a table of the values, flags in words, where each
value came from, the hospitals' reports, and narrowing by words. Every record is pushed through the
hospital API; the sample visit (HbA1c 7.2 %, flagged H, on 2 October 2025 at 01929) is already there."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar import Litestar

from tests.integration.auth.test_book_pages import signed_in
from tests.support.clock import FakeClock
from tests.support.hospital import FACILITY, OTHER_FACILITY, Hospital, register, rotate, sample_json
from tests.support.patients import Client, Outbox

pytestmark = pytest.mark.usefixtures("visit", "more_results")

LOINC = "http://loinc.org"
HBA1C = {"coding": [{"system": LOINC, "code": "4548-4", "display": "Hemoglobin A1c"}], "text": "HbA1c"}
GLUCOSE = {"coding": [{"system": "urn:vn:moh:ma-chi-so", "code": "XN0001"}], "text": "Glucose máu lúc đói"}
BLOOD_GROUP = {"coding": [{"system": LOINC, "code": "882-1"}], "text": "Nhóm máu"}
OTHER_NAME = "Bệnh viện Hữu Nghị Thủ Đô"
CARD = 'class="item card result"'


@pytest.fixture
def clock() -> FakeClock:
    """Eleven days after the sample visit."""
    return FakeClock(datetime(2025, 10, 13, 2, 0, tzinfo=UTC))


def observation(local_id: str, code: dict[str, Any], when: str, **parts: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": local_id,
        "status": "final",
        "code": code,
        "effectiveDateTime": when,
        **parts,
    }


def percent(value: float) -> dict[str, Any]:
    return {"valueQuantity": {"value": value, "unit": "%"}, "referenceRange": [{"high": {"value": 6.5, "unit": "%"}}]}


def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    """The sample's patient entry, then each record, every one about that patient."""
    patient = sample_json("fhir-visit-bundle.json")["entry"][0]
    entries = [patient]
    for resource in resources:
        url = f"{resource['resourceType']}/{resource['id']}"
        entries.append(
            {
                "fullUrl": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, url)}",
                "resource": {**resource, "subject": {"reference": patient["fullUrl"]}},
                "request": {"method": "PUT", "url": url},
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


@pytest.fixture
async def more_results(app: Litestar, client: Client, clock: FakeClock) -> None:
    """At the sample's hospital: an older HbA1c, a glucose known only by its MA_CHI_SO code, the blood
    group, a result whose name is HTML and a report grouping two results. At another hospital: an HbA1c
    with no flag of its own, above its range."""
    at = int(clock.now.timestamp())
    home = Hospital(client, FACILITY, await rotate(app, FACILITY))
    report = {
        "resourceType": "DiagnosticReport",
        "id": "dv-sinh-hoa",
        "status": "final",
        "code": {"text": "Xét nghiệm sinh hóa máu"},
        "effectiveDateTime": "2025-10-02T09:00:00+07:00",
        "conclusion": "Đường huyết lúc đói cao, cần tái khám",
        "result": [{"reference": "Observation/xn-glucose"}],
    }
    pushed = await home.push(
        bundle(
            observation("xn-a1c-2024", HBA1C, "2024-10-01T08:30:00+07:00", **percent(6.4)),
            observation(
                "xn-glucose",
                GLUCOSE,
                "2025-10-02T09:30:00+07:00",
                valueQuantity={"value": 8.1, "unit": "mmol/L"},
                referenceRange=[{"low": {"value": 3.9}, "high": {"value": 6.4}}],
            ),
            observation(
                "xn-nhom-mau", BLOOD_GROUP, "2024-10-01T08:30:00+07:00", valueCodeableConcept={"text": "O Rh+"}
            ),
            observation("xn-html", {"text": "<script>alert(1)</script>"}, "2023-01-01", valueString="<b>Âm tính</b>"),
            report,
        ),
        timestamp=at,
    )
    assert pushed.status_code == 200, pushed.text
    other = Hospital(client, OTHER_FACILITY, await register(app, OTHER_FACILITY, OTHER_NAME))
    pushed = await other.push(
        bundle(observation("xn-a1c", HBA1C, "2025-04-01T08:30:00+07:00", **percent(6.9))), timestamp=at
    )
    assert pushed.status_code == 200, pushed.text


def cards(page: str) -> list[str]:
    return page.split(CARD)[1:]


async def test_one_card_per_test_with_its_trend_table_flags_and_sources(client: Client, outbox: Outbox) -> None:
    await signed_in(client, outbox)
    client.cookies.set("lang", "en")
    page = await client.get("/book/results")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    found = cards(page.text)
    titles = [re.search(r"<h2 [^>]*>([^<]*)</h2>", card).group(1) for card in found]  # type: ignore[union-attr]
    # Newest test first; the HbA1c of two hospitals and two years is one card; no blood group.
    assert titles == ["Glucose máu lúc đói", "HbA1c", "&lt;script&gt;alert(1)&lt;/script&gt;"]
    assert "O Rh+" not in page.text and "<script>alert" not in page.text and "&lt;b&gt;Âm tính" in page.text
    assert "01/01/2023<" in found[2]  # a day, without a made-up time
    glucose, hba1c, _ = found
    assert "8.1 mmol/L" in glucose and "Above range" in glucose and "<svg" not in glucose
    # The card: the newest value, the hospital's own flag in words beside a marker, its source.
    assert "7.2 %" in hba1c and '<span aria-hidden="true">▲</span> High' in hba1c
    assert "From Bệnh viện 01929" in hba1c.split('class="provenance"')[1]
    # The trend: an image with a summary from the first value to the last, the range shaded.
    svg = hba1c.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert 'role="img"' in svg and "<rect" in svg and svg.count("<circle") == 3
    assert "HbA1c, 3 values: from 6.4 % on 01/10/2024 to 7.2 % on 02/10/2025" in svg
    # The table: every value with its date and hospital, flags in words.
    table = hba1c.split("<table", 1)[1].split("</table>", 1)[0]
    rows = table.split("<tbody>", 1)[1].split("<tr>")[1:]
    assert [row.split('<th scope="row">', 1)[1].split("<", 1)[0].strip() for row in rows] == [
        "02/10/2025",
        "01/04/2025",
        "01/10/2024",
    ]
    assert OTHER_NAME in rows[1] and "Above range" in rows[1] and "Bệnh viện 01929" in rows[2]
    # The report: its conclusion, and a link to the card of the result it groups.
    reports = page.text.split('id="reports-heading"', 1)[1]
    assert "Đường huyết lúc đói cao, cần tái khám" in reports and 'href="#test-1"' in reports


async def test_the_page_is_vietnamese_by_default(client: Client, outbox: Outbox) -> None:
    await signed_in(client, outbox)
    page = (await client.get("/book/results")).text
    assert '<html lang="vi"' in page and "Kết quả xét nghiệm" in page and "Từ Bệnh viện 01929" in page
    assert len(cards(page)) == 3 and page.count("<svg") == 1


async def test_words_narrow_the_results_to_one_test(client: Client, outbox: Outbox) -> None:
    await signed_in(client, outbox)
    page = (await client.get("/book/results", params={"q": "hba1c"})).text
    assert len(cards(page)) == 1 and "Glucose" not in page and "<svg" in page
    hospital = (await client.get("/book/results", params={"facility": OTHER_FACILITY})).text
    assert len(cards(hospital)) == 1 and "6.9 %" in hospital and "<svg" not in hospital  # one value: no trend
    nothing = (await client.get("/book/results", params={"q": "khong co xet nghiem nay"})).text
    assert not cards(nothing) and "Chưa có gì ở đây." in nothing


async def test_a_search_does_not_count_the_blood_group_among_the_results(client: Client, outbox: Outbox) -> None:
    await signed_in(client, outbox)
    blood = (await client.get("/book/search", params={"q": "nhom mau"})).text
    assert "/book/results?q=" not in blood  # shown with the patient's name, not as a result
    hba1c = (await client.get("/book/search", params={"q": "hba1c"})).text
    assert "/book/results?q=hba1c" in hba1c
