"""The staff's way in (contract §6): `/staff/login` (username, password and the authenticator's code on one
form), and signing out. The desk itself is `backend/reception/`. Plain forms, POST then redirect."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.response import Redirect, Template

from backend.errors import ClientError
from backend.staff.guards import STAFF_COOKIE, StaffDependency, current_staff
from backend.staff.sessions import STAFF_LIFETIME
from backend.staff.signin import StaffSignIn
from backend.web.clients import client_ip
from backend.web.cookies import clear_private_cookie, set_private_cookie
from backend.web.dependencies import ClockDependency, Form, SettingsDependency


def home_of(role: str) -> str:
    return "/staff/facility" if role == "facility_admin" else "/reception"


class StaffPages(Controller):
    include_in_schema = False

    @get("/staff/login", name="staff_login")
    async def login(self, request: Request[Any, Any, Any], state: State) -> Template | Redirect:
        staff = await current_staff(request, state)
        if staff is not None:
            return Redirect(home_of(staff.role), status_code=303)
        return Template("staff/login.html", context={"username": "", "error": None})

    @post("/staff/login", name="staff_sign_in")
    async def sign_in(
        self,
        request: Request[Any, Any, Any],
        data: Form,
        state: State,
        settings: SettingsDependency,
        clock: ClockDependency,
    ) -> Response[Any]:
        username = data.get("username", "")[:64]
        signin: StaffSignIn = state.staff_signin
        now = clock()
        try:
            signed_in = await signin.sign_in(
                username, data.get("password", ""), data.get("code", "")[:12], client_ip(request.scope, settings), now
            )
        except ClientError as error:
            context = {"username": username, "error": error.message}
            return Template("staff/login.html", context=context, status_code=error.status_code, headers=error.headers)
        replaced = await current_staff(request, state)
        if replaced is not None:  # one browser, one staff session: the one it held before ends here
            await signin.sign_out(replaced.session_id, replaced.staff_id, now)
        redirect = Redirect(home_of(signed_in.role), status_code=303)
        set_private_cookie(redirect, settings, STAFF_COOKIE, signed_in.cookie, int(STAFF_LIFETIME.total_seconds()))
        return redirect

    @post("/staff/logout", name="staff_sign_out")
    async def sign_out(
        self, staff: StaffDependency, state: State, settings: SettingsDependency, clock: ClockDependency
    ) -> Redirect:
        await state.staff_signin.sign_out(staff.session_id, staff.staff_id, clock())
        redirect = Redirect("/staff/login", status_code=303, headers={"Clear-Site-Data": '"cache", "storage"'})
        clear_private_cookie(redirect, settings, STAFF_COOKIE)
        return redirect
