"""The patient's book through the JSON API (contract §4): `GET /api/patient/v1/book` (the overview) and
`GET /api/patient/v1/book/fhir` (every current record), as a signed-in patient with a Bearer token.

Every record is a FHIR resource pushed by a test hospital, dated relative to the fake clock's "now"."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from litestar import Litestar

from backend.audit import Reader
from backend.database import raw_transaction
from backend.records.reads import find_patient, read_records
from tests.support.clock import FakeClock
from tests.support.hospital import CCCD, FACILITY, OTHER_FACILITY, Hospital, count, fetch, own_database, register
from tests.support.patients import NATIONAL_ID, PHONE_E164, Client, Outbox, bearer, sign_in_app

BOOK = "/api/patient/v1/book"
BUNDLE = "/api/patient/v1/book/fhir"
HANOI = timezone(timedelta(hours=7))
SIGNATURE_TAGS = "urn:healthbook:signature"
REFERRAL_CATEGORY = {"coding": [{"system": "http://snomed.info/sct", "code": "3457005", "display": "Patient referral"}]}
GROUPS = ("appointments", "referrals", "prescriptions", "allergies", "visits")

# 10:00 in Hanoi: a plain working morning.
MORNING = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
# 00:30 on 2 December in Hanoi, still 1 December in UTC: "today" must be Vietnam's day.
JUST_AFTER_MIDNIGHT_IN_HANOI = datetime(2026, 12, 1, 17, 30, tzinfo=UTC)

FACILITY_NAME = "Bệnh viện Đa khoa Minh An"
OTHER_FACILITY_NAME = "Bệnh viện Hữu Nghị Thủ Đô"

PATIENT = "urn:uuid:7f4d3c2a-1b0e-4f6d-9c8b-a1b2c3d4e5f6"  # the Patient entry of every test bundle
AN = ("001090012345", "Nguyễn Văn An", PHONE_E164)
BINH = ("079085054321", "Trần Thị Bình", "+84987654321")


# --- FHIR records, as a hospital sends them ---------------------------------------------------------------


def fhir_time(moment: datetime) -> str:
    """A FHIR dateTime in Vietnam local time, as hospitals here write them."""
    return moment.astimezone(HANOI).isoformat()


def hanoi_date(moment: datetime) -> str:
    return moment.astimezone(HANOI).date().isoformat()


def appointment(local_id: str, start: datetime, status: str = "booked") -> dict[str, Any]:
    return {
        "resourceType": "Appointment",
        "id": local_id,
        "status": status,
        "serviceType": [{"text": f"Tái khám {local_id}"}],
        "start": fhir_time(start),
        "end": fhir_time(start + timedelta(minutes=30)),
        "participant": [
            {"actor": {"reference": PATIENT}, "status": "accepted"},
            {"actor": {"reference": f"Organization/{FACILITY}"}, "status": "accepted"},
        ],
    }


def referral(local_id: str, valid_until: str, status: str = "active", *, letter: bool = True) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": local_id,
        "status": status,
        "intent": "order",
        "code": {"text": f"Chuyển tuyến {local_id}"},
        "subject": {"reference": PATIENT},
        "occurrencePeriod": {"start": "2026-11-20", "end": valid_until},
        "performer": [{"reference": f"Organization/{OTHER_FACILITY}"}],
    }
    if letter:
        resource["category"] = [REFERRAL_CATEGORY]
    return resource


def prescription(
    local_id: str,
    authored: datetime,
    status: str = "active",
    *,
    supply_days: int | None = None,
    valid_until: str | None = None,
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": local_id,
        "status": status,
        "intent": "order",
        "medicationCodeableConcept": {"text": f"Thuốc {local_id}"},
        "subject": {"reference": PATIENT},
        "authoredOn": fhir_time(authored),
        "dosageInstruction": [{"text": "1 viên/lần * 2 lần/ngày"}],
    }
    dispense: dict[str, Any] = {}
    if supply_days is not None:
        dispense["expectedSupplyDuration"] = {
            "value": supply_days,
            "unit": "ngày",
            "system": "http://unitsofmeasure.org",
            "code": "d",
        }
    if valid_until is not None:
        dispense["validityPeriod"] = {"end": valid_until}
    if dispense:
        resource["dispenseRequest"] = dispense
    return resource


def allergy(
    local_id: str, *, entered_in_error: bool = False, verification: str | None = None, clinical: str | None = None
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "AllergyIntolerance",
        "id": local_id,
        "code": {"text": f"Dị ứng {local_id}"},
        "criticality": "high",
        "patient": {"reference": PATIENT},
    }
    verification = "entered-in-error" if entered_in_error else verification
    if verification:
        system = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
        resource["verificationStatus"] = {"coding": [{"system": system, "code": verification}]}
    if clinical:
        system = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
        resource["clinicalStatus"] = {"coding": [{"system": system, "code": clinical}]}
    return resource


def encounter(local_id: str, start: datetime, status: str = "finished") -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": local_id,
        "status": status,
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": PATIENT},
        "period": {"start": fhir_time(start), "end": fhir_time(start + timedelta(hours=1))},
    }


def observation(local_id: str, at: datetime, encounter_id: str | None = None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": local_id,
        "status": "final",
        "code": {"text": "HbA1c"},
        "subject": {"reference": PATIENT},
        "effectiveDateTime": fhir_time(at),
        "valueQuantity": {"value": 7.2, "unit": "%"},
    }
    if encounter_id is not None:
        resource["encounter"] = {"reference": f"Encounter/{encounter_id}"}
    return resource


def condition(local_id: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": local_id,
        "code": {"text": "Tăng huyết áp"},
        "subject": {"reference": PATIENT},
        "recordedDate": "2026-10-02",
    }


def urn(url: str) -> str:
    """The `fullUrl` of a record's entry in its bundle."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, url)}"


def transaction(person: tuple[str, str, str], *resources: dict[str, Any], deletes: tuple[str, ...] = ()) -> Any:
    """A transaction Bundle: the person (whose entry every record points at), then each record by PUT."""
    cccd, name, phone = person
    patient_id = f"bn-{cccd[-6:]}"
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": PATIENT,
            "resource": {
                "resourceType": "Patient",
                "id": patient_id,
                "identifier": [{"system": NATIONAL_ID, "value": cccd}],
                "name": [{"text": name}],
                "telecom": [{"system": "phone", "value": phone, "use": "mobile"}],
            },
            "request": {"method": "PUT", "url": f"Patient/{patient_id}"},
        }
    ]
    for resource in resources:
        url = f"{resource['resourceType']}/{resource['id']}"
        entries.append({"fullUrl": urn(url), "resource": resource, "request": {"method": "PUT", "url": url}})
    entries.extend({"request": {"method": "DELETE", "url": url}} for url in deletes)
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


async def push(
    hospital: Hospital,
    clock: FakeClock,
    *resources: dict[str, Any],
    person: tuple[str, str, str] = AN,
    deletes: tuple[str, ...] = (),
) -> None:
    response = await hospital.push(
        transaction(person, *resources, deletes=deletes), timestamp=int(clock.now.timestamp())
    )
    assert response.status_code == 200, response.text


# --- Reading the book -----------------------------------------------------------------------------------


def served(local_id: str, resource_type: str, facility: str = FACILITY) -> str:
    """The `Type/id` a record of this facility is served as (ids are unique per patient across facilities)."""
    return f"{resource_type}/{facility}-{local_id}"


async def token_for(client: Client, outbox: Outbox, phone: str = PHONE_E164) -> str:
    return str((await sign_in_app(client, outbox, phone))["access_token"])


async def read_overview(client: Client, token: str) -> dict[str, Any]:
    response = await client.get(BOOK, headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    return dict(response.json())


async def overview_group(client: Client, outbox: Outbox, name: str) -> dict[str, Any]:
    """One group of the overview, as the sample patient signed in now reads it."""
    group: dict[str, Any] = (await read_overview(client, await token_for(client, outbox)))["groups"][name]
    return group


async def read_bundle(client: Client, token: str) -> dict[str, Any]:
    response = await client.get(BUNDLE, headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    return dict(response.json())


def item_ids(overview: dict[str, Any], group: str) -> list[str]:
    return [item["id"] for item in overview["groups"][group]["items"]]


def entry_key(entry: dict[str, Any]) -> str:
    resource = entry["resource"]
    return f"{resource['resourceType']}/{resource['id']}"


def bundle_keys(bundle: dict[str, Any]) -> set[str]:
    return {entry_key(entry) for entry in bundle["entry"]}


def references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            yield node["reference"]
        for value in node.values():
            yield from references(value)
    elif isinstance(node, list):
        for value in node:
            yield from references(value)


def signature_codes(resource: dict[str, Any]) -> list[str]:
    return [tag["code"] for tag in resource.get("meta", {}).get("tag", []) if tag.get("system") == SIGNATURE_TAGS]


# --- Fixtures -------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def morning(clock: FakeClock) -> None:
    clock.now = MORNING


@pytest.fixture
async def hospital(app: Litestar, client: Client) -> Hospital:
    return Hospital(client, FACILITY, await register(app, FACILITY, FACILITY_NAME))


@pytest.fixture
async def other_hospital(app: Litestar, client: Client) -> Hospital:
    return Hospital(client, OTHER_FACILITY, await register(app, OTHER_FACILITY, OTHER_FACILITY_NAME))


# --- The overview's definitions (contract §4) -----------------------------------------------------------


async def test_next_appointments_start_from_now_and_leave_out_past_and_cancelled_ones(
    client: Client, outbox: Outbox, hospital: Hospital, clock: FakeClock
) -> None:
    now = clock.now
    await push(
        hospital,
        clock,
        appointment("in-an-hour", now + timedelta(hours=1)),
        appointment("right-now", now),
        appointment("a-minute-ago", now - timedelta(minutes=1)),
        appointment("cancelled-tomorrow", now + timedelta(days=1), status="cancelled"),
    )
    group = await overview_group(client, outbox, "appointments")
    assert [item["id"] for item in group["items"]] == [
        served("right-now", "Appointment"),
        served("in-an-hour", "Appointment"),
    ]
    assert group["total"] == 2
    assert group["items"][0]["start"] == fhir_time(now)


async def test_an_appointment_leaves_the_overview_once_its_start_has_passed(
    client: Client, outbox: Outbox, hospital: Hospital, clock: FakeClock
) -> None:
    await push(hospital, clock, appointment("soon", clock.now + timedelta(hours=2)))
    token = await token_for(client, outbox)
    assert item_ids(await read_overview(client, token), "appointments") == [served("soon", "Appointment")]
    clock.advance(hours=2, seconds=1)  # past the access token's life too: sign in again
    assert item_ids(await read_overview(client, await token_for(client, outbox)), "appointments") == []


async def test_a_follow_up_day_stays_next_through_that_day_but_a_begun_timed_stay_does_not(
    client: Client, outbox: Outbox, hospital: Hospital, clock: FakeClock
) -> None:
    """A date without a time (QĐ130's NGAY_TAI_KHAM: 00:00 to 23:59 in Hanoi) is ahead until its day is
    over; a stay of a day or more that began at 08:00 has begun (contract §4 reads `start` ≥ now)."""
    today = hanoi_date(clock.now)  # 10:00 in Hanoi
    whole_day = appointment("hen-kham-hom-nay", clock.now)
    whole_day.update(start=f"{today}T00:00:00+07:00", end=f"{today}T23:59:00+07:00")
    stay = appointment("nam-vien", clock.now)
    stay.update(start=f"{today}T08:00:00+07:00", end="2026-12-03T08:00:00+07:00")  # two days in hospital
    await push(hospital, clock, whole_day, stay)
    group = await overview_group(client, outbox, "appointments")
    assert [item["id"] for item in group["items"]] == [served("hen-kham-hom-nay", "Appointment")]
    assert group["items"][0]["whole_day"] is True


async def test_referral_letters_are_valid_through_the_end_of_today_in_vietnam_time(
    client: Client, outbox: Outbox, hospital: Hospital, clock: FakeClock
) -> None:
    clock.now = JUST_AFTER_MIDNIGHT_IN_HANOI  # 2 December in Hanoi, 1 December in UTC
    today, yesterday, tomorrow = "2026-12-02", "2026-12-01", "2026-12-03"
    assert hanoi_date(clock.now) == today
    await push(
        hospital,
        clock,
        referral("ends-today", today),
        referral("ends-tomorrow", tomorrow),
        referral("ends-yesterday", yesterday),
        referral("ends-last-minute-of-yesterday", "2026-12-01T23:59:00+07:00"),
        referral("revoked", tomorrow, status="revoked"),
        referral("completed", tomorrow, status="completed"),
        referral("a-lab-order-not-a-letter", tomorrow, letter=False),
    )
    group = await overview_group(client, outbox, "referrals")
    assert sorted(item["id"] for item in group["items"]) == [
        served("ends-today", "ServiceRequest"),
        served("ends-tomorrow", "ServiceRequest"),
    ]
    assert group["total"] == 2
    letter = next(item for item in group["items"] if item["id"] == served("ends-today", "ServiceRequest"))
    assert letter["valid_until"] == today


async def test_a_referral_letter_ending_today_expires_at_midnight_in_vietnam(
    client: Client, outbox: Outbox, hospital: Hospital, clock: FakeClock
) -> None:
    await push(hospital, clock, referral("ends-today", hanoi_date(clock.now)))
    assert item_ids(await read_overview(client, await token_for(client, outbox)), "referrals") == [
        served("ends-today", "ServiceRequest")
    ]
    # 23:59 in Hanoi: still today.
    clock.now = datetime(2026, 12, 1, 16, 59, tzinfo=UTC)
    token = await token_for(client, outbox)
    assert item_ids(await read_overview(client, token), "referrals") == [served("ends-today", "ServiceRequest")]
    # 00:00 in Hanoi (17:00 UTC, still 1 December there): the letter ended yesterday.
    clock.advance(minutes=1)
    assert item_ids(await read_overview(client, token), "referrals") == []


async def test_prescriptions_without_a_supply_period_are_current_for_90_days_from_authored_on(
    client: Client, outbox: Outbox, hospital: Hospital, clock: FakeClock
) -> None:
    now = clock.now
    await push(
        hospital,
        clock,
        prescription("day-89", now - timedelta(days=89)),
        prescription("day-91", now - timedelta(days=91)),
        prescription("day-89-stopped", now - timedelta(days=89), status="stopped"),
        prescription("day-1-cancelled", now - timedelta(days=1), status="cancelled"),
        prescription("day-1-completed", now - timedelta(days=1), status="completed"),
    )
    group = await overview_group(client, outbox, "prescriptions")
    assert [item["id"] for item in group["items"]] == [served("day-89", "MedicationRequest")]
    assert group["total"] == 1


async def test_prescriptions_with_a_supply_duration_are_current_until_it_runs_out(
    client: Client, outbox: Outbox, hospital: Hospital, clock: FakeClock
) -> None:
    now = clock.now
    await push(
        hospital,
        clock,
        prescription("30-days-from-29-days-ago", now - timedelta(days=29), supply_days=30),
        prescription("30-days-from-31-days-ago", now - timedelta(days=31), supply_days=30),
        prescription("30-days-stopped", now - timedelta(days=1), status="stopped", supply_days=30),
    )
    group = await overview_group(client, outbox, "prescriptions")
    assert [item["id"] for item in group["items"]] == [served("30-days-from-29-days-ago", "MedicationRequest")]
    assert group["total"] == 1


async def test_prescriptions_with_a_validity_period_are_current_until_its_end(
    client: Client, outbox: Outbox, hospital: Hospital, clock: FakeClock
) -> None:
    long_ago = clock.now - timedelta(days=200)
    await push(
        hospital,
        clock,
        prescription("valid-through-today", long_ago, valid_until=hanoi_date(clock.now)),
        prescription("valid-through-yesterday", long_ago, valid_until=hanoi_date(clock.now - timedelta(days=1))),
    )
    group = await overview_group(client, outbox, "prescriptions")
    assert [item["id"] for item in group["items"]] == [served("valid-through-today", "MedicationRequest")]


async def test_a_prescription_is_current_through_its_supply_even_after_its_dispensing_window_closed(
    client: Client, outbox: Outbox, hospital: Hospital, clock: FakeClock
) -> None:
    """A Vietnamese prescription must be filled within 5 days; the 30 days of medicine last longer."""
    ten_days_ago = clock.now - timedelta(days=10)
    filled_by = hanoi_date(ten_days_ago + timedelta(days=5))
    await push(
        hospital,
        clock,
        prescription("supply-30", ten_days_ago, supply_days=30, valid_until=filled_by),
        prescription("supply-7", ten_days_ago, supply_days=7, valid_until=filled_by),
    )
    group = await overview_group(client, outbox, "prescriptions")
    assert [item["id"] for item in group["items"]] == [served("supply-30", "MedicationRequest")]


async def test_a_prescription_leaves_the_overview_on_day_90_from_authored_on(
    client: Client, outbox: Outbox, hospital: Hospital, clock: FakeClock
) -> None:
    await push(hospital, clock, prescription("today", clock.now))
    clock.advance(days=89)
    token = await token_for(client, outbox)
    assert item_ids(await read_overview(client, token), "prescriptions") == [served("today", "MedicationRequest")]
    clock.advance(days=2)
    token = await token_for(client, outbox)
    assert item_ids(await read_overview(client, token), "prescriptions") == []


async def test_allergies_are_listed_and_one_entered_in_error_is_not(
    client: Client, outbox: Outbox, hospital: Hospital, clock: FakeClock
) -> None:
    await push(hospital, clock, allergy("penicillin"), allergy("aspirin"), allergy("mistake", entered_in_error=True))
    group = await overview_group(client, outbox, "allergies")
    assert sorted(item["id"] for item in group["items"]) == [
        served("aspirin", "AllergyIntolerance"),
        served("penicillin", "AllergyIntolerance"),
    ]
    assert group["total"] == 2
    penicillin = next(item for item in group["items"] if item["id"] == served("penicillin", "AllergyIntolerance"))
    assert penicillin["title"] == "Dị ứng penicillin" and penicillin["criticality"] == "high"


async def test_allergies_ruled_out_or_over_are_not_warned_about(
    client: Client, outbox: Outbox, hospital: Hospital, clock: FakeClock
) -> None:
    await push(
        hospital,
        clock,
        allergy("confirmed", verification="confirmed", clinical="active"),
        allergy("refuted", verification="refuted"),
        allergy("outgrown", clinical="resolved"),
        allergy("inactive", clinical="inactive"),
    )
    group = await overview_group(client, outbox, "allergies")
    assert [item["id"] for item in group["items"]] == [served("confirmed", "AllergyIntolerance")]
    assert group["total"] == 1


async def test_only_visits_that_took_place_are_visits(
    client: Client, outbox: Outbox, hospital: Hospital, clock: FakeClock
) -> None:
    day = timedelta(days=1)
    await push(
        hospital,
        clock,
        encounter("done", clock.now - 3 * day),
        encounter("ongoing", clock.now - day, status="in-progress"),
        encounter("planned", clock.now + day, status="planned"),
        encounter("called-off", clock.now - 2 * day, status="cancelled"),
    )
    group = await overview_group(client, outbox, "visits")
    assert [item["id"] for item in group["items"]] == [served("ongoing", "Encounter"), served("done", "Encounter")]


async def test_visits_are_listed_latest_first(
    client: Client, outbox: Outbox, hospital: Hospital, clock: FakeClock
) -> None:
    now = clock.now
    await push(
        hospital,
        clock,
        encounter("last-month", now - timedelta(days=30)),
        encounter("yesterday", now - timedelta(days=1)),
        encounter("last-year", now - timedelta(days=365)),
    )
    group = await overview_group(client, outbox, "visits")
    assert [item["id"] for item in group["items"]] == [
        served("yesterday", "Encounter"),
        served("last-month", "Encounter"),
        served("last-year", "Encounter"),
    ]
    assert group["total"] == 3


# --- Limits ---------------------------------------------------------------------------------------------


async def test_thirteen_future_appointments_show_the_soonest_ten_with_a_total_of_thirteen(
    client: Client, outbox: Outbox, hospital: Hospital, clock: FakeClock
) -> None:
    # Sent in a shuffled order, so that the order served is the API's own.
    days = [7, 3, 12, 1, 9, 13, 5, 2, 11, 4, 8, 6, 10]
    await push(hospital, clock, *(appointment(f"day-{day:02}", clock.now + timedelta(days=day)) for day in days))
    group = await overview_group(client, outbox, "appointments")
    assert [item["id"] for item in group["items"]] == [served(f"day-{day:02}", "Appointment") for day in range(1, 11)]
    assert group["total"] == 13


async def test_twenty_five_visits_show_the_newest_ten_with_a_total_of_twenty_five(
    client: Client, outbox: Outbox, hospital: Hospital, clock: FakeClock
) -> None:
    ages = [(day * 7) % 25 + 1 for day in range(25)]  # 1…25 days ago, shuffled
    assert sorted(ages) == list(range(1, 26))
    await push(hospital, clock, *(encounter(f"ago-{age:02}", clock.now - timedelta(days=age)) for age in ages))
    group = await overview_group(client, outbox, "visits")
    assert [item["id"] for item in group["items"]] == [served(f"ago-{age:02}", "Encounter") for age in range(1, 11)]
    assert group["total"] == 25


async def test_every_group_holds_at_most_ten_items_and_links_to_its_section(
    client: Client, outbox: Outbox, hospital: Hospital, clock: FakeClock
) -> None:
    now = clock.now
    await push(
        hospital,
        clock,
        *(appointment(f"a{n:02}", now + timedelta(days=n + 1)) for n in range(12)),
        *(referral(f"r{n:02}", hanoi_date(now + timedelta(days=n + 1))) for n in range(12)),
        *(prescription(f"p{n:02}", now - timedelta(days=n)) for n in range(12)),
        *(allergy(f"d{n:02}") for n in range(12)),
        *(encounter(f"e{n:02}", now - timedelta(days=n + 1)) for n in range(12)),
    )
    overview = await read_overview(client, await token_for(client, outbox))
    assert set(overview["groups"]) == set(GROUPS)
    for name in GROUPS:
        group = overview["groups"][name]
        assert len(group["items"]) == 10, name
        assert group["total"] == 12, name
        assert group["section"] == f"/book/{name}", name


async def test_the_overview_is_never_every_record(
    client: Client, outbox: Outbox, hospital: Hospital, clock: FakeClock
) -> None:
    now = clock.now
    await push(
        hospital,
        clock,
        appointment("next-week", now + timedelta(days=7)),
        appointment("last-week", now - timedelta(days=7)),
        prescription("old", now - timedelta(days=200)),
        encounter("visit", now - timedelta(days=1)),
        observation("hba1c", now - timedelta(days=1), "visit"),
        condition("i10"),
    )
    token = await token_for(client, outbox)
    overview = await read_overview(client, token)
    shown = {item["id"] for name in GROUPS for item in overview["groups"][name]["items"]}
    everything = bundle_keys(await read_bundle(client, token))
    assert shown == {served("next-week", "Appointment"), served("visit", "Encounter")}
    assert shown < everything
    assert {served("last-week", "Appointment"), served("old", "MedicationRequest")} <= everything
    assert {served("hba1c", "Observation"), served("i10", "Condition")} <= everything


async def test_the_overview_names_the_patient_with_a_masked_national_id(
    client: Client, outbox: Outbox, hospital: Hospital, clock: FakeClock
) -> None:
    await push(hospital, clock, encounter("visit", clock.now - timedelta(days=1)))
    overview = await read_overview(client, await token_for(client, outbox))
    assert overview["patient"]["name"] == "Nguyễn Văn An"
    assert overview["patient"]["masked_cccd"] == "001******345"
    assert CCCD not in str(overview)
    assert overview["read_only"] is False


# --- Each item's source and signature -------------------------------------------------------------------


async def test_each_item_names_its_source_facility_and_signature_status(
    app: Litestar, client: Client, outbox: Outbox, hospital: Hospital, other_hospital: Hospital, clock: FakeClock
) -> None:
    now = clock.now
    await push(
        hospital, clock, appointment("here", now + timedelta(days=1)), encounter("here", now - timedelta(days=2))
    )
    await push(
        other_hospital,
        clock,
        appointment("there", now + timedelta(days=2)),
        allergy("there"),
        encounter("there", now - timedelta(days=1)),
    )
    # No facility signs yet: mark one record as a hospital whose signature failed would have it stored.
    await fetch(
        app,
        "UPDATE record SET signature = 'invalid' WHERE served_id = $1 AND resource_type = 'Encounter'",
        f"{OTHER_FACILITY}-there",
    )
    token = await token_for(client, outbox)
    overview = await read_overview(client, token)
    items = {item["id"]: item for name in GROUPS for item in overview["groups"][name]["items"]}
    here = {"code": FACILITY, "name": FACILITY_NAME}
    there = {"code": OTHER_FACILITY, "name": OTHER_FACILITY_NAME}
    assert items[served("here", "Appointment")]["source"] == here
    assert items[served("here", "Encounter")]["source"] == here
    assert items[served("there", "Appointment", OTHER_FACILITY)]["source"] == there
    assert items[served("there", "AllergyIntolerance", OTHER_FACILITY)]["source"] == there
    assert items[served("there", "Encounter", OTHER_FACILITY)]["source"] == there
    assert items[served("there", "Encounter", OTHER_FACILITY)]["signature"] == "invalid"
    for key, item in items.items():
        if key != served("there", "Encounter", OTHER_FACILITY):
            assert item["signature"] == "unsigned", key
    bundle = await read_bundle(client, token)
    flagged = next(
        e["resource"] for e in bundle["entry"] if entry_key(e) == served("there", "Encounter", OTHER_FACILITY)
    )
    assert signature_codes(flagged) == ["invalid"]


# --- Caching --------------------------------------------------------------------------------------------


async def test_health_data_responses_are_never_stored_by_a_cache(
    client: Client, outbox: Outbox, hospital: Hospital, clock: FakeClock
) -> None:
    await push(hospital, clock, encounter("visit", clock.now - timedelta(days=1)))
    token = await token_for(client, outbox)
    for path in (BOOK, BUNDLE):
        response = await client.get(path, headers=bearer(token))
        assert response.status_code == 200, path
        assert response.headers["cache-control"] == "no-store", path


# --- /book/fhir -----------------------------------------------------------------------------------------


async def test_the_fhir_bundle_is_a_collection_of_every_current_record(
    client: Client, outbox: Outbox, hospital: Hospital, other_hospital: Hospital, clock: FakeClock
) -> None:
    now = clock.now
    await push(
        hospital,
        clock,
        appointment("past", now - timedelta(days=3)),
        appointment("cancelled", now + timedelta(days=3), status="cancelled"),
        prescription("stopped", now - timedelta(days=3), status="stopped"),
        encounter("visit", now - timedelta(days=3)),
        observation("hba1c", now - timedelta(days=3), "visit"),
        condition("i10"),
        allergy("penicillin"),
        referral("expired", "2026-01-01"),
    )
    await push(other_hospital, clock, encounter("visit", now - timedelta(days=1)))
    # A new version replaces the old one: one entry, the latest content.
    newer = encounter("visit", now - timedelta(days=3), status="cancelled")
    await push(hospital, clock, newer)
    bundle = await read_bundle(client, await token_for(client, outbox))
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    keys = [entry_key(entry) for entry in bundle["entry"]]
    assert len(keys) == len(set(keys))
    assert set(keys) == {
        f"Patient/{FACILITY}-bn-012345",
        f"Patient/{OTHER_FACILITY}-bn-012345",
        served("past", "Appointment"),
        served("cancelled", "Appointment"),
        served("stopped", "MedicationRequest"),
        served("visit", "Encounter"),
        served("hba1c", "Observation"),
        served("i10", "Condition"),
        served("penicillin", "AllergyIntolerance"),
        served("expired", "ServiceRequest"),
        served("visit", "Encounter", OTHER_FACILITY),
    }
    visit = next(e["resource"] for e in bundle["entry"] if entry_key(e) == served("visit", "Encounter"))
    assert visit["status"] == "cancelled" and visit["meta"]["versionId"] == "2"


async def test_every_reference_in_the_fhir_bundle_resolves_inside_it(
    client: Client, outbox: Outbox, hospital: Hospital, other_hospital: Hospital, clock: FakeClock
) -> None:
    now = clock.now
    medication = {"resourceType": "Medication", "id": "metformin", "code": {"text": "Metformin 500mg"}}
    ordered = prescription("metformin", now - timedelta(days=1))
    del ordered["medicationCodeableConcept"]
    ordered["medicationReference"] = {"reference": "Medication/metformin"}
    ordered["encounter"] = {"reference": urn("Encounter/visit")}
    await push(
        hospital,
        clock,
        encounter("visit", now - timedelta(days=1)),
        observation("hba1c", now - timedelta(days=1), "visit"),
        medication,
        ordered,
        appointment("next", now + timedelta(days=7)),
        allergy("penicillin"),
    )
    await push(other_hospital, clock, encounter("visit", now), observation("hba1c", now, "visit"))
    bundle = await read_bundle(client, await token_for(client, outbox))
    full_urls = {entry["fullUrl"] for entry in bundle["entry"]}
    keys = bundle_keys(bundle)
    assert served("metformin", "Medication") in keys  # a facility-level resource a record points at
    for entry in bundle["entry"]:
        assert entry["fullUrl"].endswith("/" + entry_key(entry))
        for reference in references(entry["resource"]):
            assert not reference.startswith("urn:uuid:"), reference
            if reference.startswith("Organization/") and reference.removeprefix("Organization/") in (
                FACILITY,
                OTHER_FACILITY,
            ):
                continue  # a facility named by its code (contract §3.2), not a record of the book
            assert reference in keys or reference in full_urls, (entry_key(entry), reference)
    observations = {
        entry_key(e): e["resource"]["encounter"]["reference"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation"
    }
    assert observations == {
        served("hba1c", "Observation"): served("visit", "Encounter"),
        served("hba1c", "Observation", OTHER_FACILITY): served("visit", "Encounter", OTHER_FACILITY),
    }


async def test_each_resource_in_the_fhir_bundle_carries_its_source_and_signature_tag(
    client: Client, outbox: Outbox, hospital: Hospital, other_hospital: Hospital, clock: FakeClock
) -> None:
    now = clock.now
    await push(hospital, clock, encounter("visit", now - timedelta(days=1)), allergy("penicillin"))
    await push(other_hospital, clock, appointment("next", now + timedelta(days=1)))
    bundle = await read_bundle(client, await token_for(client, outbox))
    assert len(bundle["entry"]) == 5
    for entry in bundle["entry"]:
        resource = entry["resource"]
        facility = resource["id"].split("-", 1)[0]
        assert resource["meta"]["source"] == facility, entry_key(entry)
        assert signature_codes(resource) == ["unsigned"], entry_key(entry)


async def test_deleted_records_leave_the_book(
    client: Client, outbox: Outbox, hospital: Hospital, clock: FakeClock
) -> None:
    now = clock.now
    await push(
        hospital,
        clock,
        appointment("kept", now + timedelta(days=1)),
        appointment("deleted", now + timedelta(days=2)),
        appointment("mistake", now + timedelta(days=3)),
        encounter("deleted", now - timedelta(days=1)),
        prescription("mistake", now - timedelta(days=1)),
        allergy("deleted"),
    )
    clock.advance(minutes=5)
    await push(
        hospital,
        clock,
        appointment("mistake", now + timedelta(days=3), status="entered-in-error"),
        prescription("mistake", now - timedelta(days=1), status="entered-in-error"),
        deletes=("Appointment/deleted", "Encounter/deleted", "AllergyIntolerance/deleted"),
    )
    token = await token_for(client, outbox)
    overview = await read_overview(client, token)
    shown = {item["id"] for name in GROUPS for item in overview["groups"][name]["items"]}
    assert shown == {served("kept", "Appointment")}
    assert overview["groups"]["appointments"]["total"] == 1
    keys = bundle_keys(await read_bundle(client, token))
    assert keys == {f"Patient/{FACILITY}-bn-012345", served("kept", "Appointment")}


# --- Isolation (check C1) -------------------------------------------------------------------------------


async def test_c1_a_patient_never_sees_another_patients_records(
    client: Client, outbox: Outbox, hospital: Hospital, other_hospital: Hospital, clock: FakeClock
) -> None:
    now = clock.now
    await push(hospital, clock, appointment("next", now + timedelta(days=1)), encounter("visit", now))
    # Bình: at the other hospital with the same local ids, and at An's hospital with records of every kind.
    await push(
        other_hospital,
        clock,
        appointment("next", now + timedelta(days=1)),
        encounter("visit", now),
        person=BINH,
    )
    await push(
        hospital,
        clock,
        appointment("binh-next", now + timedelta(hours=1)),
        referral("binh-letter", hanoi_date(now + timedelta(days=5))),
        prescription("binh-pills", now),
        allergy("binh-aspirin"),
        encounter("binh-visit", now - timedelta(hours=1)),
        person=BINH,
    )
    an = await token_for(client, outbox, AN[2])
    binh = await token_for(client, outbox, BINH[2])

    an_overview = await read_overview(client, an)
    an_shown = {item["id"] for name in GROUPS for item in an_overview["groups"][name]["items"]}
    assert an_shown == {served("next", "Appointment"), served("visit", "Encounter")}
    assert all(an_overview["groups"][name]["total"] == len(an_overview["groups"][name]["items"]) for name in GROUPS)
    an_bundle = await read_bundle(client, an)
    assert bundle_keys(an_bundle) == {
        f"Patient/{FACILITY}-bn-012345",
        served("next", "Appointment"),
        served("visit", "Encounter"),
    }
    for text in (BINH[0], BINH[1], "binh-", OTHER_FACILITY):
        assert text not in str(an_bundle) and text not in str(an_overview), text

    binh_bundle = await read_bundle(client, binh)
    assert served("next", "Appointment", OTHER_FACILITY) in bundle_keys(binh_bundle)
    assert served("next", "Appointment") not in bundle_keys(binh_bundle)
    assert AN[0] not in str(binh_bundle) and AN[1] not in str(binh_bundle)


async def test_c1_another_patients_ids_answer_404(
    client: Client, outbox: Outbox, hospital: Hospital, other_hospital: Hospital, clock: FakeClock
) -> None:
    await push(hospital, clock, encounter("visit", clock.now))
    await push(other_hospital, clock, encounter("visit", clock.now), person=BINH)
    an = await token_for(client, outbox, AN[2])
    binh_answer = await sign_in_app(client, outbox, BINH[2])
    (binh_book,) = binh_answer["books"]
    # The only patient-API URL that takes a book's id: opening Bình's book with An's token.
    opened = await client.post("/api/patient/v1/auth/select", json={"book_id": binh_book["id"]}, headers=bearer(an))
    assert opened.status_code == 404, opened.text
    # There are no per-record URLs: Bình's records by id are simply not there.
    binh_visit = served("visit", "Encounter", OTHER_FACILITY)
    for path in (f"{BUNDLE}/{binh_visit}", f"{BOOK}/{binh_visit}", f"/api/patient/v1/records/{binh_visit}"):
        response = await client.get(path, headers=bearer(an))
        assert response.status_code == 404, path
        assert "Trần" not in response.text
    # And An's book is still An's.
    assert bundle_keys(await read_bundle(client, an)) == {f"Patient/{FACILITY}-bn-012345", served("visit", "Encounter")}


# --- The access log -------------------------------------------------------------------------------------


async def test_the_patients_own_reads_are_not_logged_as_reads_by_someone_else(
    app: Litestar, client: Client, outbox: Outbox, hospital: Hospital, clock: FakeClock
) -> None:
    await push(hospital, clock, encounter("visit", clock.now - timedelta(days=1)), allergy("penicillin"))
    token = await token_for(client, outbox)
    await read_overview(client, token)
    await read_bundle(client, token)
    assert await count(app, "access_event") == 0
    # A read by someone else is logged, and the patient's own reads after it still add nothing.
    async with own_database(app) as database, raw_transaction(database) as connection:
        patient_id = await find_patient(connection, CCCD)
        assert patient_id is not None
        await read_records(connection, Reader.operator("ops@host", "audit request 7"), patient_id, clock.now)
    await read_overview(client, token)
    await read_bundle(client, token)
    (event,) = await fetch(app, "SELECT actor, actor_role, channel FROM access_event")
    assert (event["actor"], event["actor_role"], event["channel"]) == ("ops@host", "operator", "operator")


# --- Without a session ----------------------------------------------------------------------------------


async def test_without_a_session_the_book_api_answers_401_json_not_a_redirect(
    client: Client, outbox: Outbox, hospital: Hospital, clock: FakeClock
) -> None:
    await push(hospital, clock, encounter("visit", clock.now))
    token = await token_for(client, outbox)
    logged_out = await client.post("/api/patient/v1/auth/logout", headers=bearer(token))
    assert logged_out.status_code == 204
    for headers in ({}, bearer("not-a-token"), bearer(token)):
        for path in (BOOK, BUNDLE):
            response = await client.get(path, headers=headers, follow_redirects=False)
            assert response.status_code == 401, (path, headers)
            assert response.headers["content-type"].startswith("application/json")
            assert "location" not in response.headers
            assert response.json()["error"] == "login"
            assert "Nguyễn" not in response.text


async def test_an_expired_access_token_answers_401(
    client: Client, outbox: Outbox, hospital: Hospital, clock: FakeClock
) -> None:
    await push(hospital, clock, encounter("visit", clock.now))
    answer = await sign_in_app(client, outbox)
    assert (await client.get(BOOK, headers=bearer(answer["access_token"]))).status_code == 200
    clock.advance(seconds=answer["expires_in"] + 1)
    response = await client.get(BOOK, headers=bearer(answer["access_token"]))
    assert response.status_code == 401 and response.json()["error"] == "login"


async def test_a_phone_on_two_books_reads_only_the_book_it_opened(
    client: Client, outbox: Outbox, hospital: Hospital, clock: FakeClock
) -> None:
    child = ("001220098765", "Nguyễn Minh Châu", AN[2])  # the parent's phone on the child's record
    await push(hospital, clock, encounter("parent-visit", clock.now - timedelta(days=1)))
    await push(hospital, clock, encounter("child-visit", clock.now - timedelta(days=2)), person=child)
    answer = await sign_in_app(client, outbox)
    token = answer["access_token"]
    books = {book["name"]: book for book in answer["books"]}
    assert set(books) == {AN[1], child[1]}
    # No book is open yet: nothing is read.
    assert (await client.get(BOOK, headers=bearer(token))).status_code == 404
    for name, visit in ((child[1], "child-visit"), (AN[1], "parent-visit")):
        opened = await client.post(
            "/api/patient/v1/auth/select", json={"book_id": books[name]["id"]}, headers=bearer(token)
        )
        assert opened.status_code == 200, opened.text
        overview = await read_overview(client, token)
        assert overview["patient"]["name"] == name and overview["read_only"] is True
        assert item_ids(overview, "visits") == [served(visit, "Encounter")]
        keys = bundle_keys(await read_bundle(client, token))
        assert served(visit, "Encounter") in keys and len(keys) == 2
