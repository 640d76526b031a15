"""The one read path to health data. Every reader goes through `read_records`, which writes the access
event for anyone but the patient in the same transaction as the read (contract §4: the patient sees
every read by anyone else). Nothing else in the code selects record content.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple, TypeVar
from uuid import UUID

from backend.audit import Reader, log_access
from backend.clock import VIETNAM
from backend.database import PgConnection
from backend.records.fhir.index import fold
from backend.records.fhir.references import relative_key


class StoredRecordView(NamedTuple):
    """A current record as readers get it: the served content and where it came from. (A tuple, as
    `StoredRecordText`: a section of a large book makes thousands.)"""

    served_id: str
    resource_type: str
    facility_code: str
    facility_name: str
    version: int
    updated_at: datetime
    signature: str
    date: datetime | None
    date_end: datetime | None
    status: str | None
    content: dict[str, Any]

    @property
    def reference(self) -> str:
        return f"{self.resource_type}/{self.served_id}"


def _fold_in_sql() -> tuple[str, str]:
    """`translate()` arguments that fold lower-case Latin letters as `fold` does, so a facility's name
    (not in the record's own search text) can be searched in SQL: `benh vien` finds `Bệnh viện`."""
    accented = [chr(point) for point in (*range(0xC0, 0x250), *range(0x1E00, 0x1F00)) if chr(point).islower()]
    pairs = [(char, fold(char)) for char in accented]
    pairs = [(char, base) for char, base in pairs if len(base) == 1 and base != char and base.isascii()]
    return "".join(char for char, _ in pairs), "".join(base for _, base in pairs)


FOLD_IN_SQL = _fold_in_sql()


class StoredRecordText(NamedTuple):
    """A current record as stored: its JSON without `meta` (as PostgreSQL prints it), and that `meta`.
    (A tuple: a whole book makes thousands, and a frozen dataclass costs several times more to make.)"""

    served_id: str
    resource_type: str
    facility_code: str
    version: int
    updated_at: datetime
    signature: str
    meta: dict[str, Any]
    body: str

    @property
    def reference(self) -> str:
        return f"{self.resource_type}/{self.served_id}"


@dataclass(frozen=True)
class Narrowing:
    """What a reader narrows the book to: one facility, a time span, words anywhere in a record."""

    facility: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    words: str | None = None

    def patterns(self) -> list[str] | None:
        """Each word must appear (in the folded text: `tieu duong` finds `Tiểu đường`)."""
        terms = fold(self.words or "").split()
        if not terms:
            return None
        return ["%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%" for term in terms]


@dataclass(frozen=True)
class Group:
    """At most a few records of one kind, and how many there are in all."""

    items: list[StoredRecordView]
    total: int


_COLUMNS = """r.id, r.served_id, r.resource_type, f.code AS facility_code, f.name AS facility_name, r.version,
       r.updated_at, r.signature, r.facility_id"""
# `refs`: every reference in the record, found by PostgreSQL while it reads the record anyway (walking a
# whole book's JSON again, in Python or in a second query, cost more than the rest of the read). Only
# where the references are followed (`read_records`), not for the overview.
_REFS = """jsonb_path_query_array(r.content, 'strict $.**.reference ? (@.type() == "string")') AS refs"""
_FROM = " FROM record r JOIN facility f ON f.id = r.facility_id "
_SELECT_VIEW = f"{_COLUMNS}, r.date, r.date_end, r.status, r.content"
_SELECT = f"SELECT {_SELECT_VIEW}, {_REFS} {_FROM}"
# The stored JSON as text, its `meta` apart: the served `meta` is ours, put in front of the rest. (Taking
# `meta` out rebuilds the whole value: only done for a record that has one.)
_SELECT_TEXT = (
    f"SELECT {_COLUMNS}, {_REFS}, CASE WHEN r.content ? 'meta' THEN (r.content - 'meta')::text ELSE r.content::text END"
    f" AS body, r.content -> 'meta' AS meta {_FROM}"
)
REFERRAL = "http://snomed.info/sct|3457005"
BLOOD_GROUP = "http://loinc.org|882-1"  # ABO and Rh group  # ServiceRequest.category "Patient referral"
NOT_BOOKED = ["cancelled", "noshow", "entered-in-error", "fulfilled"]
# A follow-up given as a date alone (QĐ130's NGAY_TAI_KHAM) is stored as the whole local day, from 00:00 to
# 23:59 in Vietnam: it is still ahead of the patient until that day ends, not from its midnight on. (A
# timed stay that lasts a day or more, from 08:00 say, is not one.)
WHOLE_DAY = timedelta(hours=23)
_WHOLE_DAY_SQL = (
    "(r.date_end - r.date >= interval '23 hours'"
    " AND ((r.date AT TIME ZONE 'UTC') + interval '7 hours')::time = time '00:00')"
)
_NOT_A_VISIT = ["planned", "cancelled", "entered-in-error"]

# Contract §4: what needs attention now, each group its soonest (or newest) few. Each condition names
# its parameters from $2 on, in the order of the tuple's last element ("now", "today", …).
_OVERVIEW: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "appointments": (
        "r.resource_type = 'Appointment' AND NOT coalesce(r.status, '') = ANY($3::text[])"
        f" AND (r.date >= $2 OR (r.date_end >= $2 AND {_WHOLE_DAY_SQL}))",
        "r.date ASC",
        ("now", "not_booked"),
    ),
    "referrals": (
        "r.resource_type = 'ServiceRequest' AND r.codes @> ARRAY[$2::text] AND r.status = 'active'"
        " AND r.date_end >= $3",
        "r.date DESC NULLS LAST",
        ("referral", "today"),
    ),
    "prescriptions": (
        "r.resource_type = 'MedicationRequest' AND r.status = 'active' AND r.date_end >= $2",
        "r.date DESC NULLS LAST",
        ("now",),
    ),
    # An allergy a clinician ruled out, or one that is over, is not one to warn about.
    "allergies": (
        "r.resource_type = 'AllergyIntolerance'"
        " AND NOT jsonb_path_exists(r.content, '$.verificationStatus.coding[*] ? (@.code == \"refuted\")')"
        " AND NOT jsonb_path_exists("
        'r.content, \'$.clinicalStatus.coding[*] ? (@.code == "inactive" || @.code == "resolved")\')',
        "r.date DESC NULLS LAST",
        (),
    ),
    # The latest blood group any hospital recorded (shown with the patient's name, not as a group).
    "blood_group": (
        "r.resource_type = 'Observation' AND r.codes @> ARRAY[$2::text]",
        "r.date DESC NULLS LAST",
        ("blood_group",),
    ),
    # A visit that took place or is under way: not one only planned, nor one called off.
    "visits": (
        "r.resource_type = 'Encounter' AND NOT coalesce(r.status, '') = ANY($2::text[])",
        "r.date DESC NULLS LAST",
        ("not_a_visit",),
    ),
}


def appointment_ahead(view: StoredRecordView, now: datetime) -> bool:
    """An appointment still to come: booked, and not begun (a whole-day one: its day not over). The
    overview's SQL above says the same."""
    if view.date is None or view.status in NOT_BOOKED:
        return False
    if view.date >= now:
        return True
    return whole_day_span(view.date, view.date_end) and view.date_end is not None and view.date_end >= now


def whole_day_span(start: datetime | None, end: datetime | None) -> bool:
    """From midnight in Vietnam, for a day or more: a date without a time (the SQL above says the same)."""
    if start is None or end is None or end - start < WHOLE_DAY:
        return False
    local = start.astimezone(VIETNAM)
    return (local.hour, local.minute, local.second) == (0, 0, 0)


async def registry_names(connection: PgConnection) -> dict[str, str]:
    """Facility code → name, from the registry."""
    return {row["code"]: row["name"] for row in await connection.fetch("SELECT code, name FROM facility")}


async def facilities_of_book(connection: PgConnection, patient_id: UUID) -> list[dict[str, str]]:
    """The facilities that sent anything to this book (for narrowing it), by name."""
    rows = await connection.fetch(
        "SELECT DISTINCT f.code, f.name FROM record r JOIN facility f ON f.id = r.facility_id"
        " WHERE r.patient_id = $1 AND NOT r.deleted ORDER BY f.name",
        patient_id,
    )
    return [{"code": row["code"], "name": row["name"]} for row in rows]


async def find_patient(connection: PgConnection, cccd: str) -> UUID | None:
    value = await connection.fetchval("SELECT id FROM patient WHERE cccd = $1", cccd)
    return value if isinstance(value, UUID) else None


async def read_records(
    connection: PgConnection,
    reader: Reader,
    patient_id: UUID,
    now: datetime,
    *,
    resource_types: Sequence[str] | None = None,
    served_ids: Sequence[str] | None = None,
    narrowed: Narrowing | None = None,
) -> list[StoredRecordView]:
    """The patient's current records (optionally only these types or these served ids, narrowed to a
    facility, a time span or words), with the facility-level resources they reference (a `Medication`,
    an `Organization`), newest first."""
    rows = await _current_rows(connection, _SELECT, patient_id, resource_types, served_ids, narrowed)
    views = [_view(row) for row in rows]
    await _log_unless_owner(connection, reader, patient_id, [(v.resource_type, v.reference) for v in views], now)
    return views


async def read_stored_records(
    connection: PgConnection, reader: Reader, patient_id: UUID, now: datetime
) -> list[StoredRecordText]:
    """Every current record as `read_records` finds them, but as the JSON text PostgreSQL stores: for
    serving a whole book, where parsing thousands of records only to print them again is most of the cost."""
    rows = await _current_rows(connection, _SELECT_TEXT, patient_id)
    texts = [_text(row) for row in rows]
    await _log_unless_owner(connection, reader, patient_id, [(t.resource_type, t.reference) for t in texts], now)
    return texts


async def _current_rows(
    connection: PgConnection,
    select: str,
    patient_id: UUID,
    resource_types: Sequence[str] | None = None,
    served_ids: Sequence[str] | None = None,
    narrowed: Narrowing | None = None,
) -> list[Any]:
    narrowed = narrowed or Narrowing()
    rows = await connection.fetch(
        select + " WHERE r.patient_id = $1 AND NOT r.deleted"
        " AND ($2::text[] IS NULL OR r.resource_type = ANY($2::text[]))"
        " AND ($3::text[] IS NULL OR r.served_id = ANY($3::text[]))"
        " AND ($4::text IS NULL OR f.code = $4)"
        " AND ($5::timestamptz IS NULL OR coalesce(r.date_end, r.date) >= $5)"
        " AND ($6::timestamptz IS NULL OR r.date < $6)"
        " AND ($7::text[] IS NULL OR (r.search_text || ' ' || translate(lower(f.name), $8, $9)) LIKE ALL ($7::text[]))"
        " ORDER BY r.date DESC NULLS LAST, r.id DESC",
        patient_id,
        list(resource_types) if resource_types is not None else None,
        list(served_ids) if served_ids is not None else None,
        narrowed.facility,
        narrowed.since,
        narrowed.until,
        narrowed.patterns(),
        *FOLD_IN_SQL,
    )
    return [*rows, *await _referenced_facility_resources(connection, select, rows)]


async def _log_unless_owner(
    connection: PgConnection, reader: Reader, patient_id: UUID, read: list[tuple[str, str]], now: datetime
) -> None:
    if not reader.owns(patient_id):
        await log_access(
            connection, reader, patient_id, [resource_type for resource_type, _ in read], [ref for _, ref in read], now
        )


async def read_overview(
    connection: PgConnection, reader: Reader, patient_id: UUID, now: datetime, today_start: datetime, limit: int = 10
) -> dict[str, Group]:
    """The overview's groups (contract §4), never every record: at most `limit` of each, with totals."""
    values = {
        "now": now,
        "today": today_start,
        "not_booked": NOT_BOOKED,
        "referral": REFERRAL,
        "not_a_visit": _NOT_A_VISIT,
        "blood_group": BLOOD_GROUP,
    }
    groups: dict[str, Group] = {}
    for name, (condition, order, parameters) in _OVERVIEW.items():
        rows = await connection.fetch(
            f"SELECT count(*) OVER () AS total, {_SELECT_VIEW} {_FROM}"
            + f" WHERE r.patient_id = $1 AND NOT r.deleted AND {condition} ORDER BY {order}, r.id DESC LIMIT {limit}",
            patient_id,
            *(values[parameter] for parameter in parameters),
        )
        groups[name] = Group([_view(row) for row in rows], rows[0]["total"] if rows else 0)
    views = [view for group in groups.values() for view in group.items]
    await _log_unless_owner(connection, reader, patient_id, [(v.resource_type, v.reference) for v in views], now)
    return groups


async def _referenced_facility_resources(connection: PgConnection, select: str, rows: Sequence[Any]) -> list[Any]:
    """Resources without a patient (Medication, Organization, Practitioner…) that the records point at, so
    the references of what is served resolve inside it."""
    have = {(row["resource_type"], row["served_id"]) for row in rows}
    references = {reference for row in rows for reference in row["refs"] or ()}  # each once: most repeat
    wanted = {(key.resource_type, key.resource_id) for ref in references if (key := relative_key(ref))} - have
    if not wanted:
        return []
    ordered = sorted(wanted)
    return list(
        await connection.fetch(
            select + " JOIN unnest($1::text[], $2::text[]) AS k(resource_type, served_id)"
            " ON r.resource_type = k.resource_type AND r.served_id = k.served_id"
            " WHERE r.patient_id IS NULL AND NOT r.deleted AND r.facility_id = ANY($3::int[])",
            [key[0] for key in ordered],
            [key[1] for key in ordered],
            sorted({row["facility_id"] for row in rows}),
        )
    )


Record = TypeVar("Record", StoredRecordView, StoredRecordText)


def _text(row: Any) -> StoredRecordText:
    return _from_row(StoredRecordText, row, "meta")


def _view(row: Any) -> StoredRecordView:
    return _from_row(StoredRecordView, row, "content")


def _from_row(kind: type[Record], row: Any, json_object: str) -> Record:
    """A record from its row's columns of the same names; `{}` for the JSON object column when what is
    stored there is not an object (a `meta` never sent)."""
    values = [row[name] for name in kind._fields]
    position = kind._fields.index(json_object)
    if not isinstance(values[position], dict):
        values[position] = {}
    return kind._make(values)
