"""The built-in demo identity provider: its documents and its token endpoint (PKCE enforced, client
authenticated), and its absence wherever it is not the provider in use (prod; another `OIDC_ISSUER`)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.app import create_app
from backend.oidc.config import oidc_config
from tests.conftest import make_settings
from tests.integration.oidc.steps import AN, BASE_URL, pick, query_of, start
from tests.integration.test_prod_mode import PROD
from tests.support.hospital import fetch
from tests.support.patients import Client

ISSUER = f"{BASE_URL}/demo-idp"
TOKEN = "/api/demo-idp/token"
DEMO_ROUTES = (
    ("GET", "/demo-idp/.well-known/openid-configuration"),
    ("GET", "/demo-idp/jwks.json"),
    ("GET", "/demo-idp/authorize"),
    ("POST", TOKEN),
)


async def a_code(app: Litestar, client: Client) -> tuple[str, str]:
    """A code the demo provider issued for the relying party's flow, and that flow's own verifier."""
    code = query_of(await pick(client, await start(client), AN))["code"]
    (flow,) = await fetch(app, "SELECT id, verifier_sealed FROM oidc_flow")
    verifier = app.state.keyring.open(flow["verifier_sealed"], f"oidc-flow:{flow['id']}:verifier").decode()
    return code, verifier


def exchange(app: Litestar, issued_code: str, **changes: str | None) -> dict[str, str]:
    config = oidc_config(app.state.settings)
    assert config is not None
    form: dict[str, str | None] = {
        "grant_type": "authorization_code",
        "code": issued_code,
        "redirect_uri": config.redirect_uri,
        "client_id": config.client_id,
        "client_secret": config.client_secret,
        **changes,
    }
    return {name: value for name, value in form.items() if value is not None}


async def test_discovery_and_keys_describe_an_es256_provider_with_pkce_s256(client: Client) -> None:
    discovery = (await client.get("/demo-idp/.well-known/openid-configuration")).json()
    assert discovery["issuer"] == ISSUER
    assert discovery["authorization_endpoint"] == f"{ISSUER}/authorize"
    assert discovery["token_endpoint"] == f"{BASE_URL}{TOKEN}" and discovery["jwks_uri"] == f"{ISSUER}/jwks.json"
    assert discovery["id_token_signing_alg_values_supported"] == ["ES256"]
    assert discovery["code_challenge_methods_supported"] == ["S256"]
    (key,) = (await client.get("/demo-idp/jwks.json")).json()["keys"]
    assert key["kty"] == "EC" and key["crv"] == "P-256" and key["kid"] and "d" not in key


async def test_the_token_endpoint_refuses_a_code_without_the_right_verifier(app: Litestar, client: Client) -> None:
    code, verifier = await a_code(app, client)
    for changes in ({"code_verifier": None}, {"code_verifier": "x" * 43}, {"code_verifier": verifier[:-1] + "A"}):
        refused = await client.post(TOKEN, data=exchange(app, code, **changes))
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant", changes
    answer = await client.post(TOKEN, data=exchange(app, code, code_verifier=verifier))
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    keys = KeySet.import_key_set((await client.get("/demo-idp/jwks.json")).json())
    token = jwt.decode(answer.json()["id_token"], keys, algorithms=["ES256"])
    assert token.header["kid"] == keys.keys[0].kid
    assert token.claims["iss"] == ISSUER and token.claims["cccd"] == AN
    assert token.claims["phone_number"] == "+84912345678"


async def test_the_token_endpoint_wants_the_client_and_the_same_redirect_uri(app: Litestar, client: Client) -> None:
    code, verifier = await a_code(app, client)
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_id": None, "client_secret": None}, 401, "invalid_client"),
        ({"redirect_uri": "https://evil.example/cb"}, 400, "invalid_grant"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"code": code[:-4] + "AAAA"}, 400, "invalid_grant"),
    ]
    for changes, status, error in cases:
        refused = await client.post(TOKEN, data=exchange(app, code, code_verifier=verifier, **changes))
        assert (refused.status_code, refused.json()["error"]) == (status, error), changes
    form = exchange(app, code, code_verifier=verifier, client_id=None, client_secret=None)
    config = oidc_config(app.state.settings)
    assert config is not None
    basic = base64.b64encode(f"{config.client_id}:{config.client_secret}".encode()).decode()
    answer = await client.post(TOKEN, data=form, headers={"Authorization": f"Basic {basic}"})
    assert answer.status_code == 200, answer.text


async def test_an_unknown_client_or_return_address_gets_a_page_not_a_redirect(client: Client) -> None:
    authorize = await start(client)
    for name, value in (("client_id", "someone-else"), ("redirect_uri", "https://evil.example/cb")):
        tampered = f"{authorize.split('?')[0]}?{urlencode({**query_of(authorize), name: value})}"
        page = await client.get(tampered, follow_redirects=False)
        assert page.status_code == 400 and "location" not in page.headers, name


@pytest.mark.parametrize(
    "environ",
    [
        pytest.param(PROD, id="prod"),
        pytest.param({"OIDC_ISSUER": "https://id.example.vn", "OIDC_CLIENT_ID": "c", "OIDC_CLIENT_SECRET": "s"},
                     id="another issuer"),
    ],
)  # fmt: skip
async def test_the_demo_provider_does_not_exist_elsewhere(
    database_url: str, var_dir: Path, environ: dict[str, str]
) -> None:
    app = create_app(make_settings(var_dir, DATABASE_URL=database_url, **environ))
    async with AsyncTestClient(app, base_url=BASE_URL) as client:
        for method, path in DEMO_ROUTES:
            answer = await client.request(method, path)
            assert answer.status_code == 404, (method, path, answer.status_code)


async def test_prod_without_an_issuer_says_national_id_sign_in_is_off(database_url: str, var_dir: Path) -> None:
    app = create_app(make_settings(var_dir, DATABASE_URL=database_url, **PROD))
    async with AsyncTestClient(app, base_url=BASE_URL) as client:
        answer = await client.get("/login/oidc", follow_redirects=False)
    assert answer.status_code == 404 and 'role="alert"' in answer.text
