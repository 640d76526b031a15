"""Signing in on the web (contract §6 `/login`): the phone, then the code; choosing a book when the phone
opens several; confirming one with an activation code; signing out (here, or everywhere). Plain forms,
POST then redirect: everything works without JavaScript, and htmx only makes it quicker."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from backend.auth.dependencies import PatientSessionDependency, SignInDependency
from backend.auth.guards import current_session
from backend.auth.otp import WrongCode
from backend.auth.sessions import WEB_LIFETIME, Session
from backend.auth.sms_dispatch import send_code_sms
from backend.errors import BadRequest, ClientError, Gone
from backend.i18n import gettext_noop as N_  # noqa: N812 - the gettext convention
from backend.settings import Settings
from backend.web.clients import client_ip
from backend.web.cookies import clear_private_cookie, set_private_cookie
from backend.web.dependencies import ClockDependency, DatabaseDependency, Form, SettingsDependency


class SignInPages(Controller):
    include_in_schema = False

    @get("/login", name="login")
    async def login(
        self,
        request: Request[Any, Any, Any],
        database: DatabaseDependency,
        clock: ClockDependency,
        settings: SettingsDependency,
    ) -> Template | Redirect:
        if await current_session(request, database, clock, settings) is not None:
            return Redirect("/book", status_code=303)
        return Template("auth/login.html", context={"phone": "", "error": None})

    @post("/login", name="send_code")
    async def send_code(
        self,
        request: Request[Any, Any, Any],
        data: Form,
        signin: SignInDependency,
        settings: SettingsDependency,
        clock: ClockDependency,
    ) -> Response[Any]:
        phone = data.get("phone", "")[:40]
        try:
            issued = await signin.send_code(phone, client_ip(request.scope, settings), clock())
        except ClientError as error:
            context = {"phone": phone, "error": error.message}
            return Template("auth/login.html", context=context, status_code=error.status_code, headers=error.headers)
        return Redirect(
            f"/login/code?c={issued.challenge_id}",
            status_code=303,
            background=BackgroundTask(send_code_sms, request.app, issued),  # after the answer, as for the API
        )

    @get("/login/code", name="enter_code")
    async def enter_code(self, c: FromQuery[str] = "") -> Template:
        return Template("auth/code.html", context={"challenge": c[:64], "error": None})

    @post("/login/code", name="check_code")
    async def check_code(
        self,
        request: Request[Any, Any, Any],
        data: Form,
        signin: SignInDependency,
        settings: SettingsDependency,
        database: DatabaseDependency,
        clock: ClockDependency,
    ) -> Response[Any]:
        challenge = data.get("challenge", "")
        try:
            challenge_id = uuid.UUID(challenge)
        except ValueError:
            return Redirect("/login", status_code=303)
        try:
            signed_in = await signin.verify(
                challenge_id, data.get("code", "")[:12], "web", client_ip(request.scope, settings), clock()
            )
        except WrongCode as wrong:
            context = {"challenge": challenge, "error": wrong.message, "remaining": wrong.remaining}
            return Template("auth/code.html", context=context, status_code=400)
        except BadRequest as malformed:  # not six digits: no try was spent
            context = {"challenge": challenge, "error": malformed.message, "remaining": None}
            return Template("auth/code.html", context=context, status_code=400)
        except Gone as gone:
            return Template("auth/login.html", context={"phone": "", "error": gone.message}, status_code=410)
        assert signed_in.cookie is not None
        replaced = await current_session(request, database, clock, settings)
        if replaced is not None:  # one browser, one session: the one it held before ends here
            await signin.sign_out(replaced, clock())
        redirect = Redirect(_next_page(signed_in.session), status_code=303)
        set_session_cookie(redirect, settings, signed_in.cookie)
        return redirect

    @get("/login/choose", name="choose_book")
    async def choose(
        self, patient_session: PatientSessionDependency, signin: SignInDependency, clock: ClockDependency
    ) -> Template:
        books = await signin.books(patient_session, clock())
        return Template("auth/choose.html", context={"books": books, "current": patient_session.patient_id})

    @post("/login/choose", name="open_book")
    async def open(
        self,
        data: Form,
        patient_session: PatientSessionDependency,
        signin: SignInDependency,
        clock: ClockDependency,
    ) -> Redirect:
        try:
            book_id = uuid.UUID(data.get("book", ""))
        except ValueError:
            raise BadRequest(N_("choose one of the books")) from None
        await signin.select(patient_session, book_id, clock())
        return Redirect("/book", status_code=303)

    @get("/activate", name="activate")
    async def activate_form(self, patient_session: PatientSessionDependency) -> Template:
        return Template("auth/activate.html", context={"error": None})

    @post("/activate", name="redeem_activation")
    async def activate(
        self,
        request: Request[Any, Any, Any],
        data: Form,
        patient_session: PatientSessionDependency,
        signin: SignInDependency,
        settings: SettingsDependency,
        clock: ClockDependency,
    ) -> Response[Any]:
        try:
            await signin.activate(
                patient_session, data.get("code", "")[:40], client_ip(request.scope, settings), clock()
            )
        except ClientError as error:
            return Template("auth/activate.html", context={"error": error.message}, status_code=error.status_code)
        return Redirect("/book", status_code=303)

    @post("/logout", name="logout")
    async def logout(
        self,
        patient_session: PatientSessionDependency,
        signin: SignInDependency,
        settings: SettingsDependency,
        clock: ClockDependency,
    ) -> Redirect:
        await signin.sign_out(patient_session, clock())
        return signed_out_redirect(settings)

    @post("/logout/everywhere", name="logout_everywhere")
    async def logout_everywhere(
        self,
        patient_session: PatientSessionDependency,
        signin: SignInDependency,
        settings: SettingsDependency,
        clock: ClockDependency,
    ) -> Redirect:
        await signin.sign_out(patient_session, clock(), everywhere=True)
        return signed_out_redirect(settings)


def _next_page(session: Session) -> str:
    """After signing in: choose a book (several, or none); then `/book`, which asks for consent once."""
    return "/login/choose" if session.patient_id is None else "/book"


def set_session_cookie(response: Response[Any], settings: Settings, value: str) -> None:
    """The patient's web session (phone or national-ID sign-in)."""
    set_private_cookie(response, settings, "session", value, int(WEB_LIFETIME.total_seconds()))


def signed_out_redirect(settings: Settings) -> Redirect:
    """Signed out: the session cookie goes, and the browser forgets what it kept of the book for offline
    reading (pwa/sw.js), and its worker. `/logout`, `/logout/everywhere` and closing the account."""
    redirect = Redirect("/", status_code=303, headers={"Clear-Site-Data": '"cache", "storage"'})
    clear_private_cookie(redirect, settings, "session")
    return redirect
