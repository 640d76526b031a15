"""The overview of a book (contract §4 `GET /book`): who it belongs to, and what needs attention now."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from backend.audit import Reader
from backend.auth.books import patient_name
from backend.clock import VIETNAM
from backend.database import PgConnection
from backend.healthbook.presenters import blood_group_text, present
from backend.records.reads import read_overview, registry_names

SECTIONS = {
    "appointments": "/book/appointments",
    "referrals": "/book/referrals",
    "prescriptions": "/book/prescriptions",
    "allergies": "/book/allergies",
    "visits": "/book/visits",
}


async def overview(connection: PgConnection, reader: Reader, patient_id: uuid.UUID, now: datetime) -> dict[str, Any]:
    local = now.astimezone(VIETNAM)
    today_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    groups = await read_overview(connection, reader, patient_id, now, today_start)
    facilities = await registry_names(connection)
    named = await patient_name(connection, patient_id)
    name, cccd = named if named else ("", "")
    blood_group = groups.pop("blood_group")
    patient = {
        "id": str(patient_id),
        "name": name,
        "masked_cccd": f"{cccd[:3]}******{cccd[-3:]}",
        "blood_group": next((blood_group_text(view.content) for view in blood_group.items), None),
    }
    return {
        "patient": patient,
        "groups": {
            group_name: {
                "items": [present(view, facilities) for view in group.items],
                "total": group.total,
                "section": SECTIONS[group_name],
            }
            for group_name, group in groups.items()
        },
    }
