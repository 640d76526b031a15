"""The patient's shares through the API (contract §4): make one, list them, stop one, show its QR code.

Only a full book shares (a read-only one answers 403: `full_access`). Every query names the session's own
book, so another patient's share id answers 404 like a share of nobody. The answers hold the link's key
(in `shlink`), so they are never stored by a cache (`no-store`).
"""

from __future__ import annotations

import unicodedata
import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, delete, get, post
from litestar.params import FromPath, JSONBody

from backend.auth.dependencies import PatientSessionDependency
from backend.auth.guards import full_access
from backend.database import PgConnection, raw_transaction
from backend.errors import Issue, NotFound, Unprocessable
from backend.i18n import gettext_noop as N_  # noqa: N812 - the gettext convention
from backend.keyring import Keyring
from backend.sharing.ips import missing_record_ids
from backend.sharing.ips.sections import LISTED_TYPES
from backend.sharing.presenters import facility, share_urls, utc_iso
from backend.sharing.qr import qr_svg
from backend.sharing.store import NewShare, create_share, link_of, list_shares, own_share, revoke_share
from backend.sharing.store import status as share_status
from backend.web.dependencies import ClockDependency, DatabaseDependency, KeyringDependency, SettingsDependency

MAX_EXPIRES_IN = 30 * 24 * 3600  # contract §4: 1 second to 30 days
MAX_LABEL = 40
NO_SUCH_SHARE = N_("no such share")
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
        new = NewShare(patient_id, _label(data.label), timedelta(seconds=data.expires_in), data.passcode, record_ids)
        now = clock()
        async with raw_transaction(database) as connection:
            if record_ids is not None:
                await _check_picked(connection, patient_id, record_ids)
            share_id, link = await create_share(connection, keyring, settings.secret_key, settings.base_url, new, now)
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
        answer = [_share_json(row, opens.get(row["id"], []), keyring, settings.base_url, now) for row in shares]
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
            if not await revoke_share(connection, patient_id, _share_uuid(share_id), clock()):
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
            row = await own_share(connection, patient_id, _share_uuid(share_id))
        if row is None or share_status(row, clock()) != "active":
            raise NotFound(NO_SUCH_SHARE)
        shlink = link_of(keyring, settings.base_url, row).shlink()
        svg = qr_svg(share_urls(settings.base_url, row["id"], shlink)["viewer_url"])
        return Response(svg, media_type="image/svg+xml", headers=NO_STORE)


async def _check_picked(connection: PgConnection, patient_id: uuid.UUID, record_ids: list[str]) -> None:
    """Every picked record is a current one of this book (another patient's answers 404, as a record of
    nobody), and at least one is of a kind the shared summary lists (a `Patient` alone shares nothing)."""
    if await missing_record_ids(connection, patient_id, record_ids):
        raise NotFound(N_("some of these records are not in your book"))
    if not any(value.split("/", 1)[0] in LISTED_TYPES for value in record_ids):
        raise Unprocessable(
            N_("pick a prescription, a result, a referral letter or another record to share"),
            issues=[Issue(N_("none of these can be shared on its own"), "record_ids")],
        )


def _label(raw: str) -> str:
    label = unicodedata.normalize("NFC", " ".join(raw.split()))
    if not label or len(label) > MAX_LABEL or not label.isprintable():
        raise Unprocessable(
            N_("the label must be 1 to 40 characters"), issues=[Issue(N_("1 to 40 characters"), "label")]
        )
    return label


def _share_uuid(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound(NO_SUCH_SHARE) from None


def _share_json(row: Any, opens: list[Any], keyring: Keyring, base_url: str, now: datetime) -> dict[str, Any]:
    state = share_status(row, now)
    answer: dict[str, Any] = {
        "id": str(row["id"]),
        "label": row["label"],
        "status": state,
        "summary": row["record_ids"] is None,
        "record_ids": row["record_ids"],
        "passcode": row["passcode_hmac"] is not None,
        "created_at": utc_iso(row["created_at"]),
        "expires_at": utc_iso(row["expires_at"]),
        "revoked_at": utc_iso(row["revoked_at"]),
        "times_opened": int(row["times_opened"]),
        "last_opened_at": utc_iso(opens[0]["at"]) if opens else None,
        "opened_by": [
            {
                "at": utc_iso(o["at"]),
                "actor": o["actor"],
                "facility": facility(o["code"], o["name"]),
                "channel": o["channel"],
            }
            for o in opens
        ],
    }
    if state == "active":  # the link again, to show its QR code; a dead link's key is of no use to anyone
        answer.update(share_urls(base_url, row["id"], link_of(keyring, base_url, row).shlink()))
    return answer
