"""The SMART Health Link payload and its secrets (contract §5; check D1)."""

from __future__ import annotations

import inspect
import json
from datetime import UTC, datetime

import pytest

from backend.sharing import links
from backend.sharing.links import LinkPayload, b64url_decode, manifest_url, new_key, new_token, read_shlink, viewer_url

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def test_tokens_and_keys_are_256_bits_from_secrets() -> None:
    tokens = {new_token() for _ in range(1000)}
    assert len(tokens) == 1000 and all(len(b64url_decode(token)) == 32 for token in tokens)
    assert len(new_key()) == 32
    source = inspect.getsource(links)
    assert "secrets.token_bytes(TOKEN_BYTES)" in source and "secrets.token_bytes(KEY_BYTES)" in source
    assert "import random" not in source


@pytest.mark.parametrize(("passcode", "flag"), [(False, ""), (True, "P")])
def test_the_payload_is_minified_base64url_without_padding(passcode: bool, flag: str) -> None:
    key = bytes(range(32))
    link = LinkPayload("https://so.example/api/shl/" + "A" * 43, key, NOW, "Khám tim", passcode).shlink()
    assert link.startswith("shlink:/") and "=" not in link
    encoded = link.removeprefix("shlink:/")
    raw = b64url_decode(encoded)
    assert b", " not in raw and b": " not in raw  # minified
    assert json.loads(raw) == {
        "url": "https://so.example/api/shl/" + "A" * 43,
        "key": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
        "exp": int(NOW.timestamp()),
        "flag": flag,
        "label": "Khám tim",
    }
    assert read_shlink(viewer_url("https://so.example", link)) == json.loads(raw)


def test_the_manifest_url_stays_within_128_characters() -> None:
    assert len(manifest_url("https://so-suc-khoe.hanoi.gov.vn", new_token())) <= 128
    with pytest.raises(ValueError, match="BASE_URL"):
        manifest_url("https://" + "x" * 80 + ".vn", new_token())


def test_the_viewer_url_carries_the_link_after_the_fragment_mark() -> None:
    assert viewer_url("https://so.example/", "shlink:/abc") == "https://so.example/view#shlink:/abc"
