"""The patient's shares through the API (contract §4): make one, list them, stop one, show its QR code.

Only a full book shares (a read-only one answers 403: `full_access`). Every query names the session's own
book, so another patient's share id answers 404 like a share of nobody. The answers hold the link's key
(in `shlink`), so they are never stored by a cache (`no-store`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, delete, get, post
from litestar.params import FromPath, JSONBody

from backend.auth.dependencies import PatientSessionDependency
from backend.auth.guards import full_access
from backend.database import raw_transaction
from backend.errors import NotFound
from backend.sharing.presenters import share_json, share_urls, utc_iso
from backend.sharing.qr import qr_svg
from backend.sharing.rules import MAX_EXPIRES_IN, NO_SUCH_SHARE, clean_label, make_share, share_uuid
from backend.sharing.store import NewShare, link_of, list_shares, own_share, revoke_share
from backend.sharing.store import status as share_status
from backend.web.dependencies import ClockDependency, DatabaseDependency, KeyringDependency, SettingsDependency

NO_STORE = {"Cache-Control": "no-store"}

RecordId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z]{1,64}/[A-Za-z0-9\-.]{1,128}$")]


class ShareIn(msgspec.Struct):
    """Other fields (a `patient_id`, say) are ignored: the share is always of the session's own book."""

    label: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    expires_in: Annotated[int, msgspec.Meta(ge=1, le=MAX_EXPIRES_IN)]
    passcode: Annotated[str, msgspec.Meta(min_length=4, max_length=64)] | None = None
    record_ids: Annotated[list[RecordId], msgspec.Meta(min_length=1, max_length=500)] | None = None


class ShareApi(Controller):
    path = "/api/patient/v1/shares"
    tags = ("Patient shares",)

    @post("/", status_code=201, summary="Share the book (a summary, or picked records) as a SMART Health Link")
    async def create(
        self,
        data: JSONBody[ShareIn],
        patient_session: PatientSessionDependency,
        database: DatabaseDependency,
        keyring: KeyringDependency,
        settings: SettingsDependency,
        clock: ClockDependency,
    ) -> Response[dict[str, Any]]:
        patient_id = full_access(patient_session)
        record_ids = list(dict.fromkeys(data.record_ids)) if data.record_ids is not None else None
        expires_in = timedelta(seconds=data.expires_in)
        new = NewShare(patient_id, clean_label(data.label), expires_in, data.passcode, record_ids)
        async with raw_transaction(database) as connection:
            share_id, link = await make_share(connection, keyring, settings, new, clock())
        body = {"id": str(share_id), **share_urls(settings.base_url, share_id, link.shlink())}
        return Response({**body, "expires_at": utc_iso(link.expires_at)}, status_code=201, headers=NO_STORE)

    @get("/", summary="The patient's shares: active, expired or revoked; how often opened, by whom, when")
    async def list(
        self,
        patient_session: PatientSessionDependency,
        database: DatabaseDependency,
        keyring: KeyringDependency,
        settings: SettingsDependency,
        clock: ClockDependency,
    ) -> Response[dict[str, Any]]:
        patient_id = full_access(patient_session)
        now = clock()
        async with raw_transaction(database) as connection:
            shares, opens = await list_shares(connection, patient_id)
        answer = [share_json(row, opens.get(row["id"], []), keyring, settings.base_url, now) for row in shares]
        return Response({"shares": answer}, headers=NO_STORE)

    @delete("/{share_id:str}", status_code=204, summary="Stop sharing: the link opens nothing from now on")
    async def revoke(
        self,
        share_id: FromPath[str],
        patient_session: PatientSessionDependency,
        database: DatabaseDependency,
        clock: ClockDependency,
    ) -> None:
        patient_id = full_access(patient_session)
        async with raw_transaction(database) as connection:
            if not await revoke_share(connection, patient_id, share_uuid(share_id), clock()):
                raise NotFound(NO_SUCH_SHARE)

    @get("/{share_id:str}/qr.svg", media_type="image/svg+xml", summary="The QR code of an active share's viewer URL")
    async def qr_code(
        self,
        share_id: FromPath[str],
        patient_session: PatientSessionDependency,
        database: DatabaseDependency,
        keyring: KeyringDependency,
        settings: SettingsDependency,
        clock: ClockDependency,
    ) -> Response[bytes]:
        patient_id = full_access(patient_session)
        async with raw_transaction(database) as connection:
            row = await own_share(connection, patient_id, share_uuid(share_id))
        if row is None or share_status(row, clock()) != "active":
            raise NotFound(NO_SUCH_SHARE)
        shlink = link_of(keyring, settings.base_url, row).shlink()
        svg = qr_svg(share_urls(settings.base_url, row["id"], shlink)["viewer_url"])
        return Response(svg, media_type="image/svg+xml", headers=NO_STORE)
