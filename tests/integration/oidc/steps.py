"""The national ID sign-in, step by step, as a browser does it: `/login/oidc`, the provider's page, back."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

from litestar import Litestar

from tests.support.hospital import fetch
from tests.support.patients import Client

BASE_URL = "https://testserver.local"
FLOW_COOKIE = "__Host-oidc"
SESSION_COOKIE = "__Host-session"
AN = "001090012345"  # Nguyễn Văn An: the sample visit's patient and a demo person, phone +84912345678
MOTHER = "001185004321"  # Trần Thị Bích Ngọc: her phone 0987 654 321 is on her son's book too
SON = "001216007788"
NEW_PERSON = "001301000555"  # Hoàng Thu Mai: no hospital has sent anything about her
NO_PHONE = "001079000666"  # Vũ Đức Long: the demo provider gives no phone for him


def query_of(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def pkce_pair() -> tuple[str, str]:
    """A native app's own PKCE verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


async def start(client: Client, **params: str) -> str:
    """`/login/oidc`: the provider's authorization URL it redirects to."""
    response = await client.get("/login/oidc", params=params, follow_redirects=False)
    assert response.status_code == 302, response.text
    return str(response.headers["location"])


async def pick(client: Client, authorize_url: str, cccd: str) -> str:
    """On the demo provider's page, the link of this person: where the provider sends the browser back."""
    page = await client.get(authorize_url)
    assert page.status_code == 200, page.text
    links = [html.unescape(link) for link in re.findall(r'href="([^"]+)"', page.text) if f"person={cccd}" in link]
    assert len(links) == 1, f"no link for {cccd} on the provider's page"
    chosen = await client.get(links[0], follow_redirects=False)
    assert chosen.status_code == 302, chosen.text
    return str(chosen.headers["location"])


async def back(client: Client, callback_url: str) -> Any:
    return await client.get(callback_url, follow_redirects=False)


async def sign_in(client: Client, cccd: str, **params: str) -> Any:
    """The whole trip; the callback's answer."""
    return await back(client, await pick(client, await start(client, **params), cccd))


async def events(app: Litestar, name: str) -> list[Any]:
    return await fetch(app, "SELECT * FROM auth_event WHERE event = $1 ORDER BY id", name)


async def last_failure(app: Litestar) -> str:
    failures = await events(app, "auth.oidc_failed")
    assert failures, "no auth.oidc_failed event"
    return str(failures[-1]["detail"])
