"""Check A7 against an outside provider (`OIDC_ISSUER`), with ID tokens no honest provider issues: each is
answered by a provider double at the token endpoint, after a real `/login/oidc` start, and each is
refused with a readable page, no session, and an `auth.oidc_failed` event that says why."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from joserfc.jwk import ECKey
from litestar import Litestar

from backend.app import create_app
from backend.settings import Settings
from tests.conftest import make_settings
from tests.integration.oidc.provider_double import ATTACKER_JWKS, CLIENT_ID, CLIENT_SECRET, ISSUER, ProviderDouble, b64
from tests.integration.oidc.steps import BASE_URL, SESSION_COOKIE, events, last_failure, pkce_pair, query_of, start
from tests.support.clock import FakeClock
from tests.support.hospital import count
from tests.support.patients import Client, Outbox

Forge = Callable[[ProviderDouble, str, datetime], str]


@pytest.fixture
def settings(var_dir: Path, database_url: str, outbox: Outbox) -> Settings:
    return make_settings(
        var_dir,
        DATABASE_URL=database_url,
        SMS_BACKEND=f"file:{outbox.path}",
        BASE_URL=BASE_URL,
        OIDC_ISSUER=ISSUER,
        OIDC_CLIENT_ID=CLIENT_ID,
        OIDC_CLIENT_SECRET=CLIENT_SECRET,
    )


@pytest.fixture
def double() -> ProviderDouble:
    return ProviderDouble()


@pytest.fixture
def app(settings: Settings, clock: FakeClock, double: ProviderDouble) -> Litestar:
    app = create_app(settings, clock=clock)
    app.state.oidc.provider.transport = double.transport()  # the relying party talks to the double
    return app


async def go_and_come_back(client: Client, double: ProviderDouble, clock: FakeClock, forge: Forge) -> httpx.Response:
    sent = query_of(await start(client))
    double.id_token = forge(double, sent["nonce"], clock.now)
    params = {"code": "a-code-the-provider-gave", "state": sent["state"]}
    return await client.get("/login/oidc/callback", params=params, follow_redirects=False)


def hs256_with_public_key(double: ProviderDouble, claims: dict[str, object]) -> str:
    """An HMAC made with the provider's public key as the secret: the classic algorithm confusion."""
    public = double.key.public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    signing_input = f"{b64({'alg': 'HS256', 'kid': double.key.kid})}.{b64(claims)}"
    mac = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"


FORGERIES: dict[str, tuple[Forge, str]] = {
    "wrong aud": (lambda d, n, t: d.sign(d.claims(n, t, aud="another-client")), "id token: wrong aud"),
    "several audiences, no azp": (
        lambda d, n, t: d.sign(d.claims(n, t, aud=[CLIENT_ID, "another-client"])),
        "id token: azp missing with several audiences",
    ),
    "wrong azp": (lambda d, n, t: d.sign(d.claims(n, t, azp="another-client")), "id token: wrong azp"),
    "wrong iss": (lambda d, n, t: d.sign(d.claims(n, t, iss="https://evil.example")), "id token: wrong iss"),
    "expired": (
        lambda d, n, t: d.sign(d.claims(n, t, iat=int(t.timestamp()) - 400, exp=int(t.timestamp()) - 100)),
        "id token: expired",
    ),
    "no exp": (lambda d, n, t: d.sign(d.claims(n, t, exp=None)), "id token: exp missing"),
    "issued in the future": (
        lambda d, n, t: d.sign(d.claims(n, t, iat=int(t.timestamp()) + 3600)),
        "id token: issued in the future",
    ),
    "alg none": (lambda d, n, t: d.unsigned(d.claims(n, t)), "id token: alg none"),
    "key via jku": (
        lambda d, n, t: d.sign(d.claims(n, t), d.attacker_key, jku=ATTACKER_JWKS),
        "id token: key in the jku header",
    ),
    "key via x5u": (
        lambda d, n, t: d.sign(d.claims(n, t), d.attacker_key, x5u="https://attacker.example/cert.pem"),
        "id token: key in the x5u header",
    ),
    "embedded jwk": (
        lambda d, n, t: d.sign(d.claims(n, t), d.attacker_key, jwk=d.attacker_key.as_dict(private=False)),
        "id token: key in the jwk header",
    ),
    "another key under the provider's kid": (
        lambda d, n, t: d.sign(d.claims(n, t), d.attacker_key, kid=d.key.kid),
        "id token: bad signature",
    ),
    "a key the provider never published": (
        lambda d, n, t: d.sign(d.claims(n, t), d.attacker_key),
        "id token: unknown kid",
    ),
    "HS256 with the public key as secret": (
        lambda d, n, t: hs256_with_public_key(d, d.claims(n, t)),
        "id token: alg HS256 not allowed",
    ),
    "missing nonce": (lambda d, n, t: d.sign(d.claims(n, t, nonce=None)), "id token: nonce missing"),
    "mismatched nonce": (lambda d, n, t: d.sign(d.claims(n, t, nonce="another-sign-in")), "id token: nonce mismatch"),
    "no CCCD": (lambda d, n, t: d.sign(d.claims(n, t, cccd=None)), "cccd claim missing or malformed"),
    "CCCD of 11 digits": (
        lambda d, n, t: d.sign(d.claims(n, t, cccd="00109001234")),
        "cccd claim missing or malformed",
    ),
    "not a JWS": (lambda d, n, t: "not.a-token", "id token: not a compact JWS"),
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
async def test_a7_a_forged_id_token_is_refused_and_logged(
    app: Litestar, client: Client, double: ProviderDouble, clock: FakeClock, forgery: str
) -> None:
    forge, reason = FORGERIES[forgery]
    answer = await go_and_come_back(client, double, clock, forge)
    assert answer.status_code == 401, answer.text
    assert 'role="alert"' in answer.text
    assert SESSION_COOKIE not in answer.headers.get("set-cookie", "")
    assert await count(app, "auth_session") == 0 and await count(app, "patient") == 0
    assert await last_failure(app) == reason
    assert ATTACKER_JWKS not in double.fetched and not any("attacker" in url for url in double.fetched)


async def test_an_honest_token_signs_in_with_pkce_and_the_client_secret(
    app: Litestar, client: Client, double: ProviderDouble, clock: FakeClock
) -> None:
    """The double is honest here: the refusals above are the checks', not a broken double's."""
    sent = query_of(await start(client))
    assert sent["code_challenge_method"] == "S256"
    double.id_token = double.sign(double.claims(sent["nonce"], clock.now))
    answer = await client.get(
        "/login/oidc/callback", params={"code": "c0de", "state": sent["state"]}, follow_redirects=False
    )
    assert (answer.status_code, answer.headers["location"]) == (303, "/book")
    (exchange,) = double.token_requests
    assert exchange["grant_type"] == "authorization_code" and exchange["code"] == "c0de"
    assert exchange["redirect_uri"] == f"{BASE_URL}/login/oidc/callback"
    verifier = exchange["code_verifier"]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    assert challenge == sent["code_challenge"]
    expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert exchange["authorization"] == f"Basic {expected}"
    assert (await events(app, "auth.oidc_signed_in"))[0]["detail"] == "web, phone claim, new account"


async def test_a_rotated_provider_key_is_fetched_again_but_not_on_every_token(
    app: Litestar, client: Client, double: ProviderDouble, clock: FakeClock
) -> None:
    honest: Forge = lambda d, n, t: d.sign(d.claims(n, t))  # noqa: E731
    assert (await go_and_come_back(client, double, clock, honest)).status_code == 303
    double.key = ECKey.generate_key("P-256", parameters={"use": "sig"}, auto_kid=True)  # the provider rotates
    client.cookies.clear()
    early = await go_and_come_back(client, double, clock, honest)  # the keys were fetched under a minute ago
    assert early.status_code == 401 and await last_failure(app) == "id token: unknown kid"
    clock.advance(seconds=61)
    client.cookies.clear()
    assert (await go_and_come_back(client, double, clock, honest)).status_code == 303
    assert double.fetched.count(f"{ISSUER}/jwks.json") == 2


async def test_an_unreachable_provider_is_a_readable_503(app: Litestar, client: Client, double: ProviderDouble) -> None:
    double.discovery = lambda: {"issuer": "https://someone-else.example"}  # type: ignore[method-assign]
    answer = await client.get("/login/oidc", follow_redirects=False)
    assert answer.status_code == 503 and 'role="alert"' in answer.text
    assert await last_failure(app) == "provider: discovery issuer mismatch"
    assert await count(app, "oidc_flow") == 0


async def test_the_app_start_refuses_plain_pkce_and_unknown_redirects(app: Litestar, client: Client) -> None:
    _, challenge = pkce_pair()
    for params, reason in (
        ({"app_redirect_uri": "vn.hanoi.sosuckhoe:/oauth2redirect", "code_challenge": challenge,
          "code_challenge_method": "plain"}, "app PKCE method not S256"),
        ({"app_redirect_uri": "https://evil.example/cb", "code_challenge": challenge,
          "code_challenge_method": "S256"}, "app redirect URI not allowed"),
    ):  # fmt: skip
        answer = await client.get("/login/oidc", params=params, follow_redirects=False)
        assert answer.status_code == 400 and 'role="alert"' in answer.text
        assert await last_failure(app) == reason
    assert await count(app, "oidc_flow") == 0
    assert json.dumps(await events(app, "auth.oidc_failed"), default=str).count("evil") == 0
