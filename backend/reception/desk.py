"""Opening a scanned share at the desk: the same gate, document and access log as any recipient's manifest
request (`backend/sharing/manifest.py`), read by the signed-in receptionist as themself and their facility.

The server holds the records, so the desk needs no decryption; it still asks for the link's key and opens
nothing unless it is the share's: the manifest URL alone is not meant to reveal anything. Only links of
this server open here: the desk never fetches a URL a QR code names (it could point anywhere)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from backend.database import PgConnection
from backend.i18n import gettext_noop as N_  # noqa: N812 - the gettext convention
from backend.keyring import Keyring
from backend.reception.scan import Scan
from backend.sharing.gate import Refusal
from backend.sharing.links import MANIFEST_PATH
from backend.sharing.manifest import ManifestRequest, OpenedShare, open_share, reception_reader
from backend.staff.sessions import StaffPrincipal

_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # 32 random bytes, base64url (backend/sharing/links.py)

ANOTHER_SERVICE = N_("this code was made by another service: open it with that service's viewer")
ENDED = N_("this share has ended: ask the patient to share again")
STOPPED = N_("this link no longer opens anything: the patient stopped sharing, or it has ended")
WRONG_PASSCODE = N_("wrong passcode: ask the patient again")
USED_UP = N_("too many wrong passcodes: this link is locked, ask the patient to share again")
TOO_MANY = N_("this link was opened too often in the last minute: wait a moment and try again")
TYPE_PASSCODE = N_("type the passcode the patient tells you")


@dataclass(frozen=True)
class DeskRefusal:
    problem: str  # a message id, shown translated
    status: int
    remaining_attempts: int | None = None
    asks_passcode: bool = False
    retry_after: int | None = None  # seconds, with a 429


def manifest_token(base_url: str, url: str) -> str | None:
    """The token of a manifest URL of this server (`{BASE_URL}/api/shl/{token}`), else None."""
    prefix = base_url.rstrip("/") + MANIFEST_PATH
    token = url[len(prefix) :] if url.startswith(prefix) else ""
    return token if _TOKEN.fullmatch(token) else None


async def open_at_desk(
    connection: PgConnection,
    keyring: Keyring,
    secret_key: str,
    base_url: str,
    scan: Scan,
    passcode: str | None,
    staff: StaffPrincipal,
    now: datetime,
) -> OpenedShare | DeskRefusal:
    """The shared IPS document with its share, or why the desk may not see it. Commit either way (counts,
    access log)."""
    token = manifest_token(base_url, scan.url)
    if token is None:
        return DeskRefusal(ANOTHER_SERVICE, 400)
    if scan.expires_at is not None and scan.expires_at <= now:
        return DeskRefusal(ENDED, 404)
    reader = reception_reader(staff.username, staff.role, staff.facility_id)
    request = ManifestRequest(token, passcode or None, None, reader)
    opened = await open_share(connection, keyring, secret_key, base_url, request, now, key_held=scan.key)
    if isinstance(opened, Refusal):
        return _refused(opened, asked=bool(passcode))
    return opened


def _refused(refusal: Refusal, *, asked: bool) -> DeskRefusal:
    if refusal.status == 401:
        remaining = refusal.remaining_attempts
        if not asked:  # the first step of a protected link (or an empty answer): ask, nothing counted
            return DeskRefusal("", 200, remaining, asks_passcode=True)
        if remaining == 0:
            return DeskRefusal(USED_UP, 404)
        return DeskRefusal(WRONG_PASSCODE, 422, remaining, asks_passcode=True)
    if refusal.status == 429:
        return DeskRefusal(TOO_MANY, 429, retry_after=refusal.retry_after)
    return DeskRefusal(STOPPED, 404)
