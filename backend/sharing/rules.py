"""What a new share must be, the same through the JSON API and the pages: a label of 1 to 40 characters,
picked records that are current ones of this book (at least one of a kind the summary lists), a share id
that is a UUID (anything else is a share of nobody: 404)."""

from __future__ import annotations

import unicodedata
import uuid
from datetime import datetime

from backend.database import PgConnection
from backend.errors import Issue, NotFound, Unprocessable
from backend.i18n import gettext_noop as N_  # noqa: N812 - the gettext convention
from backend.keyring import Keyring
from backend.settings import Settings
from backend.sharing.ips import missing_record_ids
from backend.sharing.ips.sections import LISTED_TYPES
from backend.sharing.links import LinkPayload
from backend.sharing.store import NewShare, create_share

MAX_EXPIRES_IN = 30 * 24 * 3600  # contract §4: 1 second to 30 days
MAX_LABEL = 40
NO_SUCH_SHARE = N_("no such share")


async def make_share(
    connection: PgConnection, keyring: Keyring, settings: Settings, new: NewShare, now: datetime
) -> tuple[uuid.UUID, LinkPayload]:
    """A share of the session's own book, its picked records checked first."""
    if new.record_ids is not None:
        await check_picked(connection, new.patient_id, new.record_ids)
    return await create_share(connection, keyring, settings.secret_key, settings.base_url, new, now)


async def check_picked(connection: PgConnection, patient_id: uuid.UUID, record_ids: list[str]) -> None:
    """Every picked record is a current one of this book (another patient's answers 404, as a record of
    nobody), and at least one is of a kind the shared summary lists (a `Patient` alone shares nothing)."""
    if await missing_record_ids(connection, patient_id, record_ids):
        raise NotFound(N_("some of these records are not in your book"))
    if not any(value.split("/", 1)[0] in LISTED_TYPES for value in record_ids):
        raise Unprocessable(
            N_("pick a prescription, a result, a referral letter or another record to share"),
            issues=[Issue(N_("none of these can be shared on its own"), "record_ids")],
        )


def clean_label(raw: str) -> str:
    label = unicodedata.normalize("NFC", " ".join(raw.split()))
    if not label or len(label) > MAX_LABEL or not label.isprintable():
        raise Unprocessable(
            N_("the label must be 1 to 40 characters"), issues=[Issue(N_("1 to 40 characters"), "label")]
        )
    return label


def share_uuid(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound(NO_SUCH_SHARE) from None
