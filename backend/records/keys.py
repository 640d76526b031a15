"""How records are named inside the store: (resource type, the facility's own id), per facility."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True)
class Key:
    resource_type: str
    resource_id: str


@dataclass(frozen=True)
class StoredRecord:
    """What resolving a bundle needs to know of a record this facility already stored."""

    key: Key
    patient_id: UUID | None


@dataclass(frozen=True)
class Sender:
    """The facility a delivery comes from, as the store needs it."""

    id: int
    code: str
