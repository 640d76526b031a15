"""What an independent review of the QĐ130 XML intake found making 5xx, losing rows behind a `200`, or
mixing two pushes; each now has a definite, tested answer (contract §3.3)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from litestar import Litestar

from backend.records.fhir import validation
from backend.records.xml130 import conversion
from backend.records.xml130.mapping import map_xml2
from tests.support.hospital import Hospital, count, register, sample, webhook_headers
from tests.support.xml130 import (
    EPISODE,
    XML_FACILITY,
    current,
    drug_lines,
    envelope,
    envelope_of_hosos,
    of_type,
    push_xml,
    result_lines,
    sample_tables,
    with_field,
    xml_sender,
)

XML_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>'


@pytest.fixture
async def xml_hospital(app: Litestar, client: Any) -> Hospital:
    return await xml_sender(app, client)


async def assert_refused(app: Litestar, response: Any, status: int, expression: str | None) -> None:
    """A clean 4xx OperationOutcome naming the place, nothing stored, and one refusal in the delivery log."""
    assert response.status_code == status, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    if expression is not None:
        found = [e for issue in outcome["issue"] for e in issue.get("expression", [])]
        assert expression in found, found
    assert await count(app, "record", "NOT deleted") == 0
    assert await count(app, "delivery", "NOT accepted") == 1


def with_tables(**changes: str) -> bytes:
    """The sample envelope, with some tables replaced."""
    return envelope([(kind, changes.get(kind, content)) for kind, content in sample_tables().items()])


def changed(table: str, name: str, value: str | None) -> bytes:
    return with_tables(**{table: with_field(sample_tables()[table], name, value)})


def live_drugs(records: dict[str, Any]) -> set[str]:
    return {row["content"]["medicationCodeableConcept"]["text"] for row in of_type(records, "MedicationRequest")}


# Dates past 2100 overflowed the date arithmetic (a 500, and no delivery row, so senders retried forever).


@pytest.mark.parametrize(
    ("table", "name", "value"),
    [
        ("XML14", "NGAY_HEN_KL", "999912312359"),
        ("XML13", "NGAY_RA", "999912312359"),
        ("XML13", "NGAY_RA", "999912200000"),
        ("XML1", "NGAY_VAO", "210101010800"),
        ("XML1", "NGAY_TAI_KHAM", "99991231"),
        ("XML1", "NGAY_SINH", "999901010000"),
        ("XML2", "NGAY_YL", "189912312359"),
    ],
)
async def test_dates_outside_1900_to_2100_are_refused_at_their_field(
    app: Litestar, xml_hospital: Hospital, table: str, name: str, value: str
) -> None:
    response = await push_xml(xml_hospital, changed(table, name, value))
    await assert_refused(app, response, 422, f"{table}[0].{name}")


@pytest.mark.parametrize("created", ["20251399", "00000000", "2025-10-02", "202510021399", "99991231"])
async def test_a_malformed_envelope_date_is_refused(app: Litestar, xml_hospital: Hospital, created: str) -> None:
    # NGAYLAP dates a referral letter whose XML13 has no NGAY_RA.
    xml13 = with_field(sample_tables()["XML13"], "NGAY_RA", None)
    body = envelope([("XML1", sample_tables()["XML1"]), ("XML13", xml13)], created=created)
    await assert_refused(app, await push_xml(xml_hospital, body), 422, "THONGTINHOSO.NGAYLAP")


async def test_the_envelope_date_dates_a_referral_without_a_discharge_time(
    app: Litestar, xml_hospital: Hospital
) -> None:
    xml13 = with_field(sample_tables()["XML13"], "NGAY_RA", None)
    body = envelope([("XML1", sample_tables()["XML1"]), ("XML13", xml13)], created="202510061530")
    assert (await push_xml(xml_hospital, body)).status_code == 200
    (referral,) = of_type(await current(app), "ServiceRequest")
    assert referral["content"]["authoredOn"] == "2025-10-06"


# Only UTF-8 (contract §3.3): other declared encodings were decoded, or were codec names that made a 500.


@pytest.mark.parametrize("encoding", ["x-foo", "rot13", "base64", "zlib", "utf-16", "windows-1258", "latin-1"])
async def test_a_body_declaring_another_encoding_is_400(app: Litestar, xml_hospital: Hospital, encoding: str) -> None:
    table = sample("xml130-xml13-bare.xml").replace(b'encoding="utf-8"', f'encoding="{encoding}"'.encode())
    await assert_refused(app, await push_xml(xml_hospital, table), 400, None)


async def test_a_utf16_body_is_400(app: Litestar, xml_hospital: Hospital) -> None:
    text = sample("xml130-xml13-bare.xml").decode().replace('encoding="utf-8"', 'encoding="utf-16"')
    await assert_refused(app, await push_xml(xml_hospital, text.encode("utf-16")), 400, None)
    without_declaration = text.split("?>", 1)[1].encode("utf-16-le")
    response = await push_xml(xml_hospital, without_declaration)
    assert response.status_code == 400


@pytest.mark.parametrize("encoding", ["rot13", "windows-1258", "utf-16"])
async def test_a_table_declaring_another_encoding_is_400_at_its_file(
    app: Litestar, xml_hospital: Hospital, encoding: str
) -> None:
    xml13 = sample_tables()["XML13"].replace('encoding="utf-8"', f'encoding="{encoding}"')
    body = envelope([("XML1", sample_tables()["XML1"]), ("XML13", xml13)])
    await assert_refused(app, await push_xml(xml_hospital, body), 400, "FILEHOSO[1].NOIDUNGFILE")


@pytest.mark.parametrize("declared", ["UTF-8", "utf8", "Utf-8"])
async def test_utf8_is_accepted_however_it_is_spelled(xml_hospital: Hospital, declared: str) -> None:
    body = sample("xml130-envelope.xml").replace(b'encoding="utf-8"', f"encoding='{declared}'".encode(), 1)
    response = await push_xml(xml_hospital, body)
    assert response.status_code == 200, response.text


# Size: a push of 100 000 rows held the event loop and a transaction for half a minute.


async def test_a_push_of_more_rows_than_records_allowed_is_refused_before_mapping(
    app: Litestar, xml_hospital: Hospital
) -> None:
    response = await push_xml(xml_hospital, drug_lines(EPISODE, range(1, 5002)).encode())
    await assert_refused(app, response, 422, "XML2")
    assert response.json()["issue"][0]["code"] == "too-costly"


async def test_a_push_mapping_to_more_than_5000_records_is_refused(app: Litestar, xml_hospital: Hospital) -> None:
    # 2 501 result lines of 2 501 services: an Observation and a DiagnosticReport each.
    results = result_lines(EPISODE, {f"X{n}": "1" for n in range(2501)}, separate_services=True)
    body = envelope([("XML1", sample_tables()["XML1"]), ("XML4", results)])
    response = await push_xml(xml_hospital, body)
    await assert_refused(app, response, 422, None)
    assert "5000 records" in response.json()["issue"][0]["diagnostics"]


async def test_mapping_and_validation_run_off_the_event_loop(
    xml_hospital: Hospital, monkeypatch: pytest.MonkeyPatch
) -> None:
    loops: list[asyncio.AbstractEventLoop | None] = []

    def check_resource(resource: dict[str, Any], path: str) -> str:
        try:
            loops.append(asyncio.get_running_loop())
        except RuntimeError:  # a worker thread: no running loop
            loops.append(None)
        return validation.check_resource(resource, path)

    monkeypatch.setattr("backend.records.xml130.conversion.check_resource", check_resource)
    assert (await push_xml(xml_hospital, sample("xml130-envelope.xml"))).status_code == 200
    assert loops and set(loops) == {None}


# Concurrent pushes for one episode mixed: each read what the episode held before the other wrote. The
# test client hands requests to the app one at a time, so these push to a running server.


@pytest.fixture
async def live_xml(app: Litestar, live_server: str) -> AsyncIterator[Callable[[bytes], Awaitable[httpx.Response]]]:
    secret = await register(app, XML_FACILITY)
    async with httpx.AsyncClient(base_url=live_server, timeout=120) as client:

        async def push(body: bytes) -> httpx.Response:
            headers = webhook_headers(secret, body, content_type="application/xml")
            return await client.post(f"/api/hospital/v1/{XML_FACILITY}/xml130", content=body, headers=headers)

        yield push


async def test_concurrent_pushes_of_one_episode_end_as_one_of_them_alone(
    app: Litestar, live_xml: Callable[[bytes], Awaitable[httpx.Response]]
) -> None:
    first = envelope([("XML1", sample_tables()["XML1"]), ("XML2", drug_lines(EPISODE, [1, 2, 3]))])
    assert (await live_xml(first)).status_code == 200
    left = {f"Thuốc {n}" for n in range(1, 3001)}
    right = {"Thuốc 1"} | {f"Thuốc {n}" for n in range(3001, 6000)}
    for _ in range(3):
        responses = await asyncio.gather(
            live_xml(drug_lines(EPISODE, range(1, 3001)).encode()),
            live_xml(drug_lines(EPISODE, [1, *range(3001, 6000)]).encode()),
        )
        assert [r.status_code for r in responses] == [200, 200], [r.text[:200] for r in responses]
        drugs = live_drugs(await current(app))
        assert drugs in (left, right), (len(drugs), len(drugs & left), len(drugs & right))


async def test_a_concurrent_visit_summary_and_letter_leave_one_follow_up(
    app: Litestar, live_xml: Callable[[bytes], Awaitable[httpx.Response]]
) -> None:
    tables = sample_tables()
    for number in range(3):  # a fresh episode each time: a stored letter would settle it
        ma_lk = f"EP{number}"
        xml1 = with_field(tables["XML1"], "MA_LK", ma_lk)
        xml14 = with_field(tables["XML14"], "MA_LK", ma_lk)
        assert (await live_xml(with_field(xml1, "NGAY_TAI_KHAM", None).encode())).status_code == 200
        # Drug and result lines make both pushes long enough to overlap.
        summary = envelope([("XML1", xml1), ("XML2", drug_lines(ma_lk, range(1, 2001)))])
        letter = envelope([("XML14", xml14), ("XML4", result_lines(ma_lk, {f"X{n}": "1" for n in range(2000)}))])
        responses = await asyncio.gather(live_xml(summary), live_xml(letter))
        assert [r.status_code for r in responses] == [200, 200]
        appointments = [row for row in of_type(await current(app), "Appointment") if row["episode"] == ma_lk]
        assert [row["source_table"] for row in appointments] == ["XML14"]  # NGAY_TAI_KHAM waits for no letter


# Rows named alike collapsed into one record, the last one winning, behind a 200.


async def test_two_drug_lines_with_one_stt_are_refused(app: Litestar, xml_hospital: Hospital) -> None:
    body = with_tables(XML2=drug_lines(EPISODE, [1, 2, 1]))
    await assert_refused(app, await push_xml(xml_hospital, body), 422, "XML2[2].STT")


async def test_one_stt_in_two_tables_of_one_episode_is_refused(app: Litestar, xml_hospital: Hospital) -> None:
    tables = sample_tables()
    body = envelope([("XML1", tables["XML1"]), ("XML2", drug_lines(EPISODE, [1])), ("XML2", drug_lines(EPISODE, [1]))])
    await assert_refused(app, await push_xml(xml_hospital, body), 422, "XML2[1].STT")


async def test_two_result_lines_with_one_stt_are_refused(app: Litestar, xml_hospital: Hospital) -> None:
    results = result_lines(EPISODE, {"A": "1", "B": "2"}).replace("<STT>2</STT>", "<STT>1</STT>")
    body = envelope([("XML1", sample_tables()["XML1"]), ("XML4", results)])
    await assert_refused(app, await push_xml(xml_hospital, body), 422, "XML4[1].STT")


@pytest.mark.parametrize("table", ["XML13", "XML14", "XML1"])
async def test_a_second_single_row_table_of_one_episode_is_refused(
    app: Litestar, xml_hospital: Hospital, table: str
) -> None:
    tables = sample_tables()
    body = envelope([*tables.items(), (table, tables[table])])
    await assert_refused(app, await push_xml(xml_hospital, body), 422, f"{table}[1]")


async def test_the_same_stt_in_two_episodes_is_two_drugs(app: Litestar, xml_hospital: Hospital) -> None:
    tables = sample_tables()
    other = with_field(with_field(tables["XML1"], "MA_LK", "EP2"), "SO_CCCD", "079195000111")
    body = envelope(
        [
            ("XML1", tables["XML1"]),
            ("XML1", other),
            ("XML2", drug_lines(EPISODE, [1])),
            ("XML2", drug_lines("EP2", [1])),
        ]
    )
    assert (await push_xml(xml_hospital, body)).status_code == 200
    assert len(of_type(await current(app), "MedicationRequest")) == 2


# Rows were found by fixed, namespace-unaware paths: anything else was a 200 that stored nothing.


async def test_tables_in_a_default_namespace_are_read(app: Litestar, xml_hospital: Hospital) -> None:
    tables = sample_tables()
    xml2 = tables["XML2"].replace("<CHITIEU_CHITIET_THUOC>", '<CHITIEU_CHITIET_THUOC xmlns="urn:x">')
    xml1 = tables["XML1"].replace("<TONG_HOP>", '<TONG_HOP xmlns="urn:x">')
    body = envelope([("XML1", xml1), ("XML2", xml2)]).replace(b"<GIAMDINHHS>", b'<GIAMDINHHS xmlns="urn:y">')
    response = await push_xml(xml_hospital, body)
    assert response.status_code == 200, response.text
    assert live_drugs(await current(app)) == {"Nitroglycerin 2,6mg", "Bisoprolol 2,5mg"}
    bare = xml2.replace("Nitroglycerin", "Nitroglycerin retard")
    assert (await push_xml(xml_hospital, bare.encode())).status_code == 200
    assert "Nitroglycerin retard 2,6mg" in live_drugs(await current(app))


async def test_drug_lines_outside_their_list_are_refused(app: Litestar, xml_hospital: Hospital) -> None:
    wrapperless = drug_lines(EPISODE, [1]).replace("<DSACH_CHI_TIET_THUOC>", "").replace("</DSACH_CHI_TIET_THUOC>", "")
    await assert_refused(app, await push_xml(xml_hospital, wrapperless.encode()), 422, "XML2")
    response = await push_xml(xml_hospital, with_tables(XML2=wrapperless))
    assert response.status_code == 422
    assert "FILEHOSO[1]" in [e for issue in response.json()["issue"] for e in issue.get("expression", [])]


async def test_an_empty_drug_list_beside_its_xml1_removes_the_drugs(app: Litestar, xml_hospital: Hospital) -> None:
    assert (await push_xml(xml_hospital, sample("xml130-envelope.xml"))).status_code == 200
    empty = f"{XML_DECLARATION}<CHITIEU_CHITIET_THUOC><DSACH_CHI_TIET_THUOC/></CHITIEU_CHITIET_THUOC>"
    response = await push_xml(xml_hospital, envelope([("XML1", sample_tables()["XML1"]), ("XML2", empty)]))
    assert response.status_code == 200, response.text
    records = await current(app)
    assert live_drugs(records) == set() and len(of_type(records, "MedicationRequest", deleted=True)) == 2
    assert len(of_type(records, "ServiceRequest")) == 1  # the other tables stay


async def test_an_empty_list_names_the_episode_of_its_own_hoso_only(app: Litestar, xml_hospital: Hospital) -> None:
    tables = sample_tables()
    other = with_field(with_field(tables["XML1"], "MA_LK", "EP2"), "SO_CCCD", "079195000111")
    first = envelope_of_hosos([[("XML1", tables["XML1"]), ("XML2", tables["XML2"])], [("XML1", other)]])
    assert (await push_xml(xml_hospital, first)).status_code == 200
    empty = (
        f"{XML_DECLARATION}<CHITIEU_CHITIET_THUOC><DSACH_CHI_TIET_THUOC></DSACH_CHI_TIET_THUOC></CHITIEU_CHITIET_THUOC>"
    )
    second = envelope_of_hosos([[("XML1", tables["XML1"])], [("XML1", other), ("XML2", empty)]])
    assert (await push_xml(xml_hospital, second)).status_code == 200
    assert len(live_drugs(await current(app))) == 2  # EP2 had no drugs; EPISODE's were not in that HOSO


@pytest.mark.parametrize(
    ("body", "expression"),
    [
        (f"{XML_DECLARATION}<CHITIEU_CHITIET_THUOC><DSACH_CHI_TIET_THUOC/></CHITIEU_CHITIET_THUOC>".encode(), "XML2"),
        (
            envelope(
                [("XML2", f"{XML_DECLARATION}<CHITIEU_CHITIET_THUOC><DSACH_CHI_TIET_THUOC/></CHITIEU_CHITIET_THUOC>")]
            ),
            "FILEHOSO[0]",
        ),
        (
            envelope([("XML4", f"{XML_DECLARATION}<CHITIEU_CHITIET_DICHVUCANLAMSANG/>")]),
            "FILEHOSO[0]",
        ),
    ],
)
async def test_an_empty_list_with_no_episode_is_refused(
    app: Litestar, xml_hospital: Hospital, body: bytes, expression: str
) -> None:
    await assert_refused(app, await push_xml(xml_hospital, body), 422, expression)


# A field twice in one row, or LOAIHOSO twice in one file, resolved silently to one of them.


async def test_a_field_twice_in_one_row_is_refused(app: Litestar, xml_hospital: Hospital) -> None:
    xml1 = sample_tables()["XML1"].replace("</TONG_HOP>", "<SO_CCCD>079195000111</SO_CCCD></TONG_HOP>")
    await assert_refused(app, await push_xml(xml_hospital, with_tables(XML1=xml1)), 422, "XML1[0].SO_CCCD")


async def test_loaihoso_twice_in_one_file_is_refused(app: Litestar, xml_hospital: Hospital) -> None:
    tables = sample_tables()
    body = envelope([("XML3", tables["XML1"])]).replace(b"</LOAIHOSO>", b"</LOAIHOSO><LOAIHOSO>XML1</LOAIHOSO>")
    await assert_refused(app, await push_xml(xml_hospital, body), 422, "FILEHOSO[0].LOAIHOSO")


async def test_the_facility_code_twice_is_refused(app: Litestar, xml_hospital: Hospital) -> None:
    body = sample("xml130-envelope.xml").replace(b"</MACSKCB>", b"</MACSKCB><MACSKCB>01929</MACSKCB>")
    await assert_refused(app, await push_xml(xml_hospital, body), 422, "THONGTINDONVI.MACSKCB")


# Refusals name the row and field the hospital sent, not an element of a bundle it never saw.


@pytest.mark.parametrize(
    ("table", "name", "value"),
    [
        ("XML2", "SO_LUONG", "1e999"),
        ("XML2", "SO_LUONG", "9" * 400),
        ("XML2", "SO_LUONG", "1_000"),
        ("XML2", "SO_LUONG", "Infinity"),
        ("XML2", "MA_THUOC", "40  677"),
        ("XML2", "DUONG_DUNG", "1  1"),
        ("XML1", "MA_BENH_CHINH", "I2  8"),
        ("XML1", "MA_BENH_KT", "I10;E1  1"),
        ("XML14", "MA_BENH_CHINH", "I2  8"),
        ("XML1", "MA_KHOA", "K  03"),
        ("XML1", "MA_BENH_CHINH", "I20\t8"),  # a tab is not the single space FHIR codes allow
        ("XML1", "NGAY_SINH", "19900231"),  # no 31 February: refused, not silently dropped
        ("XML1", "NGAY_SINH", "199003150000xyz"),
        ("XML1", "NGAY_TAI_KHAM", "20251020xyz"),
    ],
)
async def test_values_fhir_cannot_hold_are_refused_at_their_field(
    app: Litestar, xml_hospital: Hospital, table: str, name: str, value: str
) -> None:
    response = await push_xml(xml_hospital, changed(table, name, value))
    await assert_refused(app, response, 422, f"{table}[0].{name}")


async def test_an_invalid_record_is_reported_at_the_row_that_made_it(
    app: Litestar, xml_hospital: Hospital, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(row: Any, episode: Any) -> Any:  # a mapping bug our field checks do not catch
        return [replace_status(item) for item in map_xml2(row, episode)]

    def replace_status(item: Any) -> Any:
        item.resource["status"] = "banana"
        return item

    monkeypatch.setitem(conversion._SINGLE_ROW_MAPPERS, "XML2", broken)
    response = await push_xml(xml_hospital, sample("xml130-envelope.xml"))
    await assert_refused(app, response, 422, "XML2[0]")
    assert "MedicationRequest.status" in response.json()["issue"][0]["diagnostics"]


async def test_bad_base64_names_its_file(app: Litestar, xml_hospital: Hospital) -> None:
    body = envelope([("XML1", sample_tables()["XML1"])]).replace(b"<NOIDUNGFILE>", b"<NOIDUNGFILE>!!", 1)
    await assert_refused(app, await push_xml(xml_hospital, body), 400, "FILEHOSO[0].NOIDUNGFILE")


async def test_a_broken_table_names_its_file(app: Litestar, xml_hospital: Hospital) -> None:
    broken = base64.b64encode(b"<TONG_HOP><MA_LK>1</TONG_HOP>").decode()
    body = envelope([("XML1", sample_tables()["XML1"]), ("XML2", "x")])
    body = body.replace(base64.b64encode(b"x"), broken.encode())
    await assert_refused(app, await push_xml(xml_hospital, body), 400, "FILEHOSO[1].NOIDUNGFILE")


# Result values: only a plain decimal is a number.


async def test_only_plain_decimals_become_quantities(app: Litestar, xml_hospital: Hospital) -> None:
    values = {"A": "inf", "B": "nan", "C": "1e999", "D": "1_000", "E": "١٢", "F": "12.50", "G": "-0.5", "H": "7"}
    body = envelope([("XML1", sample_tables()["XML1"]), ("XML4", result_lines(EPISODE, values))])
    response = await push_xml(xml_hospital, body)
    assert response.status_code == 200, response.text
    found = {
        row["content"]["code"]["coding"][0]["code"]: row["content"]
        for row in of_type(await current(app), "Observation")
    }
    for code in "ABCDE":
        assert found[code]["valueString"] == values[code] and "valueQuantity" not in found[code]
    assert found["F"]["valueQuantity"]["value"] == 12.5  # stored as a JSON number; see the report on precision
    assert found["G"]["valueQuantity"]["value"] == -0.5 and found["H"]["valueQuantity"]["value"] == 7


# Codes a patient could not read, a short inpatient stay shown as a visit, a referral to oneself.


async def test_the_visit_says_how_it_ended_in_words(app: Litestar, xml_hospital: Hospital) -> None:
    xml8 = (
        f"{XML_DECLARATION}<CHI_TIEU_DU_LIEU_TOM_TAT_HO_SO_BENH_AN><MA_LK>{EPISODE}</MA_LK>"
        "<KET_QUA_DTRI>2</KET_QUA_DTRI><NGAY_CT>20251002</NGAY_CT></CHI_TIEU_DU_LIEU_TOM_TAT_HO_SO_BENH_AN>"
    )
    xml1 = with_field(sample_tables()["XML1"], "MA_LOAI_KCB", "09")
    assert (await push_xml(xml_hospital, envelope([("XML1", xml1), ("XML8", xml8)]))).status_code == 200
    records = await current(app)
    (encounter,) = [row["content"] for row in of_type(records, "Encounter")]
    disposition = encounter["hospitalization"]["dischargeDisposition"]
    assert disposition["text"] == "Chuyển tuyến theo yêu cầu chuyên môn"  # MA_LOAI_RV 2
    assert disposition["coding"][0]["code"] == "2"
    assert encounter["extension"][0]["valueCodeableConcept"]["text"] == "Đỡ"  # KET_QUA_DTRI 2
    assert encounter["class"]["code"] == "IMP"  # 09: inpatient, under four hours
    (summary,) = [row["content"] for row in of_type(records, "Composition")]
    (section,) = [s for s in summary["section"] if s["title"] == "Kết quả điều trị"]
    assert "Đỡ" in section["text"]["div"]


async def test_a_referral_to_the_sender_itself_is_refused(app: Litestar, xml_hospital: Hospital) -> None:
    await assert_refused(
        app, await push_xml(xml_hospital, changed("XML13", "MA_NOI_DEN", "01002")), 422, "XML13[0].MA_NOI_DEN"
    )


async def test_the_refusals_above_leave_the_earlier_records_untouched(app: Litestar, xml_hospital: Hospital) -> None:
    assert (await push_xml(xml_hospital, sample("xml130-envelope.xml"))).status_code == 200
    before = await current(app)
    refused = [
        with_tables(XML2=drug_lines(EPISODE, [1, 1])),
        changed("XML14", "NGAY_HEN_KL", "999912312359"),
        changed("XML2", "SO_LUONG", "1e999"),
    ]
    for body in refused:
        assert (await push_xml(xml_hospital, body)).status_code == 422
    assert await current(app) == before
    assert await count(app, "delivery", "NOT accepted") == len(refused)
