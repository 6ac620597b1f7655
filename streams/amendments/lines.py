"""Holding lines and amendments: the candidates of rows already superseded are dropped, and the lines whose
balance came from a superseded row are retracted when the restating row will not overwrite them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from streams.holdings import order
from streams.models import Filing, HoldingKey, HoldingRetraction, HoldingState, TransactionRecord
from streams.records import holding_candidates, holding_key, holding_key_string


def live_holding_candidates(
    candidates: list[HoldingState], records: list[TransactionRecord]
) -> list[HoldingState]:
    """The filing's holding candidates without those of rows already superseded when it arrived (an original
    that came after its amendment): a restated balance must not overwrite the amendment's."""
    stale = {r.txn_id for r in records if r.superseded_by is not None}
    return [c for c in candidates if c.source_row_id not in stale]


def _line_of(record: TransactionRecord, n: int, owner_cik: str) -> HoldingState:
    """The holding candidate an original row gave (as ``streams.records.holding_candidates`` built it)."""
    return HoldingState(
        key=holding_key(owner_cik, record.issuer.cik, record),
        shares_owned=record.shares_owned_following,
        value_owned=record.value_owned_following,
        as_of_date=record.transaction_date or record.period_of_report,
        acceptance_datetime=record.acceptance_datetime,
        source_accession=record.accession_number,
        source_row_id=record.txn_id,
        source_kind="transaction",
        source_row_index=n,
    )


def _stale_rows(
    rows: list[TransactionRecord], pairs: list[tuple[int, int, str]]
) -> Iterator[tuple[int, TransactionRecord, HoldingState]]:
    """(amending row index, restated row, its line for one owner) for each restated row that reported a balance."""
    for i, j, _ in pairs:
        row = rows[i]
        if row.shares_owned_following is None and row.value_owned_following is None:
            continue
        for owner in row.reporting_owners:
            yield j, row, _line_of(row, i, owner.cik)


def _retracting(stale: Iterable[tuple[HoldingKey, str]], by: str) -> list[HoldingRetraction]:
    """One retraction per line, naming the restated rows on it, in key order."""
    lines: dict[str, tuple[HoldingKey, list[str]]] = {}
    for line_key, row_id in stale:
        lines.setdefault(holding_key_string(line_key), (line_key, []))[1].append(row_id)
    return [
        HoldingRetraction(key=k, source_row_ids=ids, superseded_by=by)
        for _, (k, ids) in sorted(lines.items())
    ]


def _stale_lines(
    rows: list[TransactionRecord], pairs: list[tuple[int, int, str]], by: str
) -> list[HoldingRetraction]:
    """The lines of an earlier amendment's rows that a later one (both waiting for the original) restates: the
    line drops them, or forgets them as its previous balance (``streams.holdings.forget_previous``)."""
    return _retracting(((stale.key, row.txn_id) for _, row, stale in _stale_rows(rows, pairs)), by)


def _retractions(
    amendment: Filing,
    earlier: list[TransactionRecord],
    records: list[TransactionRecord],
    pairs: list[tuple[int, int, str]],
    me: str,
) -> list[HoldingRetraction]:
    """Lines of superseded rows that the amendment's restated row will not overwrite: another line (a corrected
    title, ownership, table) or an earlier as-of date. Applied before the amendment's candidates."""
    restating = {(c.key.owner_cik, c.source_row_id): c for c in holding_candidates(amendment)}

    def overwritten(j: int, stale: HoldingState) -> bool:
        new = restating.get((stale.key.owner_cik, records[j].txn_id))
        return new is not None and new.key == stale.key and order(new) >= order(stale)

    return _retracting(
        (
            (stale.key, row.txn_id)
            for j, row, stale in _stale_rows(earlier, pairs)
            if not overwritten(j, stale)
        ),
        me,
    )
