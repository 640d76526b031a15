"""The public SMART Health Links routes (contract §5): the manifest URL of every link, and the
`location` URLs of files too large to embed. Anyone holding the link may call them; the token in the
path is the capability, and every answer that hands out health data is written to the patient's access
log. A receptionist signed in on our own pages is logged as themself and their facility, whatever the
body's `recipient` says."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody

from backend.audit import Reader, logged_at_the_end
from backend.database import raw_transaction
from backend.errors import NotFound, TooManyRequests
from backend.sharing.gate import Refusal
from backend.sharing.manifest import (
    ManifestRequest,
    manifest_files,
    open_share,
    reception_reader,
    recipient_reader,
    serve_file,
)
from backend.staff.guards import RECEPTION_ROLES, current_staff
from backend.web.dependencies import ClockDependency, DatabaseDependency, KeyringDependency, SettingsDependency

NO_SUCH_LINK = "no such link, or it is no longer valid"  # expired, revoked, exhausted, unknown: one answer


class ManifestIn(msgspec.Struct, rename={"embedded_length_max": "embeddedLengthMax"}):
    recipient: Annotated[str, msgspec.Meta(min_length=1, max_length=500, pattern=r"\S")]
    passcode: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    embedded_length_max: Annotated[int, msgspec.Meta(ge=0)] | None = None


class ShareLinkProtocol(Controller):
    path = "/api/shl"
    tags = ("SMART Health Links",)

    @post("/{token:str}", status_code=200, summary="A link's manifest: its encrypted files (SHL spec)")
    async def manifest(
        self,
        request: Request[Any, Any, State],
        token: FromPath[str],
        data: JSONBody[ManifestIn],
        database: DatabaseDependency,
        keyring: KeyringDependency,
        settings: SettingsDependency,
        clock: ClockDependency,
    ) -> Response[Any]:
        reader = await _reader(request, data.recipient)
        asked = ManifestRequest(token, data.passcode, data.embedded_length_max, reader)
        now = clock()
        # Commits the counts, also for a refusal; the read's access event last, just before the commit.
        async with raw_transaction(database) as connection, logged_at_the_end(connection):
            opened = await open_share(connection, keyring, settings.secret_key, settings.base_url, asked, now)
            if not isinstance(opened, Refusal):
                answer = await manifest_files(connection, opened, asked, settings.base_url, now)
        if isinstance(opened, Refusal):  # raised out here: an error inside the block would roll the counts back
            return _refusal(opened)
        return Response(answer, headers={"Cache-Control": "no-store"})

    @get(
        "/files/{token:str}",
        media_type="application/jose",
        summary="A file too large to embed, at its location URL (an hour at most)",
    )
    async def file(self, token: FromPath[str], database: DatabaseDependency, clock: ClockDependency) -> Response[bytes]:
        async with raw_transaction(database) as connection:
            compact = await serve_file(connection, token, clock())
        if compact is None:
            raise NotFound(NO_SUCH_LINK)
        return Response(compact.encode("ascii"), media_type="application/jose", headers={"Cache-Control": "no-store"})


async def _reader(request: Request[Any, Any, State], recipient: str) -> Reader:
    staff = await current_staff(request, request.app.state)
    if staff is not None and staff.role in RECEPTION_ROLES:
        return reception_reader(staff.username, staff.role, staff.facility_id)
    return recipient_reader(recipient)


def _refusal(refusal: Refusal) -> Response[Any]:
    if refusal.status == 401:
        return Response({"remainingAttempts": refusal.remaining_attempts}, status_code=401)
    if refusal.status == 429:
        raise TooManyRequests("too many requests for this link: wait a minute", retry_after=refusal.retry_after or 60)
    raise NotFound(NO_SUCH_LINK)
