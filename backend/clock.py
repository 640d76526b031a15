"""What time it is: one function, injected, so tests can move time instead of sleeping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

Clock = Callable[[], datetime]
VIETNAM = timezone(timedelta(hours=7))  # Hanoi: no daylight saving time


def system_clock() -> datetime:
    return datetime.now(UTC)
