"""Amendments through the State port: linking in either arrival order, what they supersede, holdings they fix.

The title-correcting 4/A of issue 12 ("Variable Rate Demand Preferred Shares" restated as "COMMON STOCK") is not
in the corpus, nor its original; both are rebuilt from a real Form 4 (TSLA 0001790565-23-000009: an option
exercise, the sale of the shares and the option row): the original with its common stock retitled as the
preferred shares, the amendment as that filing restated under "COMMON STOCK" two weeks later.
"""

from __future__ import annotations

import copy
import itertools
import json
import random
import re
from datetime import date
from decimal import Decimal

import pytest

from streams.amendments import (
    AMBIGUOUS,
    CONTENT_LINK_METHOD,
    LINK_METHOD,
    MAX_ENTRIES_PER_KEY,
    NO_ORIGINAL,
    SAME_POSITION,
    SAME_SIGNATURE,
    SIMILAR_SIGNATURE,
    AmendmentOutcome,
    _load_rows,
    amended_holding_candidates,
    amendment_step,
    live_holding_candidates,
    match_rows,
)
from streams.amendments.stored import _get_text
from streams.holdings import apply, retracts
from streams.models import Filing, HoldingState
from streams.parse import parse_filing
from streams.records import holding_candidates, holding_key_string, transaction_records
from streams.state import MAX_VALUE_BYTES, DictState, Staged, unpack
from tests.fixtures_index import fixture_bytes

TSLA = fixture_bytes("txt/881ec4fa6083.txt")
ORIGINAL = "0001790565-23-000009"
AMENDMENT = "0001790565-23-000012"
FILED = date(2023, 7, 31)
PREFERRED = "Variable Rate Demand Preferred Shares"
LRCX_AMENDMENT = "txt/7a623a2c1264.txt"  # a real 4/A: two gift rows restated for a split


def tsla(
    *,
    accession: str = ORIGINAL,
    filed: date = FILED,
    accepted_at: str = "192115",
    title: str = "Common Stock",
    cites: date | None = None,
    sale_price: str | None = None,
    bare: bool = False,
) -> Filing:
    """The real TSLA filing, changed only where a test says: accession, dates, the common stock rows' title,
    the sale price, made a 4/A citing ``cites``, or reduced to its bare ownership XML."""
    data = TSLA.replace(ORIGINAL.encode(), accession.encode())
    data = data.replace(b"20230731192115", f"{filed:%Y%m%d}{accepted_at}".encode())
    data = data.replace(b"20230731", f"{filed:%Y%m%d}".encode())
    data = re.sub(
        rb"(<nonDerivativeTransaction>\s*<securityTitle>\s*<value>)Common Stock(</value>)",
        lambda m: m.group(1) + title.encode() + m.group(2),
        data,
    )
    if sale_price is not None:
        data = data.replace(b"<value>268.23</value>", f"<value>{sale_price}</value>".encode())
    if cites is not None:
        data = re.sub(rb"(TYPE:\s*)4\n", rb"\g<1>4/A\n", data)
        data = data.replace(b"<documentType>4</documentType>", b"<documentType>4/A</documentType>")
        data = data.replace(
            b"</periodOfReport>",
            f"</periodOfReport><dateOfOriginalSubmission>{cites}</dateOfOriginalSubmission>".encode(),
        )
    if bare:
        data = data[data.index(b"<?xml") : data.index(b"</XML>")].strip()
    filing = parse_filing(data)
    assert filing.derived.is_amendment == (cites is not None)
    return filing


def original() -> Filing:
    return tsla(title=PREFERRED)


def amendment(**changes: object) -> Filing:
    fields: dict[str, object] = {
        "accession": AMENDMENT,
        "filed": date(2023, 8, 14),
        "accepted_at": "161502",
        "title": "COMMON STOCK",
        "cites": FILED,
    }
    return tsla(**(fields | changes))  # type: ignore[arg-type]


def run(state: DictState, *filings: Filing) -> list[tuple[Filing, AmendmentOutcome]]:
    return [(f, amendment_step(f, state)) for f in filings]


def published(steps: list[tuple[Filing, AmendmentOutcome]]) -> dict[str, dict[str, object]]:
    """What a compacted form4.transactions holds afterwards: the last record per txn_id."""
    out: dict[str, dict[str, object]] = {}
    for _, outcome in steps:
        for record in [*outcome.records, *outcome.superseded, *outcome.relinked]:
            out[record.txn_id] = record.model_dump(mode="json")
    return out


def holdings(steps: list[tuple[Filing, AmendmentOutcome]]) -> dict[str, HoldingState]:
    """The holdings table afterwards, wired as the pipeline must: retractions, then the live candidates."""
    table: dict[str, HoldingState] = {}
    for filing, outcome in steps:
        for retraction in outcome.retract:
            line = holding_key_string(retraction.key)
            if retracts(table.get(line), retraction):
                del table[line]
        for candidate in amended_holding_candidates(filing, outcome):
            line = holding_key_string(candidate.key)
            new = apply(table.get(line), candidate)
            if new is not None:
                table[line] = new
    return table


def test_an_amendment_correcting_the_title_supersedes_the_rows_it_restates_and_the_stale_line_goes() -> None:
    state = DictState()
    (_, first), (_, second) = steps = run(state, original(), amendment())
    assert {r.security_title for r in first.records if r.table == "non_derivative"} == {PREFERRED}

    assert {(r.amends_accession, r.amendment_link_method) for r in second.records} == {
        (ORIGINAL, LINK_METHOD)
    }
    assert {r.txn_id for r in second.superseded} == {r.txn_id for r in first.records}
    assert {r.superseded_by for r in second.superseded} == {AMENDMENT}
    how = {(r.table, r.transaction_code): r.supersede_match for r in second.superseded}
    # The retitled exercise and sale differ by their title only; the untouched option row is the same row.
    assert how == {
        ("non_derivative", "M"): SIMILAR_SIGNATURE,
        ("non_derivative", "S"): SIMILAR_SIGNATURE,
        ("derivative", "M"): SAME_SIGNATURE,
    }
    # As-filed values of the superseded rows are republished unchanged.
    assert [r.model_dump(exclude={"superseded_by", "supersede_match"}) for r in second.superseded] == [
        r.model_dump(exclude={"superseded_by", "supersede_match"}) for r in first.records
    ]

    assert [(r.key.security_title, r.source_row_ids) for r in second.retract] == [
        (PREFERRED.upper(), [first.records[0].txn_id, first.records[1].txn_id])
    ]
    table = holdings(steps)
    assert {line.key.security_title for line in table.values()} == {
        "COMMON STOCK",
        "NON-QUALIFIED STOCK OPTION (RIGHT TO BUY)",
    }
    assert {line.source_accession for line in table.values()} == {AMENDMENT}
    common = [line for line in table.values() if line.key.security_title == "COMMON STOCK"]
    assert [line.shares_owned for line in common] == [Decimal("66834.25")]


def test_a_retraction_leaves_a_line_that_a_newer_filing_reported_since() -> None:
    state = DictState()
    steps = run(state, original())
    newer = tsla(accession="0001790565-23-000010", filed=date(2023, 8, 1), title=PREFERRED)
    newer_candidates = holding_candidates(newer)
    steps += [(newer, AmendmentOutcome(records=[]))]
    steps += run(state, amendment())
    table = holdings(steps)
    preferred = [line for line in table.values() if line.key.security_title == PREFERRED.upper()]
    assert [line.source_row_id for line in preferred] == [newer_candidates[1].source_row_id]


def test_a_partial_amendment_supersedes_only_what_it_restates() -> None:
    corrected = amendment(title="Common Stock", sale_price="268.32")
    sale_only = corrected.model_copy(update={"transactions": [corrected.transactions[1]]})
    state = DictState()
    (_, first), (_, second) = run(state, tsla(), sale_only)
    assert [(r.txn_id, r.supersede_match) for r in second.superseded] == [
        (first.records[1].txn_id, SIMILAR_SIGNATURE)
    ]
    assert second.retract == []  # the same line, a later acceptance: the amendment's balance replaces it


def test_a_row_the_amendment_adds_does_not_take_a_row_it_leaves_alone() -> None:
    exercise, sale, option = tsla().transactions
    restated = sale.model_copy(update={"price_per_share": Decimal("268.32")})
    added = sale.model_copy(
        update={"shares": Decimal(400), "price_per_share": Decimal("270.01"), "row_index": 2}
    )
    added.shares_owned_following = Decimal("66434.25")
    # The amendment restates the sale at a corrected price and adds a sale it had forgotten.
    assert match_rows([exercise, sale, option], [exercise, restated, added, option]) == [
        (0, 0, SAME_SIGNATURE),
        (1, 1, SIMILAR_SIGNATURE),
        (2, 3, SAME_SIGNATURE),
    ]
    # As many rows in the table: a row restated beyond recognition pairs by position.
    assert match_rows([exercise, sale], [exercise, added]) == [(0, 0, SAME_SIGNATURE), (1, 1, SAME_POSITION)]
    # Reordered rows still pair with their twins.
    assert match_rows([exercise, sale, option], [option, sale, exercise]) == [
        (0, 2, SAME_SIGNATURE),
        (1, 1, SAME_SIGNATURE),
        (2, 0, SAME_SIGNATURE),
    ]


def test_a_holdings_only_amendment_supersedes_no_transaction() -> None:
    lrcx = parse_filing(fixture_bytes(LRCX_AMENDMENT))
    assert lrcx.date_of_original_submission == date(2024, 11, 4)
    earlier = parse_filing(
        fixture_bytes(LRCX_AMENDMENT)
        .replace(b"0000707549-25-000004", b"0000707549-24-000111")
        .replace(b"20250121", b"20241104")
        .replace(b"4/A", b"4")
        .replace(b"<dateOfOriginalSubmission>2024-11-04</dateOfOriginalSubmission>", b"")
        .replace(b"<value>3690</value>", b"<value>369</value>")  # before the ten-for-one split
        .replace(b"<value>30630</value>", b"<value>3063</value>")
    )
    assert not earlier.derived.is_amendment and earlier.transactions
    state = DictState()
    _, (_, outcome) = run(state, earlier, lrcx.model_copy(update={"transactions": []}))
    assert (outcome.records, outcome.superseded, outcome.retract) == ([], [], [])
    # The real 4/A restating both rows for the split (shares and balance changed) supersedes both, and its
    # balances replace the original's on the same lines.
    state = DictState()
    steps = run(state, earlier, lrcx)
    restating = steps[1][1]
    assert {(r.amends_accession, r.amendment_link_method) for r in restating.records} == {
        ("0000707549-24-000111", LINK_METHOD)
    }
    assert [r.supersede_match for r in restating.superseded] == [SIMILAR_SIGNATURE, SIMILAR_SIGNATURE]
    assert restating.retract == []
    table = holdings(steps)
    assert sorted((line.shares_owned, line.source_accession) for line in table.values()) == [
        (Decimal(0), lrcx.accession_number),
        (Decimal(30630), lrcx.accession_number),
    ]


def test_only_a_unique_original_of_the_same_owners_filed_or_accepted_that_day_links() -> None:
    state = DictState()
    run(state, original())
    other_owner = amendment().model_copy(deep=True)
    other_owner.derived.reporting_owner_ciks = ["0000000001"]
    assert {r.amendment_link_method for r in amendment_step(other_owner, state).records} == {NO_ORIGINAL}

    twin = tsla(accession="0001790565-23-000010", title=PREFERRED)
    run(state, twin)
    outcome = amendment_step(amendment(), state)
    assert {(r.amends_accession, r.amendment_link_method) for r in outcome.records} == {(None, AMBIGUOUS)}
    assert outcome.superseded == [] and outcome.retract == []

    # Accepted after hours on the 31st, filed as of 1 August: either date links.
    late = DictState()
    run(
        late,
        tsla(filed=date(2023, 8, 1), title=PREFERRED).model_copy(
            update={"acceptance_datetime": original().acceptance_datetime}
        ),
    )
    for cites in (date(2023, 8, 1), date(2023, 7, 31)):
        outcome = amendment_step(amendment(cites=cites), DictState(copy.deepcopy(late.data)))
        assert {(r.amends_accession, r.amendment_link_method) for r in outcome.records} == {
            (ORIGINAL, LINK_METHOD)
        }


def test_an_amendment_before_its_original_links_when_the_original_arrives_and_both_orders_converge() -> None:
    state = DictState()
    (_, early), (_, late) = steps = run(state, amendment(), original())
    assert {r.amendment_link_method for r in early.records} == {NO_ORIGINAL}
    assert early.superseded == []

    assert {(r.superseded_by, r.supersede_match) for r in late.records} == {
        (AMENDMENT, SIMILAR_SIGNATURE),
        (AMENDMENT, SAME_SIGNATURE),
    }
    assert [r.txn_id for r in late.relinked] == [r.txn_id for r in early.records]
    assert {(r.amends_accession, r.amendment_link_method) for r in late.relinked} == {(ORIGINAL, LINK_METHOD)}

    in_order = run(DictState(), original(), amendment())
    assert published(steps) == published(in_order)
    assert holdings(steps) == holdings(in_order)  # previous_shares_owned included
    assert not any(line.key.security_title == PREFERRED.upper() for line in holdings(steps).values())


@pytest.mark.parametrize(
    "order",
    [("original", "amendment"), ("amendment", "original"), ("amendment",), ("original",)],
)
def test_every_step_again_gives_the_same_outcome_and_writes_nothing_new(order: tuple[str, ...]) -> None:
    make = {"original": original, "amendment": amendment}
    state = DictState()
    for name in order:
        filing = make[name]()
        first = amendment_step(filing, state)
        before = copy.deepcopy(state.data)
        again = amendment_step(filing, state)
        assert again == first
        assert state.data == before


def test_bare_documents_link_by_content_in_either_order_and_never_guess() -> None:
    bare_original = tsla(title=PREFERRED, bare=True)
    bare_amendment = amendment(bare=True)
    assert bare_original.accession_number is None and bare_original.filed_date is None
    original_id, amendment_id = f"sha256:{bare_original.raw_sha256}", f"sha256:{bare_amendment.raw_sha256}"

    (_, first), (_, second) = in_order = run(DictState(), bare_original, bare_amendment)
    assert {(r.amends_accession, r.amendment_link_method) for r in second.records} == {
        (original_id, CONTENT_LINK_METHOD)
    }
    assert {r.superseded_by for r in second.superseded} == {amendment_id}
    assert len(second.superseded) == len(first.records)
    reversed_order = run(DictState(), bare_amendment, bare_original)
    assert published(reversed_order) == published(in_order)

    # Two bare originals with the same rows (one re-signed): no guess, either way round.
    resigned_xml = TSLA[TSLA.index(b"<?xml") : TSLA.index(b"</XML>")].strip()
    resigned = parse_filing(re.sub(rb"2023-07-31(</signatureDate>)", rb"2023-08-01\1", resigned_xml))
    resigned = resigned.model_copy(update={"transactions": bare_original.transactions})
    assert resigned.raw_sha256 != bare_original.raw_sha256
    state = DictState()
    run(state, bare_original, resigned)
    assert {r.amendment_link_method for r in amendment_step(bare_amendment, state).records} == {AMBIGUOUS}
    state = DictState()
    run(state, bare_amendment, bare_original)
    assert amendment_step(resigned, state).relinked == []  # the amendment already linked stays linked

    # Other rows (another date): no link by content.
    moved = amendment(bare=True).model_copy(deep=True)
    for row in moved.transactions:
        row.transaction_date = date(2023, 7, 28)
    state = DictState()
    run(state, bare_original)
    assert {r.amendment_link_method for r in amendment_step(moved, state).records} == {NO_ORIGINAL}

    # A bare amendment of a dated original links by date; the superseded rows name it by its hash.
    state = DictState()
    _, (_, outcome) = run(state, original(), bare_amendment)
    assert {(r.amends_accession, r.amendment_link_method) for r in outcome.records} == {
        (ORIGINAL, LINK_METHOD)
    }
    assert {r.superseded_by for r in outcome.superseded} == {amendment_id}


def _largest_pair() -> tuple[Filing, Filing, int]:
    """1,000 rows citing long footnotes (over 1 MB), and an amendment restating every row under another title."""
    start, end = TSLA.index(b"<nonDerivativeTransaction>"), TSLA.index(b"</nonDerivativeTransaction>")
    row = TSLA[start : end + len(b"</nonDerivativeTransaction>")]
    row = row.replace(b'<footnoteId id="F1"/>', b"".join(b'<footnoteId id="F%d"/>' % n for n in range(1, 11)))
    rows = b"".join(
        row.replace(b"<value>10500</value>", b"<value>%d</value>" % (n + 1)).replace(
            b"<value>77334.25</value>", b"<value>%d</value>" % (70000 + n)
        )
        for n in range(1000)
    )
    footnotes = b"".join(
        b'<footnote id="F%d">%s</footnote>' % (n, b"A long note. " * 600) for n in range(2, 11)
    )
    footnotes += b'<footnote id="F1">%s</footnote>' % (b"A very long note. " * 6000)  # over 100 KB
    data = TSLA[:start] + rows + TSLA[TSLA.index(b"</nonDerivativeTable>") :]
    data = re.sub(
        rb"<footnotes>.*</footnotes>", b"<footnotes>" + footnotes + b"</footnotes>", data, flags=re.S
    )
    big = parse_filing(data, max_bytes=3_000_000)
    assert len(big.transactions) == 1001 and len(data) > 1_000_000
    restated = parse_filing(
        data.replace(ORIGINAL.encode(), AMENDMENT.encode())
        .replace(b"20230731", b"20230814")
        .replace(b"<value>Common Stock</value>", b"<value>Ordinary Shares</value>")
        .replace(b"<documentType>4</documentType>", b"<documentType>4/A</documentType>")
        .replace(
            b"</periodOfReport>",
            b"</periodOfReport><dateOfOriginalSubmission>2023-07-31</dateOfOriginalSubmission>",
        ),
        max_bytes=3_000_000,
    )
    return big, restated, len(data)


def test_the_largest_legal_filing_is_remembered_in_small_values() -> None:
    """1,000 rows citing long footnotes (over 1 MB): every state value stays under the port's ceiling, and an
    amendment restating every row under another title supersedes all of them."""
    big, restated, size = _largest_pair()
    state = DictState()
    (_, first), (_, second) = run(state, big, restated)
    largest = max(len(json.dumps(v).encode()) for v in state.data.values())
    assert largest <= MAX_VALUE_BYTES
    # The 100 KB footnote is kept once, as the row cites it (the parser bounds a row's footnote texts to 8 KB).
    texts = [unpack(t) for t in (_get_text(state, f"rec|{f.accession_number}") for f in (big, restated)) if t]
    copies = sum(t.count("A very long note.") for t in texts) / (8192 // 18)
    assert 1 <= copies < 3
    # Each footnote is kept once, not once per row citing it (else about 170 MB): the state is about the filing
    # (twice its size with both filings' records and their fields, 70 times with a copy per citing row).
    assert sum(len(json.dumps(v)) for v in state.data.values()) < 3 * size
    assert len(second.superseded) == 1001
    assert {r.supersede_match for r in second.superseded} == {SIMILAR_SIGNATURE, SAME_SIGNATURE}
    assert [r.model_dump(exclude={"superseded_by", "supersede_match"}) for r in second.superseded] == [
        r.model_dump(exclude={"superseded_by", "supersede_match"}) for r in first.records
    ]


def test_amendments_waiting_for_their_original_are_bounded() -> None:
    state = DictState()
    for n in range(3 * MAX_ENTRIES_PER_KEY):
        amendment_step(amendment(accession=f"0001790565-23-{100 + n:06d}"), state)
    waiting = {k: v for k, v in state.data.items() if k.startswith("amend|")}
    assert waiting and all(len(v) == MAX_ENTRIES_PER_KEY for v in waiting.values())
    # The most recent ones wait; when the original comes, each of them is relinked.
    outcome = amendment_step(original(), state)
    assert {r.accession_number for r in outcome.relinked} == {
        f"0001790565-23-{100 + n:06d}" for n in range(2 * MAX_ENTRIES_PER_KEY, 3 * MAX_ENTRIES_PER_KEY)
    }


def test_the_original_again_after_its_amendment_republishes_its_rows_superseded() -> None:
    """A replay of the original (no dedup in front) must not undo what its amendment superseded."""
    state = DictState()
    steps = run(state, original(), amendment())
    steps += run(state, original())
    assert {r.superseded_by for r in steps[-1][1].records} == {AMENDMENT}
    assert published(steps) == published(run(DictState(), original(), amendment()))


def test_many_filings_in_any_order_through_staged_state_converge() -> None:
    """Three originals and their title-correcting amendments, shuffled, each step run on a Staged overlay that
    is applied afterwards as the agent does: the same records and holdings every time."""
    filings = []
    for n, filed in enumerate((date(2023, 7, 31), date(2023, 8, 1), date(2023, 8, 2))):
        filings.append(tsla(accession=f"0001790565-23-{10 + n:06d}", filed=filed, title=PREFERRED))
        filings.append(
            amendment(accession=f"0001790565-23-{20 + n:06d}", filed=date(2023, 8, 14 + n), cites=filed)
        )
    outcomes = []
    for seed in range(12):
        shuffled = filings[:]
        random.Random(seed).shuffle(shuffled)
        table = DictState()
        steps = []
        for filing in shuffled:
            staged = Staged(table.get)
            steps.append((filing, amendment_step(filing, staged)))
            staged.apply(table)
        lines = {k: v.model_dump() for k, v in holdings(steps).items()}
        outcomes.append((published(steps), lines))
        records = published(steps)
        assert sum(r["superseded_by"] is not None for r in records.values()) == 9
        assert {r["amendment_link_method"] for r in records.values() if r["is_amendment"]} == {LINK_METHOD}
    assert all(outcome == outcomes[0] for outcome in outcomes)
    assert {line["key"]["security_title"] for line in outcomes[0][1].values()} == {
        "COMMON STOCK",
        "NON-QUALIFIED STOCK OPTION (RIGHT TO BUY)",
    }


def test_originals_of_one_day_are_bounded_and_stay_ambiguous() -> None:
    state = DictState()
    for n in range(3 * MAX_ENTRIES_PER_KEY):
        amendment_step(tsla(accession=f"0001790565-23-{100 + n:06d}", title=PREFERRED), state)
    dated = {k: v for k, v in state.data.items() if k.startswith("orig|")}
    assert dated and all(len(v) == MAX_ENTRIES_PER_KEY for v in dated.values())
    assert {r.amendment_link_method for r in amendment_step(amendment(), state).records} == {AMBIGUOUS}


def test_every_fixture_filing_comes_back_from_state_exactly_as_published() -> None:
    """What an amendment republishes is read back from state: it must equal what was published, on every kind
    of filing the fixtures hold (joint filers, footnotes everywhere, Latin-1, recovered XML)."""
    from streams.amendments import _load_rows, _store_rows
    from streams.parse import ParseError
    from tests.fixtures_index import all_fixture_paths

    checked = 0
    for path in all_fixture_paths():
        try:
            filing = parse_filing(path.read_bytes())
        except ParseError:
            continue
        records = transaction_records(filing)
        state = DictState()
        _store_rows(state, "id", records)
        back = [r.model_dump(mode="json") for r in _load_rows(state, "id")]
        assert back == [r.model_dump(mode="json") for r in records], path.name
        checked += len(records)
    assert checked > 150


def test_process_filing_publishes_the_link_and_the_superseded_rows() -> None:
    from streams.alerts import load_rules
    from streams.process import process_filing

    rules, state = load_rules(None), DictState()
    first = process_filing(original(), state, rules)
    second = process_filing(amendment(), state, rules)
    assert {(r.amends_accession, r.amendment_link_method) for r in second.records} == {
        (ORIGINAL, LINK_METHOD)
    }
    assert {r.txn_id for r in second.superseded} == {r.txn_id for r in first.records}
    assert {r.superseded_by for r in second.superseded} == {AMENDMENT}


def test_the_holdings_state_drops_the_stale_line_through_retract_line() -> None:
    """The owner-side wiring: retract_line for each retraction, then update_line for each live candidate."""
    from streams.holdings import lines, retract_line, update_line

    filings, holdings_state = DictState(), DictState()
    index = "o|0001790565"
    dropped = []
    for filing, outcome in run(filings, original(), amendment()):
        dropped += [gone for r in outcome.retract if (gone := retract_line(holdings_state, r)) is not None]
        for candidate in live_holding_candidates(holding_candidates(filing), outcome.records):
            update_line(holdings_state, index, candidate)
    assert [line.key.security_title for line in dropped] == [PREFERRED.upper()]
    assert sorted(line["key"]["security_title"] for line in lines(holdings_state, index)) == [
        "COMMON STOCK",
        "NON-QUALIFIED STOCK OPTION (RIGHT TO BUY)",
    ]


def test_a_kill_between_the_writes_of_a_long_text_leaves_a_whole_version() -> None:
    """The original's 1,000 rows span many values; the amendment rewrites them (now superseded). Whatever prefix
    of the amendment's state writes reached the store before a kill, the rows read back whole: all as before or
    all superseded, never a mix and never unreadable."""
    big, restated, _ = _largest_pair()
    state = DictState()
    amendment_step(big, state)
    staged = Staged(state.get)
    amendment_step(restated, staged)
    writes = list(staged.items())
    assert len(writes) > 5  # many values: the (packed) text spans them
    for cut in sorted({0, 1, 2, len(writes) // 2, len(writes) - 2, len(writes) - 1, len(writes)}):
        torn = DictState(copy.deepcopy(state.data))
        for k, v in writes[:cut]:
            torn.put(k, v)
        rows = list(_load_rows(torn, ORIGINAL))
        assert len(rows) == 1001, cut
        assert len({r.superseded_by for r in rows}) == 1, cut


SECOND_AMENDMENT = "0001790565-23-000013"


def second_amendment() -> Filing:
    """A second 4/A of the same original, accepted a day after the first: it restates every row again and
    corrects the sale price."""
    return amendment(
        accession=SECOND_AMENDMENT, filed=date(2023, 8, 15), accepted_at="101500", sale_price="268.32"
    )


@pytest.mark.parametrize("order", list(itertools.permutations(("original", "first", "second"))))
def test_a_second_amendment_supersedes_the_first_in_any_arrival_order(order: tuple[str, ...]) -> None:
    """Whatever order the original and its two amendments arrive in, what the compacted topic ends up with
    is the same: the later-accepted amendment's rows live, the original's and the first amendment's rows
    superseded by it, and the holdings are the second amendment's."""
    make = {"original": original, "first": amendment, "second": second_amendment}
    steps = run(DictState(), *(make[name]() for name in order))
    final = published(steps)
    by_filing: dict[str, set[object]] = {}
    for record in final.values():
        by_filing.setdefault(str(record["accession_number"]), set()).add(record["superseded_by"])
    assert by_filing == {
        ORIGINAL: {SECOND_AMENDMENT},
        AMENDMENT: {SECOND_AMENDMENT},
        SECOND_AMENDMENT: {None},
    }
    assert {r["amends_accession"] for r in final.values() if r["accession_number"] != ORIGINAL} == {ORIGINAL}
    table = holdings(steps)
    common = [line for line in table.values() if line.key.security_title == "COMMON STOCK"]
    assert [line.source_accession for line in common] == [SECOND_AMENDMENT]
    assert not any(line.key.security_title == PREFERRED.upper() for line in table.values())
    in_order = run(DictState(), original(), amendment(), second_amendment())
    assert final == published(in_order)


def test_redelivering_any_of_three_linked_filings_changes_nothing() -> None:
    state = DictState()
    filings = [original(), amendment(), second_amendment()]
    steps = run(state, *filings)
    before = copy.deepcopy(state.data)
    for filing in filings:
        steps += run(state, filing)
        assert state.data == before
    assert published(steps) == published(run(DictState(), *filings))
