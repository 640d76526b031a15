"""The patient API of contract §4, end to end, as an app would use it: ask for a code, read it (here
from the `SMS_BACKEND=file:PATH` outbox of a development server), sign in, consent, read the book,
refresh the tokens, sign out.

    SMS_BACKEND=file:var/sms.jsonl make run          # in one terminal
    .venv/bin/python docs/examples/patient_api.py http://127.0.0.1:8000 0912345678 var/sms.jsonl

Prints one JSON summary. Needs only httpx."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import httpx


def wait_for_code(outbox: Path, phone_e164: str, after: int, timeout: float = 15) -> str:
    """The SMS is sent after the answer: wait for a new line for this phone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = outbox.read_text(encoding="utf-8").splitlines() if outbox.exists() else []
        for line in lines[after:]:
            message = json.loads(line)
            if message["to"] == phone_e164:
                return re.findall(r"\b\d{6}\b", message["text"])[0]
        time.sleep(0.2)
    raise SystemExit(f"no code for {phone_e164} in {outbox}")


def main(base_url: str, phone: str, outbox: Path) -> dict[str, Any]:
    api = httpx.Client(base_url=f"{base_url}/api/patient/v1", timeout=30)
    already_sent = len(outbox.read_text().splitlines()) if outbox.exists() else 0

    sent = api.post("/auth/otp", json={"phone": phone})
    sent.raise_for_status()  # 202, the same answer for any phone
    digits = re.sub(r"\D", "", phone)
    e164 = "+84" + (digits[1:] if digits.startswith("0") else digits.removeprefix("84"))
    code = wait_for_code(outbox, e164, already_sent)

    signed_in = api.post("/auth/otp/verify", json={"challenge_id": sent.json()["challenge_id"], "code": code})
    signed_in.raise_for_status()
    tokens = signed_in.json()
    books = tokens["books"]
    if len(books) > 1:  # a phone given for several people: pick one (read-only until confirmed)
        api.post("/auth/select", json={"book_id": books[0]["id"]}, headers=_bearer(tokens)).raise_for_status()

    notice = api.get("/privacy-notice").json()  # show it to the person; record their answer
    api.post("/consent", json={"version": notice["version"]}, headers=_bearer(tokens)).raise_for_status()

    overview = api.get("/book", headers=_bearer(tokens)).json()
    everything = api.get("/book/fhir", headers=_bearer(tokens)).json()

    renewed = api.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    renewed.raise_for_status()
    tokens = renewed.json()
    api.post("/auth/logout", headers=_bearer(tokens)).raise_for_status()
    after_logout = api.get("/book", headers=_bearer(tokens)).status_code

    return {
        "books": [book["name"] for book in books],
        "patient": overview["patient"]["name"],
        "groups": {name: group["total"] for name, group in overview["groups"].items()},
        "records": len(everything["entry"]),
        "after_logout": after_logout,
    }


def _bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    print(json.dumps(main(sys.argv[1], sys.argv[2], Path(sys.argv[3])), ensure_ascii=False, indent=2))
