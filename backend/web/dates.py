"""Dates as people in Vietnam write them: `10/12/2026`, and `10/12/2026 08:00` in Vietnam time."""

from __future__ import annotations

from datetime import date, datetime

from backend.clock import VIETNAM


def local_date_time(value: str | None) -> str:
    """A FHIR date or dateTime for reading; anything unparseable is shown as it came."""
    if not value:
        return ""
    if len(value) == 10:
        try:
            return date.fromisoformat(value).strftime("%d/%m/%Y")
        except ValueError:
            return value
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(VIETNAM)
    return moment.strftime("%d/%m/%Y %H:%M")
