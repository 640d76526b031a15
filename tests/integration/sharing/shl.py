"""Shares in tests: the patient makes them through the API, and an independent receiver opens them.

The receiver is written from the SHL spec alone, with plain `cryptography`, and none of our code: it
decodes the `shlink:/` payload, POSTs the manifest and decrypts the compact JWE (RFC 7516: the
protected header, as sent, is the AES-GCM associated data; `alg: dir`, so the link's key is the CEK)."""

from __future__ import annotations

import base64
import json
import zlib
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tests.support.patients import Client, Outbox, bearer, sign_in_app

SHARES = "/api/patient/v1/shares"
ACCESS_LOG = "/api/patient/v1/access-log"
# 3 October 2025, 10:00 in Hanoi: the morning after the sample visit (its follow-ups are ahead).
MORNING_AFTER = datetime(2025, 10, 3, 3, 0, tzinfo=UTC)
RECIPIENT = "BS. Trần Hữu Nghĩa, Bệnh viện Bạch Mai"


async def patient_headers(client: Client, outbox: Outbox, phone: str | None = None) -> dict[str, str]:
    signed_in = await (sign_in_app(client, outbox, phone) if phone else sign_in_app(client, outbox))
    return bearer(signed_in["access_token"])


async def make_share(client: Client, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"label": "Khám tim mạch", "expires_in": 3600, **fields}
    response = await client.post(SHARES, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


# --- The independent receiver -------------------------------------------------------------------------


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def decode_shlink(text: str) -> dict[str, Any]:
    """`shlink:/` + base64url(JSON), alone or after the `#` of a viewer URL."""
    link = text.split("#", 1)[-1]
    assert link.startswith("shlink:/"), text
    payload = json.loads(b64url_decode(link[len("shlink:/") :]))
    assert isinstance(payload, dict)
    return payload


def path_of(url: str) -> str:
    return urlsplit(url).path


async def fetch_manifest(client: Client, payload: dict[str, Any], **body: Any) -> Any:
    return await client.post(path_of(payload["url"]), json={"recipient": RECIPIENT, **body})


def decrypt_jwe(compact: str, key_b64url: str) -> bytes:
    protected, encrypted_key, iv, ciphertext, tag = compact.split(".")
    header = json.loads(b64url_decode(protected))
    assert (header["alg"], header["enc"], encrypted_key) == ("dir", "A256GCM", "")
    plaintext = AESGCM(b64url_decode(key_b64url)).decrypt(
        b64url_decode(iv), b64url_decode(ciphertext) + b64url_decode(tag), protected.encode("ascii")
    )
    return zlib.decompress(plaintext, wbits=-15) if header.get("zip") == "DEF" else plaintext


async def receive(client: Client, shlink: str, **body: Any) -> dict[str, Any]:
    """The shared document, as any SHL receiver gets it."""
    payload = decode_shlink(shlink)
    manifest = await fetch_manifest(client, payload, **body)
    assert manifest.status_code == 200, manifest.text
    (file,) = manifest.json()["files"]
    assert file["contentType"] == "application/fhir+json"
    if "embedded" in file:
        compact = file["embedded"]
    else:
        fetched = await client.get(path_of(file["location"]))
        assert fetched.status_code == 200, fetched.text
        assert fetched.headers["content-type"].startswith("application/jose")
        compact = fetched.text
    document = json.loads(decrypt_jwe(compact, payload["key"]))
    assert isinstance(document, dict)
    return document
