"""US federal business days, the clock of Section 16(a) deadlines (a Form 4 is due within 2 business days).

EDGAR does not accept filings on days the federal government is closed, so lateness is counted in the days the
SEC is open. The calendar is the maintained ``holidays`` library's US calendar with its ``government`` category,
which adds to the statutory holidays the one-off closures by executive order (Christmas Eve 2024, 2025-12-24 and
2025-12-26, ...) and the national days of mourning; half-day closings (the library lists a few) do not close
EDGAR and are left out. The library covers 1971-2100 here; any other year (a typo'd 0022 or 2035 is counted,
not refused) gets the holidays of the 2072-2099 year with the same calendar (weekday of 1 January and leap year),
i.e. today's statutory rules.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import date, datetime, time, timedelta
from functools import cache, lru_cache
from zoneinfo import ZoneInfo

import holidays

SAT = 5
LIBRARY_YEARS = range(1971, 2101)  # the Uniform Monday Holiday Act's first year .. the library's last
_REPRESENTATIVE_YEARS = range(2072, 2100)  # 28 years: every (1 Jan weekday, leap) pattern, no century break
EASTERN = ZoneInfo("America/New_York")
# Regulation S-T Rule 13(a)(4): a Form 3, 4 or 5 submitted by 10 pm Eastern on a business day is filed that day.
FILING_DAY_CUTOFF = time(22, 0)

# Whole-day federal closures the library does not list (checked against holidays 0.109); add a date only with a
# primary source (an executive order or OPM's announcement).
AD_HOC_CLOSURES: frozenset[date] = frozenset(
    {
        date(1994, 4, 27),  # Nixon, national day of mourning (OPM)
    }
)


def _pattern(year: int) -> tuple[int, bool]:
    return date(year, 1, 1).weekday(), (year % 4 == 0 and year % 100 != 0) or year % 400 == 0


@cache
def _representative(pattern: tuple[int, bool]) -> int:
    return next(y for y in _REPRESENTATIVE_YEARS if _pattern(y) == pattern)


@cache
def _library_closures(year: int) -> frozenset[date]:
    """Weekdays of ``year`` the library says the federal government is closed (whole days only)."""
    calendar = holidays.US(years=year, categories=(holidays.PUBLIC, holidays.GOVERNMENT))
    return frozenset(
        d for d, name in calendar.items() if d.year == year and d.weekday() < SAT and "half-day" not in name
    )


@lru_cache(maxsize=512)
def us_federal_holidays(year: int) -> frozenset[date]:
    """Weekdays of ``year`` on which federal offices (and EDGAR) are closed, as observed.

    A New Year's Day falling on Saturday is observed on Friday 31 December of the year before, so it is in
    that year's set; every date in the set lies in ``year``.
    """
    if year in LIBRARY_YEARS:
        days = _library_closures(year)
    else:
        days = frozenset(d.replace(year=year) for d in _library_closures(_representative(_pattern(year))))
    return days | {d for d in AD_HOC_CLOSURES if d.year == year}


@lru_cache(maxsize=512)
def _sorted_holidays(year: int) -> tuple[date, ...]:
    return tuple(sorted(us_federal_holidays(year)))


@cache  # at most 9,999 small ints: whole years inside a long span never thrash the cache
def _holiday_count(year: int) -> int:
    return len(us_federal_holidays(year))


def is_business_day(d: date) -> bool:
    """A weekday that is not a federal closure (as observed)."""
    return d.weekday() < SAT and d not in us_federal_holidays(d.year)


def next_business_day(d: date) -> date:
    """The first business day after ``d``."""
    d += timedelta(days=1)
    while not is_business_day(d):
        d += timedelta(days=1)
    return d


def edgar_filing_date(accepted: datetime) -> date:
    """EDGAR's filing date for an ownership filing accepted at ``accepted`` (naive times are taken as Eastern).

    Regulation S-T Rule 13(a)(4): Forms 3, 4 and 5 submitted by 10 pm Eastern on a business day get that day's
    filing date (other forms cut off at 5:30 pm); later, or on a weekend or closure, the next business day's.
    """
    local = accepted.astimezone(EASTERN) if accepted.tzinfo else accepted
    day = local.date()
    if is_business_day(day) and local.time() < FILING_DAY_CUTOFF:
        return day
    return next_business_day(day)


def _weekdays_through(d: date) -> int:
    """Weekdays from 0001-01-01 (a Monday, ordinal 1) through ``d`` inclusive: O(1), no loop."""
    weeks, rest = divmod(d.toordinal(), 7)
    return weeks * 5 + min(rest, 5)


def business_days_between(start: date, end: date) -> int:
    """Business days in (start, end]: a Monday trade filed Wednesday is 2 (on time), Thursday 3 (late).

    Negative when ``end`` is before ``start``. Constant time in the span apart from one cached lookup per
    calendar year touched, so decade-long typo'd spans stay cheap.
    """
    if end < start:
        return -business_days_between(end, start)
    first, last = _sorted_holidays(start.year), _sorted_holidays(end.year)
    if start.year == end.year:
        closed = bisect_right(first, end) - bisect_right(first, start)
    else:
        closed = len(first) - bisect_right(first, start) + bisect_right(last, end)
        closed += sum(_holiday_count(year) for year in range(start.year + 1, end.year))
    return _weekdays_through(end) - _weekdays_through(start) - closed


def is_late_filing(lag_business_days: int | None, timeliness: str | None) -> bool | None:
    """Late when the filer marked it late (L) or more than 2 business days passed; unknown without a lag."""
    if timeliness is not None and timeliness.strip().upper() == "L":
        return True
    if lag_business_days is None:
        return None
    return lag_business_days > 2
