"""``alert_step``: everything the alert logic does with one filing, its memory kept only through the state port.

Order within a filing: (1) the insider's history (kind ``hist``) takes the filing's trade dates and classifies
every open-market purchase and sale row (routine / opportunistic / insufficient); (2) each event (owner group,
trade date, direction) adds the rows and publishes its alert, new or revised (kind ``event``); (3) late rows
raise the per-filing late_filing alert; (4) the issuer's cluster window (kind ``cluster``); (5) the issuer's
discretionary flow (kind ``flow``). Each kind remembers what it counted, so the same filing processed again
(a redelivery after a crash, its effect already in the state) publishes no new alert and doubles no total;
only a late_filing alert, which has no memory, is republished unchanged under its deterministic id.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, defaultdict
from collections.abc import Sequence
from datetime import date
from typing import Any, NamedTuple

from pydantic import BaseModel

from streams.alerts.aggregate import filing_groups, is_purchase, owner_ciks
from streams.alerts.evaluate import late_alerts
from streams.alerts.events import event_step
from streams.alerts.flow import filing_date_of, flow_step
from streams.alerts.history import (
    Direction,
    HistoryChange,
    classified,
    direction_of,
    filing_trades,
    is_first_purchase,
    read_history,
    record_trades,
)
from streams.alerts.rules import RulesConfig
from streams.alerts.windows import MAX_CLUSTER_PURCHASES, ClusterState, cluster_step
from streams.models import Alert, TransactionRecord
from streams.state import MAX_VALUE_BYTES, State, key, pack, unpack

CLUSTER_MAX_BYTES = MAX_VALUE_BYTES * 3 // 4


class StepResult(NamedTuple):
    """The records enriched (trader classification on open-market P/S rows), the alerts to publish (new ones and
    revisions) and the owners whose history the filing changed (``streams.alerts.revise`` takes it from there)."""

    records: list[TransactionRecord]
    alerts: list[Alert]
    changes: list[HistoryChange]


def alert_step(records: list[TransactionRecord], state: State, rules: RulesConfig) -> StepResult:
    """records: one filing's (non-superseded) transaction records, all of one issuer."""
    if not records:
        return StepResult([], [], [])
    issuers = {r.issuer.cik for r in records}
    if len(issuers) > 1:
        raise ValueError(f"records of issuers {sorted(issuers)} passed to one alert_step")
    issuer_cik = records[0].issuer.cik
    enriched: dict[str, TransactionRecord] = {}
    alerts: list[Alert] = []
    changes: list[HistoryChange] = []
    for group in filing_groups(records):
        ciks = owner_ciks(group[0])
        if not group[0].is_amendment:
            changes += record_trades(state, issuer_cik, ciks, filing_trades(group))
        history = read_history(state, issuer_cik, ciks)

        events: dict[tuple[date | None, Direction], list[TransactionRecord]] = defaultdict(list)
        for row in group:
            direction = direction_of(row)
            if direction is None:
                continue
            enriched[row.txn_id] = classified(row, history)
            events[(row.transaction_date, direction)].append(enriched[row.txn_id])

        if not group[0].is_amendment:
            for (day, direction), rows in events.items():
                plausible = day is not None and rows[0].derived.date_plausible
                alert = event_step(
                    state,
                    direction,
                    day,
                    rows,
                    rules,
                    pattern=rows[0].trader_pattern,
                    since=rows[0].history_known_since,
                    gaps=rows[0].history_gap_years,
                    first_purchase=direction == "buy"
                    and plausible
                    and day is not None
                    and is_first_purchase(history, day, rules.first_purchase.min_history_years),
                    filed=filing_date_of(rows[0]),
                )
                if alert is not None:
                    alerts.append(alert)
        alerts += late_alerts(group, rules)

    alerts += _cluster(state, issuer_cik, records, rules)
    flow = flow_step(state, records, rules)
    if flow is not None:
        alerts.append(flow)
    return StepResult([enriched.get(r.txn_id, r) for r in records], alerts, changes)


def cluster_key(issuer_cik: str) -> str:
    return key("cluster", issuer_cik)


def _cluster(
    state: State, issuer_cik: str, records: list[TransactionRecord], rules: RulesConfig
) -> list[Alert]:
    """The cluster-buy window under ``cluster|<issuer>``: window_days of dates, MAX_CLUSTER_PURCHASES purchases,
    and at most CLUSTER_MAX_BYTES serialised (a burst of big joint filings drops its oldest entries first).
    Stored packed (``streams.state.pack``): a busy issuer's window is tens of KB of repetitive JSON rewritten by
    every purchase, and was the largest part of the changelog."""
    if not any(is_purchase(r) and not r.is_amendment for r in records):
        return []  # nothing for the window: skip reading, validating and rewriting it (most filings)
    stored = state.get(cluster_key(issuer_cik))
    before = _read_window(stored) if stored else None
    after, alerts = cluster_step(before, records, rules)
    text, kept = _window_text(after)
    value = pack(text)
    if value != stored:
        state.put(cluster_key(issuer_cik), value)
    WINDOWS.put(value, kept)
    return alerts


def read_cluster(stored: str | dict[str, Any]) -> dict[str, Any]:
    """A stored cluster window as JSON-ready data (packed, or a plain dict as written before packing), read the
    way the cluster step reads it."""
    return _read_window(stored).model_dump(mode="json")


def _read_window(stored: str | dict[str, Any]) -> ClusterState:
    """The stored window (packed, or a plain dict as written before packing), parsed and validated in one pass
    by pydantic's JSON reader (a busy issuer's window is tens of KB, read by every purchase: through
    ``json.loads`` and ``model_validate`` it cost a fifth of the worker's CPU)."""
    if isinstance(stored, dict):
        return ClusterState.model_validate(stored)
    window = WINDOWS.get(stored)
    if window is None:
        window = ClusterState.model_validate_json(unpack(stored))
        WINDOWS.put(stored, window)
    return window


class WindowCache:
    """The windows last written or read, by their stored (packed) value: the next purchase of a busy issuer
    reads the window the one before it wrote, and parsing it back cost more than the rest of the cluster step.

    A memo, not state: a value maps to the one window it encodes (the JSON round trip is exact, and
    ``cluster_step`` never changes the window it is given), so a hit returns what parsing would; a miss (a
    restart, another worker's write, an evicted issuer) parses. Shared by the threads the worker prepares
    batches in, hence the lock."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._windows: OrderedDict[str, ClusterState] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, value: str) -> ClusterState | None:
        with self._lock:
            window = self._windows.get(value)
            if window is not None:
                self._windows.move_to_end(value)
            return window

    def put(self, value: str, window: ClusterState) -> None:
        with self._lock:
            self._windows[value] = window
            self._windows.move_to_end(value)
            while len(self._windows) > self.size:
                self._windows.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._windows.clear()


#: A window at its budget is ~48 KB of JSON, a few hundred KB parsed: 32 of them stay well under 20 MB.
WINDOWS = WindowCache(32)


def _window_text(window: ClusterState) -> tuple[str, ClusterState]:
    """The window as compact JSON of at most CLUSTER_MAX_BYTES, and the window that JSON holds: when over, the
    longer of its lists gives up its oldest entries first."""
    text = window.model_dump_json()
    total = len(text.encode())
    if total <= CLUSTER_MAX_BYTES:
        return text, window  # the common case: no item sizes needed
    lists: dict[str, Sequence[BaseModel]] = {"purchases": window.purchases, "emitted": window.emitted}
    sizes = {name: [len(item.model_dump_json().encode()) for item in items] for name, items in lists.items()}
    start = dict.fromkeys(lists, 0)
    while total > CLUSTER_MAX_BYTES:
        name = max(start, key=lambda n: len(sizes[n]) - start[n])  # the longer list gives up its oldest
        if start[name] >= len(sizes[name]):
            break
        total -= sizes[name][start[name]] + 1  # the item and its comma
        start[name] += 1
    kept = window.model_copy(update={name: items[start[name] :] for name, items in lists.items()})
    return kept.model_dump_json(), kept


__all__ = ["MAX_CLUSTER_PURCHASES", "alert_step", "cluster_key", "read_cluster"]
