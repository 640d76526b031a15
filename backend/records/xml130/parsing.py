"""A QĐ130 push checked without the database (run in a worker thread, like the FHIR intake's parse): the
envelope's own fields, every row, and the rules across rows. Rows are named as the sender knows them,
`XML2[3].STT`: the table, the row's place among that table's rows in the whole push, the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from backend.errors import Issue, Unprocessable
from backend.records.keys import Origin
from backend.records.xml130.envelope import ROW_PATHS, Received, Table, read_push
from backend.records.xml130.fields import FIRST_YEAR, LAST_YEAR, local_moment
from backend.records.xml130.mapping import FOLLOW_UP_FROM_XML1
from backend.records.xml130.rows import TableRow, Xml2, Xml4, read_row, table_of
from backend.signatures import UNSIGNED, Verdict


@dataclass
class ParsedXml:
    received: Received
    signed_on: str | None  # NGAYLAP, as a date
    rows: list[TableRow] = field(default_factory=list)
    emptied: list[Origin] = field(default_factory=list)  # list tables sent without a row
    signature: Verdict = UNSIGNED  # the envelope's (`intake.envelope_signature`)

    def episodes(self) -> dict[str, list[TableRow]]:
        grouped: dict[str, list[TableRow]] = {}
        for row in self.rows:
            grouped.setdefault(row.ma_lk, []).append(row)
        return grouped

    def replacing(self) -> list[Origin]:
        """What this push replaces (contract §3.3): each (episode, table) it carries, an empty list table
        included; XML1 and XML14 both replace the follow-up dates XML1's NGAY_TAI_KHAM made."""
        origins = {Origin(row.ma_lk, table_of(row)) for row in self.rows} | set(self.emptied)
        origins |= {
            Origin(origin.episode, FOLLOW_UP_FROM_XML1) for origin in origins if origin.table in ("XML1", "XML14")
        }
        return sorted(origins, key=lambda origin: (origin.episode, origin.table))


def parse_push(body: bytes, facility_code: str) -> ParsedXml:
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
    parsed = ParsedXml(received, _signed_on(received.created, issues))
    counters: dict[str, int] = {}
    for table in received.tables:
        for row in table.rows:
            number = counters.get(table.name, 0)
            counters[table.name] = number + 1
            typed = read_row(table.name, row, f"{table.name}[{number}]", facility_code, issues)
            if typed is not None:
                parsed.rows.append(typed)
    issues += _repeated_rows(parsed.rows)
    parsed.emptied = _emptied(received, issues)
    if issues:
        raise Unprocessable(issues[0].message, issues=issues[:20])
    return parsed


def _signed_on(created: str | None, issues: list[Issue]) -> str | None:
    """NGAYLAP, the envelope's date (`yyyymmdd` or `yyyymmddHHMM`, Vietnam local): a fallback date of
    the mapping, so a malformed one is refused rather than guessed at."""
    if created is None:
        return None
    moment = local_moment(created)
    if moment is None:
        message = f"THONGTINHOSO.NGAYLAP must be a date yyyymmdd (or yyyymmddHHMM) from {FIRST_YEAR} to {LAST_YEAR}"
        issues.append(Issue(message, "THONGTINHOSO.NGAYLAP"))
        return None
    return moment[:10]


def _repeated_rows(rows: list[TableRow]) -> list[Issue]:
    """One row per (MA_LK, table, STT), and one row of a single-row table per MA_LK: records are named
    after them, so a second one would silently replace the first."""
    issues = []
    seen: dict[tuple[str, str, str], TableRow] = {}
    for row in rows:
        table = table_of(row)
        stt = row.stt if isinstance(row, Xml2 | Xml4) else ""
        first = seen.setdefault((row.ma_lk, table, stt), row)
        if first is row:
            continue
        if stt:
            message = f"{row.where}.STT {stt} repeats {first.where} of the same MA_LK: each row needs its own STT"
            issues.append(Issue(message, f"{row.where}.STT"))
        else:
            message = f"a second {table} for the MA_LK of {first.where}: an episode has one {table}"
            issues.append(Issue(message, row.where))
    return issues


def _emptied(received: Received, issues: list[Issue]) -> list[Origin]:
    """A list table (XML2, XML4) sent with no row replaces what it made before, with nothing. Without a
    row it names no MA_LK: it takes the episode of the XML1 in its `HOSO`, and is refused without one."""
    emptied = []
    for table in received.tables:
        if table.name not in ROW_PATHS or table.rows:
            continue
        episodes = _xml1_episodes(received, table) if received.envelope else set()
        if len(episodes) == 1:
            emptied.append(Origin(episodes.pop(), table.name))
        else:
            message = f"this {table.name} has no row, so no MA_LK: send it in the HOSO of its episode's XML1"
            issues.append(Issue(message, table.where))
    return emptied


def _xml1_episodes(received: Received, beside: Table) -> set[str]:
    return {
        ma_lk
        for table in received.tables
        if table.name == "XML1" and table.hoso == beside.hoso
        for row in table.rows
        if (ma_lk := row.fields.get("MA_LK"))
    }
