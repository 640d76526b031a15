"""The patient API's sign-in (contract §4): JSON for the PWA and native apps."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from litestar import Controller, Request, Response, post
from litestar.background_tasks import BackgroundTask
from litestar.params import JSONBody

from backend.auth.books import Book
from backend.auth.dependencies import PatientSessionDependency, SignInDependency
from backend.auth.sms_dispatch import send_code_sms
from backend.web.clients import client_ip
from backend.web.dependencies import ClockDependency, SettingsDependency


class PhoneIn(msgspec.Struct):
    phone: str


class CodeIn(msgspec.Struct):
    challenge_id: uuid.UUID
    code: str


class BookIn(msgspec.Struct):
    book_id: uuid.UUID


class ActivationIn(msgspec.Struct):
    code: str


class RefreshIn(msgspec.Struct):
    refresh_token: str


class PatientAuthApi(Controller):
    path = "/api/patient/v1/auth"
    tags = ("Patient sign-in",)

    @post("/otp", status_code=202, summary="Send a one-time code by SMS (the same answer for any phone)")
    async def send_code(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[PhoneIn],
        signin: SignInDependency,
        settings: SettingsDependency,
        clock: ClockDependency,
    ) -> Response[dict[str, Any]]:
        issued = await signin.send_code(data.phone, client_ip(request.scope, settings), clock())
        body = {"challenge_id": str(issued.challenge_id), "expires_in": issued.expires_in}
        # After the response: the answer takes the same time whether or not the phone is known.
        return Response(body, status_code=202, background=BackgroundTask(send_code_sms, request.app, issued))

    @post("/otp/verify", status_code=200, summary="Check the code; tokens and the books this phone opens")
    async def verify(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[CodeIn],
        signin: SignInDependency,
        settings: SettingsDependency,
        clock: ClockDependency,
    ) -> dict[str, Any]:
        signed_in = await signin.verify(
            data.challenge_id, data.code, "api", client_ip(request.scope, settings), clock()
        )
        assert signed_in.tokens is not None
        return _tokens_answer(
            signed_in.tokens.access_token, signed_in.tokens.refresh_token, signed_in.tokens.expires_in, signed_in.books
        )

    @post("/select", status_code=200, summary="Open one of the books this phone opens")
    async def select(
        self,
        data: JSONBody[BookIn],
        patient_session: PatientSessionDependency,
        signin: SignInDependency,
        clock: ClockDependency,
    ) -> dict[str, Any]:
        now = clock()
        book = await signin.select(patient_session, data.book_id, now)
        return {"book": book.as_json(), "books": [b.as_json() for b in await signin.books(patient_session, now)]}

    @post("/activate", status_code=200, summary="Confirm a book with the activation code a hospital printed")
    async def activate(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[ActivationIn],
        patient_session: PatientSessionDependency,
        signin: SignInDependency,
        settings: SettingsDependency,
        clock: ClockDependency,
    ) -> dict[str, Any]:
        now = clock()
        book = await signin.activate(patient_session, data.code, client_ip(request.scope, settings), now)
        return {"book": book.as_json(), "books": [b.as_json() for b in await signin.books(patient_session, now)]}

    @post("/refresh", status_code=200, summary="New tokens; the refresh token used dies")
    async def refresh(
        self, data: JSONBody[RefreshIn], signin: SignInDependency, clock: ClockDependency
    ) -> dict[str, Any]:
        now = clock()
        session, tokens = await signin.refresh(data.refresh_token, now)
        books = await signin.books(session, now)
        return _tokens_answer(tokens.access_token, tokens.refresh_token, tokens.expires_in, books)

    @post("/logout", status_code=204, summary="Revoke this access token and its refresh tokens")
    async def logout(
        self, patient_session: PatientSessionDependency, signin: SignInDependency, clock: ClockDependency
    ) -> None:
        await signin.sign_out(patient_session, clock())


def _tokens_answer(access: str, refresh_token: str, expires_in: int, books: list[Book]) -> dict[str, Any]:
    return {
        "access_token": access,
        "refresh_token": refresh_token,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "books": [book.as_json() for book in books],
    }
