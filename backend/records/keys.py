"""How records are named inside the store: (resource type, the facility's own id), per facility."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

RESOURCE_TYPE = r"[A-Z][A-Za-z]+"
RESOURCE_ID = r"[A-Za-z0-9\-.]{1,64}"  # FHIR R4 id
FACILITY_CODE = re.compile(r"^[0-9A-Z]{5}$")  # mã CSKCB, leading zeros kept


@dataclass(frozen=True)
class Key:
    resource_type: str
    resource_id: str


@dataclass(frozen=True)
class StoredRecord:
    """What writing a bundle needs to know of a record this facility already stored."""

    key: Key
    patient_id: UUID | None
    version: int
    deleted: bool
    source_updated: datetime | None
    identifiers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Origin:
    """Where a record mapped from QĐ130 XML came from: an episode (`MA_LK`) and a table (`XML13`). A
    push carrying that table for that episode replaces what earlier pushes made from it."""

    episode: str
    table: str


@dataclass(frozen=True)
class Sender:
    """The facility a delivery comes from, as the store needs it."""

    id: int
    code: str
