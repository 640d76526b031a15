"""The reception desk opens a patient's share (issue 9): a receptionist scans the link, sees exactly what
was shared with its source facility and signature state, prints the summary, downloads the FHIR Bundle,
and every open is in the patient's access log as the receptionist and their facility. Passcodes, stopped,
ended, tampered and foreign links are refused with a message and open nothing."""

from __future__ import annotations

import base64
import json
from datetime import UTC, timedelta
from typing import Any

from litestar import Litestar

from backend.database import raw_transaction
from backend.i18n import LANGUAGE_COOKIE, translations
from backend.sharing.access_log import plain_words
from backend.sharing.manifest import PURPOSE
from backend.signatures.registry import register_certificate
from tests.integration.sharing.shl import ACCESS_LOG, SHARES, decode_shlink, make_share
from tests.support.clock import FakeClock
from tests.support.hospital import FACILITY, Hospital, count, fetch, own_database, rotate, sample
from tests.support.patients import Client
from tests.support.signing import sample_certificate
from tests.support.staff import add_member, post_form, signed_in_member

ALLERGY = f"AllergyIntolerance/{FACILITY}-du-penicillin"


async def desk(client: Client, app: Litestar, username: str = "le.tan", role: str = "receptionist") -> None:
    """`client` now carries a signed-in member's staff cookie (and no patient's)."""
    member = await add_member(app, FACILITY, username, role)
    await signed_in_member(client, app, member)
    client.cookies.set(LANGUAGE_COOKIE, "en")  # the assertions read the English pages


async def scan(client: Client, text: str, **fields: str) -> Any:
    return await post_form(client, "/reception", scan=text, **fields)


async def events(client: Client, patient: dict[str, str]) -> list[dict[str, Any]]:
    return list((await client.get(ACCESS_LOG, headers=patient)).json()["events"])


def relinked(shlink: str, **changes: object) -> str:
    payload = {**decode_shlink(shlink), **changes}
    return "shlink:/" + base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


async def test_a_scanned_share_shows_what_was_shared_with_its_source_and_is_logged_as_the_desk(
    app: Litestar, client: Client, clock: FakeClock, patient: dict[str, str]
) -> None:
    """The desk page shows the share; the patient's access log then holds exactly one event for it (check D2):
    the receptionist by name and role, channel `reception`, their facility, the time of the open in UTC
    (`Z`, the test clock's instant), what was read in plain words (Vietnamese by default, English with
    `?lang=en`, both made from the stored resource types) and the purpose; the stored row agrees."""
    share = await make_share(client, patient, label="Khám <b>tim</b>")
    await desk(client, app)
    page = await scan(client, share["viewer_url"] + "\r\n")  # a USB scanner ends with Enter
    assert page.status_code == 200, page.text
    assert page.headers["cache-control"] == "no-store"
    for shown in ("Nguyễn Văn An", "Penicillin", "Metformin 500mg", "Tim mạch", "E11.9", FACILITY, "not signed"):
        assert shown in page.text, shown
    assert 'class="print-summary"' in page.text and "Khám &lt;b&gt;tim&lt;/b&gt;" in page.text
    client.cookies.clear()
    (event,) = await events(client, patient)
    assert (event["actor"], event["channel"], event["facility"]["code"]) == ("le.tan", "reception", FACILITY)
    assert event["role"] == "receptionist"
    assert event["at"] == clock.now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # UTC, said so with `Z`
    (row,) = await fetch(app, "SELECT at, actor_role, purpose, resource_types, resource_ids FROM access_event")
    assert row["at"] == clock.now and row["at"].utcoffset() == timedelta(0)
    assert (row["actor_role"], row["purpose"]) == ("receptionist", PURPOSE)
    assert {"AllergyIntolerance", "MedicationRequest", "Condition", "Observation"} <= set(row["resource_types"])
    assert ALLERGY in row["resource_ids"]
    assert event["what"] == plain_words(list(row["resource_types"]), "vi") and "dị ứng" in event["what"]
    assert event["purpose"] == translations("vi").gettext(PURPOSE) != PURPOSE  # in the patient's language
    (english,) = (await client.get(ACCESS_LOG, params={"lang": "en"}, headers=patient)).json()["events"]
    assert "allergies" in english["what"] and "prescriptions" in english["what"]
    assert english["purpose"] == PURPOSE and english["at"] == event["at"]
    (listed,) = (await client.get(SHARES, headers=patient)).json()["shares"]
    assert listed["times_opened"] == 1


async def test_the_print_summary_puts_allergies_first_then_what_is_current(
    app: Litestar, client: Client, patient: dict[str, str]
) -> None:
    share = await make_share(client, patient)
    await desk(client, app)
    page = (await scan(client, share["shlink"])).text
    printed = page[page.index('class="print-summary"') :]
    order = [printed.index(word) for word in ("Penicillin", "Metformin", "Tim mạch", "Hẹn tái khám")]
    assert order == sorted(order), order
    assert "Opened by le.tan" in printed or "le.tan" in printed


async def test_a_share_of_picked_items_shows_only_those(app: Litestar, client: Client, patient: dict[str, str]) -> None:
    share = await make_share(client, patient, record_ids=[ALLERGY])
    await desk(client, app)
    page = await scan(client, share["shlink"])
    assert page.status_code == 200 and "Penicillin" in page.text
    for withheld in ("Metformin", "E11.9", "HbA1c", "Tim mạch"):
        assert withheld not in page.text, withheld
    assert "The patient did not share this part." in page.text


async def test_a_passcode_is_asked_for_then_counted_only_when_wrong(
    app: Litestar, client: Client, patient: dict[str, str]
) -> None:
    share = await make_share(client, patient, passcode="2468")
    await desk(client, app)
    asked = await scan(client, share["shlink"])
    assert asked.status_code == 200 and 'id="passcode"' in asked.text and share["shlink"] in asked.text
    assert "Penicillin" not in asked.text
    wrong = await scan(client, share["shlink"], passcode="1111")
    assert wrong.status_code == 422 and "9 tries left" in wrong.text and "Penicillin" not in wrong.text
    right = await scan(client, share["shlink"], passcode="2468")
    assert right.status_code == 200 and "Penicillin" in right.text
    client.cookies.clear()
    assert len(await events(client, patient)) == 1  # the open only: asking and refusing read nothing


async def test_stopped_ended_tampered_and_foreign_links_open_nothing(
    app: Litestar, client: Client, clock: FakeClock, patient: dict[str, str]
) -> None:
    stopped = await make_share(client, patient)
    assert (await client.delete(f"{SHARES}/{stopped['id']}", headers=patient)).status_code == 204
    other_key = relinked(stopped["shlink"], key=base64.urlsafe_b64encode(bytes(32)).decode().rstrip("="))
    live = await make_share(client, patient)
    tampered = relinked(live["shlink"], key=base64.urlsafe_b64encode(bytes(32)).decode().rstrip("="))
    foreign = relinked(live["shlink"], url="https://elsewhere.example/api/shl/" + "A" * 43)
    await desk(client, app)
    answers = {
        "stopped": await scan(client, stopped["shlink"]),
        "stopped, other key": await scan(client, other_key),
        "tampered key": await scan(client, tampered),
        "foreign": await scan(client, foreign),
        "not a link": await scan(client, "https://example.com/hello"),
        "unikey": await scan(client, live["shlink"].replace("a", "â", 1)),
    }
    expected = {"stopped": 404, "stopped, other key": 404, "tampered key": 404, "foreign": 400}
    for name, answer in answers.items():
        assert answer.status_code == expected.get(name, 400), (name, answer.status_code)
        assert "Penicillin" not in answer.text and 'role="alert"' in answer.text, name
    assert "stopped sharing" in answers["stopped"].text and "another service" in answers["foreign"].text
    assert "Unikey" in answers["unikey"].text
    clock.advance(hours=2)
    await desk(client, app, "le.tan.2")  # the first desk session is long over (30 minutes idle)
    ended = await scan(client, live["shlink"])
    assert ended.status_code == 404 and "has ended" in ended.text
    assert await count(app, "access_event") == 0 and await count(app, "share_open") == 0


async def test_the_fhir_bundle_downloads_for_the_hospital_system_and_is_logged_again(
    app: Litestar, client: Client, patient: dict[str, str]
) -> None:
    share = await make_share(client, patient, passcode="2468")
    await desk(client, app)
    download = await post_form(client, "/reception/bundle", scan=share["shlink"], passcode="2468")
    assert download.status_code == 200, download.text
    assert download.headers["content-type"].startswith("application/fhir+json")
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["cache-control"] == "no-store"
    bundle = download.json()
    assert bundle["type"] == "document" and bundle["entry"][0]["resource"]["resourceType"] == "Composition"
    refused = await post_form(client, "/reception/bundle", scan=share["shlink"], passcode="0000")
    assert refused.status_code == 422 and "entry" not in refused.text
    client.cookies.clear()
    assert (await client.delete(f"{SHARES}/{share['id']}", headers=patient)).status_code == 204
    await desk(client, app, "le.tan.2")
    gone = await post_form(client, "/reception/bundle", scan=share["shlink"], passcode="2468")
    assert gone.status_code == 404 and "Composition" not in gone.text
    client.cookies.clear()
    assert [event["channel"] for event in await events(client, patient)] == ["reception"]


async def test_a_facility_admin_works_the_desk_and_a_patient_cannot(
    app: Litestar, client: Client, patient: dict[str, str]
) -> None:
    share = await make_share(client, patient)
    answer = await client.post("/reception", data={"scan": share["shlink"]}, headers=patient, follow_redirects=False)
    assert answer.status_code in (303, 401, 403) and "Penicillin" not in answer.text
    await desk(client, app, "quan.tri", "facility_admin")
    assert (await scan(client, share["shlink"])).status_code == 200


async def test_a_wrong_key_or_the_next_patients_code_never_spends_a_passcode_attempt(
    app: Litestar, client: Client, patient: dict[str, str]
) -> None:
    protected = await make_share(client, patient, passcode="2468")
    other = await make_share(client, patient, label="Khám mắt")
    wrong_key = relinked(protected["shlink"], key=base64.urlsafe_b64encode(bytes(32)).decode().rstrip("="))
    await desk(client, app)
    refused = await scan(client, wrong_key, passcode="2468")
    assert refused.status_code == 404 and "Penicillin" not in refused.text
    # The receptionist gave up on the first patient and scanned the next one into the passcode box.
    next_patient = await scan(client, protected["shlink"], passcode=other["viewer_url"])
    assert next_patient.status_code == 200 and "Khám mắt" in next_patient.text
    assert await count(app, "share", f"id = '{protected['id']}' AND passcode_failures = 0") == 1
    empty = await scan(client, protected["shlink"], passcode="")
    assert empty.status_code == 200 and "type the passcode" in empty.text


async def test_ten_wrong_passcodes_lock_the_link_and_the_desk_says_so(
    app: Litestar, client: Client, patient: dict[str, str]
) -> None:
    share = await make_share(client, patient, passcode="2468")
    await desk(client, app)
    for _ in range(9):
        assert (await scan(client, share["shlink"], passcode="0000")).status_code == 422
    locked = await scan(client, share["shlink"], passcode="0000")
    assert locked.status_code == 404 and "locked" in locked.text
    after = await scan(client, share["shlink"], passcode="2468")
    assert after.status_code == 404 and "Penicillin" not in after.text


async def test_what_the_qr_claims_is_not_trusted(
    app: Litestar, client: Client, clock: FakeClock, patient: dict[str, str]
) -> None:
    share = await make_share(client, patient, expires_in=600)
    payload = decode_shlink(share["shlink"])
    longer = relinked(share["shlink"], exp=payload["exp"] + 86_400, label="Forged label")
    look_alikes = [
        relinked(share["shlink"], url=payload["url"] + "?x=1"),
        relinked(share["shlink"], url=payload["url"] + "/more"),
        relinked(share["shlink"], url=payload["url"].replace("http://", "https://", 1)),
    ]
    await desk(client, app)
    shown = await scan(client, longer)
    assert shown.status_code == 200 and "Forged label" not in shown.text and "Khám tim mạch" in shown.text
    for link in look_alikes:
        answer = await scan(client, link)
        assert answer.status_code == 400 and "another service" in answer.text, link
    clock.advance(minutes=11)
    await desk(client, app, "le.tan.2")
    ended = await scan(client, longer)  # the QR says a day more; the server's share ended
    assert ended.status_code == 404 and "Penicillin" not in ended.text


async def test_the_printed_page_never_says_none_for_what_was_not_shared(
    app: Litestar, client: Client, patient: dict[str, str]
) -> None:
    share = await make_share(client, patient, record_ids=[ALLERGY])
    await desk(client, app)
    printed = (await scan(client, share["shlink"])).text.split('class="print-summary"')[1]
    assert printed.count("Not shared by the patient.") == 3 and "Penicillin" in printed


async def test_the_desk_shows_which_shared_items_the_hospital_signed(
    app: Litestar, client: Client, clock: FakeClock, patient: dict[str, str]
) -> None:
    async with own_database(app) as database, raw_transaction(database) as connection:
        facility_id = await connection.fetchval("SELECT id FROM facility WHERE code = $1", FACILITY)
        await register_certificate(connection, facility_id, sample_certificate(FACILITY), clock.now)
    hospital = Hospital(client, FACILITY, await rotate(app, FACILITY))
    pushed = await hospital.push(sample("fhir-signed-tampered-bundle.json"), timestamp=int(clock.now.timestamp()))
    assert pushed.status_code == 200, pushed.text
    share = await make_share(client, patient)
    await desk(client, app)
    page = (await scan(client, share["shlink"])).text
    assert page.count("verified by") == 3  # the other prescription line, the follow-up, the referral
    assert page.count("signature on this record could not be confirmed") == 1  # the line changed after signing
    printed = page.split('class="print-summary"')[1]
    assert printed.count("signature verified") == 3 and printed.count("signature does not match") == 1


async def test_the_download_refuses_what_the_scan_box_refuses(
    app: Litestar, client: Client, patient: dict[str, str]
) -> None:
    share = await make_share(client, patient)
    foreign = relinked(share["shlink"], url="https://elsewhere.example/api/shl/" + "A" * 43)
    await desk(client, app)
    for text, status in (("hello", 400), (foreign, 400), (share["shlink"].replace("a", "â", 1), 400)):
        answer = await post_form(client, "/reception/bundle", scan=text)
        assert answer.status_code == status and answer.headers["content-type"].startswith("text/html"), text
        assert "Composition" not in answer.text
    assert await count(app, "access_event") == 0
