"""The relying party: sends the browser to the identity provider (authorization code with PKCE `S256`,
`state` and `nonce`), and on its return checks everything before anyone is signed in (check A7). Each
step is a short transaction of its own; no connection is held while the provider is asked."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from backend.auth.books import Book
from backend.auth.events import record_auth_event
from backend.auth.sessions import AppTokens, Session
from backend.database import Database, raw_transaction
from backend.keyring import Keyring
from backend.oidc.app_request import AppRequest
from backend.oidc.config import OidcConfig, oidc_config
from backend.oidc.flows import Flow, Flows
from backend.oidc.handoffs import issue_handoff, redeem_handoff
from backend.oidc.id_token import UnknownSigningKey, validate_id_token
from backend.oidc.identity import VerifiedPerson, book_of, person_from_claims, sign_in_app, sign_in_web
from backend.oidc.provider import ProviderClient, ProviderMetadata
from backend.oidc.refusals import OFF, Refused, flow_refused, provider_refused
from backend.settings import Settings

SCOPE = "openid profile phone"
_ERROR_CODE = re.compile(r"[a-z_]{1,40}")


@dataclass(frozen=True)
class Finished:
    flow: Flow
    person: VerifiedPerson


class RelyingParty:
    def __init__(self, settings: Settings, database: Database, keyring: Keyring) -> None:
        self.config = oidc_config(settings)
        self.database = database
        self.flows = Flows(keyring)
        self.provider = ProviderClient(self.config) if self.config else None

    def _provider(self) -> tuple[OidcConfig, ProviderClient]:
        if self.config is None or self.provider is None:
            raise Refused("national ID sign-in is off", OFF, 404)
        return self.config, self.provider

    async def start(self, app: Any, request_id: str, app_request: AppRequest | None, now: datetime) -> tuple[str, str]:
        """The provider's authorization URL to send the browser to, and the value of the flow cookie."""
        config, provider = self._provider()
        async with provider.http(app, request_id) as http:
            metadata = await provider.metadata(http, now)
        async with raw_transaction(self.database) as connection:
            started = await self.flows.start(connection, app_request, now)
        query = {
            "response_type": "code",
            "client_id": config.client_id,
            "redirect_uri": config.redirect_uri,
            "scope": SCOPE,
            "state": started.state,
            "nonce": started.nonce,
            "code_challenge": started.code_challenge,
            "code_challenge_method": "S256",
        }
        endpoint = metadata.authorization_endpoint
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(query)}", started.binding

    async def finish(
        self, app: Any, request_id: str, binding: str, state: str, code: str, error: str, now: datetime
    ) -> Finished:
        """The person the provider vouches for, once the browser's flow, the code and the ID token all check out."""
        config, provider = self._provider()
        if not binding:
            raise flow_refused("no sign-in cookie")
        async with raw_transaction(self.database) as connection:
            flow = await self.flows.consume(connection, binding, now)  # used from here on, whatever follows
        try:
            if not state or not flow.state_matches(state):
                raise flow_refused("state mismatch")
            if error:
                raise provider_refused(f"provider error: {error if _ERROR_CODE.fullmatch(error) else '?'}")
            if not code:
                raise provider_refused("no code")
            async with provider.http(app, request_id) as http:
                metadata = await provider.metadata(http, now)
                id_token = await provider.exchange_code(http, metadata, code, flow.verifier)
                claims = await self._validated(http, metadata, id_token, flow, now)
            return Finished(flow, person_from_claims(claims, config.cccd_claim))
        except Refused as refused:
            refused.app = flow.app
            raise

    async def _validated(
        self, http: Any, metadata: ProviderMetadata, id_token: str, flow: Flow, now: datetime
    ) -> dict[str, Any]:
        config, provider = self._provider()
        for refetch in (False, True):  # an unknown key: the provider may have rotated; fetch its keys again
            keys = await provider.keys(http, metadata, now, refetch=refetch)
            try:
                return validate_id_token(
                    id_token,
                    keys=keys,
                    algorithms=metadata.algorithms,
                    issuer=config.issuer,
                    client_id=config.client_id,
                    expected_nonce_digest=flow.nonce_hash,
                    now=now,
                )
            except UnknownSigningKey:
                if refetch:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def sign_in_web(
        self, finished: Finished, current: Session | None, client_ip: str, now: datetime
    ) -> tuple[Session, str]:
        async with raw_transaction(self.database) as connection:
            return await sign_in_web(connection, finished.person, current, client_ip, now)

    async def hand_off(self, finished: Finished, client_ip: str, now: datetime) -> str:
        """The one-time code the native app redeems (its PKCE challenge was checked at the start)."""
        assert finished.flow.app is not None
        person = finished.person
        async with raw_transaction(self.database) as connection:
            patient_id, created = await book_of(connection, person.cccd)
            phone, rule = person.own_phone()
            code = await issue_handoff(connection, patient_id, phone, finished.flow.app.code_challenge, now)
            await record_auth_event(
                connection,
                "auth.oidc_verified",
                now,
                phone=phone,
                patient_id=patient_id,
                client_ip=client_ip,
                detail=f"app handoff, {rule}{', new account' if created else ''}",
            )
        return code

    async def redeem(
        self, code: str, verifier: str, current: Session | None, client_ip: str, now: datetime
    ) -> tuple[AppTokens, list[Book]]:
        """The app's tokens for its handoff code and PKCE verifier; `Refused` (already logged) otherwise."""
        refused: Refused | None = None
        async with raw_transaction(self.database) as connection:
            try:
                handoff = await redeem_handoff(connection, code, verifier, now)
            except Refused as spent:  # leave the block normally: the code stays spent
                refused = spent
            else:
                return await sign_in_app(connection, handoff.patient_id, handoff.phone, current, client_ip, now)
        assert refused is not None
        await self.record_failure(refused, client_ip, now)
        raise refused

    async def record_failure(self, refused: Refused, client_ip: str, now: datetime) -> None:
        async with raw_transaction(self.database) as connection:
            await record_auth_event(connection, "auth.oidc_failed", now, client_ip=client_ip, detail=refused.reason)
