"""Reading QĐ130 field values, with the quirks the standards document: times `yyyymmddHHMM` and dates
`yyyymmdd` in Vietnam local time (never converted to UTC), `0000` placeholders for unknown parts of a
birth date, `;` lists, `.` as the decimal point, codes kept as strings (leading zeros included).
Years run from 1900 to 2100: a year 9999 is a typing slip, and date arithmetic on it overflows.

Problems are collected with their place (`XML13[0].MA_NOI_DEN`) rather than raised one at a time, so a
hospital sees everything wrong with a push at once.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal

from backend.errors import Issue
from backend.records.xml130.envelope import Row

_TIME = re.compile(r"^([0-9]{4})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})$")
_DATE = re.compile(r"^([0-9]{4})([0-9]{2})([0-9]{2})$")
FIRST_YEAR, LAST_YEAR = 1900, 2100
# A plain decimal as the appendix writes them (`28.5`): no exponent, no `_`, ASCII digits only (Python's
# Decimal takes all three), and of a size a JSON number holds.
DECIMAL = re.compile(r"^[+-]?[0-9]{1,15}(\.[0-9]{1,15})?$")
# FHIR's `code`: words joined by single spaces; no tab, no newline, nothing leading or trailing.
_CODE = re.compile(r"^[^\s]+( [^\s]+)*$")
_DAY_OR_MOMENT = re.compile(r"[0-9]{8}([0-9]{4})?")  # yyyymmdd, or yyyymmddHHMM


class Fields:
    """One row of one table, read field by field; problems go to `issues`."""

    def __init__(self, row: Row, where: str, issues: list[Issue]) -> None:
        self.row, self.where, self.issues = row, where, issues

    def text(self, name: str, *, required: bool = False, max_length: int = 10_000) -> str | None:
        value = self.row.fields.get(name)
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
        if value is not None and not pattern.fullmatch(value):
            self._problem(name, f"must be {what} (this one has {len(value)} characters)")
            return None
        return value

    def code(self, name: str, *, max_length: int) -> str | None:
        """A code that becomes a FHIR `code` (MA_THUOC, MA_BENH_CHINH…)."""
        value = self.text(name, max_length=max_length)
        if value is not None and not _CODE.fullmatch(value):
            self._problem(name, "must be a code without doubled spaces")
            return None
        return value

    def codes(self, name: str, *, max_length: int) -> list[str]:
        """A `;` list of codes (MA_BENH_KT)."""
        found = [part.strip() for part in (self.text(name, max_length=max_length) or "").split(";")]
        if any(part and not _CODE.fullmatch(part) for part in found):
            self._problem(name, "must be codes without doubled spaces, separated by ;")
            return []
        return [part for part in found if part]

    def moment(self, name: str, *, required: bool = False) -> str | None:
        """`yyyymmddHHMM` → `2025-10-20T08:00:00+07:00`; a bare `yyyymmdd` is accepted as a date."""
        value = self.text(name, required=required)
        if value is None:
            return None
        moment = local_moment(value)
        if moment is None:
            self._problem(name, f"must be a time yyyymmddHHMM (or a date yyyymmdd) from {FIRST_YEAR} to {LAST_YEAR}")
        return moment

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
            match = _DATE.match(item[:8]) if _DAY_OR_MOMENT.fullmatch(item) else None
            if match and _valid_date(*(int(part) for part in match.groups())):
                found.append("-".join(match.groups()))
            else:
                self._problem(name, f"must be dates yyyymmdd from {FIRST_YEAR} to {LAST_YEAR}, separated by ;")
        return found

    def birth_date(self, name: str) -> str | None:
        """`199003150000` → `1990-03-15`; `0000` or `00` placeholders shorten it (`1990`, `1990-03`)."""
        value = self.text(name)
        if value is None:
            return None
        digits = value[:8]
        if not _DAY_OR_MOMENT.fullmatch(value):
            self._problem(name, "must be a date yyyymmdd (unknown parts as 00)")
            return None
        year, month, day = digits[:4], digits[4:6], digits[6:8]
        if year == "0000":
            return None
        if not FIRST_YEAR <= int(year) <= LAST_YEAR:
            self._problem(name, f"must be a date from {FIRST_YEAR} to {LAST_YEAR}")
            return None
        if month == "00":
            return year
        if day == "00" and 1 <= int(month) <= 12:
            return f"{year}-{month}"
        if day != "00" and _valid_date(int(year), int(month), int(day)):
            return f"{year}-{month}-{day}"
        self._problem(name, "must be a date that exists (unknown parts as 00)")
        return None

    def number(self, name: str, *, required: bool = False) -> Decimal | None:
        value = self.text(name, required=required)
        if value is None:
            return None
        if not DECIMAL.fullmatch(value):
            self._problem(name, "must be a number with . as the decimal point (at most 15 digits each side)")
            return None
        return Decimal(value)

    def items(self, name: str) -> list[str]:
        return [part.strip() for part in (self.text(name) or "").split(";") if part.strip()]

    def _problem(self, name: str, message: str) -> None:
        self.issues.append(Issue(f"{self.where}.{name} {message}", f"{self.where}.{name}"))


def local_moment(value: str) -> str | None:
    """`yyyymmddHHMM` → `2025-10-20T08:00:00+07:00`, `yyyymmdd` → `2025-10-20`, or None when it is not one."""
    if (match := _TIME.fullmatch(value)) and _valid_time(*(int(part) for part in match.groups())):
        year, month, day, hour, minute = match.groups()
        return f"{year}-{month}-{day}T{hour}:{minute}:00+07:00"
    if (match := _DATE.fullmatch(value)) and _valid_date(*(int(part) for part in match.groups())):
        return "-".join(match.groups())
    return None


def _valid_date(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return FIRST_YEAR <= year <= LAST_YEAR


def _valid_time(year: int, month: int, day: int, hour: int, minute: int) -> bool:
    try:
        datetime(year, month, day, hour, minute)
    except ValueError:
        return False
    return FIRST_YEAR <= year <= LAST_YEAR
