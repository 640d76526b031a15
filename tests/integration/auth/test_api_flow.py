"""Contract §4 sign-in, as an app would do it."""

from __future__ import annotations

import pytest

from tests.support.patients import Client, Outbox, bearer, sign_in_app


@pytest.mark.usefixtures("visit")
async def test_a_known_phone_opens_its_book(client: Client, outbox: Outbox) -> None:
    answer = await sign_in_app(client, outbox)
    assert answer["token_type"] == "Bearer" and answer["expires_in"] > 0
    assert answer["access_token"] and answer["refresh_token"]
    (book,) = answer["books"]
    assert book["name"] == "Nguyễn Văn An" and book["masked_cccd"] == "001******345" and book["read_only"] is False


@pytest.mark.usefixtures("visit")
async def test_the_book_through_the_api(client: Client, outbox: Outbox) -> None:
    answer = await sign_in_app(client, outbox)
    headers = bearer(answer["access_token"])
    overview = await client.get("/api/patient/v1/book", headers=headers)
    assert overview.status_code == 200, overview.text
    assert overview.headers["cache-control"] == "no-store"
    body = overview.json()
    print(body)
    bundle = await client.get("/api/patient/v1/book/fhir", headers=headers)
    assert bundle.status_code == 200 and bundle.json()["type"] == "collection"
    assert len(bundle.json()["entry"]) == 10
