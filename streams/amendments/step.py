"""``amendment_step``: what one filing (an original or an amendment) changes in what was published.

An amendment that arrives first waits and is linked when its original arrives: the original's restated rows
are then published already superseded. Of several amendments of one original, the latest accepted restates: it
supersedes what it restates in the original and in the earlier amendments, and an earlier one arriving later
comes out with those rows superseded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streams.amendments.lines import _retractions, _stale_lines, live_holding_candidates
from streams.amendments.linking import (
    NO_ORIGINAL,
    _accepted,
    _add_entry,
    _entries,
    _find_original,
    _index_original,
    _mark_linked,
    _remember_waiting,
    _waiting_for,
)
from streams.amendments.matching import match_rows
from streams.amendments.stored import _load_rows, _store_rows
from streams.derive.enrich import identity
from streams.models import Filing, HoldingRetraction, HoldingState, TransactionRecord
from streams.records import holding_candidates, transaction_records
from streams.state import State, key


@dataclass
class AmendmentOutcome:
    """What one filing changes in what was published. Send ``retract`` before the filing's holding candidates."""

    records: list[TransactionRecord]
    """This filing's records: an amendment's with ``amends_accession`` / ``amendment_link_method``; an original's
    rows that an earlier-arrived amendment restates already carry ``superseded_by``."""
    superseded: list[TransactionRecord] = field(default_factory=list)
    """An earlier-published original's rows this amendment restates, republished with ``superseded_by``."""
    relinked: list[TransactionRecord] = field(default_factory=list)
    """Earlier-published amendment rows now linked to this original, republished with ``amends_accession``."""
    retract: list[HoldingRetraction] = field(default_factory=list)
    """Holding lines whose balance came from a superseded row the amendment does not restate on that line."""
    restates: dict[str, list[str]] = field(default_factory=dict)
    """This amendment's row (txn_id) -> the earlier rows it restates: its holding candidate replaces theirs."""


def amendment_step(filing: Filing, state: State, *, keep_own_rows: bool = True) -> AmendmentOutcome:
    """Link, supersede and remember, once per filing. Idempotent: the same filing again (a redelivery after its
    state was written) gives the same outcome and writes nothing new. ``keep_own_rows=False``: the caller stores
    this filing's rows itself (``store_rows``) once they are final (``streams.process``: classified), so they
    are not serialised twice."""
    if filing.derived.is_amendment:
        return _amendment(filing, state, keep_own_rows)
    return _original(filing, state, keep_own_rows)


def amended_holding_candidates(filing: Filing, outcome: AmendmentOutcome) -> list[HoldingState]:
    """The filing's live holding candidates (``live_holding_candidates``), each amendment row's naming the rows
    it restates (``HoldingState.restates_row_ids``), so that its line forgets them."""
    return [
        c.model_copy(update={"restates_row_ids": outcome.restates[c.source_row_id]})
        if c.source_row_id in outcome.restates
        else c
        for c in live_holding_candidates(holding_candidates(filing), outcome.records)
    ]


def _amendment(filing: Filing, state: State, keep_own_rows: bool = True) -> AmendmentOutcome:
    me = identity(filing)
    original, method = _find_original(filing, me, state)
    records = transaction_records(
        filing, amends_accession=original["id"] if original else None, amendment_link_method=method
    )
    if original is None:
        if method == NO_ORIGINAL:
            _remember_waiting(filing, me, records, state)
        return AmendmentOutcome(records=records)
    accepted = _accepted(filing)
    siblings = [e for e in _entries(state, key("amended", original["id"])) if e["id"] != me]
    later = sorted((e for e in siblings if _is_later(e["accepted"], accepted)), key=_acceptance_order)
    earlier_siblings = [e for e in siblings if not _is_later(e["accepted"], accepted)]
    claimed_later = {e["id"] for e in later}
    outcome = AmendmentOutcome(records=records)
    # The original's rows, then each earlier amendment's rows, that this one restates; a row a later-accepted
    # amendment restates stays superseded by that one.
    for target in [original, *earlier_siblings]:
        rows = list(_load_rows(state, target["id"]))
        pairs = [p for p in match_rows(rows, records) if rows[p[0]].superseded_by not in claimed_later]
        restated = {
            i: rows[i].model_copy(update={"superseded_by": me, "supersede_match": how}) for i, _, how in pairs
        }
        # Rows are kept as last published, so a redelivered filing republishes them as they now stand.
        _store_rows(state, target["id"], [restated.get(i, r) for i, r in enumerate(rows)])
        outcome.superseded += restated.values()
        outcome.retract += _retractions(filing, rows, records, pairs, me)
        for i, j, _ in pairs:
            outcome.restates.setdefault(records[j].txn_id, []).append(rows[i].txn_id)
    # This amendment's own rows that a later-accepted one (arrived first) restates: the latest wins.
    for sibling in later:
        for _, j, how in match_rows(records, list(_load_rows(state, sibling["id"]))):
            records[j] = records[j].model_copy(
                update={"superseded_by": sibling["id"], "supersede_match": how}
            )
    outcome.records = records
    if keep_own_rows:
        _store_rows(state, me, records)
    _add_entry(state, key("amended", original["id"]), {"id": me, "accepted": accepted})
    return outcome


def _original(filing: Filing, state: State, keep_own_rows: bool = True) -> AmendmentOutcome:
    me = identity(filing)
    records = transaction_records(filing)
    _index_original(filing, me, state)
    # What amendments already superseded, when this is the original again (a redelivery, a replay).
    restated: dict[int, tuple[str, str | None]] = {
        n: (r.superseded_by, r.supersede_match)
        for n, r in enumerate(_load_rows(state, me))
        if r.superseded_by is not None
    }
    waiting = sorted(_waiting_for(filing, me, state), key=lambda found: _acceptance_order(found[0]))
    linked: list[tuple[dict[str, Any], list[TransactionRecord]]] = []
    for entry, method in waiting:
        rows = [
            r.model_copy(update={"amends_accession": me, "amendment_link_method": method})
            for r in _load_rows(state, entry["id"])
        ]
        for i, _, how in match_rows(records, rows):
            restated[i] = (entry["id"], how)  # in acceptance order: the latest amendment wins
        linked.append((entry, rows))
        _mark_linked(filing, entry, me, method, state)
    relinked: list[TransactionRecord] = []
    retract: list[HoldingRetraction] = []
    for n, (entry, rows) in enumerate(linked):
        for later, later_rows in linked[n + 1 :]:  # each amendment's rows a later-accepted one restates
            pairs = match_rows(rows, later_rows)
            for i, _, how in pairs:
                rows[i] = rows[i].model_copy(update={"superseded_by": later["id"], "supersede_match": how})
            retract += _stale_lines(rows, pairs, later["id"])
        _store_rows(state, entry["id"], rows)
        sibling = {"id": entry["id"], "accepted": entry.get("accepted")}
        _add_entry(state, key("amended", me), sibling)
        relinked += rows
    records = [
        r.model_copy(update={"superseded_by": restated[n][0], "supersede_match": restated[n][1]})
        if n in restated
        else r
        for n, r in enumerate(records)
    ]
    if keep_own_rows:
        _store_rows(state, me, records)
    return AmendmentOutcome(records=records, relinked=relinked, retract=retract)


def _is_later(accepted: str | None, than: str | None) -> bool:
    """Accepted after ``than``; when either time is unknown, arrival order stands (what is stored came first)."""
    return accepted is not None and than is not None and accepted > than


def _acceptance_order(entry: dict[str, Any]) -> str:
    return entry.get("accepted") or ""
