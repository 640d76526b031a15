"""The `/shares` form, read into a new share: what (a summary, or picked records), for how long (1 hour,
1 day, 7 days, or until the end of a day at most 30 days ahead), an optional passcode, a label.

Everything has a default, so "Share" alone makes a share (a summary for 7 days, labelled with the day):
two taps from the book. What the form offers to pick is what a patient is asked for at the next desk:
current prescriptions, valid referral letters, recent results, with the words the book shows them with.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from backend.audit import Reader
from backend.clock import VIETNAM
from backend.database import PgConnection
from backend.errors import Issue, Unprocessable
from backend.healthbook.presenters import present
from backend.i18n import gettext_noop as N_  # noqa: N812 - the gettext convention
from backend.records.reads import Narrowing, read_overview, read_records, registry_names
from backend.sharing.rules import MAX_EXPIRES_IN, clean_label
from backend.sharing.store import NewShare

VALIDITY = {"1h": timedelta(hours=1), "1d": timedelta(days=1), "7d": timedelta(days=7)}
DEFAULT_VALIDITY = "7d"
UNTIL_DAY = "date"  # the validity choice that reads the `until` date field
RESULT_TYPES = ("DiagnosticReport", "Observation")
RECENT_RESULTS_DAYS = 180
RESULTS_OFFERED = 10
PICKS_SHOWN = 500  # as many as the API takes


@dataclass(frozen=True)
class Offer:
    """One record the form offers to share: its `Type/id`, what it is called, and when and where from."""

    id: str
    title: str
    label: str
    detail: str | None
    date: str | None
    source: str | None


async def offers(connection: PgConnection, patient_id: uuid.UUID, now: datetime) -> dict[str, list[Offer]]:
    """What the form lists to pick from, read as the patient (no access event)."""
    reader = Reader.patient(patient_id)
    today = now.astimezone(VIETNAM).replace(hour=0, minute=0, second=0, microsecond=0)
    groups = await read_overview(connection, reader, patient_id, now, today)
    recent = Narrowing(since=now - timedelta(days=RECENT_RESULTS_DAYS))
    results = await read_records(connection, reader, patient_id, now, resource_types=RESULT_TYPES, narrowed=recent)
    facilities = await registry_names(connection)
    found = {
        "prescriptions": groups["prescriptions"].items,
        "referrals": groups["referrals"].items,
        "results": [view for view in results if view.resource_type in RESULT_TYPES][:RESULTS_OFFERED],
    }
    return {name: [_offer(present(view, facilities)) for view in views] for name, views in found.items()}


def _offer(item: dict[str, Any]) -> Offer:
    source = item["source"]
    return Offer(
        item["id"], item["title"] or "", item["label"], item["detail"], item["date"], source["name"] or source["code"]
    )


def last_day(now: datetime) -> str:
    """The latest day a share may last until (`max` of the date field)."""
    return (now + timedelta(seconds=MAX_EXPIRES_IN)).astimezone(VIETNAM).date().isoformat()


def read_share_form(form: Any, patient_id: uuid.UUID, now: datetime) -> NewShare:
    """The new share the form asks for; `Unprocessable` with the field at fault when it cannot be made."""
    label = clean_label(str(form.get("label") or ""))
    passcode = str(form.get("passcode") or "").strip() or None
    if passcode is not None and not 4 <= len(passcode) <= 64:
        raise Unprocessable(N_("the passcode must be 4 to 64 characters"), issues=[Issue(N_("4 to 64"), "passcode")])
    record_ids: list[str] | None = None
    if form.get("what") == "picked":
        record_ids = list(dict.fromkeys(str(value)[:200] for value in form.getall("record", [])))[:PICKS_SHOWN]
        if not record_ids:
            raise Unprocessable(
                N_("tick at least one record to share, or share a summary of everything"),
                issues=[Issue(N_("nothing ticked"), "record")],
            )
    return NewShare(patient_id, label, _validity(form, now), passcode, record_ids)


def _validity(form: Any, now: datetime) -> timedelta:
    choice = str(form.get("validity") or DEFAULT_VALIDITY)
    if choice in VALIDITY:
        return VALIDITY[choice]
    wrong = Unprocessable(
        N_("choose a day from today to 30 days ahead"), issues=[Issue(N_("today to 30 days ahead"), "until")]
    )
    if choice != UNTIL_DAY:
        raise wrong
    try:
        day = datetime.fromisoformat(str(form.get("until") or "")).date()
    except ValueError:
        raise wrong from None
    if day > datetime.fromisoformat(last_day(now)).date():  # checked first: 9999-12-31 + 1 day overflows
        raise wrong
    # Until the end of that day in Vietnam, but never past the 30 days a share may last.
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=VIETNAM)
    left = min(end - now, timedelta(seconds=MAX_EXPIRES_IN))
    if left <= timedelta(0):
        raise wrong
    return left


def time_left(expires_at: datetime, now: datetime) -> dict[str, int]:
    """What is left of a share, in whole days, hours and minutes (the page words them)."""
    minutes = max(0, int((expires_at - now).total_seconds()) // 60)
    return {"days": minutes // 1440, "hours": minutes // 60 % 24, "minutes": minutes % 60}
