"""Which records go into a share's document, chosen before anything is read.

Only columns, statuses and reference targets are looked at here, never shown: the records themselves are
then read once through `read_records`, which writes the one access event, so the patient's access log
names exactly what the recipient received (reading the whole book and filtering afterwards would log
records that were never shared)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from backend.clock import start_of_local_day
from backend.database import PgConnection
from backend.healthbook.sections.documents_attachments import binary_id
from backend.records.fhir.references import relative_key, served_id
from backend.records.reads import REFERRAL
from backend.sharing.ips.sections import LISTED_TYPES

Key = tuple[str, str]  # (resource type, served id), as `Type/id` on /book/fhir

# "A summary of everything" is a summary: what a clinician needs now, each kind its newest few.
SUMMARY_CAPS = {
    "Condition": 100,
    "AllergyIntolerance": 100,
    "MedicationRequest": 100,
    "Immunization": 100,
    "Observation": 50,
    "DiagnosticReport": 20,
    "Procedure": 50,
    "Appointment": 20,
    "ServiceRequest": 20,
    "Encounter": 20,
    "DocumentReference": 10,
}
# Original files (Binary, base64 text) go in whole or not at all: a scan of a few pages fits, a folder of
# imaging does not. Beyond these the attachment keeps its title and type, and the narrative says so.
MAX_FILE_CHARS = 4 * 1024 * 1024
MAX_FILES_CHARS = 10 * 1024 * 1024

_REFUTED = '$.verificationStatus.coding[*] ? (@.code == "entered-in-error" || @.code == "refuted")'
# The overview's rules (backend/records/reads.py `_OVERVIEW`) for what is current, per kind.
_SUMMARY_RULES = {
    "Condition": f"NOT jsonb_path_exists(r.content, '{_REFUTED}')",
    "AllergyIntolerance": f"NOT jsonb_path_exists(r.content, '{_REFUTED}')",
    "MedicationRequest": "r.status = 'active' AND r.date_end >= $3",
    "Immunization": "NOT coalesce(r.status, '') IN ('entered-in-error', 'not-done')",
    "Observation": "NOT coalesce(r.status, '') IN ('entered-in-error', 'cancelled')",
    "DiagnosticReport": "NOT coalesce(r.status, '') IN ('entered-in-error', 'cancelled')",
    "Procedure": "NOT coalesce(r.status, '') IN ('entered-in-error', 'not-done')",
    "Appointment": "NOT coalesce(r.status, '') IN ('cancelled', 'noshow', 'entered-in-error', 'fulfilled')"
    " AND (r.date >= $3 OR (r.date_end >= $3 AND r.date_end - r.date >= interval '23 hours'"
    " AND ((r.date AT TIME ZONE 'UTC') + interval '7 hours')::time = time '00:00'))",
    "ServiceRequest": "r.codes @> ARRAY[$4::text] AND r.status = 'active' AND r.date_end >= $5",
    "Encounter": "NOT coalesce(r.status, '') IN ('planned', 'cancelled', 'entered-in-error')",
    "DocumentReference": "NOT coalesce(r.status, '') IN ('entered-in-error', 'superseded')",
}
_RULES_SQL = "CASE r.resource_type " + " ".join(f"WHEN '{t}' THEN ({rule})" for t, rule in _SUMMARY_RULES.items())
_RULES_SQL += " ELSE false END"
# Each kind its newest few (`$6`: the caps), the rules above deciding what is current.
# (S608: built from this module's constants only.)
_SUMMARY_SQL = (
    "SELECT resource_type, served_id FROM (SELECT r.resource_type, r.served_id, r.date, r.id,"  # noqa: S608
    " row_number() OVER (PARTITION BY r.resource_type ORDER BY r.date DESC NULLS LAST, r.id DESC) AS n"
    " FROM record r WHERE r.patient_id = $1 AND NOT r.deleted AND r.resource_type = ANY($2::text[]) AND "
    + _RULES_SQL
    + ") AS chosen WHERE n <= ($6::jsonb ->> resource_type)::int ORDER BY date DESC NULLS LAST, id DESC"
)


@dataclass(frozen=True)
class Selection:
    listed: list[Key]  # the records the sections list, in the book's order (newest first)
    patients: list[str]  # the book's Patient records (one per facility), newest first
    files: list[Key]  # the Binary originals of listed documents that fit the size budget
    picked: bool  # the patient picked items: kinds not picked are withheld

    def to_read(self) -> list[Key]:
        return [*self.listed, *(("Patient", patient) for patient in self.patients[:1]), *self.files]


def parse_record_ids(record_ids: Sequence[str]) -> list[Key]:
    """`Type/id` as /book/fhir serves them; anything else names nothing."""
    return [(key.resource_type, key.resource_id) for value in record_ids if (key := relative_key(str(value)))]


async def missing_record_ids(connection: PgConnection, patient_id: UUID, record_ids: Sequence[str]) -> list[str]:
    """The ids that are not current records of this patient's book (another patient's, deleted, made up),
    for a caller that answers 404 to any of them (contract §4)."""
    found = {f"{t}/{i}" for t, i in await _existing(connection, patient_id, parse_record_ids(record_ids))}
    return [value for value in record_ids if value not in found]


async def select_records(
    connection: PgConnection, patient_id: UUID, record_ids: Sequence[str] | None, now: datetime
) -> Selection:
    if record_ids is None:
        listed = await _summary(connection, patient_id, now)
    else:
        wanted = [key for key in parse_record_ids(record_ids) if key[0] in LISTED_TYPES]
        listed = await _existing(connection, patient_id, wanted)
    patients = [
        row["served_id"]
        for row in await connection.fetch(
            "SELECT served_id FROM record WHERE patient_id = $1 AND NOT deleted AND resource_type = 'Patient'"
            " ORDER BY updated_at DESC, id DESC",
            patient_id,
        )
    ]
    listed = await _with_report_results(connection, patient_id, listed)
    documents = [served for kind, served in listed if kind == "DocumentReference"]
    files = await _files_within_budget(connection, patient_id, documents) if documents else []
    return Selection(listed, patients, files, picked=record_ids is not None)


async def _summary(connection: PgConnection, patient_id: UUID, now: datetime) -> list[Key]:
    today_start = start_of_local_day(now)
    rows = await connection.fetch(
        _SUMMARY_SQL,
        patient_id,
        list(SUMMARY_CAPS),
        now,
        REFERRAL,
        today_start,
        json.dumps(SUMMARY_CAPS),
    )
    return [(row["resource_type"], row["served_id"]) for row in rows]


async def _with_report_results(connection: PgConnection, patient_id: UUID, listed: list[Key]) -> list[Key]:
    """A report comes with its values: the Observations its `result` names (of this book) are shared with
    it, else a receiver would get a lab report with no results in it."""
    reports = [served for kind, served in listed if kind == "DiagnosticReport"]
    if not reports:
        return listed
    rows = await connection.fetch(
        "SELECT f.code, jsonb_path_query_array(r.content, 'strict $.result[*].reference') AS refs FROM record r"
        " JOIN facility f ON f.id = r.facility_id WHERE r.patient_id = $1 AND NOT r.deleted"
        " AND r.resource_type = 'DiagnosticReport' AND r.served_id = ANY($2::text[])",
        patient_id,
        reports,
    )
    wanted: list[Key] = []
    for row in rows:
        for reference in _json_list(row["refs"]):
            if isinstance(reference, str) and reference.startswith("Observation/"):
                local = reference.split("/", 1)[1]  # the hospital's own id, or already the served one
                wanted += [("Observation", local), ("Observation", served_id(row["code"], local))]
    already = set(listed)
    return listed + [key for key in await _existing(connection, patient_id, wanted) if key not in already]


async def _existing(connection: PgConnection, patient_id: UUID, keys: Sequence[Key]) -> list[Key]:
    if not keys:
        return []
    rows = await connection.fetch(
        "SELECT r.resource_type, r.served_id FROM record r"
        " JOIN unnest($2::text[], $3::text[]) AS k(resource_type, served_id)"
        " ON r.resource_type = k.resource_type AND r.served_id = k.served_id"
        " WHERE r.patient_id = $1 AND NOT r.deleted ORDER BY r.date DESC NULLS LAST, r.id DESC",
        patient_id,
        [key[0] for key in keys],
        [key[1] for key in keys],
    )
    return [(row["resource_type"], row["served_id"]) for row in rows]


async def _files_within_budget(connection: PgConnection, patient_id: UUID, documents: list[str]) -> list[Key]:
    """The Binaries the documents' attachments point at (by served id, or by the hospital's own id as
    `document_files` finds them), newest document first, while they fit."""
    rows = await connection.fetch(
        "SELECT r.served_id, f.code, jsonb_path_query_array(r.content, 'strict $.content[*].attachment')"
        " AS attachments FROM record r JOIN facility f ON f.id = r.facility_id"
        " WHERE r.patient_id = $1 AND NOT r.deleted AND r.resource_type = 'DocumentReference'"
        " AND r.served_id = ANY($2::text[])",
        patient_id,
        documents,
    )
    order = {served: position for position, served in enumerate(documents)}
    candidates: list[tuple[str, str]] = []  # (served id, the document's facility)
    for row in sorted(rows, key=lambda row: order[row["served_id"]]):
        for attachment in _json_list(row["attachments"]):
            if isinstance(attachment, dict) and (wanted := binary_id(attachment)) is not None:
                candidates += [(wanted, row["code"]), (served_id(row["code"], wanted), row["code"])]
    sizes = {
        (row["served_id"], row["code"]): row["size"]
        for row in await connection.fetch(
            "SELECT r.served_id, f.code, coalesce(octet_length(r.content ->> 'data'), 0) AS size FROM record r"
            " JOIN facility f ON f.id = r.facility_id WHERE r.patient_id = $1 AND NOT r.deleted"
            " AND r.resource_type = 'Binary' AND r.served_id = ANY($2::text[])",
            patient_id,
            [served for served, _ in candidates],
        )
    }
    files: list[Key] = []
    total = 0
    for candidate in dict.fromkeys(candidates):  # each once, in order; only the document's own hospital's
        size = sizes.get(candidate)
        if size is not None and size <= MAX_FILE_CHARS and total + size <= MAX_FILES_CHARS:
            files.append(("Binary", candidate[0]))
            total += size
    return files


def _json_list(value: Any) -> list[Any]:
    """asyncpg gives JSON as text unless a codec is set: either way, a list."""
    loaded = json.loads(value) if isinstance(value, str) else value
    return loaded if isinstance(loaded, list) else []
