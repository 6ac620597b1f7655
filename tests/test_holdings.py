"""Holdings (last reported balance wins, in event order) and transaction records, without a broker.

Amendments are tested in tests/test_amendments.py."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from streams.holdings import apply, replay
from streams.parse import parse_filing
from streams.records import holding_candidates, holding_key_string, transaction_records
from tests.fixtures_index import fixture_bytes

LRCX_AMENDMENT = "txt/7a623a2c1264.txt"  # 4/A of 2025-01-21, dateOfOriginalSubmission 2024-11-04
SOFTBANK = "txt/0de306b08345.txt"  # 8 joint filers


def test_candidates_for_every_owner_of_a_joint_filing_marked_with_the_group() -> None:
    filing = parse_filing(fixture_bytes(SOFTBANK))
    candidates = holding_candidates(filing)
    owners = {c.key.owner_cik for c in candidates}
    assert owners == set(filing.derived.reporting_owner_ciks)
    assert all(c.joint_group == filing.derived.reporting_owner_ciks for c in candidates)
    rows_with_balance = [
        r
        for r in [*filing.transactions, *filing.holdings]
        if r.shares_owned_following is not None or r.value_owned_following is not None
    ]
    assert len(candidates) == len(rows_with_balance) * len(owners)


def test_last_reported_balance_wins_whatever_the_arrival_order() -> None:
    filing = parse_filing(fixture_bytes("xml/e364df9da26c.xml"))  # TSLA: many same-day sale tranches
    candidates = holding_candidates(filing)
    in_order = replay(candidates)
    shuffled = candidates[:]
    random.Random(7).shuffle(shuffled)
    for seed in range(20):  # previous_shares_owned included: the newest row below the current one
        random.Random(seed).shuffle(shuffled)
        assert replay(shuffled) == in_order
    last_row = [c for c in candidates if c.source_kind == "transaction"][-1]
    assert in_order[holding_key_string(last_row.key)].shares_owned == last_row.shares_owned


def test_an_older_row_never_overwrites_newer_state_and_a_replay_changes_nothing() -> None:
    filing = parse_filing(fixture_bytes("txt/a6ab43128199.txt"))
    first, *_, last = [c for c in holding_candidates(filing) if c.source_kind == "transaction"]
    assert first.key == last.key
    state = apply(None, last)
    assert state is not None
    late = apply(state, first)  # an older row arriving late: the balance before, never the balance
    assert (
        late is not None
        and late.shares_owned == last.shares_owned
        and late.source_row_id == last.source_row_id
    )
    assert late.previous is not None and late.previous.source_row_id == first.source_row_id
    assert apply(late, first) is None  # the same older row again
    assert apply(state, last) is None  # the same row again
    later = last.model_copy(
        update={"as_of_date": last.as_of_date + timedelta(days=1), "shares_owned": Decimal(5)}
    )
    moved = apply(state, later)
    assert moved is not None and moved.shares_owned == 5 and moved.previous_shares_owned == last.shares_owned


def test_transaction_records_carry_the_filing_context() -> None:
    filing = parse_filing(fixture_bytes(SOFTBANK))
    records = transaction_records(filing)
    assert len(records) == len(filing.transactions)
    first = records[0]
    assert first.accession_number == "0001493152-25-009612"
    assert first.issuer.cik == filing.issuer.cik
    assert [o.cik for o in first.reporting_owners] == [o.cik for o in filing.reporting_owners]
    assert first.joint_group == filing.derived.reporting_owner_ciks and len(first.joint_group) == 8
    assert first.txn_id == filing.transactions[0].txn_id
    assert first.model_dump(mode="json")["shares"] == str(filing.transactions[0].shares)
