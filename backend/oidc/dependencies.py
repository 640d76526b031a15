"""What the national ID sign-in's routes may ask for by name: `relying_party` (kept in `app.state.oidc`)."""

from __future__ import annotations

from typing import Annotated

from litestar.di import NamedDependency, Provide
from litestar.params import SkipValidationMarker

from backend.oidc.relying_party import RelyingParty
from backend.web.dependencies import from_state

RelyingPartyDependency = NamedDependency[Annotated[RelyingParty, SkipValidationMarker()]]


def oidc_dependencies() -> dict[str, Provide]:
    return {"relying_party": Provide(from_state("oidc"), sync_to_thread=False)}
