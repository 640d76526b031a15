"""Secrets at rest (webhook secrets, TOTP secrets, share keys), sealed with AES-256-GCM under `DATA_KEYS`.

A sealed value reads `{key id}.{base64url(nonce ‖ ciphertext)}`: the key id says which key of the ring
opens it, so keys can be rotated (the first key seals, every key opens). Each value is bound to its
purpose (the AEAD's associated data, e.g. `facility:01929:webhook-secret`), so a sealed value copied into
another row or column does not open there.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from backend.settings import DataKey

_NONCE_BYTES = 12


class SealedValueError(Exception):
    """A sealed value is malformed, was sealed for another purpose, or under a key we no longer have."""


class Keyring:
    def __init__(self, keys: Sequence[DataKey]) -> None:
        if not keys:
            raise ValueError("a keyring needs at least one key")
        self._sealing = keys[0]
        self._by_id = {key.key_id: AESGCM(key.key) for key in keys}

    def seal(self, plaintext: bytes, purpose: str) -> str:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        ciphertext = self._by_id[self._sealing.key_id].encrypt(nonce, plaintext, purpose.encode())
        return f"{self._sealing.key_id}.{base64.urlsafe_b64encode(nonce + ciphertext).decode()}"

    def open(self, sealed: str, purpose: str) -> bytes:
        key_id, _, encoded = sealed.partition(".")
        cipher = self._by_id.get(key_id)
        if cipher is None:
            raise SealedValueError(f"sealed under key {key_id!r}, which DATA_KEYS no longer holds")
        try:
            raw = base64.urlsafe_b64decode(encoded.encode())
            return cipher.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], purpose.encode())
        except (binascii.Error, ValueError, InvalidTag) as exc:
            raise SealedValueError("a sealed value does not open (tampered, or sealed for another use)") from exc

    @property
    def sealing_key_id(self) -> str:
        return self._sealing.key_id

    def reseal(self, sealed: str, purpose: str) -> str:
        """The same secret sealed under the first key (key rotation); SealedValueError if it does not open."""
        return self.seal(self.open(sealed, purpose), purpose)
