"""Signing in as a patient would: a code by SMS (read from the file outbox), then tokens or a cookie."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.database import raw_transaction
from backend.phones import normalize_phone
from backend.records.reads import find_patient
from tests.support.hospital import Hospital, own_database

Client = AsyncTestClient[Litestar]
PHONE = "0912 345 678"  # Nguyễn Văn An's mobile in the sample bundle
PHONE_E164 = "+84912345678"
NATIONAL_ID = "http://fhir.ehealth.gov.vn/core/sid/national_id"


class Outbox:
    """The `SMS_BACKEND=file:PATH` outbox."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def messages(self) -> list[dict[str, str]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def last_code(self, phone: str = PHONE_E164) -> str:
        texts = [message["text"] for message in self.messages() if message["to"] == phone]
        assert texts, f"no SMS to {phone}"
        codes = re.findall(r"\b\d{6}\b", texts[-1])
        assert len(codes) == 1, texts[-1]
        return str(codes[0])


async def request_code(client: Client, phone: str = PHONE, **headers: str) -> Any:
    return await client.post("/api/patient/v1/auth/otp", json={"phone": phone}, headers=headers)


async def verify(client: Client, challenge_id: str, code: str) -> Any:
    return await client.post("/api/patient/v1/auth/otp/verify", json={"challenge_id": challenge_id, "code": code})


async def sign_in_app(client: Client, outbox: Outbox, phone: str = PHONE) -> dict[str, Any]:
    """The whole API flow of contract §4; returns the verify answer (tokens and books)."""
    sent = await request_code(client, phone)
    assert sent.status_code == 202, sent.text
    e164 = normalize_phone(phone)
    assert e164 is not None
    verified = await verify(client, sent.json()["challenge_id"], outbox.last_code(e164))
    assert verified.status_code == 200, verified.text
    return dict(verified.json())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def push_patient(
    hospital: Hospital, cccd: str, name: str, phone: str, *, use: str | None = "mobile", timestamp: int | None = None
) -> None:
    """A hospital records a person with this phone (and one visit, so the book is not empty)."""
    telecom: dict[str, str] = {"system": "phone", "value": phone}
    if use:
        telecom["use"] = use
    patient_id = f"bn-{cccd[-6:]}"
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {
                    "resourceType": "Patient",
                    "id": patient_id,
                    "identifier": [{"system": NATIONAL_ID, "value": cccd}],
                    "name": [{"text": name}],
                    "telecom": [telecom],
                },
                "request": {"method": "PUT", "url": f"Patient/{patient_id}"},
            },
            {
                "resource": {
                    "resourceType": "Encounter",
                    "id": f"kb-{cccd[-6:]}",
                    "status": "finished",
                    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                    "subject": {"reference": f"Patient/{patient_id}"},
                    "period": {"start": "2025-10-02T08:00:00+07:00"},
                },
                "request": {"method": "PUT", "url": f"Encounter/kb-{cccd[-6:]}"},
            },
        ],
    }
    response = await hospital.push(bundle, timestamp=timestamp)
    assert response.status_code == 200, response.text


async def patient_uuid(app: Litestar, cccd: str) -> str:
    """The book id (patient uuid) the API uses for this CCCD."""
    async with own_database(app) as database, raw_transaction(database) as connection:
        patient_id = await find_patient(connection, cccd)
    assert patient_id is not None
    return str(patient_id)


async def issue_code(app: Litestar, cccd: str) -> str:
    """An activation code as the desk would print it, issued at the test clock's time."""
    async with own_database(app) as database, raw_transaction(database) as connection:
        patient_id = await find_patient(connection, cccd)
        assert patient_id is not None
        code, _ = await app.state.signin.activation.issue(connection, patient_id, app.state.clock())
    return str(code)


SESSION_COOKIE, CSRF_COOKIE = "__Host-session", "__Host-csrf"
_CSRF_FIELD = re.compile(r'name="_csrf_token" value="([^"]+)"')


async def browser_cookies(client: Client, outbox: Outbox, phone: str) -> tuple[str, str]:
    """Sign in through the web forms, as a browser without JavaScript would; that browser's session and
    CSRF cookies, taken off the client so that each caller sends its own."""
    client.cookies.clear()
    page = await client.get("/login")
    token = _CSRF_FIELD.search(page.text)
    assert token is not None, page.text
    sent = await client.post("/login", data={"phone": phone, "_csrf_token": token.group(1)}, follow_redirects=False)
    assert sent.status_code == 303, sent.text
    challenge = sent.headers["location"].split("c=", 1)[1]
    code = outbox.last_code(normalize_phone(phone) or "")
    signed_in = await client.post(
        "/login/code",
        data={"challenge": challenge, "code": code, "_csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert signed_in.status_code == 303, signed_in.text
    session, csrf = client.cookies.get(SESSION_COOKIE), client.cookies.get(CSRF_COOKIE)
    client.cookies.clear()
    assert session and csrf
    return session, csrf
