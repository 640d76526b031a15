"""Which books a phone opens, and how far, through the patient API (contract §4; backend/auth/books.py):
a phone that is one patient's own mobile opens that book in full; a phone on several books, or only
weakly linked (a home number, the XML1 `DIEN_THOAI`), lists them read-only until an activation code (or
the national ID sign-in) confirms one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar

from tests.integration.test_cli import run_healthbook
from tests.support.clock import FakeClock
from tests.support.hospital import OTHER_FACILITY, Hospital, register, sample
from tests.support.patients import PHONE, Client, Outbox, bearer, issue_code, patient_uuid, push_patient, sign_in_app

DISTRICT = "01010"  # `visit` registers the sample facility 01929; the XML samples come from 01002
AN_CCCD = "001090012345"  # the sample patient's (fixture `visit`, and the XML samples)
MOTHER = "0987 654 321"
CHILD_A = ("001215000111", "Lê Minh Anh")
CHILD_B = ("001218000222", "Lê Minh Bảo")
ALL_CCCDS = (AN_CCCD, CHILD_A[0], CHILD_B[0])
BOOK = "/api/patient/v1/book"


@pytest.fixture
async def hospital(app: Litestar, client: Client) -> Hospital:
    return Hospital(client, DISTRICT, await register(app, DISTRICT))


@pytest.fixture
async def other_hospital(app: Litestar, client: Client) -> Hospital:
    return Hospital(client, OTHER_FACILITY, await register(app, OTHER_FACILITY))


@pytest.fixture
async def two_children(hospital: Hospital, other_hospital: Hospital) -> None:
    """A mother's mobile, given for her two children at two facilities."""
    await push_patient(hospital, *CHILD_A, MOTHER)
    await push_patient(other_hospital, *CHILD_B, MOTHER)


async def activate(client: Client, token: str, code: str) -> Any:
    return await client.post("/api/patient/v1/auth/activate", json={"code": code}, headers=bearer(token))


async def select(client: Client, token: str, book_id: Any) -> Any:
    return await client.post("/api/patient/v1/auth/select", json={"book_id": book_id}, headers=bearer(token))


def by_name(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {book["name"]: book for book in answer["books"]}


def assert_no_full_cccd(document: Any) -> None:
    text = json.dumps(document, ensure_ascii=False)
    for cccd in ALL_CCCDS:
        assert cccd not in text, text


# A phone that is one patient's own mobile


@pytest.mark.usefixtures("visit")
async def test_an_own_mobile_given_for_one_cccd_opens_that_book_in_full(client: Client, outbox: Outbox) -> None:
    answer = await sign_in_app(client, outbox)
    (book,) = answer["books"]
    assert book["name"] == "Nguyễn Văn An" and book["read_only"] is False
    overview = await client.get(BOOK, headers=bearer(answer["access_token"]))
    assert overview.status_code == 200
    assert overview.json()["read_only"] is False and overview.json()["patient"]["id"] == book["id"]


async def test_the_same_cccd_at_two_facilities_is_still_one_book_in_full(
    client: Client, outbox: Outbox, hospital: Hospital, other_hospital: Hospital
) -> None:
    await push_patient(hospital, "001085000333", "Phạm Thu Hà", "0933 111 222")
    await push_patient(other_hospital, "001085000333", "Phạm Thu Hà", "+84933111222")
    answer = await sign_in_app(client, outbox, "0933 111 222")
    (book,) = answer["books"]
    assert book["read_only"] is False
    assert (await client.get(BOOK, headers=bearer(answer["access_token"]))).status_code == 200


@pytest.mark.parametrize("written", ["0933.111.222", "84933111222", "+84 933 111 222"])
async def test_the_hospital_may_write_the_mobile_in_any_usual_form(
    client: Client, outbox: Outbox, hospital: Hospital, written: str
) -> None:
    await push_patient(hospital, "001085000333", "Phạm Thu Hà", written)
    (book,) = (await sign_in_app(client, outbox, "0933 111 222"))["books"]
    assert book["name"] == "Phạm Thu Hà" and book["read_only"] is False


@pytest.mark.usefixtures("visit")
async def test_the_phone_in_any_accepted_form_gives_the_same_books(
    client: Client, outbox: Outbox, clock: FakeClock
) -> None:
    answers = []
    for written in ("0912 345 678", "+84912345678", "84912345678"):
        answers.append(await sign_in_app(client, outbox, written))
        clock.advance(seconds=61)  # one code per phone per minute
    assert [answer["books"] for answer in answers] == [answers[0]["books"]] * 3
    assert answers[0]["books"][0]["read_only"] is False


# A phone on several books


@pytest.mark.usefixtures("two_children")
async def test_a_mothers_phone_lists_both_children_read_only_with_no_book_open(client: Client, outbox: Outbox) -> None:
    answer = await sign_in_app(client, outbox, MOTHER)
    books = by_name(answer)
    assert set(books) == {CHILD_A[1], CHILD_B[1]}
    assert all(book["read_only"] is True for book in books.values())
    assert books[CHILD_A[1]]["masked_cccd"] == "001******111"
    token = answer["access_token"]
    assert (await client.get(BOOK, headers=bearer(token))).status_code == 404
    assert (await client.get(f"{BOOK}/fhir", headers=bearer(token))).status_code == 404


@pytest.mark.usefixtures("two_children")
async def test_selecting_a_child_opens_that_book_read_only(client: Client, outbox: Outbox) -> None:
    answer = await sign_in_app(client, outbox, MOTHER)
    token, child_b = answer["access_token"], by_name(answer)[CHILD_B[1]]
    selected = await select(client, token, child_b["id"])
    assert selected.status_code == 200, selected.text
    assert selected.json()["book"] == child_b and selected.json()["book"]["read_only"] is True
    overview = await client.get(BOOK, headers=bearer(token))
    assert overview.status_code == 200
    assert overview.json()["read_only"] is True and overview.json()["patient"]["name"] == CHILD_B[1]
    bundle = await client.get(f"{BOOK}/fhir", headers=bearer(token))
    assert bundle.status_code == 200
    assert CHILD_B[0] in bundle.text and CHILD_A[0] not in bundle.text  # only the chosen child's records


@pytest.mark.usefixtures("visit", "two_children")
async def test_selecting_a_book_this_phone_is_not_given_for_is_404(
    app: Litestar, client: Client, outbox: Outbox
) -> None:
    token = (await sign_in_app(client, outbox, MOTHER))["access_token"]
    refused = await select(client, token, await patient_uuid(app, AN_CCCD))
    assert refused.status_code == 404
    assert "Nguyễn" not in refused.text and AN_CCCD not in refused.text
    assert (await client.get(BOOK, headers=bearer(token))).status_code == 404  # still nothing open


@pytest.mark.usefixtures("two_children")
@pytest.mark.parametrize("book_id", ["not-a-uuid", "", 12, None, ["x"]])
async def test_selecting_garbage_is_a_client_error(client: Client, outbox: Outbox, book_id: Any) -> None:
    token = (await sign_in_app(client, outbox, MOTHER))["access_token"]
    response = await select(client, token, book_id)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]


@pytest.mark.usefixtures("two_children")
async def test_selecting_without_a_session_is_401(client: Client, outbox: Outbox) -> None:
    book_id = by_name(await sign_in_app(client, outbox, MOTHER))[CHILD_A[1]]["id"]
    response = await client.post("/api/patient/v1/auth/select", json={"book_id": book_id})
    assert response.status_code == 401


# Weak evidence: not the patient's own mobile


@pytest.mark.parametrize("use", ["home", "work", None])
async def test_a_phone_that_is_not_a_mobile_gives_a_single_book_read_only(
    client: Client, outbox: Outbox, hospital: Hospital, use: str | None
) -> None:
    await push_patient(hospital, "001085000333", "Phạm Thu Hà", "0933 111 222", use=use)
    answer = await sign_in_app(client, outbox, "0933 111 222")
    (book,) = answer["books"]
    assert book["name"] == "Phạm Thu Hà" and book["read_only"] is True
    overview = await client.get(BOOK, headers=bearer(answer["access_token"]))
    assert overview.status_code == 200 and overview.json()["read_only"] is True  # readable, not confirmed


async def test_a_phone_known_only_from_xml_gives_the_book_read_only(
    client: Client, outbox: Outbox, other_hospital: Hospital
) -> None:
    pushed = await other_hospital.push(
        sample("xml130-envelope.xml"), kind="xml130", content_type="application/xml"
    )  # XML1 DIEN_THOAI 0912345678, SO_CCCD 001090012345
    assert pushed.status_code == 200, pushed.text
    answer = await sign_in_app(client, outbox)
    (book,) = answer["books"]
    assert book["name"] == "Nguyễn Văn An" and book["read_only"] is True
    overview = await client.get(BOOK, headers=bearer(answer["access_token"]))
    assert overview.status_code == 200 and overview.json()["read_only"] is True


@pytest.mark.usefixtures("visit")
async def test_an_own_mobile_from_fhir_still_opens_in_full_when_xml_also_names_the_phone(
    client: Client, outbox: Outbox, other_hospital: Hospital
) -> None:
    pushed = await other_hospital.push(sample("xml130-envelope.xml"), kind="xml130", content_type="application/xml")
    assert pushed.status_code == 200, pushed.text
    (book,) = (await sign_in_app(client, outbox))["books"]
    assert book["read_only"] is False


# An unknown phone


@pytest.mark.usefixtures("visit")
async def test_an_unknown_phone_gets_no_books_and_a_token_that_reads_nothing(
    app: Litestar, client: Client, outbox: Outbox
) -> None:
    answer = await sign_in_app(client, outbox, "0977 000 111")
    assert answer["books"] == [] and answer["access_token"]
    token = answer["access_token"]
    for path in (BOOK, f"{BOOK}/fhir"):
        response = await client.get(path, headers=bearer(token))
        assert response.status_code == 404, path
        assert "Nguyễn" not in response.text and AN_CCCD not in response.text
    assert (await select(client, token, await patient_uuid(app, AN_CCCD))).status_code == 404


# Activation codes


@pytest.mark.usefixtures("two_children")
async def test_an_activation_code_from_the_command_opens_the_book_in_full_now_and_later(
    client: Client, outbox: Outbox, clock: FakeClock, var_dir: Path, database_url: str
) -> None:
    printed = run_healthbook(
        "patient", "activation-code", "--cccd", CHILD_A[0], var_dir=var_dir, DATABASE_URL=database_url
    )
    assert printed.returncode == 0, printed.stderr
    code = json.loads(printed.stdout)["code"]

    answer = await sign_in_app(client, outbox, MOTHER)
    token = answer["access_token"]
    activated = await activate(client, token, code)
    assert activated.status_code == 200, activated.text
    assert activated.json()["book"]["name"] == CHILD_A[1] and activated.json()["book"]["read_only"] is False
    listed = {book["name"]: book["read_only"] for book in activated.json()["books"]}
    assert listed == {CHILD_A[1]: False, CHILD_B[1]: True}
    overview = await client.get(BOOK, headers=bearer(token))
    assert overview.status_code == 200
    assert overview.json()["patient"]["name"] == CHILD_A[1] and overview.json()["read_only"] is False

    # The next sign-in of this phone: the confirmed child stays in full, the other stays read-only.
    clock.advance(seconds=61)
    later = await sign_in_app(client, outbox, MOTHER)
    assert {book["name"]: book["read_only"] for book in later["books"]} == {CHILD_A[1]: False, CHILD_B[1]: True}
    reopened = await select(client, later["access_token"], by_name(later)[CHILD_A[1]]["id"])
    assert reopened.status_code == 200 and reopened.json()["book"]["read_only"] is False
    assert (await client.get(BOOK, headers=bearer(later["access_token"]))).json()["read_only"] is False


async def test_an_activated_single_weak_book_opens_in_full_at_the_next_sign_in(
    app: Litestar, client: Client, outbox: Outbox, clock: FakeClock, hospital: Hospital
) -> None:
    await push_patient(hospital, "001085000333", "Phạm Thu Hà", "0933 111 222", use="home")
    code = await issue_code(app, "001085000333")
    first = await sign_in_app(client, outbox, "0933 111 222")
    assert first["books"][0]["read_only"] is True
    assert (await activate(client, first["access_token"], code)).status_code == 200
    clock.advance(seconds=61)
    later = await sign_in_app(client, outbox, "0933 111 222")
    assert later["books"][0]["read_only"] is False
    assert (await client.get(BOOK, headers=bearer(later["access_token"]))).json()["read_only"] is False


@pytest.mark.usefixtures("two_children")
async def test_an_activation_code_works_once(app: Litestar, client: Client, outbox: Outbox) -> None:
    code = await issue_code(app, CHILD_A[0])
    token = (await sign_in_app(client, outbox, MOTHER))["access_token"]
    assert (await activate(client, token, code)).status_code == 200
    again = await activate(client, token, code)
    assert again.status_code == 400 and again.json()["error"]


@pytest.mark.usefixtures("two_children")
async def test_an_activation_code_lasts_30_days(
    app: Litestar, client: Client, outbox: Outbox, clock: FakeClock
) -> None:
    within, expired = await issue_code(app, CHILD_A[0]), await issue_code(app, CHILD_B[0])
    clock.advance(days=29)
    token = (await sign_in_app(client, outbox, MOTHER))["access_token"]
    assert (await activate(client, token, within)).status_code == 200
    clock.advance(days=2)  # 31 days after printing
    token = (await sign_in_app(client, outbox, MOTHER))["access_token"]
    assert (await activate(client, token, expired)).status_code == 400
    clock.advance(seconds=61)
    later = await sign_in_app(client, outbox, MOTHER)
    assert {book["name"]: book["read_only"] for book in later["books"]} == {CHILD_A[1]: False, CHILD_B[1]: True}


@pytest.mark.usefixtures("two_children")
@pytest.mark.parametrize("wrong", ["ABCD-EFGH-JKLM", "", "0000-0000-0000", "x" * 40])
async def test_a_wrong_activation_code_is_400_and_opens_nothing(client: Client, outbox: Outbox, wrong: str) -> None:
    token = (await sign_in_app(client, outbox, MOTHER))["access_token"]
    response = await activate(client, token, wrong)
    assert response.status_code == 400
    assert (await client.get(BOOK, headers=bearer(token))).status_code == 404


@pytest.mark.usefixtures("two_children")
@pytest.mark.parametrize("typed", [str.lower, lambda code: code.replace("-", ""), lambda code: code.replace("-", " ")])
async def test_an_activation_code_may_be_typed_lowercase_or_without_dashes(
    app: Litestar, client: Client, outbox: Outbox, typed: Any
) -> None:
    code = await issue_code(app, CHILD_A[0])
    token = (await sign_in_app(client, outbox, MOTHER))["access_token"]
    response = await activate(client, token, typed(code))
    assert response.status_code == 200, response.text
    assert response.json()["book"]["read_only"] is False


@pytest.mark.usefixtures("two_children")
async def test_too_many_wrong_activation_codes_are_429_even_for_the_right_one(
    app: Litestar, client: Client, outbox: Outbox
) -> None:
    code = await issue_code(app, CHILD_A[0])
    token = (await sign_in_app(client, outbox, MOTHER))["access_token"]
    statuses = [(await activate(client, token, f"WRNG-CODE-{n:04d}")).status_code for n in range(10)]
    assert statuses == [400] * 10
    limited = await activate(client, token, code)
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0
    assert (await client.get(BOOK, headers=bearer(token))).status_code == 404


@pytest.mark.usefixtures("two_children")
async def test_refreshing_the_tokens_does_not_reset_the_activation_limit(
    app: Litestar, client: Client, outbox: Outbox
) -> None:
    code = await issue_code(app, CHILD_A[0])
    answer = await sign_in_app(client, outbox, MOTHER)
    for n in range(10):
        assert (await activate(client, answer["access_token"], f"WRNG-CODE-{n:04d}")).status_code == 400
    refreshed = await client.post("/api/patient/v1/auth/refresh", json={"refresh_token": answer["refresh_token"]})
    assert refreshed.status_code == 200
    assert (await activate(client, refreshed.json()["access_token"], code)).status_code == 429


@pytest.mark.usefixtures("two_children")
async def test_signing_in_again_does_not_reset_the_activation_limit(
    app: Litestar, client: Client, outbox: Outbox, clock: FakeClock
) -> None:
    code = await issue_code(app, CHILD_A[0])
    answer = await sign_in_app(client, outbox, MOTHER)
    for n in range(10):
        assert (await activate(client, answer["access_token"], f"WRNG-CODE-{n:04d}")).status_code == 400
    clock.advance(seconds=61)
    again = await sign_in_app(client, outbox, MOTHER)
    assert (await activate(client, again["access_token"], code)).status_code == 429
    clock.advance(minutes=61)  # the limit is per hour
    later = await sign_in_app(client, outbox, MOTHER)
    assert (await activate(client, later["access_token"], code)).status_code == 200


async def test_activating_without_a_session_is_401(app: Litestar, client: Client, hospital: Hospital) -> None:
    await push_patient(hospital, *CHILD_A, MOTHER)
    response = await client.post("/api/patient/v1/auth/activate", json={"code": await issue_code(app, CHILD_A[0])})
    assert response.status_code == 401


# What the book lists never shows a whole CCCD


@pytest.mark.usefixtures("visit", "two_children")
async def test_no_book_listing_shows_a_full_cccd(app: Litestar, client: Client, outbox: Outbox) -> None:
    code = await issue_code(app, CHILD_A[0])
    answer = await sign_in_app(client, outbox, MOTHER)
    assert_no_full_cccd(answer)
    assert all(book["masked_cccd"].count("*") == 6 for book in answer["books"])
    token = answer["access_token"]
    selected = await select(client, token, by_name(answer)[CHILD_B[1]]["id"])
    assert_no_full_cccd(selected.json())
    assert_no_full_cccd((await client.get(BOOK, headers=bearer(token))).json())
    assert_no_full_cccd((await activate(client, token, code)).json())
    refreshed = await client.post("/api/patient/v1/auth/refresh", json={"refresh_token": answer["refresh_token"]})
    assert refreshed.status_code == 200
    assert_no_full_cccd(refreshed.json())
    assert_no_full_cccd(await sign_in_app(client, outbox, PHONE))


# What a session may open follows the evidence as it changes


async def test_a_number_the_hospital_corrects_closes_the_book_at_the_next_refresh(
    client: Client, outbox: Outbox, hospital: Hospital
) -> None:
    await push_patient(hospital, *CHILD_A, "0933 111 222")
    answer = await sign_in_app(client, outbox, "0933 111 222")
    assert answer["books"][0]["read_only"] is False
    await push_patient(hospital, *CHILD_A, "0944 222 333")  # the desk had typed a stranger's number
    refreshed = await client.post("/api/patient/v1/auth/refresh", json={"refresh_token": answer["refresh_token"]})
    assert refreshed.status_code == 200 and refreshed.json()["books"] == []
    for path in (BOOK, f"{BOOK}/fhir"):
        assert (await client.get(path, headers=bearer(refreshed.json()["access_token"]))).status_code == 404


async def test_a_second_book_on_the_phone_makes_an_open_session_read_only_within_a_minute(
    client: Client, outbox: Outbox, hospital: Hospital, clock: FakeClock
) -> None:
    await push_patient(hospital, *CHILD_A, MOTHER)
    token = (await sign_in_app(client, outbox, MOTHER))["access_token"]
    assert (await client.get(BOOK, headers=bearer(token))).json()["read_only"] is False
    await push_patient(hospital, *CHILD_B, MOTHER)
    clock.advance(seconds=61)
    overview = await client.get(BOOK, headers=bearer(token))
    assert overview.status_code == 200 and overview.json()["read_only"] is True


async def test_activating_a_relatives_book_keeps_the_phones_own_book_in_full(
    app: Litestar, client: Client, outbox: Outbox, hospital: Hospital, clock: FakeClock
) -> None:
    await push_patient(hospital, *CHILD_A, MOTHER)  # the mother's own mobile, on her own record
    await push_patient(hospital, "001160000333", "Lê Văn Ông", "0955 333 444")  # her father's
    answer = await sign_in_app(client, outbox, MOTHER)
    assert (await activate(client, answer["access_token"], await issue_code(app, "001160000333"))).status_code == 200
    clock.advance(seconds=61)
    books = {book["name"]: book["read_only"] for book in (await sign_in_app(client, outbox, MOTHER))["books"]}
    assert books == {CHILD_A[1]: False, "Lê Văn Ông": False}


async def test_a_new_activation_code_cancels_the_earlier_ones(
    app: Litestar, client: Client, outbox: Outbox, two_children: None
) -> None:
    first, second = await issue_code(app, CHILD_A[0]), await issue_code(app, CHILD_A[0])
    token = (await sign_in_app(client, outbox, MOTHER))["access_token"]
    assert (await activate(client, token, first)).status_code == 400
    assert (await activate(client, token, second)).status_code == 200


async def test_a_confirmation_lasts_a_year(
    app: Litestar, client: Client, outbox: Outbox, clock: FakeClock, two_children: None
) -> None:
    token = (await sign_in_app(client, outbox, MOTHER))["access_token"]
    assert (await activate(client, token, await issue_code(app, CHILD_A[0]))).status_code == 200
    clock.advance(days=364)
    books = {book["name"]: book["read_only"] for book in (await sign_in_app(client, outbox, MOTHER))["books"]}
    assert books[CHILD_A[1]] is False
    clock.advance(days=2)
    books = {book["name"]: book["read_only"] for book in (await sign_in_app(client, outbox, MOTHER))["books"]}
    assert books[CHILD_A[1]] is True  # a recycled number must not keep the book for ever
