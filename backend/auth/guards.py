"""Who is asking, for the patient's routes: a session found from the `__Host-session` cookie (pages)
or a Bearer access token (apps). Anything else is a 401; pages turn that into the sign-in page."""

from __future__ import annotations

from typing import Any

from litestar import Request

from backend.auth.books import recheck_open_book
from backend.auth.sessions import Session, resolve
from backend.clock import Clock
from backend.database import Database, raw_transaction
from backend.errors import Forbidden, NotFound, Unauthorized
from backend.i18n import gettext_noop as N_  # noqa: N812 - the gettext convention
from backend.logs import name_caller
from backend.settings import Settings


async def current_session(
    request: Request[Any, Any, Any], database: Database, clock: Clock, settings: Settings
) -> Session | None:
    authorization = request.headers.get("authorization", "")
    if authorization[:7].lower() == "bearer ":
        token, kinds = authorization[7:].strip(), ("access",)
    else:
        token, kinds = request.cookies.get(settings.cookie_name("session"), ""), ("cookie",)
    if not token:
        return None
    now = clock()
    async with raw_transaction(database) as connection:
        resolved = await resolve(connection, token, kinds, now)
        if resolved is None:
            return None
        session, touched = resolved
        name_caller(session=str(session.id))  # every later line of the request, a refusal's too (check G1)
        return await recheck_open_book(connection, session, now) if touched else session


async def signed_in(request: Request[Any, Any, Any], database: Database, clock: Clock, settings: Settings) -> Session:
    session = await current_session(request, database, clock, settings)
    if session is None:
        raise Unauthorized(N_("sign in first"))
    return session


def open_book(session: Session) -> Any:
    """The patient whose book this session reads; 404 when it has none (an unknown phone reads nothing)."""
    if session.patient_id is None:
        raise NotFound(N_("no book is open: choose one of your books first"))
    return session.patient_id


def full_access(session: Session) -> Any:
    """Shares and account changes need a book confirmed for this phone, not a read-only one."""
    patient_id = open_book(session)
    if session.read_only:
        raise Forbidden(
            N_("this book is read-only on this phone until it is confirmed (national ID or activation code)")
        )
    return patient_id
