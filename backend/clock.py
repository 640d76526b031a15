"""What time it is: one function, injected, so tests can move time instead of sleeping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

Clock = Callable[[], datetime]
VIETNAM = timezone(timedelta(hours=7))  # Hanoi: no daylight saving time


def system_clock() -> datetime:
    return datetime.now(UTC)


def start_of_local_day(moment: datetime) -> datetime:
    """Midnight in Hanoi of the day `moment` falls on: where "today" begins for a letter valid until today."""
    return moment.astimezone(VIETNAM).replace(hour=0, minute=0, second=0, microsecond=0)
