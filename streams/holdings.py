"""Per-insider holdings: the last reported balance of each holding line wins.

Not a running sum of transactions: a reported post-transaction balance already absorbs exempt and
unreported events, while a sum breaks on splits and missed filings. Ordered by (as-of date, acceptance time,
position in the filing), so an older row that arrives late — a replay, a backfill, a redelivery — never
overwrites newer state, and replays converge to the same table. An amendment restating a row (same as-of
date, later acceptance) replaces it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from streams.models import HoldingRetraction, HoldingState
from streams.records import holding_key_string
from streams.state import State, index, key

_EARLIEST = datetime.min.replace(tzinfo=UTC)


def order(state: HoldingState) -> tuple[date, datetime, int]:
    return (
        state.as_of_date or date.min,
        state.acceptance_datetime or _EARLIEST,
        state.source_row_index,
    )


def apply(current: HoldingState | None, candidate: HoldingState) -> HoldingState | None:
    """The new state of the line when the candidate is newer than what the table holds, else None."""
    if current is not None:
        if order(candidate) < order(current):
            return None
        if order(candidate) == order(current) and candidate.source_row_id == current.source_row_id:
            return None  # the same row again: a duplicate or replay changes nothing
    previous = current.shares_owned if current is not None else None
    return candidate.model_copy(update={"previous_shares_owned": previous})


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
