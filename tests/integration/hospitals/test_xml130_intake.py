"""Hospitals push the QĐ130/4750 XML they already produce (contract §3.3): mapped into the same FHIR
records as a FHIR push, replaced per (episode, table), refused cleanly when wrong."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from litestar import Litestar

from backend.audit import Reader
from backend.database import raw_transaction
from backend.records.reads import find_patient, read_records
from backend.records.served import served_resource
from tests.support.hospital import CCCD, Hospital, count, fetch, own_database, sample
from tests.support.xml130 import (
    EPISODE,
    current,
    envelope,
    of_type,
    push_xml,
    sample_tables,
    with_field,
    xml_sender,
)


@pytest.fixture
async def xml_hospital(app: Litestar, client: Any) -> Hospital:  # 01002 sends the XML samples
    return await xml_sender(app, client)


async def test_the_sample_envelope_becomes_the_records_a_patient_reads(app: Litestar, xml_hospital: Hospital) -> None:
    response = await push_xml(xml_hospital, sample("xml130-envelope.xml"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    answer = response.json()["records"]
    assert {item["table"] for item in answer} == {"XML1", "XML2", "XML13", "XML14"}
    assert {item["ma_lk"] for item in answer} == {EPISODE}
    assert all(item["location"].endswith("/_history/1") for item in answer)

    records = await current(app)
    assert {row["cccd"] for row in records.values()} == {CCCD}
    (referral,) = [row["content"] for row in of_type(records, "ServiceRequest")]
    assert referral["performer"] == [{"reference": "Organization/01929"}]  # MA_NOI_DEN
    assert referral["reasonCode"][0]["coding"][0]["code"] == "2"  # MA_LYDO_CT
    assert referral["occurrencePeriod"] == {"start": "2025-10-02", "end": "2025-10-16"}  # 10 working days
    notes = " ".join(note["text"] for note in referral["note"])
    assert "Chụp động mạch vành" in notes and "Đau thắt ngực khi gắng sức" in notes  # next step, clinical signs
    assert {"system": "urn:vn:cskcb:01002:giay-chuyen-tuyen", "value": "01002.CT.66723"} in referral["identifier"]
    (follow_up,) = [row["content"] for row in of_type(records, "Appointment")]  # XML14 only: NGAY_TAI_KHAM waits
    assert follow_up["start"] == "2025-10-20T08:00:00+07:00"  # local time, never converted to UTC
    drugs = sorted((row["content"] for row in of_type(records, "MedicationRequest")), key=lambda r: r["id"])
    assert drugs[0]["dosageInstruction"][0]["text"] == "1 viên/lần * 2 lần/ngày * 14 ngày [2 viên/ngày]"
    assert drugs[0]["dispenseRequest"]["expectedSupplyDuration"]["value"] == 14
    assert drugs[0]["medicationCodeableConcept"]["text"] == "Nitroglycerin 2,6mg"
    (encounter,) = [row["content"] for row in of_type(records, "Encounter")]
    assert encounter["period"] == {"start": "2025-10-02T07:30:00+07:00", "end": "2025-10-02T11:30:00+07:00"}
    assert {c["content"]["code"]["coding"][0]["code"] for c in of_type(records, "Condition")} == {"I20.8", "I10"}
    (patient,) = [row["content"] for row in of_type(records, "Patient")]
    assert patient["birthDate"] == "1990-03-15" and patient["gender"] == "male"
    assert "use" not in patient["telecom"][0]  # a phone from XML1 may be a relative's
    (advice,) = [row["content"] for row in of_type(records, "CarePlan")]
    assert advice["description"] == "Ăn nhạt, tránh gắng sức; tái khám theo hẹn"
    assert {row["source_table"] for row in records.values() if row["episode"]} == {"XML1", "XML2", "XML13", "XML14"}


async def test_a_repeat_push_changes_nothing(app: Litestar, xml_hospital: Hospital) -> None:
    body = sample("xml130-envelope.xml")
    first = await push_xml(xml_hospital, body, webhook_id="msg_xml_1")
    again = await push_xml(xml_hospital, body, webhook_id="msg_xml_1")
    assert again.status_code == 200 and again.content == first.content
    versions = await count(app, "record_version")
    resent = await push_xml(xml_hospital, body)  # a new webhook-id: new versions of the same records
    assert resent.status_code == 200
    assert all(item["location"].endswith("/_history/2") for item in resent.json()["records"])
    assert await count(app, "record", "NOT deleted") == len(first.json()["records"])
    assert await count(app, "record_version") == 2 * versions


async def test_the_xml_records_sit_in_the_book_beside_fhir_records_from_another_facility(
    app: Litestar, hospital: Hospital, xml_hospital: Hospital
) -> None:
    assert (await hospital.push(sample("fhir-visit-bundle.json"))).status_code == 200
    assert (await push_xml(xml_hospital, sample("xml130-envelope.xml"))).status_code == 200
    async with own_database(app) as database, raw_transaction(database) as connection:
        patient_id = await find_patient(connection, CCCD)
        assert patient_id is not None
        views = await read_records(connection, Reader.patient(patient_id), patient_id, datetime.now(UTC))
    sources = {view.facility_code for view in views}
    assert sources == {"01929", "01002"}
    referral = next(
        served_resource(v) for v in views if v.facility_code == "01002" and v.resource_type == "ServiceRequest"
    )
    assert referral["meta"]["source"] == "01002"
    assert referral["subject"]["reference"] == "Patient/01002-q130-bn-001090012345"


async def test_a_bare_table_is_filed_to_the_patient_of_the_stored_episode(
    app: Litestar, xml_hospital: Hospital
) -> None:
    assert (await push_xml(xml_hospital, sample("xml130-envelope.xml"))).status_code == 200
    response = await push_xml(xml_hospital, sample("xml130-xml13-bare.xml"))
    assert response.status_code == 200, response.text
    (item,) = response.json()["records"]
    assert item["table"] == "XML13" and item["location"].endswith("/_history/2")  # the same referral, again
    referrals = of_type(await current(app), "ServiceRequest")
    assert len(referrals) == 1 and referrals[0]["cccd"] == CCCD
    assert referrals[0]["content"]["encounter"]["reference"].endswith("-xml1-encounter")


async def test_a_bare_table_of_an_unknown_episode_is_refused(app: Litestar, xml_hospital: Hospital) -> None:
    response = await push_xml(xml_hospital, sample("xml130-xml13-bare.xml"))
    assert response.status_code == 422
    assert response.json()["issue"][0]["expression"] == ["XML13[0].MA_LK"]
    assert await count(app, "record") == 0


async def test_a_push_replaces_what_its_tables_made_before_and_leaves_the_rest(
    app: Litestar, xml_hospital: Hospital
) -> None:
    tables = sample_tables()
    assert (await push_xml(xml_hospital, sample("xml130-envelope.xml"))).status_code == 200
    one_drug = tables["XML2"].split("<CHI_TIET_THUOC>")
    shorter = one_drug[0] + "<CHI_TIET_THUOC>" + one_drug[1].split("</CHI_TIET_THUOC>")[0] + "</CHI_TIET_THUOC>"
    shorter += "</DSACH_CHI_TIET_THUOC></CHITIEU_CHITIET_THUOC>"
    response = await push_xml(xml_hospital, envelope([("XML2", shorter)]))
    assert response.status_code == 200, response.text
    records = await current(app)
    assert len(of_type(records, "MedicationRequest")) == 1  # the second line is gone from the book…
    assert len(of_type(records, "MedicationRequest", deleted=True)) == 1  # …and kept in history
    assert len(of_type(records, "ServiceRequest")) == 1 and len(of_type(records, "Appointment")) == 1  # the rest stays


async def test_the_visit_summarys_follow_up_date_counts_only_without_a_letter(
    app: Litestar, xml_hospital: Hospital
) -> None:
    tables = sample_tables()
    assert (await push_xml(xml_hospital, envelope([("XML1", tables["XML1"])]))).status_code == 200
    (follow_up,) = [row["content"] for row in of_type(await current(app), "Appointment")]
    assert follow_up["start"] == "2025-10-20T00:00:00+07:00" and follow_up["end"] == "2025-10-20T23:59:00+07:00"
    assert (await push_xml(xml_hospital, envelope([("XML14", tables["XML14"])]))).status_code == 200
    records = await current(app)
    (letter,) = [row["content"] for row in of_type(records, "Appointment")]
    assert letter["start"] == "2025-10-20T08:00:00+07:00"  # the letter's own time
    assert len(of_type(records, "Appointment", deleted=True)) == 1


async def test_the_documented_quirks_are_accepted(app: Litestar, xml_hospital: Hospital) -> None:
    tables = sample_tables()
    xml1 = with_field(tables["XML1"], "NGAY_SINH", "199000000000")  # unknown month and day
    xml1 = with_field(xml1, "MAHUYEN_CU_TRU", "")  # empty elements
    xml1 = with_field(xml1, "NGAY_TAI_KHAM", "20251020;20251103")  # a ; list
    xml13 = with_field(tables["XML13"], "PP_DIEUTRI", None)  # only the other spelling left
    body = b"\xef\xbb\xbf" + envelope([("XML1", xml1), ("XML13", xml13)], wrap=True)  # a BOM, wrapped base64
    response = await push_xml(xml_hospital, body, content_type="text/xml")
    assert response.status_code == 200, response.text
    records = await current(app)
    (patient,) = [row["content"] for row in of_type(records, "Patient")]
    assert patient["birthDate"] == "1990"
    assert len(of_type(records, "Appointment")) == 2
    (referral,) = [row["content"] for row in of_type(records, "ServiceRequest")]
    assert any(note["text"].startswith("Phương pháp") and "Nội khoa" in note["text"] for note in referral["note"])


async def test_known_tables_we_do_not_map_are_accepted_and_kept(app: Litestar, xml_hospital: Hospital) -> None:
    tables = sample_tables()
    xml3 = '<?xml version="1.0" encoding="utf-8"?><CHITIEU_CHITIET_DVKT_VTYT><DSACH/></CHITIEU_CHITIET_DVKT_VTYT>'
    body = envelope([("XML1", tables["XML1"]), ("XML3", xml3)])
    response = await push_xml(xml_hospital, body)
    assert response.status_code == 200
    assert {item["table"] for item in response.json()["records"]} == {"XML1"}
    (stored,) = await fetch(app, "SELECT body FROM delivery WHERE accepted")
    assert stored["body"] == body  # kept as received


async def test_several_episodes_in_one_envelope(app: Litestar, xml_hospital: Hospital) -> None:
    tables = sample_tables()
    other = with_field(with_field(tables["XML1"], "MA_LK", "EP2"), "SO_CCCD", "079195000111")
    response = await push_xml(xml_hospital, envelope([("XML1", tables["XML1"]), ("XML1", other)]))
    assert response.status_code == 200, response.text
    assert {item["ma_lk"] for item in response.json()["records"]} == {EPISODE, "EP2"}
    assert await count(app, "patient") == 2


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<TONG_HOP><MA_LK>&lol3;</MA_LK></TONG_HOP>"""
EXTERNAL = b"""<?xml version="1.0"?><!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]><TONG_HOP>&x;</TONG_HOP>"""


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"<GIAMDINHHS><unclosed>", 400),
        (b"not xml at all", 400),
        (BILLION_LAUGHS, 400),
        (EXTERNAL, 400),
        (b"<?xml version='1.0'?><!DOCTYPE GIAMDINHHS><GIAMDINHHS/>", 400),
        (b"<?xml version='1.0'?><HOADON><X>1</X></HOADON>", 400),
    ],
)
async def test_unsafe_or_unknown_xml_is_refused(
    app: Litestar, xml_hospital: Hospital, body: bytes, status: int
) -> None:
    response = await push_xml(xml_hospital, body)
    assert response.status_code == status
    assert response.json()["resourceType"] == "OperationOutcome"
    assert await count(app, "record") == 0 and await count(app, "delivery", "NOT accepted") == 1


def bad_field(table: str, name: str, value: str | None) -> bytes:
    tables = sample_tables()
    return envelope(
        [(kind, with_field(content, name, value) if kind == table else content) for kind, content in tables.items()]
    )


@pytest.mark.parametrize(
    ("body", "status", "expression"),
    [
        (bad_field("XML1", "MA_LK", None), 422, "XML1[0].MA_LK"),
        (bad_field("XML2", "MA_LK", None), 422, "XML2[0].MA_LK"),
        (bad_field("XML1", "SO_CCCD", "001090012"), 422, "XML1[0].SO_CCCD"),
        (bad_field("XML1", "SO_CCCD", "B1234567"), 422, "XML1[0].SO_CCCD"),
        (bad_field("XML1", "SO_CCCD", None), 422, "XML1[0].SO_CCCD"),
        (bad_field("XML13", "MA_CSKCB", "01929"), 422, "XML13[0].MA_CSKCB"),
        (bad_field("XML1", "MA_CSKCB", "01929"), 422, "XML1[0].MA_CSKCB"),
        (bad_field("XML13", "MA_NOI_DEN", None), 422, "XML13[0].MA_NOI_DEN"),
        (bad_field("XML13", "MA_LYDO_CT", "4"), 422, "XML13[0].MA_LYDO_CT"),
        (bad_field("XML1", "NGAY_VAO", "2025-10-02"), 422, "XML1[0].NGAY_VAO"),
        (bad_field("XML14", "NGAY_HEN_KL", "202513400800"), 422, "XML14[0].NGAY_HEN_KL"),
        (bad_field("XML2", "SO_LUONG", "28,5"), 422, "XML2[0].SO_LUONG"),
        (bad_field("XML2", "STT", "a"), 422, "XML2[0].STT"),
        (envelope([("XML1", sample_tables()["XML1"])], code="01929"), 422, "THONGTINDONVI.MACSKCB"),
        (envelope([("XML16", sample_tables()["XML1"])]), 422, "FILEHOSO[0].LOAIHOSO"),
        (envelope([("XML2", sample_tables()["XML1"])]), 422, "FILEHOSO[0]"),
    ],
)
async def test_wrong_fields_are_refused_and_named(
    app: Litestar, xml_hospital: Hospital, body: bytes, status: int, expression: str
) -> None:
    response = await push_xml(xml_hospital, body)
    assert response.status_code == status, response.text
    found = [e for issue in response.json()["issue"] for e in issue.get("expression", [])]
    assert expression in found, found
    assert await count(app, "record") == 0 and await count(app, "patient") == 0


async def test_bad_base64_is_400(app: Litestar, xml_hospital: Hospital) -> None:
    body = envelope([("XML1", sample_tables()["XML1"])]).replace(b"<NOIDUNGFILE>", b"<NOIDUNGFILE>!!", 1)
    response = await push_xml(xml_hospital, body)
    assert response.status_code == 400
    assert await count(app, "record") == 0


async def test_a_json_content_type_is_415(xml_hospital: Hospital) -> None:
    response = await push_xml(xml_hospital, sample("xml130-envelope.xml"), content_type="application/json")
    assert response.status_code == 415


async def test_an_xml1_naming_another_patient_moves_the_episode(app: Litestar, xml_hospital: Hospital) -> None:
    assert (await push_xml(xml_hospital, sample("xml130-envelope.xml"))).status_code == 200
    corrected = with_field(sample_tables()["XML1"], "SO_CCCD", "079195000111")
    response = await push_xml(xml_hospital, envelope([("XML1", corrected)]))
    assert response.status_code == 200, response.text
    records = await current(app)
    live = {key: row for key, row in records.items() if not row["deleted"]}
    assert {row["cccd"] for row in live.values()} == {"079195000111"}  # the old name and blood group too
    assert not any(key.startswith(("ServiceRequest/", "MedicationRequest/")) for key in live)  # send them again
    left_behind = [row for row in records.values() if row["deleted"] and row["cccd"] == CCCD]
    assert len(left_behind) >= 6  # out of the first patient's book, kept in history
    # A bare table now goes to the right patient.
    assert (await push_xml(xml_hospital, sample("xml130-xml13-bare.xml"))).status_code == 200
    (referral,) = of_type(await current(app), "ServiceRequest")
    assert referral["cccd"] == "079195000111"


async def test_moving_one_episode_keeps_the_first_patients_other_visits_whole(
    app: Litestar, xml_hospital: Hospital
) -> None:
    first = sample_tables()["XML1"]
    other_visit = with_field(first, "MA_LK", "LK-OTHER-VISIT")
    assert (await push_xml(xml_hospital, envelope([("XML1", other_visit)]))).status_code == 200
    assert (await push_xml(xml_hospital, envelope([("XML1", first)]))).status_code == 200  # sent last: owns Patient
    corrected = with_field(first, "SO_CCCD", "079195000111")
    assert (await push_xml(xml_hospital, envelope([("XML1", corrected)]))).status_code == 200
    live = [row for row in (await current(app)).values() if not row["deleted"] and row["cccd"] == CCCD]
    kept = {row["content"]["resourceType"] for row in live}
    assert {"Patient", "Encounter"} <= kept  # the other visit, and the person it belongs to


async def test_result_values_no_json_number_can_hold_are_kept_as_text(app: Litestar, xml_hospital: Hospital) -> None:
    xml4 = (
        '<?xml version="1.0" encoding="utf-8"?><CHITIEU_CHITIET_DICHVUCANLAMSANG><DSACH_CHI_TIET_CLS>'
        + "".join(
            f"<CHI_TIET_CLS><MA_LK>{EPISODE}</MA_LK><STT>{n}</STT><MA_CHI_SO>X{n}</MA_CHI_SO>"
            f"<TEN_CHI_SO>Chỉ số {n}</TEN_CHI_SO><GIA_TRI>{value}</GIA_TRI>"
            "<NGAY_KQ>202510020930</NGAY_KQ></CHI_TIET_CLS>"
            for n, value in enumerate(["NaN", "Infinity", "1e999", "Âm tính", "7.20"], start=1)
        )
        + "</DSACH_CHI_TIET_CLS></CHITIEU_CHITIET_DICHVUCANLAMSANG>"
    )
    body = envelope([("XML1", sample_tables()["XML1"]), ("XML4", xml4)])
    response = await push_xml(xml_hospital, body)
    assert response.status_code == 200, response.text
    values = {row["content"]["code"]["text"]: row["content"] for row in of_type(await current(app), "Observation")}
    assert values["Chỉ số 1"]["valueString"] == "NaN" and values["Chỉ số 3"]["valueString"] == "1e999"
    assert values["Chỉ số 4"]["valueString"] == "Âm tính" and values["Chỉ số 5"]["valueQuantity"]["value"] == 7.2
