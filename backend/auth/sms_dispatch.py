"""Sending the code, after the response has gone (so known and unknown phones answer alike)."""

from __future__ import annotations

from litestar import Litestar

from backend.auth.otp import Issued
from backend.database import raw_transaction


async def send_code_sms(app: Litestar, issued: Issued) -> None:
    signin = app.state.signin
    if await app.state.sms.send(issued.phone, signin.codes.sms_text(issued.code)):
        async with raw_transaction(app.state.database) as connection:
            await signin.codes.mark_sent(connection, issued.challenge_id)
