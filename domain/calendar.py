"""Working-day calendar for the legal complaint clocks.

A working day is Monday to Friday, minus Vietnamese public holidays (lunar Tết,
observed and substituted days included), plus the make-up Saturdays the
government declares, plus company overrides read from a TOML file.

Everything here is pure except :func:`load_calendar`, which is the one place
that reads a file, so deadline activities stay deterministic and testable.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays

__all__ = [
    "BUSINESS_TZ",
    "CalendarFileError",
    "WorkingCalendar",
    "load_calendar",
    "local_day_end",
    "local_time",
]

BUSINESS_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
"""The time zone whose local dates count as days for the legal clocks."""


def local_time(instant: datetime) -> str:
    """An instant as people in the business read it: local, to the minute (`30/12/2026 08:00`)."""
    return instant.astimezone(BUSINESS_TZ).strftime("%d/%m/%Y %H:%M")


def local_day_end(day: date) -> str:
    """The end of a local day, as a deadline promised "by the end of 30/12" reads (`30/12/2026 24:00`)."""
    return f"{day:%d/%m/%Y} 24:00"


_DAYS_OFF_KEY = "extra_days_off"
_WORKING_DAYS_KEY = "extra_working_days"
_KNOWN_KEYS = (_DAYS_OFF_KEY, _WORKING_DAYS_KEY)

# Far more working days than any clock asks for; stops a runaway loop if a
# calendar ever declared every day off.
_MAX_SCAN_DAYS = 366 * 5


class CalendarFileError(ValueError):
    """The company calendar file cannot be used; the message names file and key."""


@cache
def _vn_year(year: int) -> tuple[frozenset[date], frozenset[date]]:
    """Return (public days off, make-up working weekend days) in ``year``.

    Built once per year from the ``holidays`` VN calendar and kept as frozen
    sets, so lookups are cheap and no shared mutable ``HolidayBase`` (which
    grows itself on lookup) is touched from concurrent activities. Neighbouring
    years are populated too, so an observed day or substitution that crosses
    New Year is still seen.
    """
    vn = holidays.country_holidays("VN", years=range(year - 1, year + 2))
    days_off = frozenset(d for d in vn if d.year == year)
    # ``weekend_workdays`` is where holidays 0.108 records the weekend dates
    # worked to make up a substituted day off (e.g. Sat 22 Aug 2026 for Mon 31 Aug).
    make_up_days = frozenset(d for d in vn.weekend_workdays if d.year == year)
    return days_off, make_up_days


def _is_weekend(d: date) -> bool:
    return d.weekday() >= 5


@dataclass(frozen=True)
class WorkingCalendar:
    """Which local dates count as working days.

    Company overrides win over the public calendar; a date may not be both an
    extra day off and an extra working day, because then nobody can tell which
    promise to a customer was meant.
    """

    extra_days_off: frozenset[date] = frozenset()
    extra_working_days: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        both = self.extra_days_off & self.extra_working_days
        if both:
            listed = ", ".join(d.isoformat() for d in sorted(both))
            raise ValueError(f"date(s) both extra day off and extra working day: {listed}")

    def is_working_day(self, d: date) -> bool:
        """True if ``d`` (a local date) counts towards a working-day clock."""
        if isinstance(d, datetime):
            # A datetime's date depends on its zone; callers must pick the local date.
            raise TypeError("is_working_day takes a local date, not a datetime")
        if d in self.extra_days_off:
            return False
        if d in self.extra_working_days:
            return True
        days_off, make_up_days = _vn_year(d.year)
        if _is_weekend(d):
            return d in make_up_days
        return d not in days_off

    def working_day_after(self, d: date, n: int) -> date:
        """The n-th working day after ``d``; ``d`` itself is not counted (Civil Code art. 147)."""
        return self._step(d, n, +1)

    def working_day_before(self, d: date, n: int) -> date:
        """The n-th working day before ``d``; ``d`` itself is not counted."""
        return self._step(d, n, -1)

    def _step(self, d: date, n: int, direction: int) -> date:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        one_day = timedelta(days=direction)
        current = d
        found = 0
        for _ in range(_MAX_SCAN_DAYS * n):
            current += one_day
            if self.is_working_day(current):
                found += 1
                if found == n:
                    return current
        raise ValueError(f"no {n} working days found from {d.isoformat()}")


def _dates_for_key(path: Path, data: dict[str, object], key: str) -> frozenset[date]:
    """Read one list of TOML local dates, rejecting anything else by file and key."""
    value = data.get(key, [])
    if not isinstance(value, list):
        raise CalendarFileError(f"{path}: key {key!r} must be a list of dates, got {type(value).__name__}")
    result: set[date] = set()
    for item in value:
        # TOML offset/local date-times load as datetime, a subclass of date: refuse them,
        # a day off is a whole local day.
        if isinstance(item, datetime) or not isinstance(item, date):
            raise CalendarFileError(f"{path}: key {key!r} must hold only local dates like 2026-01-02, got {item!r}")
        result.add(item)
    return frozenset(result)


def load_calendar(path: str | os.PathLike[str] | None = None) -> WorkingCalendar:
    """Build the calendar, with company overrides from ``path`` (the settings' ``COMPLAINTS_CALENDAR_FILE``).

    No file named means the plain public calendar. A named file that is
    missing or malformed is an error rather than silently ignored, because a
    wrong calendar moves deadlines promised to customers.
    """
    if path is None or not str(path).strip():
        return WorkingCalendar()
    file_path = Path(path)
    try:
        with file_path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise CalendarFileError(f"{file_path}: cannot read calendar file: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CalendarFileError(f"{file_path}: not valid TOML: {exc}") from exc

    unknown = sorted(set(data) - set(_KNOWN_KEYS))
    if unknown:
        raise CalendarFileError(
            f"{file_path}: unknown key(s) {', '.join(repr(k) for k in unknown)}; allowed: {', '.join(_KNOWN_KEYS)}"
        )
    days_off = _dates_for_key(file_path, data, _DAYS_OFF_KEY)
    working_days = _dates_for_key(file_path, data, _WORKING_DAYS_KEY)
    both = days_off & working_days
    if both:
        listed = ", ".join(d.isoformat() for d in sorted(both))
        raise CalendarFileError(f"{file_path}: {listed} listed in both {_DAYS_OFF_KEY!r} and {_WORKING_DAYS_KEY!r}")
    return WorkingCalendar(extra_days_off=days_off, extra_working_days=working_days)
