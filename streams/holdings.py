"""Per-insider holdings: the last reported balance of each holding line wins.

Not a running sum of transactions: a reported post-transaction balance already absorbs exempt and
unreported events, while a sum breaks on splits and missed filings. Ordered by (as-of date, acceptance time,
position in the filing, row id), so an older row that arrives late — a replay, a backfill, a redelivery — never
overwrites newer state, and replays converge to the same table. An amendment restating a row replaces it. The
line also keeps the balance before it (``previous``): the newest row below the current one, whatever the
arrival order.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from streams.models import HoldingRetraction, HoldingState, PreviousBalance
from streams.records import holding_key_string
from streams.state import State, index, key

_EARLIEST = datetime.min.replace(tzinfo=UTC)


def order(state: HoldingState | PreviousBalance) -> tuple[date, datetime, int, str]:
    """A total order of a line's rows: the row id breaks ties (bare documents have no acceptance time), so the
    newest row is the same in any arrival order."""
    return (
        state.as_of_date or date.min,
        state.acceptance_datetime or _EARLIEST,
        state.source_row_index,
        state.source_row_id,
    )


def _previous(line: HoldingState) -> PreviousBalance:
    return PreviousBalance(
        shares_owned=line.shares_owned,
        as_of_date=line.as_of_date,
        acceptance_datetime=line.acceptance_datetime,
        source_row_id=line.source_row_id,
        source_row_index=line.source_row_index,
    )


def _with_previous(line: HoldingState, previous: PreviousBalance | None) -> HoldingState:
    return line.model_copy(
        update={
            "previous": previous,
            "previous_shares_owned": previous.shares_owned if previous else None,
            "restates_row_ids": [],
        }
    )


def apply(current: HoldingState | None, candidate: HoldingState) -> HoldingState | None:
    """The new state of the line, or None when the candidate changes nothing.

    The newest row (``order``) is the line; ``previous`` the newest row before it. A row an amendment restates
    (``restates_row_ids``) gives way to the amendment's row, as if it had never been seen: an amendment arriving
    before its original (whose restated rows are then never applied) ends the same."""
    restated = set(candidate.restates_row_ids)
    if current is None:
        return _with_previous(candidate, None)
    if current.source_row_id == candidate.source_row_id and order(candidate) <= order(current):
        return None  # the same row again: a duplicate or replay changes nothing
    if current.source_row_id in restated:
        return _with_previous(candidate, current.previous)
    if order(candidate) > order(current):
        return _with_previous(candidate, _previous(current))
    previous = current.previous  # a row older than the line's: it may be the balance before it
    if previous is not None and previous.source_row_id == candidate.source_row_id:
        return None
    if previous is None or previous.source_row_id in restated or order(candidate) > order(previous):
        return _with_previous(current, _previous(candidate))
    return None


def replay(candidates: list[HoldingState]) -> dict[str, HoldingState]:
    """The table a sequence of candidates leaves behind, in any arrival order: the reference the stream's
    table is compared with in tests (recomputation after restarts, two workers against one)."""
    table: dict[str, HoldingState] = {}
    for candidate in candidates:
        key = holding_key_string(candidate.key)
        new = apply(table.get(key), candidate)
        if new is not None:
            table[key] = new
    return table


def update_line(state: State, index_name: str, candidate: HoldingState) -> HoldingState | None:
    """Apply the rule to the line stored in ``state``; a new line joins index ``index_name`` (``o|<owner>`` on
    the owner side, ``i|<issuer>`` on the issuer side). Returns the new state, or None when nothing changed."""
    line_key = holding_key_string(candidate.key)
    stored = state.get(key("line", line_key))
    current = HoldingState.model_validate(stored) if stored is not None else None
    new = apply(current, candidate)
    if new is None:
        return None
    if current is None:  # the index first: a crash between the two writes then leaves an index entry
        index.add(state, index_name, line_key)  # without its line (skipped by readers, filled on redelivery),
    state.put(key("line", line_key), new.model_dump(mode="json"))  # never a line no index reaches
    return new


def lines(state: State, index_name: str) -> list[dict]:
    """Every line of index ``index_name`` as stored (JSON-ready)."""
    found = (state.get(key("line", member)) for member in index.members(state, index_name))
    return [line for line in found if line is not None]


def retracts(current: HoldingState | None, retraction: HoldingRetraction) -> bool:
    """True when the line must be dropped: its balance comes from a row an amendment superseded. A line a newer
    filing has reported since is left alone."""
    return current is not None and current.source_row_id in retraction.source_row_ids


def retract_line(state: State, retraction: HoldingRetraction) -> HoldingState | None:
    """Drop the line ``retracts`` names from ``state``; the dropped state (publish a tombstone for its key), or
    None when the line stays. The line's key may stay in its indexes: readers skip keys without a line."""
    line_key = holding_key_string(retraction.key)
    stored = state.get(key("line", line_key))
    current = HoldingState.model_validate(stored) if stored is not None else None
    if current is None or not retracts(current, retraction):
        return None
    state.put(key("line", line_key), None)
    return current


def forget_previous(state: State, retraction: HoldingRetraction) -> HoldingState | None:
    """Forget the line's previous balance when it came from a row an amendment superseded (an earlier amendment
    applied before a later one that restates it was known to be its sibling); the updated line, or None."""
    line_key = holding_key_string(retraction.key)
    stored = state.get(key("line", line_key))
    current = HoldingState.model_validate(stored) if stored is not None else None
    if current is None or current.previous is None:
        return None
    if current.previous.source_row_id not in retraction.source_row_ids:
        return None
    updated = _with_previous(current, None)
    state.put(key("line", line_key), updated.model_dump(mode="json"))
    return updated
