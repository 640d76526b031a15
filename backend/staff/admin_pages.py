"""`/staff/facility`, the facility admin's page: their facility's delivery log (what its systems pushed and
why a push was refused), its staff (disable, new password, new authenticator), and a new webhook secret.
An admin reaches only their own facility: another facility's member answers 404, as if unknown. New
secrets are shown once, on the page that answers the POST, and never again."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Controller, get, post
from litestar.params import FromPath
from litestar.response import Template
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth.events import record_auth_event
from backend.database import driver_connection
from backend.errors import Conflict
from backend.hospitals.deliveries import recent_deliveries
from backend.hospitals.registry import PREVIOUS_SECRET_GRACE, rotate_secret
from backend.i18n import gettext_noop as N_  # noqa: N812 - the gettext convention
from backend.signatures.registry import certificate_states, facility_certificates
from backend.staff.accounts import disable_staff, reset_password, reset_totp
from backend.staff.guards import StaffDependency, require_role
from backend.staff.sessions import StaffPrincipal
from backend.web.dependencies import ClockDependency, DbSessionDependency, KeyringDependency

DELIVERIES_SHOWN = 50
ADMIN_ROLES = ("facility_admin",)


class FacilityAdminPages(Controller):
    path = "/staff/facility"
    include_in_schema = False

    @get("/", name="facility_admin")
    async def overview(
        self, staff: StaffDependency, db_session: DbSessionDependency, clock: ClockDependency
    ) -> Template:
        require_role(staff, ADMIN_ROLES)
        connection = await driver_connection(db_session)
        certificates = certificate_states(await facility_certificates(connection, staff.facility_id), clock())
        deliveries = await recent_deliveries(connection, staff.facility_id, DELIVERIES_SHOWN)
        members = await connection.fetch(
            "SELECT m.username, m.role, m.disabled_at, max(e.at) AS last_sign_in FROM staff_member m"
            " LEFT JOIN auth_event e ON e.staff_id = m.id AND e.event = 'staff.signed_in'"
            " WHERE m.facility_id = $1 GROUP BY m.id ORDER BY m.disabled_at IS NOT NULL, m.username",
            staff.facility_id,
        )
        context = {
            "staff": staff,
            "deliveries": deliveries,
            "members": members,
            "previous_hours": _grace_hours(),
            "certificates": certificates,
        }
        return Template("staff/facility.html", context=context)

    @post("/webhook-secret", name="rotate_webhook_secret")
    async def rotate(
        self,
        staff: StaffDependency,
        db_session: DbSessionDependency,
        keyring: KeyringDependency,
        clock: ClockDependency,
    ) -> Template:
        require_role(staff, ADMIN_ROLES)
        now = clock()
        secret = await rotate_secret(db_session, keyring, staff.facility_code, now)
        await _audit(db_session, "facility.secret_rotated", staff, now, staff.facility_code)
        return _shown_once(staff, N_("New webhook secret"), {"webhook_secret": secret}, previous_hours=_grace_hours())

    @post("/members/{username:str}/disable", name="disable_member")
    async def disable(
        self, staff: StaffDependency, username: FromPath[str], db_session: DbSessionDependency, clock: ClockDependency
    ) -> Template:
        require_role(staff, ADMIN_ROLES)
        if username.strip().lower() == staff.username:
            raise Conflict(N_("you cannot disable your own account: ask the operator"))
        result = await disable_staff(db_session, username, clock(), _by(staff), staff.facility_id)
        return _shown_once(staff, N_("Account disabled"), {"username": result["username"]})

    @post("/members/{username:str}/password", name="reset_member_password")
    async def new_password(
        self, staff: StaffDependency, username: FromPath[str], db_session: DbSessionDependency, clock: ClockDependency
    ) -> Template:
        require_role(staff, ADMIN_ROLES)
        result = await reset_password(db_session, username, clock(), _by(staff), staff.facility_id)
        return _shown_once(staff, N_("New password"), result)

    @post("/members/{username:str}/totp", name="reset_member_totp")
    async def new_totp(
        self,
        staff: StaffDependency,
        username: FromPath[str],
        db_session: DbSessionDependency,
        keyring: KeyringDependency,
        clock: ClockDependency,
    ) -> Template:
        require_role(staff, ADMIN_ROLES)
        result = await reset_totp(db_session, keyring, username, clock(), _by(staff), staff.facility_id)
        return _shown_once(staff, N_("New authenticator key"), result)


def _grace_hours() -> int:
    return int(PREVIOUS_SECRET_GRACE.total_seconds() // 3600)


def _by(staff: StaffPrincipal) -> str:
    return f"admin:{staff.username}"


def _shown_once(staff: StaffPrincipal, title: str, values: dict[str, Any], **extra: Any) -> Template:
    context = {"staff": staff, "title": title, "values": values, **extra}
    headers = {"Cache-Control": "no-store"}  # a secret must not be kept by the browser or a proxy
    return Template("staff/shown_once.html", context=context, headers=headers)


async def _audit(session: AsyncSession, event: str, staff: StaffPrincipal, now: datetime, detail: str) -> None:
    await record_auth_event(
        await driver_connection(session),
        event,
        now,
        staff_id=staff.staff_id,
        session_id=staff.session_id,
        detail=f"{detail}, by {_by(staff)}",
    )
