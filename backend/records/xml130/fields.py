"""Reading QĐ130 field values, with the quirks the standards document: times `yyyymmddHHMM` and dates
`yyyymmdd` in Vietnam local time (never converted to UTC), `0000` placeholders for unknown parts of a
birth date, `;` lists, `.` as the decimal point, codes kept as strings (leading zeros included).

Problems are collected with their place (`XML13[0].MA_NOI_DEN`) rather than raised one at a time, so a
hospital sees everything wrong with a push at once.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from backend.errors import Issue
from backend.records.xml130.envelope import Row

_TIME = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})$")
_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")


class Fields:
    """One row of one table, read field by field; problems go to `issues`."""

    def __init__(self, row: Row, where: str, issues: list[Issue]) -> None:
        self.row, self.where, self.issues = row, where, issues

    def text(self, name: str, *, required: bool = False, max_length: int = 10_000) -> str | None:
        value = self.row.get(name)
        if value is None:
            if required:
                self._problem(name, "is required")
            return None
        if len(value) > max_length:
            self._problem(name, f"is longer than {max_length} characters")
            return None
        return value

    def first(self, *names: str) -> str | None:
        """The first of several spellings that is filled in (XML13 carries PP_DIEUTRI and PP_DIEU_TRI)."""
        return next((value for name in names if (value := self.text(name)) is not None), None)

    def choice(self, name: str, allowed: set[str], *, required: bool = False) -> str | None:
        value = self.text(name, required=required)
        if value is not None and value not in allowed:
            self._problem(name, f"must be one of {', '.join(sorted(allowed))}")
            return None
        return value

    def matching(self, name: str, pattern: re.Pattern[str], what: str, *, required: bool = False) -> str | None:
        value = self.text(name, required=required)
        if value is not None and not pattern.match(value):
            self._problem(name, f"must be {what} (this one has {len(value)} characters)")
            return None
        return value

    def moment(self, name: str, *, required: bool = False) -> str | None:
        """`yyyymmddHHMM` → `2025-10-20T08:00:00+07:00`; a bare `yyyymmdd` is accepted as a date."""
        value = self.text(name, required=required)
        if value is None:
            return None
        if (match := _TIME.match(value)) and _valid_time(*(int(part) for part in match.groups())):
            year, month, day, hour, minute = match.groups()
            return f"{year}-{month}-{day}T{hour}:{minute}:00+07:00"
        if (match := _DATE.match(value)) and _valid_date(*(int(part) for part in match.groups())):
            return "-".join(match.groups())
        self._problem(name, "must be a time yyyymmddHHMM (or a date yyyymmdd)")
        return None

    def day(self, name: str, *, required: bool = False) -> str | None:
        """`yyyymmdd` (or the date part of a time) → `2025-10-20`."""
        value = self.moment(name, required=required)
        return value[:10] if value else None

    def days(self, name: str) -> list[str]:
        """A `;` list of dates (NGAY_TAI_KHAM may hold several)."""
        value = self.text(name)
        found = []
        for item in (part.strip() for part in (value or "").split(";")):
            if not item:
                continue
            match = _DATE.match(item[:8])
            if match and _valid_date(*(int(part) for part in match.groups())):
                found.append("-".join(match.groups()))
            else:
                self._problem(name, "must be dates yyyymmdd separated by ;")
        return found

    def birth_date(self, name: str) -> str | None:
        """`199003150000` → `1990-03-15`; `0000` or `00` placeholders shorten it (`1990`, `1990-03`)."""
        value = self.text(name)
        if value is None:
            return None
        digits = value[:8]
        if not re.fullmatch(r"\d{8}", digits):
            self._problem(name, "must be a date yyyymmdd (unknown parts as 00)")
            return None
        year, month, day = digits[:4], digits[4:6], digits[6:8]
        if year == "0000":
            return None
        if month == "00":
            return year
        if day == "00":
            return f"{year}-{month}" if 1 <= int(month) <= 12 else None
        return f"{year}-{month}-{day}" if _valid_date(int(year), int(month), int(day)) else None

    def number(self, name: str, *, required: bool = False) -> Decimal | None:
        value = self.text(name, required=required)
        if value is None:
            return None
        try:
            number = Decimal(value)
        except InvalidOperation:
            self._problem(name, "must be a number with . as the decimal point")
            return None
        if not number.is_finite():
            self._problem(name, "must be a number")
            return None
        return number

    def items(self, name: str) -> list[str]:
        return [part.strip() for part in (self.text(name) or "").split(";") if part.strip()]

    def _problem(self, name: str, message: str) -> None:
        self.issues.append(Issue(f"{self.where}.{name} {message}", f"{self.where}.{name}"))


def _valid_date(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return year >= 1900


def _valid_time(year: int, month: int, day: int, hour: int, minute: int) -> bool:
    try:
        datetime(year, month, day, hour, minute)
    except ValueError:
        return False
    return year >= 1900
