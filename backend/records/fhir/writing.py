"""Writing checked FHIR entries to the record store, in the caller's transaction: what both hospital
intakes share (FHIR bundles, and the QĐ130 XML mapped into FHIR). Conditional entries are matched,
every touched record is locked, references and authorship checked, patients linked, then everything is
written in a few set-based statements. Returns what happened to each entry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from backend.database import PgConnection
from backend.errors import Issue, PreconditionFailed, Unprocessable
from backend.records.fhir.authorship import check_authorship
from backend.records.fhir.index import index_columns
from backend.records.fhir.parse import Entry
from backend.records.fhir.patients import PatientLink, link_patients
from backend.records.fhir.references import rewritten, served_id
from backend.records.fhir.resolve import referenced_keys, resolve_references
from backend.records.keys import Key, Origin, Sender, StoredRecord
from backend.records.store import (
    RecordRow,
    delete_records,
    find_by_identifiers,
    find_by_origin,
    lock_keys,
    lock_stored,
    register_patients,
    upsert_records,
)

REPLACED = -1  # the entry index recorded in history for a record a replacement removed


@dataclass(frozen=True)
class Outcome:
    """What an entry did: the record it names, its version now, and whether it was created."""

    key: Key
    version: int
    created: bool


@dataclass(frozen=True)
class Unchanged:
    """An entry that writes nothing: a `POST` with `ifNoneExist` that matched, or an older version of a
    record arriving after a newer one. The answer names what is stored."""

    key: Key
    version: int
    patient_id: UUID | None


async def store_entries(
    connection: PgConnection,
    sender: Sender,
    delivery_id: int,
    entries: list[Entry],
    now: datetime,
    *,
    replacing: Sequence[Origin] = (),
) -> dict[int, Outcome]:
    """Write `entries`; records stored earlier from one of the `replacing` origins (a QĐ130 table of an
    episode) that this delivery does not write again are removed. Keyed by entry index."""
    unchanged = await _settle_conditionals(connection, sender.id, entries)
    _check_distinct(entries)
    touched = {Key(entry.resource_type, entry.resource_id) for entry in entries if entry.index not in unchanged}
    replaced = set(await find_by_origin(connection, sender.id, replacing)) - touched
    stored = await lock_stored(connection, sender.id, referenced_keys(entries) | touched | replaced)

    targets = resolve_references(entries, stored)
    check_authorship(entries, targets, stored, sender.code)
    links = link_patients(entries, targets, stored, {index: u.patient_id for index, u in unchanged.items()})
    patient_ids = await register_patients(connection, [link for link in links.values() if isinstance(link, str)])

    deletions = [(Key(e.resource_type, e.resource_id), e.index) for e in entries if e.method == "DELETE"]
    _check_deletable(deletions, stored)
    rows = [
        _row(entry, _patient_id(links[entry.index], patient_ids), targets[entry.index], sender.code)
        for entry in entries
        if entry.method != "DELETE" and entry.index not in unchanged
    ]
    _check_no_moves(rows, stored)
    late = {row.entry_index: _late(stored[row.key]) for row in rows if _is_late(row, stored.get(row.key))}
    rows = [row for row in rows if row.entry_index not in late]

    written = await upsert_records(connection, sender.id, delivery_id, now, rows)
    if len(written) < len(rows):  # another delivery created some of these records after our lock
        current = await lock_stored(connection, sender.id, [row.key for row in rows if row.key not in written])
        skipped = [row for row in rows if row.key not in written]
        _check_no_moves(skipped, current)
        late.update({row.entry_index: _late(current[row.key]) for row in skipped})
    removals = deletions + [(key, REPLACED) for key in sorted(replaced, key=lambda k: (k.resource_type, k.resource_id))]
    deleted = await delete_records(connection, sender.id, delivery_id, now, removals)
    done = {**written, **deleted}
    outcomes: dict[int, Outcome] = {}
    for entry in entries:
        if entry.index in unchanged or entry.index in late:
            kept = {**unchanged, **late}[entry.index]
            outcomes[entry.index] = Outcome(kept.key, kept.version, created=False)
        else:
            outcome = done[Key(entry.resource_type, entry.resource_id)]
            outcomes[entry.index] = Outcome(outcome.key, outcome.version, outcome.created)
    return outcomes


async def _settle_conditionals(
    connection: PgConnection, facility_id: int, entries: list[Entry]
) -> dict[int, Unchanged]:
    """Match each conditional entry against this facility's current records (contract §3.2): one match is
    the resource to update (or, for `ifNoneExist`, to leave alone); more than one is a 412."""
    conditional = [entry for entry in entries if entry.conditional is not None]
    if not conditional:
        return {}
    tokens = {entry.index: entry.conditional.token() for entry in conditional if entry.conditional}
    # Two bundles creating "the Patient with this CCCD" at once must not both create one.
    await lock_keys(connection, (f"conditional:{facility_id}:{e.resource_type}:{tokens[e.index]}" for e in conditional))
    found = await find_by_identifiers(
        connection, facility_id, sorted({e.resource_type for e in conditional}), sorted(set(tokens.values()))
    )
    unchanged: dict[int, Unchanged] = {}
    for entry in conditional:
        matches = [
            (resource_id, version, patient_id)
            for resource_type, resource_id, identifiers, version, patient_id in found
            if resource_type == entry.resource_type and tokens[entry.index] in identifiers
        ]
        where = f"{entry.path}.request"
        if len(matches) > 1:
            raise PreconditionFailed(
                f"{entry.resource_type}?identifier=… matches {len(matches)} records",
                issues=[
                    Issue(
                        f"the condition matches {len(matches)} records of this facility", where, code="multiple-matches"
                    )
                ],
            )
        if not matches:
            if entry.method == "DELETE":
                raise Unprocessable("nothing to delete", issues=[Issue("the condition matches no record", where)])
            continue
        matched_id, version, patient_id = matches[0]
        if entry.id_was_given and entry.resource_id != matched_id:
            raise Unprocessable(
                "the resource id differs from the record its condition matched",
                issues=[
                    Issue(f"the condition matches {entry.resource_type}/{matched_id}", f"{entry.path}.resource.id")
                ],
            )
        entry.resource_id = matched_id
        if entry.method == "POST":
            unchanged[entry.index] = Unchanged(Key(entry.resource_type, matched_id), version, patient_id)
    return unchanged


def _check_deletable(deletions: list[tuple[Key, int]], stored: dict[Key, StoredRecord]) -> None:
    missing = [(key, index) for key, index in deletions if key not in stored]
    if missing:
        raise Unprocessable(
            "nothing to delete",
            issues=[
                Issue(f"{key.resource_type}/{key.resource_id} was never stored", f"Bundle.entry[{index}].request.url")
                for key, index in missing
            ],
        )


def _check_no_moves(rows: list[RecordRow], stored: dict[Key, StoredRecord]) -> None:
    """A new version may not move a record to another patient, unless the record was removed first
    (contract §3.2: mark it entered-in-error, then send it again for the right one)."""
    moved = [
        row
        for row in rows
        if (record := stored.get(row.key)) is not None and not record.deleted and record.patient_id != row.patient_id
    ]
    if moved:
        raise Unprocessable(
            "a record cannot move to another patient: mark it entered-in-error, then send it again",
            issues=[
                Issue(
                    f"{row.key.resource_type}/{row.key.resource_id} is stored for another patient; mark it "
                    "entered-in-error, then send it again for the right one",
                    f"Bundle.entry[{row.entry_index}].resource",
                )
                for row in moved
            ],
        )


def _is_late(row: RecordRow, record: StoredRecord | None) -> bool:
    """An older version (by the sender's meta.lastUpdated) arriving after a newer one: stored versions win."""
    return (
        record is not None
        and row.source_updated is not None
        and record.source_updated is not None
        and row.source_updated < record.source_updated
    )


def _late(record: StoredRecord) -> Unchanged:
    return Unchanged(record.key, record.version, record.patient_id)


def _check_distinct(entries: list[Entry]) -> None:
    seen: dict[Key, int] = {}
    for entry in entries:
        key = Key(entry.resource_type, entry.resource_id)
        if key in seen:
            raise Unprocessable(
                f"{key.resource_type}/{key.resource_id} appears twice in the Bundle",
                issues=[Issue(f"also written by entry {seen[key]}", entry.path)],
            )
        seen[key] = entry.index


def _patient_id(link: PatientLink | None, registered: dict[str, UUID]) -> UUID | None:
    if link is None:
        return None
    return registered[link] if isinstance(link, str) else link


def _row(entry: Entry, patient_id: UUID | None, targets: dict[str, Any], facility_code: str) -> RecordRow:
    assert entry.resource is not None
    content = rewritten(entry.resource, entry.resource_id, targets, facility_code)
    meta = content.pop("meta", None)
    if isinstance(meta, dict):  # versionId, lastUpdated and source are ours, set when the record is read
        kept = {name: value for name, value in meta.items() if name not in ("versionId", "lastUpdated", "source")}
        if kept:
            content["meta"] = kept
    columns = index_columns(entry.resource_type, entry.resource)
    return RecordRow(
        entry_index=entry.index,
        key=Key(entry.resource_type, entry.resource_id),
        served_id=served_id(facility_code, entry.resource_id),
        patient_id=patient_id,
        deleted=columns.deleted,
        status=columns.status,
        date=columns.date,
        date_end=columns.date_end,
        codes=columns.codes,
        identifiers=columns.identifiers,
        search_text=columns.search_text,
        source_updated=columns.source_updated,
        content=content,
        phones=columns.phones,
        origin=entry.origin,
        signature=entry.signature,
        signature_reason=entry.signature_reason,
    )
