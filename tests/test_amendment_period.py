"""A bare-XML 4/A that also corrects the period of report (issue 17, point 4).

No such pair is in the corpus (its only amendments are a dated LRCX 4/A and the SEC's technical-specification
samples), so both are rebuilt from the bare ownership XML of a real Form 4 (TSLA 0001790565-23-000009, period
2023-07-27): the original with its common stock retitled as preferred shares (the stale holding line), the 4/A
restating it under "COMMON STOCK", signed two weeks later, citing 2023-07-31 and moving the period of report.
"""

from __future__ import annotations

import copy
import itertools
import re
from datetime import date

import pytest

from streams.amendments import (
    AMBIGUOUS,
    CONTENT_LINK_METHOD,
    MAX_ENTRIES_PER_KEY,
    NO_ORIGINAL,
    amendment_step,
)
from streams.models import Filing
from streams.parse import parse_filing
from streams.state import DictState
from tests.test_amendments import PREFERRED, TSLA, holdings, published, run

BARE = TSLA[TSLA.index(b"<?xml") : TSLA.index(b"</XML>")].strip()
PERIOD = "2023-07-27"  # the real filing's, and the date of each of its rows


def bare(
    *,
    period: str = PERIOD,
    title: str = "Common Stock",
    cites: str | None = None,
    signed: str = "2023-07-31",
) -> Filing:
    """The real filing's ownership XML, changed only where a test says: the period of report, the common stock
    rows' title, the signature date, made a 4/A citing ``cites``."""
    data = BARE.replace(f"<periodOfReport>{PERIOD}<".encode(), f"<periodOfReport>{period}<".encode())
    data = data.replace(b"<signatureDate>2023-07-31<", f"<signatureDate>{signed}<".encode())
    data = re.sub(
        rb"(<nonDerivativeTransaction>\s*<securityTitle>\s*<value>)Common Stock(</value>)",
        lambda m: m.group(1) + title.encode() + m.group(2),
        data,
    )
    if cites is not None:
        data = data.replace(b"<documentType>4</documentType>", b"<documentType>4/A</documentType>")
        data = data.replace(
            b"</periodOfReport>",
            f"</periodOfReport><dateOfOriginalSubmission>{cites}</dateOfOriginalSubmission>".encode(),
        )
    filing = parse_filing(data)
    assert filing.accession_number is None and filing.filed_date is None
    assert filing.period_of_report == date.fromisoformat(period)
    assert filing.derived.is_amendment == (cites is not None)
    return filing


def original(**changes: str) -> Filing:
    return bare(**({"title": PREFERRED} | changes))


def corrected(period: str = "2023-07-28") -> Filing:
    """The 4/A: the rows restated under "COMMON STOCK", the period of report moved a day."""
    return bare(period=period, title="COMMON STOCK", cites="2023-07-31", signed="2023-08-14")


def ident(filing: Filing) -> str:
    return f"sha256:{filing.raw_sha256}"


def links(records: list) -> set[tuple[str | None, str | None]]:
    return {(r.amends_accession, r.amendment_link_method) for r in records}


@pytest.mark.parametrize("order", [("original", "amendment"), ("amendment", "original")])
def test_a_bare_amendment_correcting_the_period_links_in_either_order_and_the_stale_line_goes(
    order: tuple[str, ...],
) -> None:
    make = {"original": original, "amendment": corrected}
    assert {r.transaction_date for r in corrected().transactions} == {date(2023, 7, 27)}
    state = DictState()
    steps = run(state, *(make[name]() for name in order))
    original_id, amendment_id = ident(original()), ident(corrected())
    (_, early), (_, late) = steps

    if order[0] == "original":
        assert links(late.records) == {(original_id, CONTENT_LINK_METHOD)}
        assert {r.txn_id for r in late.superseded} == {r.txn_id for r in early.records}
        assert late.retract and {r.superseded_by for r in late.retract} == {amendment_id}
    else:
        assert links(early.records) == {(None, NO_ORIGINAL)}
        assert links(late.relinked) == {(original_id, CONTENT_LINK_METHOD)}
        assert {r.superseded_by for r in late.records} == {amendment_id}

    final = published(steps)
    for record in final.values():
        if record["is_amendment"]:
            assert (record["amends_accession"], record["superseded_by"]) == (original_id, None)
        else:
            assert record["superseded_by"] == amendment_id
    assert final == published(run(DictState(), original(), corrected()))

    table = holdings(steps)
    assert not any(line.key.security_title == PREFERRED.upper() for line in table.values())
    common = [line for line in table.values() if line.key.security_title == "COMMON STOCK"]
    amended_rows = {r["txn_id"] for r in final.values() if r["is_amendment"]}
    assert len(common) == 1 and common[0].source_row_id in amended_rows

    # Redelivering either filing changes nothing.
    before = copy.deepcopy(state.data)
    for name in order:
        run(state, make[name]())
        assert state.data == before


@pytest.mark.parametrize("order", [("original", "amendment"), ("amendment", "original")])
def test_process_filing_drops_the_stale_line_of_a_period_correcting_amendment(order: tuple[str, ...]) -> None:
    from streams.alerts import load_rules
    from streams.holdings import lines
    from streams.process import process_filing

    make = {"original": original, "amendment": corrected}
    rules, state = load_rules(None), DictState()
    outputs = [process_filing(make[name](), state, rules) for name in order]
    amended = next(o for o in outputs if o.filing.derived.is_amendment)
    relinked = [r for o in outputs for r in o.relinked]
    assert links(amended.records if order[0] == "original" else relinked) == {
        (ident(original()), CONTENT_LINK_METHOD)
    }
    titles = sorted(line["key"]["security_title"] for line in lines(state, f"i|{original().issuer.cik}"))
    assert titles == ["COMMON STOCK", "NON-QUALIFIED STOCK OPTION (RIGHT TO BUY)"]


def test_two_bare_originals_with_the_same_rows_and_another_period_are_ambiguous() -> None:
    resigned = original(signed="2023-08-01")  # the same filing signed again: an equal candidate
    earlier = original(period="2023-07-26")  # another period, the same rows
    for twin in (resigned, earlier):
        assert ident(twin) != ident(original())
        state = DictState()
        run(state, original(), twin)
        outcome = amendment_step(corrected(), state)
        assert links(outcome.records) == {(None, AMBIGUOUS)}
        assert outcome.superseded == [] and outcome.retract == []
        # Amendment first: the first original links it; the second one arriving does not take it over.
        state = DictState()
        _, (_, first), (_, second) = run(state, corrected(), original(), twin)
        assert links(first.relinked) == {(ident(original()), CONTENT_LINK_METHOD)}
        assert second.relinked == [] and {r.superseded_by for r in second.records} == {None}


def test_the_period_lookup_wins_and_a_candidate_must_fit_the_cited_date() -> None:
    # A bare original of the amendment's own period with the same rows is the one linked, whatever else waits.
    same_period = original(period="2023-07-28")
    for filings in itertools.permutations((original(), same_period)):
        state = DictState()
        run(state, *filings)
        assert links(amendment_step(corrected(), state).records) == {
            (ident(same_period), CONTENT_LINK_METHOD)
        }
    # An original whose period is after the date the amendment cites is not its original, in either order.
    late = original(period="2023-08-02")
    state = DictState()
    run(state, late)
    assert links(amendment_step(corrected(), state).records) == {(None, NO_ORIGINAL)}
    state = DictState()
    run(state, corrected())
    assert amendment_step(late, state).relinked == []
    # Other rows (another transaction date): no link.
    moved = corrected().model_copy(deep=True)
    for row in moved.transactions:
        row.transaction_date = date(2023, 7, 28)
    state = DictState()
    run(state, original())
    assert links(amendment_step(moved, state).records) == {(None, NO_ORIGINAL)}


def test_the_by_rows_keys_are_bounded_and_kept_only_for_filings_with_rows() -> None:
    originals, amendments = DictState(), DictState()
    for n in range(3 * MAX_ENTRIES_PER_KEY):
        amendment_step(original(signed=f"2023-08-{1 + n:02d}"), originals)
        amendment_step(
            bare(period="2023-07-28", cites="2023-07-31", signed=f"2023-09-{1 + n:02d}"), amendments
        )
    for state, kind in ((originals, "orig"), (amendments, "amend")):
        by_rows = {k: v for k, v in state.data.items() if "|rows|" in k}
        assert [k.split("|")[0] for k in by_rows] == [kind]
        assert all(len(v) == MAX_ENTRIES_PER_KEY for v in by_rows.values())
    # As many equal candidates as are kept: ambiguous.
    assert links(amendment_step(corrected(), originals).records) == {(None, AMBIGUOUS)}

    holdings_only = original().model_copy(update={"transactions": []})
    state = DictState()
    amendment_step(holdings_only, state)
    amendment_step(corrected().model_copy(update={"transactions": []}), state)
    assert not any("|rows|" in k for k in state.data)
