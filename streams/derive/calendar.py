"""US federal business days, the clock of Section 16(a) deadlines (a Form 4 is due within 2 business days).

EDGAR does not accept filings on weekends or federal holidays, so lateness is measured in those days. The
modern holiday rules are applied to every year, including years before 1971 when some holidays fell on other
dates: filings that old do not exist, and typo'd dates (year 0022, 2035) must only be counted, not be right.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import date, timedelta
from functools import cache, lru_cache

MON, THU, FRI, SAT, SUN = 0, 3, 4, 5, 6

# Whole-day federal closures outside the statutory list: national days of mourning for former presidents and
# Christmas Eve / day-after-Christmas closures by executive order. Not exhaustive (weather closures, partial
# days and DC-only Inauguration Day are left out); add a date only with a primary source.
AD_HOC_CLOSURES: frozenset[date] = frozenset(
    {
        date(1994, 4, 27),  # Nixon, national day of mourning
        date(2001, 12, 24),  # Christmas Eve, executive order
        date(2003, 12, 26),  # day after Christmas, executive order
        date(2004, 6, 11),  # Reagan, national day of mourning
        date(2007, 1, 2),  # Ford, national day of mourning
        date(2007, 12, 24),  # Christmas Eve, executive order
        date(2008, 12, 26),  # day after Christmas, executive order
        date(2012, 12, 24),  # Christmas Eve, executive order
        date(2014, 12, 26),  # day after Christmas, executive order
        date(2015, 12, 24),  # Christmas Eve, executive order
        date(2018, 12, 5),  # G. H. W. Bush, national day of mourning
        date(2018, 12, 24),  # Christmas Eve, executive order
        date(2019, 12, 24),  # Christmas Eve, executive order
        date(2020, 12, 24),  # Christmas Eve, executive order
        date(2024, 12, 24),  # Christmas Eve, executive order
        date(2025, 1, 9),  # Carter, national day of mourning
    }
)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> date:
    last = date(year, month + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _observed(d: date) -> date:
    """Saturday holidays are observed the Friday before, Sunday ones the Monday after."""
    return d + timedelta(days={SAT: -1, SUN: 1}.get(d.weekday(), 0))


@lru_cache(maxsize=512)
def us_federal_holidays(year: int) -> frozenset[date]:
    """Weekdays of ``year`` on which federal offices (and EDGAR) are closed, as observed.

    A New Year's Day falling on Saturday is observed on Friday 31 December of the year before, so it is in
    that year's set; every date in the set lies in ``year``.
    """
    fixed = [(7, 4), (11, 11), (12, 25)] + ([(6, 19)] if year >= 2021 else [])
    days = {_observed(date(year, m, d)) for m, d in fixed}
    if date(year, 1, 1).weekday() != SAT:
        days.add(_observed(date(year, 1, 1)))
    if date(year, 12, 31).weekday() == FRI:  # next New Year's Day is a Saturday
        days.add(date(year, 12, 31))
    if year >= 1986:
        days.add(_nth_weekday(year, 1, MON, 3))  # Martin Luther King Jr. Day
    days |= {
        _nth_weekday(year, 2, MON, 3),  # Washington's Birthday
        _last_weekday(year, 5, MON),  # Memorial Day
        _nth_weekday(year, 9, MON, 1),  # Labor Day
        _nth_weekday(year, 10, MON, 2),  # Columbus Day
        _nth_weekday(year, 11, THU, 4),  # Thanksgiving
    }
    days |= {d for d in AD_HOC_CLOSURES if d.year == year}
    return frozenset(days)


@lru_cache(maxsize=512)
def _sorted_holidays(year: int) -> tuple[date, ...]:
    return tuple(sorted(us_federal_holidays(year)))


@cache  # at most 9,999 small ints: whole years inside a long span never thrash the cache
def _holiday_count(year: int) -> int:
    return len(us_federal_holidays(year))


def is_business_day(d: date) -> bool:
    """A weekday that is not a federal holiday (as observed)."""
    return d.weekday() < SAT and d not in us_federal_holidays(d.year)


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
        holidays = bisect_right(first, end) - bisect_right(first, start)
    else:
        holidays = len(first) - bisect_right(first, start) + bisect_right(last, end)
        holidays += sum(_holiday_count(year) for year in range(start.year + 1, end.year))
    return _weekdays_through(end) - _weekdays_through(start) - holidays


def is_late_filing(lag_business_days: int | None, timeliness: str | None) -> bool | None:
    """Late when the filer marked it late (L) or more than 2 business days passed; unknown without a lag."""
    if timeliness is not None and timeliness.strip().upper() == "L":
        return True
    if lag_business_days is None:
        return None
    return lag_business_days > 2
