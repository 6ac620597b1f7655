"""One insider's trading history in one issuer: the months with open-market purchases and sales (state kind ``hist``).

Routine or opportunistic (Cohen, Malloy and Pomorski, "Decoding Inside Information", 2012): for a trade in
calendar year Y, an insider who traded (open market, same direction) in one calendar month in each of Y-3, Y-2 and
Y-1 is *routine*; one who traded in each of those years but never in a common month is *opportunistic*; anyone
else has *insufficient* history. "First purchase" asks the same history whether any purchase came in the N years
before.

Key ``hist|<issuer cik>|<owner cik>``, one per owner: a person who files alone one day and jointly with their fund
another keeps one history, and a joint group reads the union of its owners' histories. Value::

    {"since": "2022-03-01", "buy": {"2024-05": ["2024-05-02", "2024-05-20"]}, "sell": {...}}

``since`` is the earliest plausible trade date of any row of theirs seen; each month keeps its first and last trade
day. Bounded: only months of the HISTORY_YEARS (7) calendar years up to the newest trade seen (at most 84 months x
2 directions, about 6 KB): the 3 years before each trade of the newest 4 years, so a record of those years can be
classified again, exactly, when history arrives after it (``streams.alerts.revise``). Writes are set unions, so a
filing processed twice changes nothing.

Seeds (``form4 ingest datasets``): a history built from the SEC's data sets by the same rules (``filing_trades``
on rows rebuilt from the tables) is merged with ``merge_history``: a union, then the same pruning. Pruning keeps
the years down from the newest trade, so ``prune(union(a, b)) == prune(union(prune(a), b))``: seeds and filings
merge to the same value in any order, any number of times.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from streams.alerts.aggregate import is_purchase, is_sale
from streams.models import SeededHistory, TraderPattern, TransactionRecord
from streams.state import State, key

Direction = Literal["buy", "sell"]
#: Records of the newest REVISABLE_YEARS years of an insider are revised when their history changes; each needs the
#: 3 calendar years before its own (the classification, and a first purchase of up to 3 years).
REVISABLE_YEARS = 4
LOOKBACK_YEARS = 3
HISTORY_YEARS = REVISABLE_YEARS + LOOKBACK_YEARS


@dataclass(slots=True)
class History:
    """The (merged) history of an owner group; months map 'YYYY-MM' to (first day, last day)."""

    since: date | None = None
    months: dict[Direction, dict[str, tuple[date, date]]] = field(
        default_factory=lambda: {"buy": {}, "sell": {}}
    )

    def add(self, day: date, direction: Direction | None) -> None:
        self.since = day if self.since is None else min(self.since, day)
        if direction is None:
            return
        month = day.strftime("%Y-%m")
        first, last = self.months[direction].get(month, (day, day))
        self.months[direction][month] = (min(first, day), max(last, day))

    def merge(self, other: History) -> None:
        for direction, months in other.months.items():
            for first, last in months.values():
                self.add(first, direction)
                self.add(last, direction)
        if other.since is not None:
            self.add(other.since, None)

    @property
    def newest_year(self) -> int | None:
        years = [int(m[:4]) for months in self.months.values() for m in months]
        return max(years) if years else None

    def prune(self) -> None:
        """Keep the months of the HISTORY_YEARS calendar years up to the newest trade."""
        newest = self.newest_year
        if newest is None:
            return
        oldest = newest - HISTORY_YEARS + 1
        for direction in self.months:
            self.months[direction] = {m: v for m, v in self.months[direction].items() if int(m[:4]) >= oldest}

    def to_json(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat() if self.since else None,
            **{
                direction: {m: [a.isoformat(), b.isoformat()] for m, (a, b) in sorted(months.items())}
                for direction, months in self.months.items()
            },
        }

    @classmethod
    def from_json(cls, value: dict[str, Any] | None) -> History:
        history = cls()
        if not value:
            return history
        history.since = date.fromisoformat(value["since"]) if value.get("since") else None
        for direction in ("buy", "sell"):
            history.months[direction] = {  # type: ignore[index]
                m: (date.fromisoformat(a), date.fromisoformat(b))
                for m, (a, b) in (value.get(direction) or {}).items()
            }
        return history

    def to_seeded(self, owner_cik: str) -> SeededHistory:
        return SeededHistory.model_validate({"owner_cik": owner_cik, **self.to_json()})

    @classmethod
    def from_seeded(cls, seeded: SeededHistory) -> History:
        return cls.from_json(seeded.model_dump(mode="json", exclude={"owner_cik"}))


def history_key(issuer_cik: str, owner_cik: str) -> str:
    return key("hist", issuer_cik, owner_cik)


def read_history(state: State, issuer_cik: str, owner_ciks: Iterable[str]) -> History:
    """The union of the owners' histories: a joint group is one insider."""
    merged = History()
    for cik in owner_ciks:
        merged.merge(History.from_json(state.get(history_key(issuer_cik, cik))))
    return merged


@dataclass(frozen=True, slots=True)
class HistoryChange:
    """One owner's history before and after a filing or a seed: what ``streams.alerts.revise`` starts from."""

    owner_cik: str
    before: History
    after: History


def record_trades(
    state: State, issuer_cik: str, owner_ciks: Sequence[str], trades: Sequence[tuple[date, Direction | None]]
) -> list[HistoryChange]:
    """Add a filing's plausible trade dates (direction None: a row that only moves ``since``) to every owner;
    the owners whose stored history changed."""
    if not trades:
        return []
    changes = []
    for cik in owner_ciks:
        stored = state.get(history_key(issuer_cik, cik))
        history = History.from_json(stored)
        for day, direction in trades:
            history.add(day, direction)
        history.prune()
        after = history.to_json()
        if after != (stored or History().to_json()):
            state.put(history_key(issuer_cik, cik), after)
            changes.append(HistoryChange(cik, History.from_json(stored), history))
    return changes


def merge_history(state: State, issuer_cik: str, owner_cik: str, other: History) -> HistoryChange | None:
    """Union ``other`` (a seeded history) into the owner's stored one, pruned as ``record_trades`` prunes;
    the change, or None when the stored value stayed the same."""
    stored = state.get(history_key(issuer_cik, owner_cik))
    history = History.from_json(stored)
    history.merge(other)
    history.prune()
    after = history.to_json()
    if after == (stored or History().to_json()):
        return None
    state.put(history_key(issuer_cik, owner_cik), after)
    return HistoryChange(owner_cik, History.from_json(stored), history)


def filing_trades(rows: Iterable[TransactionRecord]) -> list[tuple[date, Direction | None]]:
    """What an original filing's rows add to its owners' histories: every row with a plausible trade date, with
    its direction when it is an open-market purchase or sale (``None``: a row that only moves ``since``). The
    one rule for the live path (``alert_step``) and the data-set seeds (``streams.ingest.datasets``)."""
    return [
        (r.transaction_date, direction_of(r))
        for r in rows
        if r.transaction_date is not None and r.derived.date_plausible
    ]


def known_since(history: History, day: date | None) -> date | None:
    """``history_known_since`` of a trade on ``day``: the start of what its classification reads (1 January of
    the LOOKBACK_YEARS-th year before), or the insider's first known trade when that is later. Older history
    changes no classification, so it changes no record either (records converge in any arrival order). A row
    without a trade date has nothing to look back from and gets the first known trade."""
    if history.since is None or day is None:
        return history.since
    return max(history.since, date(day.year - LOOKBACK_YEARS, 1, 1))


def classified(row: TransactionRecord, history: History) -> TransactionRecord:
    """An open-market purchase or sale row with ``trader_pattern``, ``history_known_since`` and
    ``history_gap_years`` from ``history`` (its owner group's); any other row as it is."""
    direction = direction_of(row)
    if direction is None:
        return row
    day = row.transaction_date if row.derived.date_plausible else None
    pattern: TraderPattern = classify(history, day, direction) if day else "insufficient"
    gaps = gap_years(history, day, direction) if day and pattern == "insufficient" else []
    update = {
        "trader_pattern": pattern,
        "history_known_since": known_since(history, day),
        "history_gap_years": gaps,
    }
    if all(getattr(row, name) == value for name, value in update.items()):
        return row
    return row.model_copy(update=update)


def direction_of(record: TransactionRecord) -> Direction | None:
    if is_purchase(record):
        return "buy"
    if is_sale(record):
        return "sell"
    return None


def classify(history: History, day: date, direction: Direction) -> TraderPattern:
    """Routine, opportunistic or insufficient for a trade on ``day`` (the calendar years before it decide)."""
    by_year = _months_by_year(history, day, direction)
    if not all(by_year.values()):
        return "insufficient"
    return "routine" if set.intersection(*by_year.values()) else "opportunistic"


def gap_years(history: History, day: date, direction: Direction) -> list[int]:
    """Why a trade on ``day`` is 'insufficient' when the history is long enough: the calendar years among the 3
    before it with no trade in ``direction`` that the history covers whole (it starts before 1 January of the
    year, and the year is among those the history keeps). Traded 2020, 2021 and 2023, a 2024 trade gets [2022];
    empty when the history only starts too late (it is then too short) or the trade is classified."""
    if history.since is None:
        return []
    newest = history.newest_year
    oldest_kept = newest - HISTORY_YEARS + 1 if newest is not None else day.year  # older years may be pruned
    return [
        year
        for year, months in _months_by_year(history, day, direction).items()
        if not months and history.since < date(year, 1, 1) and year >= oldest_kept
    ]


def _months_by_year(history: History, day: date, direction: Direction) -> dict[int, set[str]]:
    """Years Y-3, Y-2, Y-1 of a trade in year Y -> the calendar months ('05') with a trade in ``direction``."""
    months = history.months[direction]
    years = [day.year - back for back in (3, 2, 1)]
    return {year: {m[5:] for m in months if int(m[:4]) == year} for year in years}


def years_before(day: date, years: int) -> date:
    """The same day ``years`` earlier (28 February for 29 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def is_first_purchase(history: History, day: date, min_years: int) -> bool:
    """No open-market purchase in the ``min_years`` years before ``day``, with at least that much known history.

    A month's first and last days suffice: a month is shorter than the window, so if any purchase of it falls in
    [day - N years, day), its first or its last one does.
    """
    start = years_before(day, min_years)
    if history.since is None or history.since > start:
        return False
    return not any(start <= d < day for span in history.months["buy"].values() for d in span)
