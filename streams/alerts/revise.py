"""Records revised when their history changes: a desk goes live, then backfills or seeds the years before.

A record's ``trader_pattern``, ``history_known_since`` and ``history_gap_years`` and its event's first-purchase
verdict are read from the insider's history (``streams.alerts.history``) when the record is published. History that
arrives later (an older filing from a backfill, a data-set seed, an original after its amendment) can change
them; then the records it changes are republished under their ``txn_id`` and their events' alerts revised under
their ``alert_id`` (or withdrawn with a tombstone when no rule matches any more), so the final result is the
same whichever came first.

Which records: an index per insider and year, ``pub|<issuer>|<owner>|<year>``, lists the filings (originals and
amendments) with open-market purchase or sale rows of that insider dated in that year, as ``[id, first trade
day, last trade day]`` (days as MMDD numbers): at most MAX_INDEXED_PER_YEAR (the latest trades kept), and only
for the newest REVISABLE_YEARS years of the insider's history (the years whose look-back the history keeps
whole; a key leaves when its year does). When a history changes, a year's filings are read again only when what
a trade of that year reads changed (the months of the 3 years before it, or ``history_known_since``), or when a
purchase was added within ``min_history_years`` before one of the filing's trades (first purchase). In live order
neither happens (a new trade changes only the look-back of later years), so the cost is a few reads of empty keys.

Bound: per insider whose history a filing or seed changes, at most REVISABLE_YEARS x MAX_INDEXED_PER_YEAR = 256
filings re-read (each one ``rec`` value for a typical filing) and their events revised.

Not revised (the field then keeps what was known when it was published): a record older than the newest
REVISABLE_YEARS years of its insider (its look-back is pruned), a row without a plausible trade date, a record
beyond MAX_INDEXED_PER_YEAR in its year, and the alert of an event no longer remembered (older than the event
horizon, or reported belatedly; see ``streams.alerts.events``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from streams.alerts.aggregate import group_key, owner_ciks
from streams.alerts.events import Revised, event_key, revise_event
from streams.alerts.history import (
    LOOKBACK_YEARS,
    REVISABLE_YEARS,
    Direction,
    History,
    HistoryChange,
    classified,
    direction_of,
    history_key,
    is_first_purchase,
    known_since,
    read_history,
    years_before,
)
from streams.alerts.rules import RulesConfig
from streams.amendments import load_rows, store_rows
from streams.models import Alert, TransactionRecord
from streams.state import State, key

MAX_INDEXED_PER_YEAR = 64  # entries of about 30 bytes: under 2 KB per key


@dataclass
class Revision:
    """What a history change republishes: records (by ``txn_id``), alerts (by ``alert_id``) and the alert ids
    that get a tombstone."""

    records: list[TransactionRecord] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    withdrawn: list[str] = field(default_factory=list)


def published_key(issuer_cik: str, owner_cik: str, year: int) -> str:
    return key("pub", issuer_cik, owner_cik, str(year))


def remember_published(state: State, identity: str, records: Iterable[TransactionRecord]) -> None:
    """Index a filing's dated open-market purchase and sale rows under each of their owners and years."""
    spans: dict[tuple[str, str, int], tuple[date, date]] = {}
    for row in records:
        day = row.transaction_date
        if day is None or not row.derived.date_plausible or direction_of(row) is None:
            continue
        for cik in owner_ciks(row):
            first, last = spans.get((row.issuer.cik, cik, day.year), (day, day))
            spans[(row.issuer.cik, cik, day.year)] = (min(first, day), max(last, day))
    for (issuer_cik, cik, year), (first, last) in spans.items():
        newest = History.from_json(state.get(history_key(issuer_cik, cik))).newest_year
        if newest is not None and year <= newest - REVISABLE_YEARS:
            continue  # its look-back is already pruned: never revised, so not indexed
        name = published_key(issuer_cik, cik, year)
        entries = state.get(name) or []
        entry = [identity, _month_day(first), _month_day(last)]
        if entry in entries:
            continue
        kept = sorted([*(e for e in entries if e[0] != identity), entry], key=lambda e: (e[2], e[0]))
        state.put(name, kept[-MAX_INDEXED_PER_YEAR:])


def _month_day(day: date) -> int:
    """A day of the key's year as MMDD (an entry is about 30 bytes)."""
    return day.month * 100 + day.day


def revise(
    state: State,
    issuer_cik: str,
    changes: Iterable[HistoryChange],
    rules: RulesConfig,
    exclude: str | None = None,
) -> Revision:
    """Republish what ``changes`` (owners' histories before and after, all of ``issuer_cik``) change, except the
    filing ``exclude`` (the one being processed, classified already)."""
    candidates: set[str] = set()
    for change in changes:
        _forget_old_years(state, issuer_cik, change)
        candidates |= _affected(state, issuer_cik, change, rules.first_purchase.min_history_years) - {exclude}
    revision = Revision()
    events: dict[tuple[str, date, Direction], dict[str, list[TransactionRecord]]] = {}
    for identity in sorted(candidates):
        rows = list(load_rows(state, identity))
        histories: dict[tuple[str, ...], History] = {}
        now = []
        for row in rows:
            direction = direction_of(row)
            if direction is None or row.transaction_date is None or not row.derived.date_plausible:
                now.append(row)
                continue
            ciks = owner_ciks(row)
            history = histories.get(ciks) or histories.setdefault(ciks, read_history(state, issuer_cik, ciks))
            new = classified(row, history)
            now.append(new)
            if new is not row:
                revision.records.append(new)
            if not row.is_amendment:
                event = events.setdefault((group_key(ciks), row.transaction_date, direction), {})
                event.setdefault(identity, []).append(new)
        if any(a is not b for a, b in zip(rows, now, strict=True)):
            store_rows(state, identity, now)
    for (_, day, direction), by_filing in sorted(events.items()):
        for rows in by_filing.values():
            row = rows[0]
            history = read_history(state, issuer_cik, owner_ciks(row))
            revised = revise_event(
                state,
                rows,
                direction,
                rules,
                pattern=row.trader_pattern,
                since=row.history_known_since,
                gaps=row.history_gap_years,
                first_purchase=direction == "buy"
                and is_first_purchase(history, day, rules.first_purchase.min_history_years),
            )
            _collect(revision, revised)
            if state.get(event_key(issuer_cik, group_key(owner_ciks(row)), day, direction)) is not None:
                break  # a remembered event is revised once, from its totals
    return revision


def _collect(revision: Revision, revised: Revised | None) -> None:
    if revised is None:
        return
    if revised.alert is None:
        revision.withdrawn.append(revised.alert_id)
    else:
        revision.alerts.append(revised.alert)


def _view(history: History, year: int) -> tuple[object, ...]:
    """What a trade of ``year`` reads of a history for its pattern, gap years and ``history_known_since``."""
    back = {str(y) for y in range(year - 3, year)}
    return (
        sorted(m for m in history.months["buy"] if m[:4] in back),
        sorted(m for m in history.months["sell"] if m[:4] in back),
        known_since(history, date(year, 1, 1)),
    )


def _added_purchases(change: HistoryChange) -> list[date]:
    """Purchase days the change added (a month's new first or last day): they may end a later first purchase."""
    before = change.before.months["buy"]
    added = []
    for month, (first, last) in change.after.months["buy"].items():
        old = before.get(month)
        added += [d for d in (first, last) if old is None or d not in old]
    return added


def _affected(state: State, issuer_cik: str, change: HistoryChange, first_purchase_years: int) -> set[str]:
    newest = change.after.newest_year
    if newest is None:
        return set()
    purchases = _added_purchases(change)
    found: set[str] = set()
    # Up to 3 years past the newest trade: amendments' rows are indexed but add no trades to the history.
    for year in range(newest - REVISABLE_YEARS + 1, newest + LOOKBACK_YEARS + 1):
        shifted = _view(change.before, year) != _view(change.after, year)
        if not shifted and not purchases:
            continue
        for identity, first, last in state.get(published_key(issuer_cik, change.owner_cik, year)) or []:
            start = years_before(date(year, first // 100, first % 100), first_purchase_years)
            end = date(year, last // 100, last % 100)
            if shifted or any(start <= d < end for d in purchases):
                found.add(identity)
    return found


def _forget_old_years(state: State, issuer_cik: str, change: HistoryChange) -> None:
    """Drop the index keys of years that left the revisable window when the newest trade moved on."""
    old, new = change.before.newest_year, change.after.newest_year
    if old is None or new is None or new <= old:
        return
    for year in range(old - REVISABLE_YEARS + 1, min(old, new - REVISABLE_YEARS) + 1):
        if state.get(published_key(issuer_cik, change.owner_cik, year)) is not None:
            state.put(published_key(issuer_cik, change.owner_cik, year), None)
