"""Dates shown the Vietnamese way, in Vietnam time."""

from __future__ import annotations

import pytest

from backend.web.dates import local_date_time


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("2026-12-10", "10/12/2026"),
        ("2026-12-10T08:00:00+07:00", "10/12/2026 08:00"),
        ("2026-12-10T01:00:00Z", "10/12/2026 08:00"),  # UTC, shown in Vietnam time
        ("2026-12-10T08:00:00", "10/12/2026 08:00"),  # no offset: as written
        ("2026-12", "2026-12"),  # partial dates are shown as they came
        ("not a date", "not a date"),
        (None, ""),
    ],
)
def test_local_date_time(value: str | None, shown: str) -> None:
    assert local_date_time(value) == shown
