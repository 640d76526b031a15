"""What a section is, and what it is given besides its records."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from backend.clock import VIETNAM
from backend.healthbook.fhir_text import Facilities
from backend.records.reads import StoredRecordView


@dataclass(frozen=True)
class Seeing:
    """The registry's facility names, and the moment the book is read (sections are pure functions of
    their records and this)."""

    facilities: Facilities
    now: datetime

    @property
    def today(self) -> date:
        return self.now.astimezone(VIETNAM).date()


@dataclass(frozen=True)
class Section:
    name: str  # the URL segment: /book/{name}
    title: str  # an English msgid, translated where shown
    resource_types: tuple[str, ...]
    template: str
    build: Callable[[list[StoredRecordView], Seeing], dict[str, Any]]  # the template's context
    # Which of its types' records the section lists (a search counts only those): by default, all.
    shows: Callable[[StoredRecordView], bool] = lambda view: True
