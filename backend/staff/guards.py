"""Who is asking, for the staff pages: a session from the staff cookie, whose member is still enabled.
Staff and patients never share a credential: a patient's cookie or token opens no staff page (401), and a
staff cookie opens no patient route (those read only the patient's cookie). Within staff, each page says
which roles it admits; any other role gets a 403 (check C3)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import SkipValidationMarker

from backend.database import raw_transaction
from backend.errors import Forbidden, Unauthorized
from backend.i18n import gettext_noop as N_  # noqa: N812 - the gettext convention
from backend.logs import name_caller
from backend.staff.sessions import StaffPrincipal, resolve_staff

STAFF_COOKIE = "staff-session"
RECEPTION_ROLES = ("receptionist", "facility_admin")  # a small clinic's admin also works the desk

StaffDependency = NamedDependency[Annotated[StaffPrincipal, SkipValidationMarker()]]


async def current_staff(request: Request[Any, Any, Any], state: State) -> StaffPrincipal | None:
    cookie = request.cookies.get(state.settings.cookie_name(STAFF_COOKIE), "")
    if not cookie:
        return None
    async with raw_transaction(state.database) as connection:
        staff = await resolve_staff(connection, cookie, state.clock())
    if staff is not None:
        name_caller(staff=staff.staff_id)  # every later line of the request, a refusal's too (check G1)
    return staff


async def _signed_in_staff(request: Request[Any, Any, Any], state: State) -> StaffPrincipal:
    staff = await current_staff(request, state)
    if staff is None:
        raise Unauthorized(N_("sign in with your staff account first"))
    return staff


def staff_dependencies() -> dict[str, Provide]:
    return {"staff": Provide(_signed_in_staff)}


def require_role(staff: StaffPrincipal, roles: tuple[str, ...]) -> None:
    if staff.role not in roles:
        raise Forbidden(N_("your staff role does not open this page"))
