"""Compact JWE with `alg: dir` and `enc: A256GCM` (RFC 7516, as the SHL spec uses it), with
`cryptography`'s AES-GCM directly: no size cap, a fresh 96-bit IV for every encryption.

Decryption fails closed: anything wrong (a flipped byte, a wrong key, an odd header, a bomb of a
compressed payload) raises the one generic `JweError`. `zip: DEF` (raw DEFLATE) is read, never written,
and its inflated size is capped.
"""

from __future__ import annotations

import binascii
import json
import secrets
import zlib

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from backend.sharing.links import b64url, b64url_decode

IV_BYTES = 12
TAG_BYTES = 16
MAX_INFLATED_BYTES = 32 * 1024 * 1024


class JweError(Exception):
    """The JWE does not decrypt (no detail: a decryption oracle learns nothing)."""


def encrypt(plaintext: bytes, key: bytes, content_type: str = "application/fhir+json") -> str:
    header = b64url(json.dumps({"alg": "dir", "enc": "A256GCM", "cty": content_type}, separators=(",", ":")).encode())
    iv = secrets.token_bytes(IV_BYTES)
    sealed = AESGCM(key).encrypt(iv, plaintext, header.encode("ascii"))  # the protected header is the AAD
    ciphertext, tag = sealed[:-TAG_BYTES], sealed[-TAG_BYTES:]
    return ".".join((header, "", b64url(iv), b64url(ciphertext), b64url(tag)))


def decrypt(compact: str, key: bytes) -> bytes:
    try:
        header_b64, encrypted_key, iv_b64, ciphertext_b64, tag_b64 = compact.strip().split(".")
        header = json.loads(b64url_decode(header_b64))
        iv, tag = b64url_decode(iv_b64), b64url_decode(tag_b64)
        if (
            not isinstance(header, dict)
            or header.get("alg") != "dir"
            or header.get("enc") != "A256GCM"
            or encrypted_key
            or len(iv) != IV_BYTES
            or len(tag) != TAG_BYTES
            or len(key) != 32
        ):
            raise JweError("not decryptable")
        plaintext = AESGCM(key).decrypt(iv, b64url_decode(ciphertext_b64) + tag, header_b64.encode("ascii"))
        zipped = header.get("zip")
        if zipped is None:
            return plaintext
        if zipped != "DEF":
            raise JweError("not decryptable")
        return _inflate(plaintext)
    except (ValueError, binascii.Error, InvalidTag, UnicodeError, zlib.error, RecursionError) as exc:
        raise JweError("not decryptable") from exc


def _inflate(compressed: bytes) -> bytes:
    inflater = zlib.decompressobj(wbits=-15)  # raw DEFLATE, no zlib header (RFC 7516 §4.1.3)
    inflated = inflater.decompress(compressed, MAX_INFLATED_BYTES)
    if inflater.unconsumed_tail or not inflater.eof:
        raise JweError("not decryptable")
    return inflated
