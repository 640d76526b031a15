"""A push's rows → checked FHIR entries, with no database and no event loop: the intake runs this in a
worker thread, so thousands of rows keep neither health checks nor other pushes waiting.

Every record remembers the row it came from, so that a record a row makes invalid is reported at that
row (`XML2[3]`), not somewhere in a bundle the hospital never sent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from backend.errors import Issue, Unprocessable
from backend.records.fhir.parse import Entry
from backend.records.fhir.validation import check_resource
from backend.records.keys import Key
from backend.records.xml130.envelope import MAX_RECORDS
from backend.records.xml130.mapping import Episode, Mapped, map_xml1, map_xml2, map_xml4, map_xml8, map_xml13, map_xml14
from backend.records.xml130.rows import TableRow, Xml4, table_of

_SINGLE_ROW_MAPPERS: dict[str, Callable[[Any, Episode], list[Mapped]]] = {
    "XML1": map_xml1,
    "XML2": map_xml2,
    "XML8": map_xml8,
    "XML13": map_xml13,
    "XML14": map_xml14,
}


def checked_records(
    episodes: dict[str, list[TableRow]], facts: dict[str, Episode]
) -> tuple[list[tuple[Mapped, str]], list[Entry]]:
    """Every record of the push with its MA_LK, and the `PUT` entries that write them, each checked like
    any pushed resource (a mapping bug must not store invalid FHIR)."""
    mapped: dict[Key, tuple[Mapped, str]] = {}  # the patient, made by each of their episodes' XML1, once
    for ma_lk, rows in episodes.items():
        for item in _map(rows, facts[ma_lk]):
            mapped[Key(item.resource["resourceType"], item.resource["id"])] = (item, ma_lk)
    if len(mapped) > MAX_RECORDS:
        message = f"a push may make at most {MAX_RECORDS} records, and this one makes {len(mapped)}: split it"
        raise Unprocessable(message, issues=[Issue(message, None, "too-costly")])
    records = list(mapped.values())
    return records, [_entry(index, item) for index, (item, _) in enumerate(records)]


def in_xml_terms(error: Unprocessable, records: Sequence[tuple[Mapped, str]]) -> Unprocessable:
    """A refusal found while storing names bundle entries; the sender knows rows (`XML13[0]`)."""
    issues = []
    for issue in error.issues:
        index = _entry_index(issue.expression or "")
        where = records[index][0].where if index is not None and index < len(records) else None
        issues.append(Issue(issue.message, where or issue.expression, issue.code))
    return Unprocessable(error.message, issues=issues)


def _map(rows: Sequence[TableRow], episode: Episode) -> list[Mapped]:
    mapped: list[Mapped] = []
    results = [row for row in rows if isinstance(row, Xml4)]
    for row in rows:
        if not isinstance(row, Xml4):
            mapped += [replace(item, where=row.where) for item in _SINGLE_ROW_MAPPERS[table_of(row)](row, episode)]
    if results:
        mapped += map_xml4(results, episode)
    for item in mapped:
        if item.resource["resourceType"] == "Composition" and not item.resource["date"]:
            raise Unprocessable(
                "XML8 needs a date", issues=[Issue("NGAY_CT (or NGAY_RA) is required", f"{item.where}.NGAY_CT")]
            )
    return mapped


def _entry(index: int, item: Mapped) -> Entry:
    resource_type = item.resource["resourceType"]
    try:
        check_resource(item.resource, resource_type)
    except Unprocessable as error:  # a value our field checks let through: name the row it came from
        issues = [
            Issue(f"{item.where} makes {issue.expression}, which is not valid FHIR: {issue.message}", item.where)
            for issue in error.issues
        ]
        raise Unprocessable(f"{item.where}: {error.message}", issues=issues) from None
    return Entry(
        index=index,
        method="PUT",
        resource_type=resource_type,
        resource_id=item.resource["id"],
        resource=item.resource,
        full_url=None,
        origin=item.origin,
    )


def _entry_index(expression: str) -> int | None:
    prefix = "Bundle.entry["
    if not expression.startswith(prefix):
        return None
    number = expression[len(prefix) :].split("]", 1)[0]
    return int(number) if number.isdigit() else None
