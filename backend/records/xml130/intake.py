"""The QĐ130 XML intake (contract §3.3): tables in, the same FHIR records the FHIR intake writes out.

An episode is (MA_CSKCB, MA_LK); the facility is the sender. A push carrying table XMLn of an episode
replaces what earlier pushes made from XMLn of that episode. A table without XML1 beside it is filed
to the patient of the episode stored earlier; an unknown episode is refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from backend.database import PgConnection
from backend.errors import Issue, Unprocessable
from backend.records.fhir.parse import Entry
from backend.records.fhir.validation import check_resource
from backend.records.fhir.writing import store_entries
from backend.records.keys import Key, Origin, Sender
from backend.records.store import episode_patient, find_by_origin
from backend.records.xml130.envelope import Received, read_push
from backend.records.xml130.mapping import (
    FOLLOW_UP_FROM_XML1,
    Episode,
    Mapped,
    encounter_id,
    map_xml1,
    map_xml2,
    map_xml4,
    map_xml8,
    map_xml13,
    map_xml14,
)
from backend.records.xml130.rows import TableRow, Xml1, Xml4, read_row

_NGAYLAP = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{4})?$")
_SINGLE_ROW_MAPPERS: dict[str, Callable[[Any, Episode], list[Mapped]]] = {
    "XML1": map_xml1,
    "XML2": map_xml2,
    "XML8": map_xml8,
    "XML13": map_xml13,
    "XML14": map_xml14,
}


@dataclass
class ParsedXml:
    received: Received
    signed_on: str | None
    rows: list[TableRow] = field(default_factory=list)

    def episodes(self) -> dict[str, list[TableRow]]:
        grouped: dict[str, list[TableRow]] = {}
        for row in self.rows:
            grouped.setdefault(row.ma_lk, []).append(row)
        return grouped


class Xml130Intake:
    kind = "xml130"
    media_types = ("application/xml", "text/xml")
    response_media_type = "application/json"

    def parse(self, body: bytes, facility_code: str) -> ParsedXml:
        """The envelope and every field the mapping reads, checked without the database."""
        received = read_push(body)
        issues: list[Issue] = []
        if received.envelope and received.facility_code is None:
            issues.append(Issue("THONGTINDONVI.MACSKCB is required", "THONGTINDONVI.MACSKCB"))
        elif received.facility_code is not None and received.facility_code != facility_code:
            issues.append(
                Issue(
                    f"MACSKCB {received.facility_code[:10]!r} is not the facility of this endpoint ({facility_code})",
                    "THONGTINDONVI.MACSKCB",
                )
            )
        parsed = ParsedXml(received, _signed_on(received.created))
        counters: dict[str, int] = {}
        for table in received.tables:
            for row in table.rows:
                number = counters.get(table.name, 0)
                counters[table.name] = number + 1
                typed = read_row(table.name, row, f"{table.name}[{number}]", facility_code, issues)
                if typed is not None:
                    parsed.rows.append(typed)
        if issues:
            raise Unprocessable(issues[0].message, issues=issues[:20])
        return parsed

    async def write(
        self, connection: PgConnection, sender: Sender, delivery_id: int, parsed: ParsedXml, now: datetime
    ) -> dict[str, Any]:
        mapped: dict[Key, tuple[Mapped, str]] = {}  # a later copy of one record (the patient) wins
        replacing: list[Origin] = []
        moved: list[Key] = []
        for ma_lk, rows in parsed.episodes().items():
            episode = await _episode(connection, sender, ma_lk, rows, parsed.signed_on)
            moved += await _records_of_a_moved_episode(connection, sender, ma_lk, episode)
            for item in _map(rows, episode):
                mapped[Key(item.resource["resourceType"], item.resource["id"])] = (item, ma_lk)
            tables = {_table_of(row) for row in rows}
            replacing += [Origin(ma_lk, table) for table in sorted(tables)]
            if tables & {"XML1", "XML14"}:
                replacing.append(Origin(ma_lk, FOLLOW_UP_FROM_XML1))
        if moved:  # XML1 names another patient: what was filed under the first one leaves their book
            removals = [
                Entry(index, "DELETE", key.resource_type, key.resource_id, None, None)
                for index, key in enumerate(moved)
            ]
            await store_entries(connection, sender, delivery_id, removals, now)
        entries = _entries([item for item, _ in mapped.values()])
        try:
            outcomes = await store_entries(connection, sender, delivery_id, entries, now, replacing=replacing)
        except Unprocessable as error:
            raise _in_xml_terms(error, [item for item, _ in mapped.values()]) from None
        records = []
        for entry, (item, ma_lk) in zip(entries, mapped.values(), strict=True):
            outcome = outcomes[entry.index]
            location = f"{outcome.key.resource_type}/{outcome.key.resource_id}/_history/{outcome.version}"
            records.append({"table": item.table, "ma_lk": ma_lk, "location": location})
        return {"records": records}


async def _episode(
    connection: PgConnection, sender: Sender, ma_lk: str, rows: Sequence[TableRow], signed_on: str | None
) -> Episode:
    """What the mapping needs to know of an episode: the patient (from its XML1, or stored), and whether
    it has an encounter and a follow-up letter."""
    xml1 = [row for row in rows if isinstance(row, Xml1)]
    if len(xml1) > 1:
        raise Unprocessable(
            "one episode carries two XML1", issues=[Issue("a second XML1 for this MA_LK", xml1[1].where)]
        )
    stored_xml1 = set(await find_by_origin(connection, sender.id, [Origin(ma_lk, "XML1")]))
    has_letter = any(_table_of(row) == "XML14" for row in rows) or bool(
        await find_by_origin(connection, sender.id, [Origin(ma_lk, "XML14")])
    )
    if xml1:
        return Episode(ma_lk, sender.code, xml1[0].cccd, True, has_letter, signed_on)
    patient = await episode_patient(connection, sender.id, ma_lk)
    cccd = await _cccd(connection, patient) if patient is not None else None
    if cccd is None:
        raise Unprocessable(
            f"unknown episode: this facility never sent an XML1 for MA_LK {ma_lk[:40]!r}",
            issues=[Issue("no XML1 was ever sent for this MA_LK", f"{rows[0].where}.MA_LK")],
        )
    has_encounter = Key("Encounter", encounter_id(ma_lk)) in stored_xml1
    return Episode(ma_lk, sender.code, cccd, has_encounter, has_letter, signed_on)


async def _records_of_a_moved_episode(
    connection: PgConnection, sender: Sender, ma_lk: str, episode: Episode
) -> list[Key]:
    """An XML1 whose SO_CCCD differs from the stored episode's patient corrects a mistake: the episode's
    records leave the first patient's book (history keeps them) and are filed anew under the right one.
    QĐ130 has no `entered-in-error`; sending the episode again is the only way a hospital can say it."""
    stored = await episode_patient(connection, sender.id, ma_lk)
    if stored is None or await _cccd(connection, stored) == episode.cccd:
        return []
    origins = [Origin(ma_lk, f"XML{number}") for number in range(16)] + [Origin(ma_lk, FOLLOW_UP_FROM_XML1)]
    return await find_by_origin(connection, sender.id, origins)


def _map(rows: Sequence[TableRow], episode: Episode) -> list[Mapped]:
    mapped: list[Mapped] = []
    results = [row for row in rows if isinstance(row, Xml4)]
    for row in rows:
        if not isinstance(row, Xml4):
            mapped += [replace(item, where=row.where) for item in _SINGLE_ROW_MAPPERS[_table_of(row)](row, episode)]
    if results:
        mapped += [replace(item, where=results[0].where) for item in map_xml4(results, episode)]
    for item in mapped:
        if item.resource["resourceType"] == "Composition" and not item.resource["date"]:
            where = next(row.where for row in rows if _table_of(row) == "XML8")
            raise Unprocessable(
                "XML8 needs a date", issues=[Issue("NGAY_CT (or NGAY_RA) is required", f"{where}.NGAY_CT")]
            )
    return mapped


def _entries(mapped: list[Mapped]) -> list[Entry]:
    """Each record as a `PUT` with its own id, checked like any pushed resource (a mapping bug must not
    store invalid FHIR)."""
    entries = []
    for index, item in enumerate(mapped):
        resource_type = check_resource(item.resource, f"{item.table}.{item.resource['resourceType']}")
        entries.append(
            Entry(
                index=index,
                method="PUT",
                resource_type=resource_type,
                resource_id=item.resource["id"],
                resource=item.resource,
                full_url=None,
                origin=item.origin,
            )
        )
    return entries


def _in_xml_terms(error: Unprocessable, mapped: list[Mapped]) -> Unprocessable:
    """A refusal found while storing names bundle entries; the sender knows rows (`XML13[0]`)."""
    issues = []
    for issue in error.issues:
        match = re.match(r"Bundle\.entry\[(\d+)\]", issue.expression or "")
        where = mapped[int(match.group(1))].where if match and int(match.group(1)) < len(mapped) else None
        issues.append(Issue(issue.message, where or issue.expression, issue.code))
    return Unprocessable(error.message, issues=issues)


async def _cccd(connection: PgConnection, patient: UUID) -> str | None:
    value = await connection.fetchval("SELECT cccd FROM patient WHERE id = $1", patient)
    return value if isinstance(value, str) else None


def _table_of(row: TableRow) -> str:
    return type(row).__name__.upper()


def _signed_on(created: str | None) -> str | None:
    """NGAYLAP, the envelope's date: `yyyymmdd` or `yyyymmddHHMM`, Vietnam local."""
    match = _NGAYLAP.match(created or "")
    return f"{match.group(1)}-{match.group(2)}-{match.group(3)}" if match else None
