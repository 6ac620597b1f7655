"""Holdings (last reported balance wins, in event order) and amendment linking, without a broker."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from streams.amendments import AMBIGUOUS, LINK_METHOD, NO_ORIGINAL, link, remember, superseded
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
    strip = {"previous_shares_owned"}
    assert {k: v.model_dump(exclude=strip) for k, v in replay(shuffled).items()} == {
        k: v.model_dump(exclude=strip) for k, v in in_order.items()
    }
    last_row = [c for c in candidates if c.source_kind == "transaction"][-1]
    assert in_order[holding_key_string(last_row.key)].shares_owned == last_row.shares_owned


def test_an_older_row_never_overwrites_newer_state_and_a_replay_changes_nothing() -> None:
    filing = parse_filing(fixture_bytes("txt/a6ab43128199.txt"))
    first, *_, last = [c for c in holding_candidates(filing) if c.source_kind == "transaction"]
    assert first.key == last.key
    state = apply(None, last)
    assert state is not None
    assert apply(state, first) is None  # older row arriving late
    assert apply(state, last) is None  # the same row again
    later = last.model_copy(
        update={"as_of_date": last.as_of_date + timedelta(days=1), "shares_owned": Decimal(5)}
    )
    moved = apply(state, later)
    assert moved is not None and moved.shares_owned == 5 and moved.previous_shares_owned == last.shares_owned


def test_amendment_links_to_its_original_by_issuer_owners_and_date() -> None:
    amendment = parse_filing(fixture_bytes(LRCX_AMENDMENT))
    assert amendment.derived.is_amendment and amendment.date_of_original_submission == date(2024, 11, 4)
    original = amendment.model_copy(
        update={
            "accession_number": "0000707549-24-000111",
            "document_type": "4",
            "filed_date": date(2024, 11, 4),
            "acceptance_datetime": None,
            "derived": amendment.derived.model_copy(update={"is_amendment": False}),
        }
    )
    remembered = remember(original)
    original_records = transaction_records(original)
    assert remembered is not None
    found, method = link(amendment, [remembered])
    assert (found.accession_number if found else None, method) == ("0000707549-24-000111", LINK_METHOD)

    records = transaction_records(
        amendment, amends_accession=found.accession_number, amendment_link_method=method
    )
    replaced = superseded(original_records, records)
    assert [r.superseded_by for r in replaced] == [amendment.accession_number] * len(replaced)
    assert {r.txn_id for r in replaced} == {r.txn_id for r in original_records}  # it restates every row

    other_owner = remembered.model_copy(update={"owner_ciks": ["0000000001"]})
    assert link(amendment, [other_owner]) == (None, NO_ORIGINAL)
    twin = remembered.model_copy(update={"accession_number": "0000707549-24-000112"})
    assert link(amendment, [remembered, twin]) == (None, AMBIGUOUS)


def test_a_holdings_only_amendment_supersedes_no_transaction() -> None:
    amendment = parse_filing(fixture_bytes(LRCX_AMENDMENT))
    original = amendment.model_copy(update={"accession_number": "0000707549-24-000111"})
    holdings_only = amendment.model_copy(update={"transactions": []})
    assert transaction_records(original)
    assert superseded(transaction_records(original), transaction_records(holdings_only)) == []


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


def test_process_filing_links_an_amendment_supersedes_its_rows_and_corrects_holdings() -> None:
    from datetime import datetime, timedelta

    from streams.alerts import load_rules
    from streams.process import process_filing

    rules = load_rules(None)
    amendment = parse_filing(fixture_bytes(LRCX_AMENDMENT))
    original = amendment.model_copy(
        update={
            "accession_number": "0000707549-24-000111",
            "document_type": "4",
            "date_of_original_submission": None,
            "filed_date": date(2024, 11, 4),
            "acceptance_datetime": amendment.acceptance_datetime - timedelta(days=78),
            "derived": amendment.derived.model_copy(update={"is_amendment": False}),
        }
    )
    state, first = process_filing(original, None, rules)
    assert [r.accession_number for r in state.recent] == ["0000707549-24-000111"]
    published = {original.accession_number: first.records}

    _, second = process_filing(amendment, state, rules, published)
    assert {r.amends_accession for r in second.records} == {"0000707549-24-000111"}
    assert {r.amendment_link_method for r in second.records} == {LINK_METHOD}
    assert {r.superseded_by for r in second.superseded} == {amendment.accession_number}
    assert {r.txn_id for r in second.superseded} == {r.txn_id for r in first.records}

    # The amendment's balances (same as-of dates, later acceptance) replace the original's.
    table = replay([*first.holdings, *second.holdings])
    assert {s.source_accession for s in table.values()} == {amendment.accession_number}
    assert isinstance(amendment.acceptance_datetime, datetime)
