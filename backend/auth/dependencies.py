"""What the patient's routes may ask for by name: `signin` (the sign-in service) and `patient_session`
(the signed-in session, from the cookie or a Bearer token; a 401 otherwise)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import SkipValidationMarker

from backend.auth.guards import signed_in
from backend.auth.sessions import Session
from backend.auth.signin import SignIn
from backend.web.dependencies import from_state

SignInDependency = NamedDependency[Annotated[SignIn, SkipValidationMarker()]]
PatientSessionDependency = NamedDependency[Annotated[Session, SkipValidationMarker()]]


def auth_dependencies() -> dict[str, Provide]:
    return {
        "signin": Provide(from_state("signin"), sync_to_thread=False),
        "patient_session": Provide(_patient_session),
    }


async def _patient_session(request: Request[Any, Any, Any], state: State) -> Session:
    return await signed_in(request, state.database, state.clock, state.settings)
