"""Who a request comes from, for per-client limits (standards: Sign-in, `FORWARDED_ALLOW_IPS`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from backend.settings import load_settings
from backend.web.clients import client_ip, limit_key


def scope(peer: str, *forwarded: str) -> Any:
    return {"client": (peer, 4000), "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded]}


def test_forwarded_addresses_count_only_behind_a_trusted_proxy(tmp_path: Path) -> None:
    untrusting = load_settings({"VAR_DIR": str(tmp_path), "APP_ENV": "dev"})
    assert client_ip(scope("10.0.0.5", "198.51.100.7"), untrusting) == "10.0.0.5"
    trusting = load_settings({"VAR_DIR": str(tmp_path), "APP_ENV": "dev", "FORWARDED_ALLOW_IPS": "10.0.0.0/8"})
    assert client_ip(scope("10.0.0.5", "198.51.100.7"), trusting) == "198.51.100.7"


def test_several_forwarded_header_lines_are_one_list(tmp_path: Path) -> None:
    """A client may send its own line; the proxy adds the real address on a line of its own."""
    settings = load_settings({"VAR_DIR": str(tmp_path), "APP_ENV": "dev", "FORWARDED_ALLOW_IPS": "10.0.0.0/8"})
    assert client_ip(scope("10.0.0.5", "203.0.113.9", "198.51.100.7"), settings) == "198.51.100.7"


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("198.51.100.7", "198.51.100.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),  # one household or phone holds a whole /64
        ("2001:db8:1:2:ffff::9", "2001:db8:1:2::/64"),
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("testclient", "testclient"),
    ],
)
def test_limits_count_an_ipv6_network_as_one_client(address: str, key: str) -> None:
    assert limit_key(address) == key
