"""Our JWE decoder against the IG's example JWEs, and our encoder against the spec (check D1)."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from backend.sharing import jwe
from backend.sharing.links import b64url, b64url_decode, new_key

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "shl"
IG_KEY = b64url_decode("rxTgYlOaKJPFtcEd0qcceN8wEU4p94SqAwIWQe6uX7Q")


def _example(name: str) -> str:
    path = REFERENCE / name
    if not path.exists():
        pytest.skip(f"{path} is not here")
    return path.read_text().strip()


def test_the_ig_example_decrypts() -> None:
    plaintext = jwe.decrypt(_example("spec-example-jwe.txt"), IG_KEY)
    assert len(plaintext) == 846 and "verifiableCredential" in json.loads(plaintext)


def test_the_ig_ips_example_decrypts_without_cty_and_with_a_kid() -> None:
    compact = _example("ips-example-jwe.txt")
    assert "cty" not in json.loads(b64url_decode(compact.split(".")[0]))
    bundle = json.loads(jwe.decrypt(compact, IG_KEY))
    assert (bundle["resourceType"], bundle["type"]) == ("Bundle", "document")


def test_ours_decrypt_with_plain_aes_gcm_and_a_fresh_iv_each_time() -> None:
    key = new_key()
    first, second = jwe.encrypt(b'{"a":1}', key), jwe.encrypt(b'{"a":1}', key)
    header, encrypted_key, iv, ciphertext, tag = first.split(".")
    assert json.loads(b64url_decode(header)) == {"alg": "dir", "enc": "A256GCM", "cty": "application/fhir+json"}
    assert encrypted_key == "" and len(b64url_decode(iv)) == 12 and iv != second.split(".")[2]
    aead = AESGCM(key).decrypt(b64url_decode(iv), b64url_decode(ciphertext) + b64url_decode(tag), header.encode())
    assert aead == b'{"a":1}' == jwe.decrypt(second, key)


def test_a_large_book_is_no_trouble() -> None:
    """joserfc caps ciphertext at 64 KiB; a book with its documents is often more (standards, SHL)."""
    key = new_key()
    book = json.dumps({"resourceType": "Bundle", "entry": [{"n": "x" * 1000}] * 3000}).encode()  # ~3 MB
    header, _, iv, ciphertext, tag = jwe.encrypt(book, key).split(".")
    aead = AESGCM(key).decrypt(b64url_decode(iv), b64url_decode(ciphertext) + b64url_decode(tag), header.encode())
    assert aead == book


def test_a_flipped_byte_fails_closed() -> None:
    key = new_key()
    header, _, iv, ciphertext, tag = jwe.encrypt(b"x" * 100, key).split(".")
    raw = bytearray(b64url_decode(ciphertext))
    raw[10] ^= 1
    flipped = ".".join((header, "", iv, b64url(bytes(raw)), tag))
    with pytest.raises(jwe.JweError):
        jwe.decrypt(flipped, key)
    with pytest.raises(InvalidTag):
        AESGCM(key).decrypt(b64url_decode(iv), bytes(raw) + b64url_decode(tag), header.encode())


@pytest.mark.parametrize(
    "change",
    [
        lambda parts: [b64url(b'{"alg":"none","enc":"A256GCM"}'), *parts[1:]],
        lambda parts: [parts[0], b64url(b"a key"), *parts[2:]],
        lambda parts: parts[:4],
        lambda parts: [*parts[:4], parts[4][:-2]],
        lambda parts: [*parts[:2], "!!", *parts[3:]],
    ],
)
def test_odd_jwes_fail_with_the_one_generic_error(change: object) -> None:
    key = new_key()
    parts = jwe.encrypt(b"{}", key).split(".")
    with pytest.raises(jwe.JweError):
        jwe.decrypt(".".join(change(parts)), key)  # type: ignore[operator]
    with pytest.raises(jwe.JweError):
        jwe.decrypt(".".join(parts), new_key())


def test_zip_def_is_raw_deflate_with_a_cap() -> None:
    key = new_key()
    header = b64url(json.dumps({"alg": "dir", "enc": "A256GCM", "zip": "DEF"}).encode())

    def sealed(plaintext: bytes) -> str:
        deflater = zlib.compressobj(wbits=-15)
        compressed = deflater.compress(plaintext) + deflater.flush()
        iv = b"\x01" * 12
        out = AESGCM(key).encrypt(iv, compressed, header.encode())
        return ".".join((header, "", b64url(iv), b64url(out[:-16]), b64url(out[-16:])))

    assert jwe.decrypt(sealed(b'{"resourceType":"Bundle"}'), key) == b'{"resourceType":"Bundle"}'
    with pytest.raises(jwe.JweError):  # a bomb: more than the cap once inflated
        jwe.decrypt(sealed(b"\0" * (jwe.MAX_INFLATED_BYTES + 1)), key)
