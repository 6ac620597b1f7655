"""Drift check, the pure part: the holding lines the output topics imply, compared with the lines a worker serves.

The expected table is rebuilt with the worker's own functions, never a second rule:

- every filing on ``form4.filings`` gives its holding candidates (``streams.records.holding_candidates``, as the
  process step does). Filings are read, not only ``form4.transactions``: holding rows (a Form 3, a holdings
  table) report balances but are not transactions, so the records alone cannot rebuild those lines;
- a candidate whose row the latest record on ``form4.transactions`` marks ``superseded_by`` an amendment is not
  live: the worker drops it on arrival (``streams.amendments.live_holding_candidates``) or replaces or retracts
  it when the amendment comes (``streams.amendments``);
- of a line's live candidates the greatest by ``streams.holdings.order`` (as-of date, acceptance time, position
  in the filing) stands: the last-reported-balance rule of ``streams.holdings.apply``, which does not depend on
  arrival order. Candidates tied on that order (bare documents carry no acceptance time) are equally right: the
  one that arrived last stands, so any of them is accepted.

Where a superseded row outranks every live row of its line, the worker's result depends on arrival order
(README, Amendments): an original processed before its amendment has the line retracted, and only rows
arriving after that set it again; an amendment processed first leaves the best live row. There the line may be
absent, or hold any live row older than the superseded one, and both are accepted.

Compared: every field of the line (``streams.models.HoldingState``) but ``previous_shares_owned``, which is the
balance the line had before, so it depends on arrival order. The balance (``shares_owned``, ``value_owned``)
is what matters to a reader; the order fields (``as_of_date``, ``acceptance_datetime``, ``source_row_index``)
and the source (``source_accession``, ``source_row_id``, ``source_kind``) are compared too, because a line
whose balance happens to be right but comes from another row (an older row overwriting newer state) is drift;
the descriptive fields (``joint_group``, ``amended``, issuer and owner names) follow from the source row.
Values are compared as values: decimals numerically, times as instants.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from streams.amendments import _line_of
from streams.holdings import order
from streams.models import Filing, HoldingState, TransactionRecord
from streams.process import identity
from streams.records import holding_candidates, holding_key_string

#: The fields of a line that are compared, in the order a difference lists them.
COMPARED_FIELDS: tuple[str, ...] = tuple(
    name
    for name in HoldingState.model_fields
    if name not in ("key", "previous_shares_owned", "previous", "restates_row_ids")
)

Kind = Literal["missing", "unexpected", "different"]


@dataclass(frozen=True)
class Difference:
    """One holding line on which the worker and the recomputation disagree.

    ``missing``: expected, the worker has none; ``unexpected``: the worker has a line no live row reports;
    ``different``: both have it, ``fields`` say which compared fields differ (from the closest expected line).
    """

    key: str
    kind: Kind
    fields: tuple[str, ...] = ()
    expected: HoldingState | None = None
    served: HoldingState | None = None
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "fields": list(self.fields),
            "expected": self.expected.model_dump(mode="json") if self.expected else None,
            "served": self.served.model_dump(mode="json") if self.served else None,
            "note": self.note,
        }

    def describe(self) -> str:
        """One readable line: what differs, the worker's value first."""
        if self.kind == "missing":
            text = f"expected {_source(self.expected)}; the worker has no line"
        elif self.kind == "unexpected":
            text = f"the worker has {_source(self.served)}; no live row reports this line"
        else:
            text = "; ".join(
                f"{name}: worker {_value(self.served, name)}, expected {_value(self.expected, name)}"
                for name in self.fields
            )
        note = f" ({self.note})" if self.note else ""
        return f"{self.kind:<10}  {self.key}  {text}{note}"


def _value(line: HoldingState | None, name: str) -> str:
    value = getattr(line, name, None)
    if value is None:
        return "none"
    if isinstance(value, list):
        return ",".join(map(str, value)) or "[]"
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _source(line: HoldingState | None) -> str:
    if line is None:
        return "nothing"
    balance = f"{line.shares_owned} shares" if line.shares_owned is not None else f"value {line.value_owned}"
    when = line.as_of_date.isoformat() if line.as_of_date else "no date"
    return f"{balance} as of {when} from {line.source_accession or line.source_row_id} {line.source_kind} row {line.source_row_index}"


def same(served: HoldingState, expected: HoldingState) -> bool:
    return not differing_fields(served, expected)


def differing_fields(served: HoldingState, expected: HoldingState) -> tuple[str, ...]:
    return tuple(name for name in COMPARED_FIELDS if getattr(served, name) != getattr(expected, name))


@dataclass
class _Line:
    """What the recomputation knows of one line: its greatest live candidates (ties by row id), its greatest
    superseded candidate, and, on a line an amendment superseded a row of, every live candidate."""

    best: dict[str, HoldingState] = field(default_factory=dict)
    superseded: HoldingState | None = None
    live: dict[str, HoldingState] | None = None

    def outranked(self) -> bool:
        """A superseded row is above every live row: the worker's result depends on arrival order."""
        if self.superseded is None:
            return False
        return not self.best or order(self.superseded) > order(next(iter(self.best.values())))

    def accepts(self, served: HoldingState | None) -> bool:
        if served is None:
            return not self.best or self.outranked()
        if any(same(served, c) for c in self.best.values()):
            return True
        if self.outranked() and self.live is not None and self.superseded is not None:
            live = self.live.get(served.source_row_id)
            return live is not None and same(served, live) and order(live) < order(self.superseded)
        return False


class Expectation:
    """The holding lines the topics imply, folded one filing at a time: memory grows with lines, not filings.

    ``records``: the latest record of every key on form4.transactions (only the superseded ones matter), all
    given before the first filing. Feed each filing once with :meth:`add` (the latest value of its key); a key
    fed again with other holding candidates (a reprocess that changed them, before compaction) is listed in
    ``rewritten``: the fold then holds both versions, so fold again with only the latest ones.
    """

    def __init__(self, records: Iterable[TransactionRecord] = ()) -> None:
        self.superseded_by: dict[str, str] = {}
        self.watched: set[str] = set()
        for record in records:
            if record.superseded_by is None:
                continue
            self.superseded_by[record.txn_id] = record.superseded_by
            if record.shares_owned_following is None and record.value_owned_following is None:
                continue
            for owner in record.reporting_owners:
                self.watched.add(holding_key_string(_line_of(record, 0, owner.cik).key))
        self.lines: dict[str, _Line] = {}
        self.owners: set[str] = set()
        self.filings = 0
        self.rewritten: set[str] = set()
        self._digests: dict[str, bytes] = {}

    def add(self, filing: Filing) -> None:
        candidates = holding_candidates(filing)
        key = identity(filing)
        digest = hashlib.blake2b(
            b"\n".join(c.model_dump_json().encode() for c in candidates), digest_size=16
        ).digest()
        known = self._digests.get(key)
        if known is not None:
            if known != digest:
                self.rewritten.add(key)
            return  # the same filing again (a duplicate on the topic) changes nothing
        self._digests[key] = digest
        self.filings += 1
        self.owners.update(owner.cik for owner in filing.reporting_owners)
        for candidate in candidates:
            self._fold(candidate)

    def _fold(self, candidate: HoldingState) -> None:
        key = holding_key_string(candidate.key)
        line = self.lines.get(key)
        if line is None:
            line = self.lines[key] = _Line(live={} if key in self.watched else None)
        if candidate.source_row_id in self.superseded_by:
            if line.superseded is None or order(candidate) > order(line.superseded):
                line.superseded = candidate
            return
        if line.live is not None:
            line.live[candidate.source_row_id] = candidate
        current = next(iter(line.best.values()), None)
        if current is None or order(candidate) > order(current):
            line.best = {candidate.source_row_id: candidate}
        elif order(candidate) == order(current):
            line.best[candidate.source_row_id] = candidate

    def expected_lines(self) -> dict[str, HoldingState]:
        """The greatest live state of every line (the first of tied ones): the table a worker should serve,
        where a line a superseded row outranks may also be absent or older (see the module docstring)."""
        return {
            key: min(line.best.values(), key=lambda c: c.source_row_id)
            for key, line in self.lines.items()
            if line.best
        }


def compare(expectation: Expectation, served: Iterable[HoldingState]) -> list[Difference]:
    """The lines where ``served`` (the worker's lines of the owners asked) disagrees with ``expectation``,
    sorted by key."""
    by_key = {holding_key_string(line.key): line for line in served}
    differences = []
    for key in sorted(set(expectation.lines) | set(by_key)):
        line = expectation.lines.get(key) or _Line()
        got = by_key.get(key)
        if line.accepts(got):
            continue
        note = _note(expectation, line, got)
        if got is None:
            expected = min(line.best.values(), key=lambda c: c.source_row_id)
            differences.append(Difference(key, "missing", expected=expected, note=note))
        elif not line.best:
            differences.append(Difference(key, "unexpected", served=got, note=note))
        else:
            expected = min(line.best.values(), key=lambda c: (len(differing_fields(got, c)), c.source_row_id))
            fields = differing_fields(got, expected)
            differences.append(Difference(key, "different", fields, expected, got, note))
    return differences


def _note(expectation: Expectation, line: _Line, served: HoldingState | None) -> str | None:
    if served is not None and served.source_row_id in expectation.superseded_by:
        return f"the worker's row is superseded by {expectation.superseded_by[served.source_row_id]}"
    if line.outranked() and line.superseded is not None:
        return (
            f"row {line.superseded.source_row_id} of {line.superseded.source_accession} above it is superseded "
            f"by {expectation.superseded_by[line.superseded.source_row_id]}"
        )
    return None


def differences(
    filings: Iterable[Filing], records: Iterable[TransactionRecord], served: Iterable[HoldingState]
) -> list[Difference]:
    """Everything in one call: the latest filings and records of the topics, the lines the worker serves."""
    expectation = Expectation(records)
    for filing in filings:
        expectation.add(filing)
    return compare(expectation, served)
