"""A plain list of a section's records, newest first: what a section shows until it has a view of its own."""

from __future__ import annotations

from typing import Any

from backend.healthbook.fhir_text import provenance
from backend.healthbook.presenters import present
from backend.healthbook.sections.base import Seeing
from backend.records.reads import StoredRecordView


def build(views: list[StoredRecordView], seeing: Seeing) -> dict[str, Any]:
    return {"items": [{**present(view, seeing.facilities), "provenance": provenance(view)} for view in views]}
