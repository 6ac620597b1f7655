"""Derived row values on real filings (issues 10 and 12): price ranges in every wording, the weighted-average
flag on its own, 10b5-1 per row, foreign private issuers' fields, and suspect values flagged, never corrected.

Where a case needs a wording or value no corpus filing has, it is a real filing with one element changed, and
the test says which.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from streams.alerts.aggregate import row_value
from streams.derive.enrich import row_plan_flag
from streams.models import Filing
from streams.parse import parse_filing
from streams.records import transaction_records
from tests.fixtures_index import fixture_bytes

D = Decimal
GOOG = "xml/65be6ba5b12e.xml"  # Brin, 0001127602-15-028697: 16 sales, footnotes F2-F18
TSLA_OUTSIDE = "xml/727b8f53b8f5.xml"  # Musk, 0000899243-21-047607: row 3's price just below its range
MASTECH = "txt/a030572257f8.txt"  # 0000899243-20-024361: prices rounded to the cent, ranges to 4 places


def parse(path: str, *edits: tuple[bytes, bytes]) -> Filing:
    data = fixture_bytes(path)
    for old, new in edits:
        assert data.count(old) == 1, old
        data = data.replace(old, new)
    return parse_filing(data)


# ------------------------------------------------------------------------------------------ price ranges


def test_ranges_without_weighted_average_wording_are_read() -> None:
    """GOOG F3-F18: "sold in multiple transactions at prices ranging from $634.93 to $635.92, inclusive"."""
    rows = parse(GOOG).transactions
    sale = rows[2].derived
    assert (rows[2].price_per_share, sale.price_low, sale.price_high) == (
        D("635.5491"),
        D("634.93"),
        D("635.92"),
    )
    assert sale.is_weighted_average is False  # the footnote does not say so
    assert (rows[17].derived.price_low, rows[17].derived.price_high) == (D("655.90"), D("656.89"))
    assert all(r.derived.price_low is not None for r in rows[2:18])


def test_a_range_just_above_the_price_is_kept_and_the_row_flagged() -> None:
    """GOOG F2 says "weighted average price" and states $663.91-$664.90 beside a $634.4608 price (a typo in
    the filing, 4.4% off): the range is the row's, kept, and the row flagged; its value still counts."""
    row = parse(GOOG).transactions[1]
    assert row.derived.is_weighted_average is True
    assert (row.derived.price_low, row.derived.price_high) == (D("663.91"), D("664.90"))
    assert row.derived.value_flags == ["price_outside_range"]
    (record,) = [
        r for r in transaction_records(parse(GOOG)) if r.row_index == 1 and r.table == "non_derivative"
    ]
    assert row_value(record) == record.derived.dollar_value is not None


def test_a_price_just_below_its_range_keeps_the_range_and_is_flagged() -> None:
    """TSLA 727b8f53b8f5: row 3 sold at $1,005.129 cites F5, "prices ranging from $1,005.600 to $1,006.390"
    (row 4's range too): 0.05% below it. The range is kept as the row's, the row is flagged, the rows inside
    their ranges are not."""
    rows = parse(TSLA_OUTSIDE).transactions
    row = rows[3]
    assert (row.price_per_share, row.footnote_ids["price_per_share"]) == (D("1005.129"), ["F5"])
    assert (row.derived.price_low, row.derived.price_high) == (D("1005.600"), D("1006.390"))
    assert row.derived.value_flags == ["price_outside_range"]
    assert (rows[4].derived.price_low, rows[4].derived.value_flags) == (D("1005.600"), [])
    assert [r.row_index for r in rows if r.derived.value_flags] == [3]


def test_a_price_rounded_to_the_cent_is_inside_its_range() -> None:
    """Mastech a030572257f8 (Form 5): averages reported to the cent beside ranges stated to 4 places; $5.14 for
    fills from $5.1386 to $5.1390 rounds from a value inside, so the range is the row's and nothing is flagged."""
    rows = parse(MASTECH).transactions
    got = [
        (r.price_per_share, r.derived.price_low, r.derived.price_high) for r in (rows[4], rows[18], rows[22])
    ]
    assert got == [
        (D("5.14"), D("5.1386"), D("5.1390")),
        (D("4.96"), D("4.9637"), D("4.99")),
        (D("4.99"), D("4.9886"), D("4.9899")),
    ]
    assert all(r.derived.value_flags == [] for r in rows)


def test_lowest_and_highest_price_wording() -> None:
    """Musk's F1 reworded as issue 17 quotes it ("the lowest price ... was $X and the highest price was $Y")."""
    filing = parse(
        MUSK,
        (
            b"at prices ranging from $188.970 to $189.960, inclusive.",
            b"The lowest price at which these shares were sold was $188.970 and the highest price was $189.960.",
        ),
    )
    row = filing.transactions[0]
    assert (row.derived.price_low, row.derived.price_high) == (D("188.970"), D("189.960"))
    assert row.derived.value_flags == []


@pytest.mark.parametrize(
    "wording",
    [
        b"at prices ranging from C$188.970 to C$189.960, inclusive.",
        b"at prices ranging from CAD 188.970 to CAD 189.960, inclusive.",
        b"at prices ranging from $188.970 to $189.960 (Canadian dollars), inclusive.",
        b"at prices ranging from \xe2\x82\xac188.970 to \xe2\x82\xac189.960, inclusive.",  # euro sign, UTF-8
        b"at prices ranging from NIS 188.970 to NIS 189.960, inclusive.",
        b"at prices, in pounds sterling, ranging from $188.970 to $189.960, inclusive.",
    ],
)
def test_a_range_in_another_currency_is_never_taken_as_dollars(wording: bytes) -> None:
    """Musk's F1 ($188.970-$189.960 beside a 189.578 price) restated in another currency: no range is given (the
    range fields are US dollars) and the row is flagged, so its value does not count as dollars in an alert."""
    filing = parse(MUSK, (b"at prices ranging from $188.970 to $189.960, inclusive.", wording))
    row = filing.transactions[0]
    assert (row.derived.price_low, row.derived.price_high) == (None, None)
    assert row.derived.value_flags == ["price_range_not_usd"]
    assert row_value(transaction_records(filing)[0]) is None
    assert (filing.transactions[1].derived.price_low, filing.transactions[1].derived.value_flags) == (
        D("189.970"),
        [],
    )


def test_average_weighted_price_wording() -> None:
    """GOOG with F3 reworded as issue 12 quotes it ("average weighted price ... ranging from")."""
    filing = parse(
        GOOG,
        (
            b'<footnote id="F3">The shares were sold',
            b'<footnote id="F3">The price reported is an average weighted price. The shares were sold',
        ),
    )
    row = filing.transactions[2].derived
    assert (row.is_weighted_average, row.price_low, row.price_high) == (True, D("634.93"), D("635.92"))


def test_share_price_ranged_from_wording() -> None:
    """GOOG with F4 reworded as issue 12 quotes it ("Share price on this transaction ranged from")."""
    filing = parse(
        GOOG,
        (
            b"The shares were sold in multiple transactions at prices ranging from $635.95 to $636.94, inclusive.",
            b"Share price on this transaction ranged from $635.95 to $636.94.",
        ),
    )
    row = filing.transactions[3].derived
    assert (row.is_weighted_average, row.price_low, row.price_high) == (False, D("635.95"), D("636.94"))


# ---------------------------------------------------------------------------------------- 10b5-1 per row


def test_box_checked_sample_marks_only_plan_trades() -> None:
    """The SEC's own X0609 sample (83eca6d3fed2) checks the box on a filing with a grant (A), a J and a
    sale and conversion: only the sale and the conversion are plan trades."""
    filing = parse("spec/83eca6d3fed2.xml")
    assert filing.aff10b5one is True
    codes = [t.transaction_code for t in filing.transactions]
    assert codes == ["A", "J", "S", "C"]
    assert [t.derived.tenb51_plan for t in filing.transactions] == [False, False, True, True]
    assert all(t.derived.tenb51_checkbox is True for t in filing.transactions)
    assert filing.derived.tenb51_plan is True  # the filing as a whole still reports a plan


def test_box_checked_real_filing_with_grant_and_withholding() -> None:
    """622acbaa61f0 (X0609; M, M, F, A, M, M; box unchecked as filed) with aff10b5One set to 1: the tax
    withholding and the award are not plan trades, the exercises are."""
    filing = parse("xml/622acbaa61f0.xml", (b"<aff10b5One>0</aff10b5One>", b"<aff10b5One>1</aff10b5One>"))
    assert [t.transaction_code for t in filing.transactions] == ["M", "M", "F", "A", "M", "M"]
    assert [t.derived.tenb51_plan for t in filing.transactions] == [True, True, False, False, True, True]
    unchecked = parse("xml/622acbaa61f0.xml")
    assert [t.derived.tenb51_plan for t in unchecked.transactions] == [False] * 6


def test_box_checked_sales_with_a_plan_footnote() -> None:
    """Affirm/Rabois 5618fb46ea3e: box checked, sales citing the 10b5-1 footnote with its adoption date."""
    filing = parse("xml/5618fb46ea3e.xml")
    assert [t.derived.tenb51_plan for t in filing.transactions if t.transaction_code == "S"] == [True] * 4


def test_row_plan_rule() -> None:
    assert (
        row_plan_flag(True, False, "S")
        and row_plan_flag(True, False, "P")
        and row_plan_flag(True, False, "M")
    )
    assert row_plan_flag(True, False, "A") is False and row_plan_flag(True, False, "F") is False
    assert row_plan_flag(True, False, "G") is False
    assert row_plan_flag(False, True, "G") is True  # its own footnote says so
    assert row_plan_flag(None, True, "A") is True
    assert row_plan_flag(False, False, "S") is False
    assert row_plan_flag(None, False, "S") is None  # nothing says either way
    assert row_plan_flag(True, False, None) is None


# ------------------------------------------------------------------------------------- foreign issuers


def test_foreign_private_issuer_fields_reach_the_records() -> None:
    """622acbaa61f0 is the only X0609 filing in the corpus; its issuerForeignTradingSymbol is empty and its
    owner is in the US. Filled in with the non-US address elements of the SEC's X0609 samples."""
    filing = parse(
        "xml/622acbaa61f0.xml",
        (
            b"<issuerForeignTradingSymbol></issuerForeignTradingSymbol>",
            b"<issuerForeignTradingSymbol>7203</issuerForeignTradingSymbol>",
        ),
        (
            b"<rptOwnerNonUSAddressFlag>false</rptOwnerNonUSAddressFlag>",
            b"<rptOwnerNonUSAddressFlag>true</rptOwnerNonUSAddressFlag>",
        ),
        (
            b"<rptOwnerStateDescription></rptOwnerStateDescription>",
            b"<rptOwnerStateDescription></rptOwnerStateDescription>"
            b"<rptOwnerNonUSStateTerritory>Aichi</rptOwnerNonUSStateTerritory><rptOwnerCounrty>M0</rptOwnerCounrty>",
        ),
    )
    assert filing.issuer.foreign_trading_symbol == "7203"
    address = filing.reporting_owners[0].address
    assert (address.non_us_address, address.state_description, address.country) == (True, "Aichi", "M0")
    assert {r.issuer.foreign_trading_symbol for r in transaction_records(filing)} == {"7203"}


def test_x0609_samples_keep_the_non_us_state() -> None:
    owner = parse("spec/7bab93c48444.xml").reporting_owners[1].address
    assert (owner.non_us_address, owner.state_description, owner.country) == (
        True,
        "Non US State or Territory",
        "I7",
    )


# ---------------------------------------------------------------------------------------- suspect values


MUSK = "xml/e364df9da26c.xml"  # nine sales at $189-$198, each with its weighted-average range


def test_real_rows_carry_no_flags() -> None:
    for path in (MUSK, GOOG, "xml/5618fb46ea3e.xml", "xml/01447cb7c756.xml", MASTECH):
        flagged = [
            (t.row_index, t.derived.value_flags) for t in parse(path).transactions if t.derived.value_flags
        ]
        assert flagged == ([(1, ["price_outside_range"])] if path == GOOG else []), path  # GOOG F2's typo


def test_a_price_typed_ten_times_too_high_is_flagged_and_kept() -> None:
    """Musk's first sale (189.578, F1 range $188.970-$189.960) with the decimal point dropped: 189578."""
    filing = parse(MUSK, (b"<value>189.578</value>", b"<value>189578</value>"))
    row = filing.transactions[0]
    assert row.price_per_share == D("189578")  # as filed
    assert row.derived.value_flags == ["price_outside_range", "price_outlier"]
    assert all(t.derived.value_flags == [] for t in filing.transactions[1:])


def test_an_implausible_dollar_value_is_flagged() -> None:
    """Musk's first sale with 10^12 shares instead of 192,320: $190 trillion is beyond any real trade."""
    filing = parse(MUSK, (b"<value>192320</value>", b"<value>1000000000000</value>"))
    assert filing.transactions[0].derived.value_flags == ["value_implausible"]


def test_a_records_footnote_texts_are_bounded() -> None:
    """Musk's first sale citing, with F1, 40 added footnotes of 10,000 characters: the record stays small,
    the filing keeps every text whole. Real rows (every fixture) are never cut."""
    notes = b"".join(b'<footnote id="X%d">' % i + b"y" * 10_000 + b"</footnote>" for i in range(40))
    refs = b"".join(b'<footnoteId id="X%d"/>' % i for i in range(40))
    filing = parse(
        MUSK,
        (b"<value>189.578</value>", b"<value>189.578</value>" + refs),
        (b"</footnotes>", notes + b"</footnotes>"),
    )
    texts = filing.transactions[0].derived.footnote_texts
    assert texts[0] == "y" * 8192  # the added footnotes are cited before F1
    assert max(map(len, texts)) == 8192 and sum(map(len, texts)) == 4 * 8192
    assert len(filing.footnotes["X39"]) == 10_000
    for path in (MUSK, GOOG, "xml/01447cb7c756.xml"):
        f = parse(path)
        assert all(
            t.derived.footnote_texts
            == [
                f.footnotes[i]
                for i in dict.fromkeys(x for ids in t.footnote_ids.values() for x in ids)
                if i in f.footnotes
            ]
            for t in f.transactions
        )
