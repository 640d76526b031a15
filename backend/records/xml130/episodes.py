"""What the mapping needs to know of each episode a push carries that only the database knows: its
patient when the push has no XML1 for it, whether its encounter and follow-up letter are stored, and
whether an XML1 moves it to another patient. The one part of the XML intake that reads the store.

An episode's lookups and its replacement must see the same picture: the caller holds `lock_episodes`
from before the first lookup until the transaction ends.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from uuid import UUID

from backend.database import PgConnection
from backend.errors import Issue, Unprocessable
from backend.records.keys import Key, Origin, Sender
from backend.records.store import episode_patient, find_by_origin, lock_keys
from backend.records.xml130.fhir_pieces import BLOOD_GROUP_ID_PREFIX, encounter_id
from backend.records.xml130.mapping import FOLLOW_UP_FROM_XML1, Episode
from backend.records.xml130.rows import TableRow, Xml1, table_of


async def lock_episodes(connection: PgConnection, sender: Sender, episodes: Iterable[str]) -> None:
    """Two pushes for one episode take turns: each reads what the episode holds, then replaces part of
    it, and interleaved they would leave a mix no order of the two gives."""
    await lock_keys(connection, (f"xml130:{sender.code}:{ma_lk}" for ma_lk in episodes))


async def episode_facts(
    connection: PgConnection, sender: Sender, ma_lk: str, rows: Sequence[TableRow], signed_on: str | None
) -> Episode:
    """The patient (from the push's XML1, or stored), and whether the episode has an encounter and a
    follow-up letter."""
    xml1 = next((row for row in rows if isinstance(row, Xml1)), None)
    has_letter = any(table_of(row) == "XML14" for row in rows) or bool(
        await find_by_origin(connection, sender.id, [Origin(ma_lk, "XML14")])
    )
    if xml1 is not None:
        return Episode(ma_lk, sender.code, xml1.cccd, True, has_letter, signed_on)
    patient = await episode_patient(connection, sender.id, ma_lk)
    cccd = await _cccd(connection, patient) if patient is not None else None
    if cccd is None:
        raise Unprocessable(
            f"unknown episode: this facility never sent an XML1 for MA_LK {ma_lk[:40]!r}",
            issues=[Issue("no XML1 was ever sent for this MA_LK", f"{rows[0].where}.MA_LK")],
        )
    stored_xml1 = set(await find_by_origin(connection, sender.id, [Origin(ma_lk, "XML1")]))
    has_encounter = Key("Encounter", encounter_id(ma_lk)) in stored_xml1
    return Episode(ma_lk, sender.code, cccd, has_encounter, has_letter, signed_on)


async def records_of_a_moved_episode(
    connection: PgConnection, sender: Sender, ma_lk: str, episode: Episode
) -> list[Key]:
    """An XML1 whose SO_CCCD differs from the stored episode's patient corrects a mistake: the episode's
    records leave the first patient's book (history keeps them) and are filed anew under the right one.
    QĐ130 has no `entered-in-error`; sending the episode again is the only way a hospital can say it."""
    stored = await episode_patient(connection, sender.id, ma_lk)
    if stored is None or await _cccd(connection, stored) == episode.cccd:
        return []
    origins = [Origin(ma_lk, f"XML{number}") for number in range(16)] + [Origin(ma_lk, FOLLOW_UP_FROM_XML1)]
    other = await _latest_other_episode(connection, sender.id, stored, ma_lk)
    if other is not None:
        # The person and their blood group still belong to the first patient's other visits here: they
        # now carry that visit, so neither this move nor this push's replacement takes them away.
        await connection.execute(
            "UPDATE record SET episode = $4 WHERE facility_id = $1 AND patient_id = $2 AND episode = $3"
            " AND source_table = 'XML1' AND NOT deleted"
            " AND (resource_type = 'Patient' OR resource_id LIKE $5 || '%')",
            sender.id,
            stored,
            ma_lk,
            other,
            BLOOD_GROUP_ID_PREFIX,
        )
    return await find_by_origin(connection, sender.id, origins)


async def _latest_other_episode(connection: PgConnection, facility_id: int, patient: UUID, ma_lk: str) -> str | None:
    value = await connection.fetchval(
        "SELECT episode FROM record WHERE facility_id = $1 AND patient_id = $2 AND resource_type = 'Encounter'"
        " AND episode IS NOT NULL AND episode <> $3 AND NOT deleted ORDER BY date DESC NULLS LAST LIMIT 1",
        facility_id,
        patient,
        ma_lk,
    )
    return value if isinstance(value, str) else None


async def _cccd(connection: PgConnection, patient: UUID) -> str | None:
    value = await connection.fetchval("SELECT cccd FROM patient WHERE id = $1", patient)
    return value if isinstance(value, str) else None
