"""The desk's pages (contract §6 `/reception`): the scan box, what a scanned share holds, and its FHIR
Bundle to download. The link travels in POST bodies only (a key in a URL would land in access logs); the
pages are plain form posts, never kept by any cache."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from litestar import Controller, MediaType, Response, get, post
from litestar.response import Template

from backend.audit import logged_at_the_end
from backend.database import Database, raw_transaction
from backend.keyring import Keyring
from backend.reception.desk import TYPE_PASSCODE, DeskRefusal, open_at_desk
from backend.reception.scan import PREFIX, Scan, read_scan
from backend.reception.summary import DeskSummary, desk_summary
from backend.records.reads import registry_names
from backend.settings import Settings
from backend.sharing.manifest import FHIR_JSON, OpenedShare
from backend.staff.guards import RECEPTION_ROLES, StaffDependency, require_role
from backend.staff.sessions import StaffPrincipal
from backend.web.dependencies import (
    ClockDependency,
    DatabaseDependency,
    Form,
    KeyringDependency,
    SettingsDependency,
)

PAGE = "reception/desk.html"
NO_STORE = {"Cache-Control": "no-store"}
MAX_SCAN = 8192  # characters: a share link is a few hundred; a scanner gone wild is cut, not stored
MAX_PASSCODE = 200
_ASKED = "passcode"  # the passcode box's field: present when the page asked for it


@dataclass(frozen=True)
class Scanned:
    """A scan as the form sent it, and what opening it gave: the document, or why not."""

    scan: Scan
    link: str  # as typed: the page gives it back to the download form and the passcode step
    passcode: str
    asked: bool  # the page had asked for the passcode
    opened: OpenedShare | DeskRefusal | None  # None: not a share link at all
    summary: DeskSummary | None = None  # what the page shows, when asked for


class ReceptionPages(Controller):
    include_in_schema = False

    @get("/reception", name="reception")
    async def desk(self, staff: StaffDependency) -> Template:
        require_role(staff, RECEPTION_ROLES)
        return _page(staff)

    @post("/reception", name="reception_scan", status_code=200)
    async def scan(
        self,
        staff: StaffDependency,
        data: Form,
        database: DatabaseDependency,
        keyring: KeyringDependency,
        settings: SettingsDependency,
        clock: ClockDependency,
    ) -> Template:
        now = clock()
        scanned = await _open(staff, data, database, keyring, settings, now, summarised=True)
        if not isinstance(scanned.opened, OpenedShare):
            return _refused(staff, scanned)
        share = scanned.opened.share
        context: dict[str, Any] = {"link": scanned.link, "passcode": scanned.passcode, "now": now, "share": share}
        return _page(staff, summary=scanned.summary, **context)

    # HTML by default (a refusal is the desk's page); the Bundle's own Response says FHIR JSON.
    @post("/reception/bundle", name="reception_bundle", media_type=MediaType.HTML, status_code=200)
    async def bundle(
        self,
        staff: StaffDependency,
        data: Form,
        database: DatabaseDependency,
        keyring: KeyringDependency,
        settings: SettingsDependency,
        clock: ClockDependency,
    ) -> Response[Any] | Template:
        """The shared IPS document as a file for the hospital's own system: opened again (and logged again),
        so a link stopped since the page was shown gives nothing."""
        now = clock()
        scanned = await _open(staff, data, database, keyring, settings, now)
        if not isinstance(scanned.opened, OpenedShare):
            return _refused(staff, scanned)
        disposition = f'attachment; filename="{_file_name(now)}"'
        headers = {**NO_STORE, "Content-Disposition": disposition}
        return Response(scanned.opened.document, media_type=FHIR_JSON, headers=headers)


async def _open(
    staff: StaffPrincipal,
    data: dict[str, str],
    database: Database,
    keyring: Keyring,
    settings: Settings,
    now: datetime,
    *,
    summarised: bool = False,
) -> Scanned:
    require_role(staff, RECEPTION_ROLES)
    link, passcode = data.get("scan", "")[:MAX_SCAN], data.get("passcode", "")[:MAX_SCAN]
    asked = _ASKED in data
    if PREFIX in passcode:  # the next patient's code, scanned into the passcode box: a new scan, not a guess
        link, passcode, asked = passcode, "", False
    passcode = passcode[:MAX_PASSCODE]
    scan = read_scan(link)
    if not scan.is_share_link:
        return Scanned(scan, link, passcode, asked, None)
    # Commits the counts and the access event (written last, just before the commit).
    async with raw_transaction(database) as connection, logged_at_the_end(connection):
        opened = await open_at_desk(
            connection, keyring, settings.secret_key, settings.base_url, scan, passcode, staff, now
        )
        if not isinstance(opened, OpenedShare):
            return Scanned(scan, link, passcode, asked, opened)
        # Inside the transaction: a page that could not be made is no read to log.
        summary = desk_summary(opened.document, await registry_names(connection), now) if summarised else None
    return Scanned(scan, link, passcode, asked, opened, summary)


def _page(staff: StaffPrincipal, *, status: int = 200, retry_after: int | None = None, **context: Any) -> Template:
    defaults = {"scan": None, "problem": None, "summary": None, "asks_passcode": False, "remaining": None}
    headers = NO_STORE if retry_after is None else {**NO_STORE, "Retry-After": str(retry_after)}
    return Template(PAGE, context={"staff": staff, **defaults, **context}, status_code=status, headers=headers)


def _refused(staff: StaffPrincipal, scanned: Scanned) -> Template:
    """Why the scan opened nothing (an empty answer to the passcode box is the question again, with a word)."""
    refusal = scanned.opened
    if not isinstance(refusal, DeskRefusal):  # not a share link: the scan's own reason
        return _page(staff, scan=scanned.scan, problem=scanned.scan.problem, status=400)
    problem = refusal.problem or (TYPE_PASSCODE if scanned.asked and refusal.asks_passcode else None)
    context: dict[str, Any] = {"scan": scanned.scan, "problem": problem, "remaining": refusal.remaining_attempts}
    if refusal.asks_passcode:  # the link goes back into the page, in a form field, to ask for the passcode
        context |= {"asks_passcode": True, "link": scanned.link}
    return _page(staff, status=refusal.status, retry_after=refusal.retry_after, **context)


def _file_name(now: datetime) -> str:
    return f"tom-tat-ho-so-{now:%Y%m%d-%H%M}.json"
