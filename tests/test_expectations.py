"""Field-by-field expectations for selected fixtures, every value read by hand from the document itself.

Nothing here was computed from the parser's output: each literal was copied from the XML (or the EDGAR
header) of the fixture named in the test, and each dollar amount was multiplied out by hand. When a test here
fails, re-read the document before touching the expectation.

Conventions (see streams/models.py): as-filed values at the top level of Transaction/Holding/Filing, computed
ones under ``.derived``; numbers are Decimal, dates ``datetime.date``, CIKs 10-digit strings; ``footnote_ids``
maps our field name to the ids in document order; ``row_index`` counts rows of one table and one kind.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from streams.models import Category, Filing, Holding, PriceStatus, Role, Transaction
from streams.parse import ParseError, parse_filing
from streams.parse.errors import ErrorCode
from tests.fixtures_index import fixture_bytes

NY = ZoneInfo("America/New_York")

# Every as-filed field of a row; a row expectation built with tx()/hd() leaves the unnamed ones None.
TX_FIELDS = (
    "table",
    "row_index",
    "security_title",
    "transaction_date",
    "deemed_execution_date",
    "transaction_form_type",
    "transaction_code",
    "equity_swap_involved",
    "transaction_timeliness",
    "shares",
    "total_value",
    "price_per_share",
    "acquired_disposed",
    "shares_owned_following",
    "value_owned_following",
    "direct_indirect",
    "nature_of_ownership",
    "conversion_or_exercise_price",
    "exercise_date",
    "expiration_date",
    "underlying_security_title",
    "underlying_shares",
    "underlying_value",
    "footnote_ids",
)
HOLDING_FIELDS = (
    "table",
    "row_index",
    "security_title",
    "transaction_form_type",
    "shares_owned_following",
    "value_owned_following",
    "direct_indirect",
    "nature_of_ownership",
    "conversion_or_exercise_price",
    "exercise_date",
    "expiration_date",
    "underlying_security_title",
    "underlying_shares",
    "underlying_value",
    "footnote_ids",
)
HEAD_FIELDS = (
    "accession_number",
    "form_type",
    "document_type",
    "schema_version",
    "period_of_report",
    "date_of_original_submission",
    "no_securities_owned",
    "not_subject_to_section16",
    "form3_holdings_reported",
    "form4_transactions_reported",
    "acceptance_datetime",
    "filed_date",
    "aff10b5one",
    "remarks",
    "source_format",
)
ND, DV = "non_derivative", "derivative"


# --------------------------------------------------------------------------------------------------- helpers


def parse(rel: str) -> Filing:
    return parse_filing(fixture_bytes(rel))


def _expected(fields: tuple[str, ...], given: dict[str, Any]) -> dict[str, Any]:
    unknown = set(given) - set(fields)
    assert not unknown, f"not an as-filed field: {sorted(unknown)}"
    out: dict[str, Any] = dict.fromkeys(fields)
    out["footnote_ids"] = {}
    out.update(given)
    return out


def tx(table: str, row_index: int, **fields: Any) -> dict[str, Any]:
    """A transaction row as filed: every field not named is expected to be None (footnote_ids {})."""
    return _expected(TX_FIELDS, {"table": table, "row_index": row_index, **fields})


def hd(table: str, row_index: int, **fields: Any) -> dict[str, Any]:
    """A holding row as filed: every field not named is expected to be None (footnote_ids {})."""
    return _expected(HOLDING_FIELDS, {"table": table, "row_index": row_index, **fields})


def head(**fields: Any) -> dict[str, Any]:
    """The filing-level as-filed values; every one not named is expected to be None (footnote_ids {})."""
    return _expected(HEAD_FIELDS, fields)


def as_filed(row: Transaction | Holding) -> dict[str, Any]:
    fields = TX_FIELDS if isinstance(row, Transaction) else HOLDING_FIELDS
    return {name: getattr(row, name) for name in fields}


def filing_head(filing: Filing) -> dict[str, Any]:
    return {name: getattr(filing, name) for name in (*HEAD_FIELDS, "footnote_ids")}


def txns(filing: Filing, table: str) -> list[Transaction]:
    return [t for t in filing.transactions if t.table == table]


def holds(filing: Filing, table: str) -> list[Holding]:
    return [h for h in filing.holdings if h.table == table]


def counts(filing: Filing) -> tuple[int, int, int, int]:
    """(non-derivative transactions, derivative transactions, non-derivative holdings, derivative holdings)"""
    return (len(txns(filing, ND)), len(txns(filing, DV)), len(holds(filing, ND)), len(holds(filing, DV)))


def owners(filing: Filing) -> list[tuple[Any, ...]]:
    """(cik, name, director, officer, ten percent owner, other, officer title, other text) per owner."""
    return [
        (
            o.cik,
            o.name,
            o.is_director,
            o.is_officer,
            o.is_ten_percent_owner,
            o.is_other,
            o.officer_title,
            o.other_text,
        )
        for o in filing.reporting_owners
    ]


def issuer(filing: Filing) -> tuple[str, str | None, str | None]:
    return (filing.issuer.cik, filing.issuer.name, filing.issuer.trading_symbol)


def signatures(filing: Filing) -> list[tuple[str | None, date | None]]:
    return [(s.name, s.date) for s in filing.signatures]


# ------------------------------------------------------------------------ the founding example: Sonus, code F

SONUS_F1 = (
    "Payment of tax liability by delivering securities to the company incident to the vesting of a security"
)


def test_sonus_reconstructed_x0304_tax_withholding() -> None:
    f = parse("xml/sonus_x0304_reconstructed.xml")
    assert filing_head(f) == head(
        form_type="4",
        document_type="4",
        schema_version="X0304",
        period_of_report=date(2011, 9, 15),
        not_subject_to_section16=False,
        source_format="xml",
    )
    assert f.warnings == []
    assert issuer(f) == ("0001105472", "SONUS NETWORKS INC", "SONS")
    assert owners(f) == [
        ("0001529034", "Harris Kathleen A.", False, True, False, False, "VP, Human Resources", None)
    ]
    address = f.reporting_owners[0].address
    assert (address.street1, address.street2, address.city, address.state, address.zip_code) == (
        "4 TECHNOLOGY PARK DRIVE",
        None,
        "WESTFORD",
        "MA",
        "01886",
    )
    assert f.reporting_owners[0].roles == [Role.OTHER_OFFICER]
    assert counts(f) == (1, 0, 0, 0)
    row = f.transactions[0]
    assert as_filed(row) == tx(
        ND,
        0,
        security_title="Common Stock",
        transaction_date=date(2011, 9, 15),
        transaction_form_type="4",
        transaction_code="F",
        equity_swap_involved=False,
        shares=Decimal("5291"),
        price_per_share=Decimal("2.38"),
        acquired_disposed="D",
        shares_owned_following=Decimal("54162"),
        direct_indirect="D",
        footnote_ids={"transaction_code": ["F1"]},
    )
    assert row.transaction_code == "F"
    assert row.shares == Decimal("5291")
    assert row.price_per_share == Decimal("2.38")
    assert row.acquired_disposed == "D"
    assert row.shares_owned_following == Decimal("54162")
    assert row.direct_indirect == "D"
    assert row.footnote_ids == {"transaction_code": ["F1"]}
    assert f.footnotes == {"F1": SONUS_F1}
    assert signatures(f) == [("/s/ Kathleen A. Harris", date(2011, 9, 19))]
    # derived: F is tax withholding, not a sale; 5291 x 2.38 = 12592.58
    assert row.derived.category == Category.TAX_WITHHOLDING
    assert row.derived.category != Category.OPEN_MARKET_SALE
    assert row.derived.is_open_market is False
    assert row.derived.dollar_value == Decimal("12592.58")
    assert row.derived.price_status == "reported"
    assert row.derived.price_status == PriceStatus.REPORTED
    assert row.derived.signed_shares == Decimal("-5291")
    assert row.derived.edgar_display_code == "F"
    assert row.derived.coding_missing is False
    assert row.derived.tenb51_checkbox is None
    assert row.derived.footnote_texts == [SONUS_F1]
    assert f.derived.is_amendment is False
    assert f.derived.reporting_owner_ciks == ["0001529034"]
    assert f.derived.joint_filer_count == 1


# ----------------------------------------------------------------------------- LRCX 4/A (amendment, code G)


def test_lrcx_4a_amendment_sgml() -> None:
    f = parse("txt/7a623a2c1264.txt")
    assert filing_head(f) == head(
        accession_number="0000707549-25-000004",
        form_type="4/A",
        document_type="4/A",
        schema_version="X0508",
        period_of_report=date(2024, 11, 4),
        date_of_original_submission=date(2024, 11, 4),
        not_subject_to_section16=False,
        acceptance_datetime=datetime(2025, 1, 21, 13, 23, 57, tzinfo=NY),
        filed_date=date(2025, 1, 21),
        aff10b5one=False,
        remarks="Adjusted to reflect a ten-for-one forward split of the "
        "Issuer's common stock effective after "
        "market close on October 2, 2024.",
        source_format="sgml",
    )
    assert f.acceptance_datetime is not None and f.acceptance_datetime.utcoffset() is not None
    assert issuer(f) == ("0000707549", "LAM RESEARCH CORP", "LRCX")
    assert f.issuer.state_of_incorporation == "DE"  # from the SGML header only
    assert owners(f) == [("0001779037", "Ahmed Sohail U", True, False, False, False, None, None)]
    assert f.reporting_owners[0].roles == [Role.DIRECTOR]
    assert counts(f) == (2, 0, 0, 0)  # <derivativeTable></derivativeTable> is empty
    assert [as_filed(t) for t in f.transactions] == [
        tx(
            ND,
            0,
            security_title="Common Stock",
            transaction_date=date(2024, 11, 4),
            transaction_form_type="4",
            transaction_code="G",
            equity_swap_involved=False,
            shares=Decimal("3690"),
            price_per_share=Decimal("0"),
            acquired_disposed="D",
            shares_owned_following=Decimal("0"),
            direct_indirect="D",
            footnote_ids={"direct_indirect": ["F1"]},
        ),
        tx(
            ND,
            1,
            security_title="Common Stock",
            transaction_date=date(2024, 11, 4),
            transaction_form_type="4",
            transaction_code="G",
            equity_swap_involved=False,
            shares=Decimal("3690"),
            price_per_share=Decimal("0"),
            acquired_disposed="A",
            shares_owned_following=Decimal("30630"),
            direct_indirect="I",
            nature_of_ownership="by trust",
            footnote_ids={"direct_indirect": ["F1"]},
        ),
    ]
    assert list(f.footnotes) == ["F1"]
    assert f.footnotes["F1"].startswith(
        "On November 04, 2024, the reporting person transferred 3,690 "
        "shares of LRCX common stock to the Sohail "
        "Family Trust for no consideration."
    )
    assert f.footnotes["F1"].endswith(
        "The reporting person remains the beneficial owner of the\nsecurities held by the trust."
    )
    assert signatures(f) == [("Marta Woods by Power of Attorney", date(2024, 12, 10))]
    assert f.derived.is_amendment is True
    assert [t.derived.category for t in f.transactions] == [Category.GIFT, Category.GIFT]
    assert [t.derived.price_status for t in f.transactions] == [PriceStatus.ZERO, PriceStatus.ZERO]


# ---------------------------------------------------------------- SoftBank: 8 joint owners, late, price fn


SOFTBANK_OWNERS = [
    ("0001065521", "SOFTBANK GROUP CORP."),
    ("0001883884", "SB Global Advisers Ltd"),
    ("0001787613", "SOFTBANK VISION FUND II-2 L.P."),
    ("0001883559", "SVF II Aggregator (Jersey) L.P."),
    ("0001883900", "SVF II Holdings (DE) LLC"),
    ("0001990707", "SVF II Beaver (DE) LLC"),
    ("0001991269", "Silver Brick Management PTE. LTD."),
    ("0001818296", "SB Management Ltd"),
]


def test_softbank_eight_owners_sgml() -> None:
    f = parse("txt/0de306b08345.txt")
    assert filing_head(f) == head(
        accession_number="0001493152-25-009612",
        form_type="4",
        document_type="4",
        schema_version="X0508",
        period_of_report=date(2024, 12, 9),
        not_subject_to_section16=False,
        acceptance_datetime=datetime(2025, 3, 7, 21, 0, 8, tzinfo=NY),
        filed_date=date(2025, 3, 7),
        aff10b5one=False,
        source_format="sgml",
    )
    assert issuer(f) == ("0001835856", "Better Home & Finance Holding Co", "BETR")
    # XML order (the SGML header lists the same eight in another order); only the 10% box is ticked;
    # <officerTitle></officerTitle> and <otherText></otherText> are empty.
    assert owners(f) == [(cik, name, False, False, True, False, None, None) for cik, name in SOFTBANK_OWNERS]
    assert f.reporting_owners[0].address.state_description == "JAPAN"
    assert f.reporting_owners[1].address.city == "LONDON,"  # the trailing comma is as filed
    assert counts(f) == (1, 1, 0, 0)
    nd, dv = f.transactions
    assert as_filed(nd) == tx(
        ND,
        0,
        security_title="Class A Common Stock",
        transaction_date=date(2024, 12, 9),
        transaction_form_type="4",
        transaction_code="C",
        equity_swap_involved=False,
        shares=Decimal("628553"),
        acquired_disposed="A",
        shares_owned_following=Decimal("628553"),
        direct_indirect="I",
        nature_of_ownership="By SVF II Beaver (DE) LLC",
        footnote_ids={
            "shares": ["F1"],
            "price_per_share": ["F2"],
            "shares_owned_following": ["F1"],
            "nature_of_ownership": ["F3"],
        },
    )
    assert as_filed(dv) == tx(
        DV,
        0,
        security_title="Class B Common Stock",
        transaction_date=date(2024, 12, 9),
        transaction_form_type="4",
        transaction_code="C",
        equity_swap_involved=False,
        shares=Decimal("628553"),
        price_per_share=Decimal("0"),
        acquired_disposed="D",
        underlying_security_title="Class A Common Stock",
        underlying_shares=Decimal("628553"),
        shares_owned_following=Decimal("137545"),
        direct_indirect="I",
        nature_of_ownership="By SVF II Beaver (DE) LLC",
        footnote_ids={
            "conversion_or_exercise_price": ["F2"],
            "shares": ["F1"],
            "exercise_date": ["F2"],
            "expiration_date": ["F2"],
            "underlying_shares": ["F1"],
            "shares_owned_following": ["F1"],
            "nature_of_ownership": ["F3"],
        },
    )
    assert f.footnotes["F1"] == (
        "Reflects a 1-for-50 reverse stock split effected by the "
        "Issuer on August 16, 2024, which was exempt from "
        "reporting pursuant to Rule 16a-9."
    )
    assert f.footnotes["F2"].startswith(
        "Each outstanding share of Class B Common Stock is convertible at any time"
    )
    assert f.footnotes["F3"].startswith(
        "SoftBank Group Corp., which is a publicly traded company listed on the Tokyo"
    )
    sigs = signatures(f)
    assert len(sigs) == 8
    assert {d for _, d in sigs} == {date(2025, 3, 7)}
    assert sigs[0][0] == "SoftBank Group Corp., By : /s/ Yuko Yamamoto, Head of Corporate Legal Department"
    # The eighth signature names "SB Northstar LP", which is not one of the eight reporting owners (as filed).
    assert sigs[7][0] == "SB Northstar LP By : /s/ Stephen Lam, Director"
    # derived: one joint group of eight, dollars not multiplied; price only in a footnote; filed ~3 months
    # late
    assert f.derived.reporting_owner_ciks == sorted(cik for cik, _ in SOFTBANK_OWNERS)
    assert f.derived.joint_filer_count == 8
    assert nd.derived.price_status == PriceStatus.FOOTNOTE_ONLY
    assert nd.derived.dollar_value is None
    assert nd.derived.is_late is True  # transaction 2024-12-09, accepted 2025-03-07


# --------------------------------------------------------------- Eventbrite: prices given only by a footnote


EB_VENTURE = "By Sequoia Capital U.S. Venture 2010 Fund, L.P."
EB_GROWTH = "By Sequoia Capital U.S. Growth Fund VII, L.P."
EB_FUNDS = ["F2", "F3", "F4"]


def test_eventbrite_footnote_only_prices() -> None:
    f = parse("xml/0229be84eccb.xml")
    # no notSubjectToSection16, no aff10b5One, no remarks element in this document
    assert filing_head(f) == head(
        form_type="4",
        document_type="4",
        schema_version="X0306",
        period_of_report=date(2021, 5, 27),
        source_format="xml",
    )
    assert issuer(f) == ("0001475115", "Eventbrite, Inc.", "EB")
    assert owners(f) == [("0001222287", "BOTHA ROELOF", True, False, True, False, None, None)]
    assert counts(f) == (6, 2, 2, 0)
    nd = txns(f, ND)
    common = {"security_title": "Class A Common Stock", "transaction_date": date(2021, 5, 27)}
    common |= {"transaction_form_type": "4", "equity_swap_involved": False, "direct_indirect": "I"}
    assert as_filed(nd[0]) == tx(
        ND,
        0,
        **common,
        transaction_code="C",
        shares=Decimal("2248637"),
        acquired_disposed="A",
        shares_owned_following=Decimal("2248637"),
        nature_of_ownership=EB_VENTURE,
        footnote_ids={"transaction_code": ["F5"], "price_per_share": ["F5"], "nature_of_ownership": EB_FUNDS},
    )
    assert as_filed(nd[2]) == tx(
        ND,
        2,
        **common,
        transaction_code="J",
        shares=Decimal("2248637"),
        acquired_disposed="D",
        shares_owned_following=Decimal("0"),
        nature_of_ownership=EB_VENTURE,
        footnote_ids={"transaction_code": ["F1"], "price_per_share": ["F1"], "nature_of_ownership": EB_FUNDS},
    )
    assert as_filed(nd[5]) == tx(
        ND,
        5,
        **common,
        transaction_code="J",
        shares=Decimal("286376"),
        acquired_disposed="A",
        shares_owned_following=Decimal("438456"),
        nature_of_ownership="By estate planning vehicles",
        footnote_ids={"transaction_code": ["F1"], "price_per_share": ["F1"]},
    )
    assert [t.transaction_code for t in nd] == ["C", "C", "J", "J", "J", "J"]
    assert [t.shares for t in nd] == [
        Decimal(n) for n in ("2248637", "258628", "2248637", "258628", "514385", "286376")
    ]
    assert [t.price_per_share for t in nd] == [None] * 6  # never 0
    assert [t.footnote_ids["price_per_share"] for t in nd] == [["F5"], ["F5"], ["F1"], ["F1"], ["F1"], ["F1"]]
    assert [t.nature_of_ownership for t in nd[3:5]] == [EB_GROWTH, "By Sequoia Grove II, LLC"]
    assert nd[4].footnote_ids["nature_of_ownership"] == ["F6"]
    assert [as_filed(h) for h in f.holdings] == [
        hd(
            ND,
            0,
            security_title="Class A Common Stock",
            shares_owned_following=Decimal("32746"),
            direct_indirect="I",
            nature_of_ownership="By Sequoia Capital U.S. Venture 2010-Seed Fund, L.P.",
            footnote_ids={"nature_of_ownership": EB_FUNDS},
        ),
        hd(
            ND,
            1,
            security_title="Class A Common Stock",
            shares_owned_following=Decimal("27542"),
            direct_indirect="D",
        ),
    ]
    dv = txns(f, DV)
    assert as_filed(dv[0]) == tx(
        DV,
        0,
        security_title="Class B Common Stock",
        transaction_date=date(2021, 5, 27),
        transaction_form_type="4",
        transaction_code="C",
        equity_swap_involved=False,
        shares=Decimal("2248637"),
        price_per_share=Decimal("0.00"),
        acquired_disposed="D",
        underlying_security_title="Class A Common Stock",
        underlying_shares=Decimal("2248637"),
        shares_owned_following=Decimal("5257858"),
        direct_indirect="I",
        nature_of_ownership=EB_VENTURE,
        footnote_ids={
            "conversion_or_exercise_price": ["F5"],
            "exercise_date": ["F5"],
            "expiration_date": ["F5"],
            "nature_of_ownership": EB_FUNDS,
        },
    )
    assert (dv[1].shares, dv[1].shares_owned_following, dv[1].nature_of_ownership) == (
        Decimal("258628"),
        Decimal("603902"),
        EB_GROWTH,
    )
    assert f.footnotes["F5"] == (
        "The Issuer's Class B Common Stock is convertible into the "
        "Issuer's Class A Common Stock on a one-for-one "
        "basis at the Reporting Person's election and has no expiration date."
    )
    assert (
        f.footnotes["F1"]
        == "Represents a distribution of Class A Common Stock of the Issuer to partners or members."
    )
    assert sorted(f.footnotes) == ["F1", "F2", "F3", "F4", "F5", "F6"]
    assert signatures(f) == [("/s/ Jung Yeon Son, Attorney-In-Fact", date(2021, 6, 1))]
    assert [t.derived.price_status for t in nd] == [PriceStatus.FOOTNOTE_ONLY] * 6
    assert [t.derived.dollar_value for t in nd] == [None] * 6


# -------------------------------------------------- TSLA Musk sales: weighted-average price ranges (bare XML)

TSLA_SHARES = ["192320", "366242", "3107623", "376134", "78604", "198124", "67609", "8575", "4769"]
TSLA_PRICES = [
    "189.578",
    "190.45",
    "191.467",
    "192.204",
    "193.339",
    "194.975",
    "195.148",
    "196.849",
    "197.70",
]
TSLA_PRICE_FN = ["F1", "F3", "F4", "F5", "F6", "F7", "F8", "F9", "F10"]
TSLA_OWNED = [
    "449825112",
    "449458870",
    "446351247",
    "445975113",
    "445896509",
    "445698385",
    "445630776",
    "445622201",
    "445617432",
]


def test_tsla_weighted_average_sales() -> None:
    f = parse("xml/e364df9da26c.xml")
    assert filing_head(f) == head(
        form_type="4",
        document_type="4",
        schema_version="X0306",
        period_of_report=date(2022, 11, 8),
        not_subject_to_section16=False,
        source_format="xml",
    )
    assert issuer(f) == ("0001318605", "Tesla, Inc.", "TSLA")
    assert owners(f) == [("0001494730", "Musk Elon", True, True, True, False, "CEO", None)]
    assert set(f.reporting_owners[0].roles) == {Role.CEO, Role.DIRECTOR, Role.TEN_PERCENT_OWNER}
    assert counts(f) == (9, 0, 0, 0)
    assert as_filed(f.transactions[0]) == tx(
        ND,
        0,
        security_title="Common Stock",
        transaction_date=date(2022, 11, 8),
        transaction_form_type="4",
        transaction_code="S",
        equity_swap_involved=False,
        shares=Decimal("192320"),
        price_per_share=Decimal("189.578"),
        acquired_disposed="D",
        shares_owned_following=Decimal("449825112"),
        direct_indirect="I",
        nature_of_ownership="by Trust",
        footnote_ids={"price_per_share": ["F1"], "nature_of_ownership": ["F2"]},
    )
    rows = f.transactions
    assert [t.row_index for t in rows] == list(range(9))
    assert {t.transaction_code for t in rows} == {"S"}
    assert [t.shares for t in rows] == [Decimal(s) for s in TSLA_SHARES]
    assert [t.price_per_share for t in rows] == [Decimal(p) for p in TSLA_PRICES]
    assert [t.footnote_ids["price_per_share"] for t in rows] == [[fn] for fn in TSLA_PRICE_FN]
    assert [t.shares_owned_following for t in rows] == [Decimal(s) for s in TSLA_OWNED]
    assert f.footnotes["F1"].startswith(
        "The price reported in Column 4 is a weighted average price. These shares were sold in multiple "
        "transactions at prices ranging from $188.970 to $189.960, inclusive."
    )
    assert f.footnotes["F2"] == (
        "The Elon Musk Revokable Trust dated July 22, 2003, for which the reporting person is the trustee."
    )
    assert len(f.footnotes) == 10
    assert signatures(f) == [("By: Aaron Beckman by Power of Attorney For: Elon Musk", date(2022, 11, 8))]
    # derived: the range comes from each row's own price footnote; 192320 x 189.578 = 36459640.96
    first, last = rows[0].derived, rows[8].derived
    assert first.is_weighted_average is True
    assert (first.price_low, first.price_high) == (Decimal("188.970"), Decimal("189.960"))
    assert (last.price_low, last.price_high) == (Decimal("197.600"), Decimal("197.790"))
    assert first.dollar_value == Decimal("36459640.96")
    assert first.category == Category.OPEN_MARKET_SALE


def test_tsla_full_submission_twin_matches_bare_xml() -> None:
    """txt/71b9ada5bb7b.txt wraps the same ownershipDocument as xml/e364df9da26c.xml."""
    bare, full = parse("xml/e364df9da26c.xml"), parse("txt/71b9ada5bb7b.txt")
    assert (full.accession_number, full.form_type, full.filed_date, full.source_format) == (
        "0000899243-22-035394",
        "4",
        date(2022, 11, 8),
        "sgml",
    )
    assert full.acceptance_datetime == datetime(2022, 11, 8, 20, 18, 10, tzinfo=NY)
    assert bare.accession_number is None and bare.acceptance_datetime is None
    assert [as_filed(t) for t in full.transactions] == [as_filed(t) for t in bare.transactions]
    assert full.footnotes == bare.footnotes
    assert owners(full) == owners(bare)


# ------------------------------------------------------ AAPL: weighted averages and a 10b5-1 footnote, no box

AAPL_SHARES = ["9136", "5316", "4006", "900", "1550", "1800", "2292"]
AAPL_PRICES = ["159.94", "160.82", "161.93", "162.77", "163.94", "165.06", "165.95"]
AAPL_OWNED = ["468198", "462882", "458876", "457976", "456426", "454626", "452334"]


def test_aapl_weighted_average_sales_sgml() -> None:
    f = parse("txt/a6ab43128199.txt")
    assert filing_head(f) == head(
        accession_number="0000320193-22-000061",
        form_type="4",
        document_type="4",
        schema_version="X0306",
        period_of_report=date(2022, 5, 4),
        not_subject_to_section16=False,
        acceptance_datetime=datetime(2022, 5, 6, 18, 30, 57, tzinfo=NY),
        filed_date=date(2022, 5, 6),
        source_format="sgml",
    )
    assert issuer(f) == ("0000320193", "Apple Inc.", "AAPL")
    assert owners(f) == [
        ("0001462356", "Adams Katherine L.", False, True, False, False, "SVP, GC and Secretary", None)
    ]
    assert counts(f) == (7, 0, 0, 0)
    rows = f.transactions
    assert {
        (t.security_title, t.transaction_date, t.transaction_code, t.acquired_disposed) for t in rows
    } == {("Common Stock", date(2022, 5, 4), "S", "D")}
    assert [t.shares for t in rows] == [Decimal(s) for s in AAPL_SHARES]
    assert [t.price_per_share for t in rows] == [Decimal(p) for p in AAPL_PRICES]
    assert [t.shares_owned_following for t in rows] == [Decimal(s) for s in AAPL_OWNED]
    assert [t.footnote_ids for t in rows] == [
        {"security_title": ["F1"], "price_per_share": [f"F{n}"]} for n in range(2, 9)
    ]
    assert f.footnotes["F1"] == (
        "This transaction was made pursuant to a Rule 10b5-1 trading plan adopted by the reporting person on "
        "August 16, 2021."
    )
    assert f.footnotes["F2"].startswith(
        "This transaction was executed in multiple trades at prices ranging from $159.42 to $160.41;"
    )
    assert signatures(f) == [
        ("/s/ Sam Whittington, Attorney-in-Fact for Katherine L. Adams", date(2022, 5, 6))
    ]
    # derived: no aff10b5One element (2022, X0306), but the footnote names a plan and its adoption date
    d0 = rows[0].derived
    assert (d0.is_weighted_average, d0.price_low, d0.price_high) == (
        True,
        Decimal("159.42"),
        Decimal("160.41"),
    )
    assert d0.dollar_value == Decimal("1461211.84")  # 9136 x 159.94
    assert d0.tenb51_checkbox is None
    assert d0.tenb51_footnote_mention is True
    assert f.derived.tenb51_footnote_mention is True
    assert f.derived.tenb51_plan_adoption_date == date(2021, 8, 16)


# ------------------------------------------------ AbCellera: transactionTotalValue and valueOwnedFollowing


def test_abcellera_total_value_and_value_owned() -> None:
    f = parse("xml/0489944b8445.xml")
    assert filing_head(f) == head(
        form_type="4",
        document_type="4",
        schema_version="X0306",
        period_of_report=date(2020, 12, 15),
        not_subject_to_section16=False,
        source_format="xml",
    )
    assert issuer(f) == ("0001703057", "AbCellera Biologics Inc.", "ABCL")
    assert owners(f) == [("0001211060", "THIEL PETER", True, False, False, False, None, None)]
    assert counts(f) == (8, 10, 0, 0)
    nd, dv = txns(f, ND), txns(f, DV)
    base = {
        "security_title": "Common Shares",
        "transaction_date": date(2020, 12, 15),
        "transaction_form_type": "4",
    }
    base |= {"equity_swap_involved": False, "acquired_disposed": "A", "direct_indirect": "I"}
    base |= {"nature_of_ownership": "See footnote"}
    assert as_filed(nd[0]) == tx(
        ND,
        0,
        **base,
        transaction_code="C",
        shares=Decimal("3811260"),
        shares_owned_following=Decimal("4702780"),
        footnote_ids={"price_per_share": ["F2"], "nature_of_ownership": ["F1"]},
    )
    assert as_filed(nd[2]) == tx(
        ND,
        2,
        **base,
        transaction_code="P",
        shares=Decimal("3000000"),
        price_per_share=Decimal("20.00"),
        shares_owned_following=Decimal("10179880"),
        footnote_ids={"nature_of_ownership": ["F1"]},
    )
    assert as_filed(nd[7]) == tx(
        ND,
        7,
        **base,
        transaction_code="C",
        shares=Decimal("24660"),
        shares_owned_following=Decimal("24660"),
        footnote_ids={"price_per_share": ["F9"], "nature_of_ownership": ["F10"]},
    )
    assert [t.transaction_code for t in nd] == ["C", "C", "P", "C", "C", "C", "C", "C"]
    # Derivative row 0: a convertible note bought before the IPO. transactionTotalValue instead of shares,
    # and the
    # filer repeated the total in transactionPricePerShare; valueOwnedFollowingTransaction instead of shares.
    assert as_filed(dv[0]) == tx(
        DV,
        0,
        security_title="Convertible Note",
        transaction_date=date(2020, 12, 11),
        transaction_form_type="4",
        transaction_code="A",
        equity_swap_involved=False,
        total_value=Decimal("30430000.00"),
        price_per_share=Decimal("30430000.00"),
        acquired_disposed="A",
        underlying_security_title="Common Shares",
        underlying_shares=Decimal("2477100"),
        value_owned_following=Decimal("30430000.00"),
        direct_indirect="I",
        nature_of_ownership="See footnote",
        footnote_ids={
            "conversion_or_exercise_price": ["F6"],
            "transaction_code": ["F11"],
            "exercise_date": ["F6"],
            "expiration_date": ["F6"],
            "nature_of_ownership": ["F1"],
        },
    )
    assert as_filed(dv[3]) == tx(
        DV,
        3,
        security_title="Series A2 Preferred Shares",
        transaction_date=date(2020, 12, 15),
        transaction_form_type="4",
        transaction_code="C",
        equity_swap_involved=False,
        shares=Decimal("381126"),
        price_per_share=Decimal("0.00"),
        acquired_disposed="D",
        underlying_security_title="Common Shares",
        underlying_shares=Decimal("3811260"),
        shares_owned_following=Decimal("0"),
        direct_indirect="I",
        nature_of_ownership="See footnote",
        footnote_ids={
            "conversion_or_exercise_price": ["F2"],
            "exercise_date": ["F2"],
            "expiration_date": ["F2"],
            "nature_of_ownership": ["F1"],
        },
    )
    # Derivative row 7: the same note converting; total value again, but shares owned (0) after it.
    assert as_filed(dv[7]) == tx(
        DV,
        7,
        security_title="Convertible Note",
        transaction_date=date(2020, 12, 15),
        transaction_form_type="4",
        transaction_code="C",
        equity_swap_involved=False,
        total_value=Decimal("30430000.00"),
        price_per_share=Decimal("0.00"),
        acquired_disposed="D",
        underlying_security_title="Common Shares",
        underlying_shares=Decimal("2477100"),
        shares_owned_following=Decimal("0"),
        direct_indirect="I",
        nature_of_ownership="See footnote",
        footnote_ids={
            "conversion_or_exercise_price": ["F6"],
            "exercise_date": ["F6"],
            "expiration_date": ["F6"],
            "nature_of_ownership": ["F1"],
        },
    )
    assert [t.total_value for t in dv] == [
        Decimal("30430000.00"),
        Decimal("4697050.00"),
        Decimal("302950.00"),
        None,
        None,
        None,
        None,
        Decimal("30430000.00"),
        Decimal("4697050.00"),
        Decimal("302950.00"),
    ]
    assert [t.shares is None for t in dv] == [True, True, True, False, False, False, False, True, True, True]
    assert [t.value_owned_following for t in dv[:3]] == [
        Decimal("30430000.00"),
        Decimal("4697050.00"),
        Decimal("302950.00"),
    ]
    assert [t.transaction_date for t in dv[:3]] == [date(2020, 12, 11)] * 3
    assert f.footnotes["F2"].startswith(
        'The Series A2 Preferred Shares (collectively, the "Preferred Shares") were'
    )
    assert f.footnotes["F11"].startswith(
        "This transaction occurred prior to the effectiveness of the Issuer's"
    )
    assert len(f.footnotes) == 11
    assert signatures(f) == [("/s/ Tryn Stimart, attorney-in-fact", date(2020, 12, 17))]
    # derived: the P row is a $60M open-market purchase (3,000,000 x 20.00); the note row has no shares, so
    # shares x price cannot be formed and must not become 30430000 x 30430000.
    assert nd[2].derived.category == Category.OPEN_MARKET_PURCHASE
    assert nd[2].derived.dollar_value == Decimal("60000000.00")
    assert dv[0].derived.dollar_value in (None, Decimal("30430000.00"))


# --------------------------------------------------------------- Unity: value owned, total value, P on a note


def test_unity_convertible_note_value_owned() -> None:
    f = parse("xml/6aae503a271b.xml")
    assert filing_head(f) == head(
        form_type="4",
        document_type="4",
        schema_version="X0306",
        period_of_report=date(2022, 11, 8),
        source_format="xml",
    )
    assert issuer(f) == ("0001810806", "Unity Software Inc.", "U")
    assert owners(f) == [("0001222287", "BOTHA ROELOF", True, False, True, False, None, None)]
    assert counts(f) == (0, 1, 0, 0)
    assert as_filed(f.transactions[0]) == tx(
        DV,
        0,
        security_title="2.0% Convertible Senior Notes due 2027",
        conversion_or_exercise_price=Decimal("48.8935"),
        transaction_date=date(2022, 11, 8),
        transaction_form_type="4",
        transaction_code="P",
        equity_swap_involved=False,
        total_value=Decimal("60000000"),
        price_per_share=Decimal("60000000"),
        acquired_disposed="A",
        exercise_date=date(2022, 11, 8),
        expiration_date=date(2027, 11, 15),
        underlying_security_title="Common Stock",
        underlying_shares=Decimal("1227156"),
        value_owned_following=Decimal("60000000"),
        direct_indirect="I",
        nature_of_ownership="Sequoia Capital Fund, LP",
        footnote_ids={"conversion_or_exercise_price": ["F1"], "nature_of_ownership": ["F2"]},
    )
    assert f.footnotes["F1"].startswith("Subject to and upon compliance with the provisions of Article 13")
    assert f.footnotes["F2"].startswith(
        "The Reporting Person is a director and stockholder of SC US (TTGP), Ltd."
    )
    assert signatures(f) == [("/s/ Jung Yeon Son, Attorney-in-fact for Roelof Botha", date(2022, 11, 10))]
    assert f.transactions[0].derived.dollar_value in (None, Decimal("60000000"))


# ------------------------------------------------------------------------- Form 3 with no securities owned


def test_form3_no_securities_owned_with_ex24() -> None:
    f = parse("txt/1975be1f2f6f.txt")
    assert filing_head(f) == head(
        accession_number="0000899243-20-035291",
        form_type="3",
        document_type="3",
        schema_version="X0206",
        period_of_report=date(2020, 12, 22),
        no_securities_owned=True,
        acceptance_datetime=datetime(2020, 12, 28, 19, 40, 31, tzinfo=NY),
        filed_date=date(2020, 12, 28),
        remarks="Division President, Airframe & Engine Materials\n\nExhibit 24 - Power of Attorney.",
        source_format="sgml",
    )
    assert issuer(f) == ("0001754170", "AerSale Corp", "ASLE")
    assert owners(f) == [("0001837945", "Jones Gary Edmund", False, True, False, False, "See Remarks", None)]
    assert counts(f) == (0, 0, 0, 0)
    assert f.footnotes == {}  # <footnotes></footnotes>
    assert signatures(f) == [
        ("/s/ Martin Garmendia, Attorney-in-fact for Gary Edmund Jones", date(2020, 12, 28))
    ]


# --------------------------------------------------------------------------------- Form 5 with holdings only


def test_form5_holdings_only() -> None:
    f = parse("txt/33e3ddc04158.txt")
    assert filing_head(f) == head(
        accession_number="0001720088-20-000003",
        form_type="5",
        document_type="5",
        schema_version="X0306",
        period_of_report=date(2019, 12, 31),
        not_subject_to_section16=False,
        form3_holdings_reported=False,
        form4_transactions_reported=False,
        acceptance_datetime=datetime(2020, 2, 13, 14, 5, 40, tzinfo=NY),
        filed_date=date(2020, 2, 13),
        source_format="sgml",
    )
    assert issuer(f) == ("0001092570", "FULLNET COMMUNICATIONS INC", "FULO")
    assert owners(f) == [("0001128539", "BARESEL ROGER P", True, True, True, False, "CEO, CFO", None)]
    assert {Role.CEO, Role.CFO, Role.DIRECTOR, Role.TEN_PERCENT_OWNER} <= set(f.reporting_owners[0].roles)
    assert counts(f) == (0, 0, 2, 2)
    spouse = {"direct_indirect": "I", "nature_of_ownership": "By Spouse"}
    # Each holding carries <transactionCoding><transactionFormType></transactionFormType></transactionCoding>.
    assert [as_filed(h) for h in f.holdings] == [
        hd(ND, 0, security_title="Common Stock", shares_owned_following=Decimal("5600"), direct_indirect="D"),
        hd(
            ND,
            1,
            security_title="Common Stock",
            shares_owned_following=Decimal("2522162"),
            **spouse,
            footnote_ids={"shares_owned_following": ["F1"], "nature_of_ownership": ["F1"]},
        ),
        hd(
            DV,
            0,
            security_title="Convertible Preferred Stock",
            exercise_date=date(2013, 6, 3),
            underlying_security_title="Common Stock",
            underlying_shares=Decimal("200000"),
            shares_owned_following=Decimal("200000"),
            **spouse,
            footnote_ids={
                "conversion_or_exercise_price": ["F2"],
                "expiration_date": ["F3"],
                "shares_owned_following": ["F1"],
                "nature_of_ownership": ["F1"],
            },
        ),
        hd(
            DV,
            1,
            security_title="Stock Option",
            conversion_or_exercise_price=Decimal("0.01"),
            expiration_date=date(2027, 1, 9),
            underlying_security_title="Common Stock",
            underlying_shares=Decimal("300000"),
            shares_owned_following=Decimal("300000"),
            **spouse,
            footnote_ids={
                "exercise_date": ["F4"],
                "shares_owned_following": ["F1"],
                "nature_of_ownership": ["F1"],
            },
        ),
    ]
    assert f.footnotes == {
        "F1": "The Reporting Person disclaims any beneficial ownership "
        "of the common stock, preferred stock and "
        "options held by his spouse.",
        "F2": "One share of preferred stock for one share of common stock.",
        "F3": "Not applicable.",
        "F4": "100,000 exercisable 1/9/18; 100,000 exercisable 1/9/2019; 100,000 exercisable 1/9/20.",
    }
    assert signatures(f) == [("Roger P Baresel", date(2020, 2, 13))]


# ------------------------------------------------------- X0206 Form 3: AbCellera/Thiel derivative holdings


ABCL_UNDERLYING = ["3811260", "3343240", "401050", "29240", "2477100", "382357", "24660"]


def test_form3_x0206_derivative_holdings() -> None:
    f = parse("xml/b134392e4819.xml")
    assert filing_head(f) == head(
        form_type="3",
        document_type="3",
        schema_version="X0206",
        period_of_report=date(2020, 12, 11),
        no_securities_owned=False,
        remarks="Exhibit 24 - Power of Attorney",
        source_format="xml",
    )
    assert issuer(f) == ("0001703057", "AbCellera Biologics Inc.", "ABCL")
    assert owners(f) == [("0001211060", "THIEL PETER", True, False, False, False, None, None)]
    assert counts(f) == (0, 0, 1, 7)
    nd, dv = holds(f, ND), holds(f, DV)
    assert as_filed(nd[0]) == hd(
        ND,
        0,
        security_title="Common Shares",
        shares_owned_following=Decimal("891520"),
        direct_indirect="I",
        nature_of_ownership="See Footnote",
        footnote_ids={"nature_of_ownership": ["F1"]},
    )
    assert as_filed(dv[0]) == hd(
        DV,
        0,
        security_title="Series A2 Preferred Shares",
        underlying_security_title="Common Shares",
        underlying_shares=Decimal("3811260"),
        direct_indirect="I",
        nature_of_ownership="See footnote",
        footnote_ids={
            "conversion_or_exercise_price": ["F2"],
            "exercise_date": ["F2"],
            "expiration_date": ["F2"],
            "nature_of_ownership": ["F1"],
        },
    )
    assert as_filed(dv[4]) == hd(
        DV,
        4,
        security_title="Convertible Note",
        conversion_or_exercise_price=Decimal("17.00"),
        underlying_security_title="Common Shares",
        underlying_shares=Decimal("2477100"),
        direct_indirect="I",
        nature_of_ownership="See footnote",
        footnote_ids={"exercise_date": ["F6"], "expiration_date": ["F6"], "nature_of_ownership": ["F1"]},
    )
    assert [h.underlying_shares for h in dv] == [Decimal(n) for n in ABCL_UNDERLYING]
    # derivative holdings on this Form 3 have no postTransactionAmounts at all
    assert [h.shares_owned_following for h in dv] == [None] * 7
    assert [h.footnote_ids["nature_of_ownership"] for h in dv] == [
        ["F1"],
        ["F3"],
        ["F4"],
        ["F5"],
        ["F1"],
        ["F8"],
        ["F10"],
    ]
    assert f.footnotes["F1"] == (
        "These shares are held of record by ABE Investments LLC. The "
        "Reporting Person is the beneficial owner of "
        "ABE Investments LLC and has sole voting and investment power "
        "over the securities held by ABE Investments LLC."
    )
    assert signatures(f) == [("/s/ Tryn Stimart, attorney-in-fact", date(2020, 12, 11))]


# --------------------------------------------------------- .nc dissemination file (2seventy bio), See Remarks


def test_nc_dissemination_2seventy() -> None:
    f = parse("txt/03db0cd95749.txt")
    assert filing_head(f) == head(
        accession_number="0001562180-25-000280",
        form_type="4",
        document_type="4",
        schema_version="X0508",
        period_of_report=date(2025, 1, 6),
        not_subject_to_section16=False,
        filed_date=date(2025, 1, 8),
        aff10b5one=False,
        remarks="Title: Senior Vice President of Quality and Enabling Functions",
        source_format="nc",
    )
    assert f.acceptance_datetime is None  # the .nc header has no acceptance time
    assert issuer(f) == ("0001860782", "2seventy bio, Inc.", "TSVT")
    assert owners(f) == [("0002009134", "Snow Jessica", False, True, False, False, "See Remarks", None)]
    # derived: "See Remarks" -> "Senior Vice President ..." is a vice president, an officer but not the
    # president
    assert f.reporting_owners[0].roles == [Role.OTHER_OFFICER]
    assert counts(f) == (1, 1, 0, 0)
    nd, dv = f.transactions
    assert as_filed(nd) == tx(
        ND,
        0,
        security_title="Common Stock",
        transaction_date=date(2025, 1, 6),
        transaction_form_type="4",
        transaction_code="A",
        equity_swap_involved=False,
        shares=Decimal("106150.00"),
        price_per_share=Decimal("0.00"),
        acquired_disposed="A",
        shares_owned_following=Decimal("253329.00"),
        direct_indirect="D",
        footnote_ids={"security_title": ["F1"]},
    )
    assert as_filed(dv) == tx(
        DV,
        0,
        security_title="Stock Option (Right to buy)",
        conversion_or_exercise_price=Decimal("2.64"),
        transaction_date=date(2025, 1, 6),
        transaction_form_type="4",
        transaction_code="A",
        equity_swap_involved=False,
        shares=Decimal("70750.00"),
        price_per_share=Decimal("0.00"),
        acquired_disposed="A",
        expiration_date=date(2035, 1, 6),
        underlying_security_title="Common Stock",
        underlying_shares=Decimal("70750.00"),
        shares_owned_following=Decimal("70750.00"),
        direct_indirect="D",
        footnote_ids={"exercise_date": ["F2"]},
    )
    assert f.footnotes["F2"].startswith(
        "This stock option vests over a four-year period at the rate of 25% on January 2, 2026"
    )
    assert signatures(f) == [("/s/ Iya Kessler, Attorney-in-Fact", date(2025, 1, 8))]


def test_nc_dissemination_arrow() -> None:
    f = parse("txt/390f203637a3.txt")
    assert (f.accession_number, f.form_type, f.filed_date, f.acceptance_datetime, f.source_format) == (
        "0001127602-25-004598",
        "4",
        date(2025, 2, 13),
        None,
        "nc",
    )
    assert (f.schema_version, f.period_of_report, f.not_subject_to_section16, f.aff10b5one) == (
        "X0508",
        date(2025, 2, 12),
        None,
        False,
    )
    assert issuer(f) == ("0000007536", "ARROW ELECTRONICS, INC.", "ARW")
    # only <isOfficer> and <officerTitle> are present in the relationship block; the other flags are absent
    assert owners(f) == [
        ("0001870985", "Jean-Claude Carine Lamercie", False, True, False, False, "SVP, CLO & Secretary", None)
    ]
    assert [
        (t.transaction_code, t.shares, t.price_per_share, t.acquired_disposed, t.shares_owned_following)
        for t in f.transactions
    ] == [
        ("A", Decimal("2193"), Decimal("106.82"), "A", Decimal("21878")),
        ("F", Decimal("1009"), Decimal("106.82"), "D", Decimal("20869")),
    ]
    assert [t.footnote_ids for t in f.transactions] == [
        {"security_title": ["F1"]},
        {"security_title": ["F2"]},
    ]
    assert f.transactions[1].derived.category == Category.TAX_WITHHOLDING


# --------------------------------------------------------------------- X0609 (MicroVision, 2026 test fixture)


def test_x0609_microvision() -> None:
    f = parse("xml/622acbaa61f0.xml")
    assert filing_head(f) == head(
        form_type="4",
        document_type="4",
        schema_version="X0609",
        period_of_report=date(2026, 6, 8),
        not_subject_to_section16=False,
        aff10b5one=False,
        source_format="xml",
    )
    assert issuer(f) == ("0000065770", "MICROVISION, INC.", "MVIS")
    assert (
        f.issuer.foreign_trading_symbol is None
    )  # <issuerForeignTradingSymbol></issuerForeignTradingSymbol>
    assert owners(f) == [("0001865433", "Markham Drew G", False, True, False, False, "GC", None)]
    address = f.reporting_owners[0].address
    assert (address.non_us_address, address.street1, address.city, address.state, address.zip_code) == (
        False,
        "18390 NE 68TH STREET",
        "REDMOND",
        "WA",
        "98052",
    )
    assert f.reporting_owners[0].roles == [Role.GENERAL_COUNSEL]
    assert counts(f) == (3, 3, 0, 0)
    nd, dv = txns(f, ND), txns(f, DV)
    assert as_filed(nd[0]) == tx(
        ND,
        0,
        security_title="Common Stock",
        transaction_date=date(2026, 6, 8),
        transaction_form_type="4",
        transaction_code="M",
        equity_swap_involved=False,
        shares=Decimal("150000"),
        price_per_share=Decimal("0.00"),
        acquired_disposed="A",
        shares_owned_following=Decimal("622308"),
        direct_indirect="D",
        footnote_ids={"security_title": ["F1"]},
    )
    assert as_filed(nd[2]) == tx(
        ND,
        2,
        security_title="Common Stock",
        transaction_date=date(2026, 6, 10),
        transaction_form_type="4",
        transaction_code="F",
        equity_swap_involved=False,
        shares=Decimal("77905"),
        price_per_share=Decimal("0.3621"),
        acquired_disposed="D",
        shares_owned_following=Decimal("663203"),
        direct_indirect="D",
        footnote_ids={"security_title": ["F2"], "price_per_share": ["F3"]},
    )
    assert (nd[1].transaction_code, nd[1].shares, nd[1].shares_owned_following) == (
        "M",
        Decimal("118800"),
        Decimal("741108"),
    )
    assert as_filed(dv[0]) == tx(
        DV,
        0,
        security_title="Restricted Stock Units",
        conversion_or_exercise_price=Decimal("0.00"),
        transaction_date=date(2026, 6, 8),
        transaction_form_type="4",
        transaction_code="A",
        equity_swap_involved=False,
        shares=Decimal("150000"),
        price_per_share=Decimal("0.00"),
        acquired_disposed="A",
        exercise_date=date(2026, 6, 8),
        expiration_date=date(2026, 6, 8),
        underlying_security_title="Common stock",
        underlying_shares=Decimal("150000"),
        shares_owned_following=Decimal("150000"),
        direct_indirect="D",
        footnote_ids={"conversion_or_exercise_price": ["F4"], "exercise_date": ["F5"]},
    )
    # the two M rows report underlyingSecurityShares 0 (as filed), not the units converted
    assert [
        (t.transaction_code, t.shares, t.underlying_shares, t.footnote_ids["exercise_date"]) for t in dv[1:]
    ] == [
        ("M", Decimal("150000"), Decimal("0"), ["F5"]),
        ("M", Decimal("118800"), Decimal("0"), ["F7"]),
    ]
    assert f.footnotes["F3"] == (
        "The price reported in column 4 is a weighted average price. These shares were sold by the Issuer in "
        "multiple transactions at prices ranging from $0.3509 to $0.3779, inclusive."
    )
    assert len(f.footnotes) == 7
    assert signatures(f) == [("/s/ Drew G. Markham", date(2026, 6, 10))]
    d2 = nd[2].derived
    assert d2.category == Category.TAX_WITHHOLDING
    assert (d2.is_weighted_average, d2.price_low, d2.price_high) == (
        True,
        Decimal("0.3509"),
        Decimal("0.3779"),
    )


# ---------------------------------------- no <?xml declaration, injected <script>, xs:date timezone suffixes


def test_no_declaration_script_and_timezone_dates() -> None:
    f = parse("xml/a1ddb077d325.xml")
    # periodOfReport is "2021-09-30-05:00" and the signature date "2021-10-26-05:00"; <remarks/> is empty
    assert filing_head(f) == head(
        form_type="4",
        document_type="4",
        schema_version="X0306",
        period_of_report=date(2021, 9, 30),
        not_subject_to_section16=False,
        source_format="xml",
    )
    assert issuer(f) == ("0001443863", "BioCorRx Inc.", "BICX")
    # booleans are spelled true/false in this document
    assert owners(f) == [("0001198613", "GALLIGAN JOSEPH J", True, False, True, False, None, None)]
    assert f.reporting_owners[0].address.state_description is None  # <rptOwnerStateDescription/>
    assert counts(f) == (1, 0, 0, 0)
    assert as_filed(f.transactions[0]) == tx(
        ND,
        0,
        security_title="Common Stock, par value $0.001",
        transaction_date=date(2021, 9, 30),
        transaction_form_type="4",
        transaction_code="A",
        equity_swap_involved=False,
        shares=Decimal("1381"),
        price_per_share=Decimal("0"),
        acquired_disposed="A",
        shares_owned_following=Decimal("35248"),
        direct_indirect="D",
        footnote_ids={"transaction_code": ["F1"]},
    )
    assert f.footnotes["F1"].startswith(
        "These shares were issued to Mr. Galligan pursuant to a Director Agreement"
    )
    assert f.footnotes["F1"].endswith("was $3.62.")
    assert signatures(f) == [("/s/ Joseph J. Galligan", date(2021, 10, 26))]


# -------------------------------------------------------------- 10b5-1 checkbox true (DraftKings, X0508)


def test_dkng_10b5_1_checkbox_true() -> None:
    f = parse("txt/b5398ed6a545.txt")
    assert filing_head(f) == head(
        accession_number="0001104659-25-025206",
        form_type="4",
        document_type="4",
        schema_version="X0508",
        period_of_report=date(2025, 3, 14),
        not_subject_to_section16=False,
        acceptance_datetime=datetime(2025, 3, 18, 20, 1, 8, tzinfo=NY),
        filed_date=date(2025, 3, 18),
        aff10b5one=True,
        source_format="sgml",
    )
    assert issuer(f) == ("0001883685", "DraftKings Inc.", "DKNG")
    assert owners(f) == [
        ("0001404430", "Dodge R Stanton", False, True, False, False, "Chief Legal Officer", None)
    ]
    assert f.reporting_owners[0].roles == [Role.GENERAL_COUNSEL]
    assert counts(f) == (3, 0, 0, 0)
    sale = {"security_title": "Class A Common Stock", "transaction_form_type": "4", "transaction_code": "S"}
    sale |= {"equity_swap_involved": False, "acquired_disposed": "D", "direct_indirect": "D"}
    assert [as_filed(t) for t in f.transactions] == [
        tx(
            ND,
            0,
            **sale,
            transaction_date=date(2025, 3, 14),
            shares=Decimal("49252"),
            price_per_share=Decimal("37.59"),
            shares_owned_following=Decimal("710145"),
            footnote_ids={"transaction_code": ["F1"], "price_per_share": ["F2"]},
        ),
        tx(
            ND,
            1,
            **sale,
            transaction_date=date(2025, 3, 14),
            shares=Decimal("3525"),
            price_per_share=Decimal("38.05"),
            shares_owned_following=Decimal("706620"),
            footnote_ids={"transaction_code": ["F1"], "price_per_share": ["F3"]},
        ),
        tx(
            ND,
            2,
            **sale,
            transaction_date=date(2025, 3, 17),
            shares=Decimal("52777"),
            price_per_share=Decimal("39"),
            shares_owned_following=Decimal("653843"),
            footnote_ids={"transaction_code": ["F1"]},
        ),
    ]
    assert f.footnotes["F1"] == (
        "The reported sale was made pursuant to a pre-arranged program "
        "for selling shares of Class A Common Stock "
        "adopted on December 13, 2024 pursuant to Rule 10b5-1 under the Securities Exchange Act of 1934."
    )
    assert signatures(f) == [("/s/ Faisal Hasan, attorney-in-fact", date(2025, 3, 18))]
    # derived: 49252 x 37.59 = 1851382.68; 3525 x 38.05 = 134126.25; 52777 x 39 = 2058303
    assert [t.derived.dollar_value for t in f.transactions] == [
        Decimal("1851382.68"),
        Decimal("134126.25"),
        Decimal("2058303"),
    ]
    assert [t.derived.tenb51_checkbox for t in f.transactions] == [True, True, True]
    assert [t.derived.tenb51_plan for t in f.transactions] == [True, True, True]
    assert f.derived.tenb51_plan is True
    assert f.derived.tenb51_plan_adoption_date == date(2024, 12, 13)
    assert [t.derived.is_weighted_average for t in f.transactions] == [True, True, False]


# ---------------------------------------------------------- NVIDIA X0407 (June 2023): aff10b5One=0 and code F


def test_nvidia_x0407_tax_withholding() -> None:
    f = parse("txt/7d4eb693d440.txt")
    assert filing_head(f) == head(
        accession_number="0001045810-23-000128",
        form_type="4",
        document_type="4",
        schema_version="X0407",
        period_of_report=date(2023, 6, 21),
        not_subject_to_section16=False,
        acceptance_datetime=datetime(2023, 6, 23, 19, 44, 9, tzinfo=NY),
        filed_date=date(2023, 6, 23),
        aff10b5one=False,
        source_format="sgml",
    )
    assert issuer(f) == ("0001045810", "NVIDIA CORP", "NVDA")
    assert owners(f) == [
        ("0001283854", "Shoquist Debora", False, True, False, False, "EVP, Operations", None)
    ]
    assert counts(f) == (1, 0, 1, 0)
    assert as_filed(f.transactions[0]) == tx(
        ND,
        0,
        security_title="Common Stock",
        transaction_date=date(2023, 6, 21),
        transaction_form_type="4",
        transaction_code="F",
        equity_swap_involved=False,
        shares=Decimal("7449"),
        price_per_share=Decimal("430.45"),
        acquired_disposed="D",
        shares_owned_following=Decimal("205539"),
        direct_indirect="D",
        footnote_ids={"shares": ["F1"], "shares_owned_following": ["F2"]},
    )
    assert as_filed(f.holdings[0]) == hd(
        ND,
        0,
        security_title="Common Stock",
        shares_owned_following=Decimal("139860"),
        direct_indirect="I",
        nature_of_ownership="By Trust",
        footnote_ids={"nature_of_ownership": ["F3"]},
    )
    assert (
        f.footnotes["F2"] == "Includes 7,568 shares issued upon the vesting of restricted "
        "stock units previously reported on a Form 4."
    )
    assert signatures(f) == [("/s/ Rebecca Peters, Attorney-in-Fact for Debora Shoquist", date(2023, 6, 23))]
    d = f.transactions[0].derived
    assert d.category == Category.TAX_WITHHOLDING  # $3.2M of withheld shares is not a sale
    assert d.is_open_market is False
    assert d.dollar_value == Decimal("3206422.05")  # 7449 x 430.45


# ----------------------------------------------------------- AAR: .txt with a second (EX-24) document


def test_aar_txt_with_ex24_document() -> None:
    f = parse("txt/f9c7e592fdb8.txt")
    assert filing_head(f) == head(
        accession_number="0001127602-25-001055",
        form_type="4",
        document_type="4",
        schema_version="X0508",
        period_of_report=date(2025, 1, 10),
        acceptance_datetime=datetime(2025, 1, 10, 16, 7, 30, tzinfo=NY),
        filed_date=date(2025, 1, 10),
        aff10b5one=False,
        source_format="sgml",
    )
    assert issuer(f) == ("0000001750", "AAR CORP", "AIR")
    # the relationship block has only <isOfficer>1</isOfficer> and the title; the other flags are absent
    assert owners(f) == [
        (
            "0001806647",
            "Garascia Jessica A.",
            False,
            True,
            False,
            False,
            "Senior VP, GC, CAO & Secretary",
            None,
        )
    ]
    assert Role.GENERAL_COUNSEL in f.reporting_owners[0].roles
    assert counts(f) == (1, 0, 0, 0)
    assert as_filed(f.transactions[0]) == tx(
        ND,
        0,
        security_title="Common Stock",
        transaction_date=date(2025, 1, 10),
        transaction_form_type="4",
        transaction_code="S",
        equity_swap_involved=False,
        shares=Decimal("1500"),
        price_per_share=Decimal("66.903"),
        acquired_disposed="D",
        shares_owned_following=Decimal("37565"),
        direct_indirect="D",
        footnote_ids={"price_per_share": ["F1"]},
    )
    assert signatures(f) == [("/s/ Katherine Kwiat, power of attorney", date(2025, 1, 10))]
    d = f.transactions[0].derived
    assert (d.is_weighted_average, d.price_low, d.price_high) == (
        True,
        Decimal("66.8350"),
        Decimal("66.9800"),
    )
    assert d.dollar_value == Decimal("100354.5")  # 1500 x 66.903


# --------------------------------------- a Form 4 with no transaction at all (one holding, four joint owners)


MITHRIL_OWNERS = [
    ("0001669609", "MITHRIL II LP"),
    ("0001878232", "Mithril II GP LP"),
    ("0001878230", "Mithril II UGP LLC"),
    ("0001211060", "THIEL PETER"),
]


def test_form4_holdings_only_joint_filers() -> None:
    """There is no holdings-only 4/A among the real filings; this Form 4 is the closest: it reports no
    transaction, only a holding, and still says notSubjectToSection16=0."""
    f = parse("xml/cb2f7b929d3f.xml")
    assert filing_head(f) | {"remarks": None} == head(
        form_type="4",
        document_type="4",
        schema_version="X0306",
        period_of_report=date(2022, 3, 28),
        not_subject_to_section16=False,
        source_format="xml",
    )
    assert f.remarks is not None
    assert f.remarks.startswith(
        "This Form 4 is not being filed in connection with the "
        "acquisition or disposition of any securities of "
        "the Issuer.\n\nAs disclosed by (among others) the Reporting Persons"
    )
    assert 'Mithril II LP ("II LP")' in f.remarks
    assert issuer(f) == ("0001832038", "Adagio Therapeutics, Inc.", "ADGI")
    assert owners(f) == [
        (cik, name, False, False, True, True, None, "See Remarks") for cik, name in MITHRIL_OWNERS
    ]
    assert counts(f) == (0, 0, 1, 0)
    assert as_filed(f.holdings[0]) == hd(
        ND,
        0,
        security_title="Common Stock",
        shares_owned_following=Decimal("11241580"),
        direct_indirect="D",
        footnote_ids={"direct_indirect": ["F1"]},
    )
    assert f.footnotes["F1"].startswith(
        'These shares are held of record by II LP. Mithril II UGP LLC ("UGP II")'
    )
    sigs = signatures(f)
    assert len(sigs) == 4
    assert sigs[3] == ("/s/ Peter Thiel", date(2022, 3, 30))
    assert f.derived.joint_filer_count == 4
    assert f.derived.reporting_owner_ciks == sorted(cik for cik, _ in MITHRIL_OWNERS)


# ---------------------------------------------------------------------------- the SEC specification's samples


def test_spec_sample_form4_interleaved_rows() -> None:
    """The spec's sample Form 4 interleaves rows: transaction, holding, holding, transaction in one table,
    so the second transaction is row_index 1. No schemaVersion, no issuerName, no rptOwnerName."""
    f = parse("spec/6ebd73c4ea52.xml")
    assert filing_head(f) == head(
        form_type="4",
        document_type="4",
        period_of_report=date(2003, 9, 15),
        not_subject_to_section16=True,
        aff10b5one=True,
        remarks="This is just a general comment.",
        source_format="xml",
    )
    assert issuer(f) == ("1212121212", None, "AWI")
    assert owners(f) == [
        ("0000343434", None, True, True, False, True, "President and CEO", "Public Affairs Officer"),
        ("1212121212", None, True, True, False, True, "President and CEO", "Public Affairs Officer"),
    ]
    address = f.reporting_owners[0].address
    assert (address.street1, address.street2, address.city, address.state, address.zip_code) == (
        "123 Main St",
        "Apt #44",
        "Anywhere",
        "VA",
        "21212",
    )
    assert counts(f) == (2, 1, 2, 1)
    nd = txns(f, ND)
    assert as_filed(nd[0]) == tx(
        ND,
        0,
        security_title="Common Stock",
        transaction_date=date(2002, 11, 1),
        deemed_execution_date=date(2002, 11, 2),
        transaction_form_type="5",
        transaction_code="J",
        equity_swap_involved=True,
        shares=Decimal("2000"),
        price_per_share=Decimal("0"),
        acquired_disposed="A",
        shares_owned_following=Decimal("999.0"),
        direct_indirect="I",
        nature_of_ownership="This describes the nature of the ownership.",
        footnote_ids={"transaction_code": ["F1", "F2", "F3"], "transaction_timeliness": ["F3"]},
    )
    assert as_filed(nd[1]) == tx(
        ND,
        1,
        security_title="Preferred Stock Options",
        transaction_date=date(2002, 11, 2),
        transaction_form_type="4",
        transaction_code="S",
        equity_swap_involved=True,
        shares=Decimal("33333"),
        price_per_share=Decimal("0"),
        acquired_disposed="D",
        value_owned_following=Decimal("2111111"),
        direct_indirect="D",
        footnote_ids={"security_title": ["F1"]},
    )
    assert [as_filed(h) for h in holds(f, ND)] == [
        hd(
            ND,
            0,
            security_title="Preferred Stock Options",
            shares_owned_following=Decimal("33333"),
            direct_indirect="D",
            footnote_ids={"security_title": ["F1"]},
        ),
        hd(
            ND,
            1,
            security_title="Common Stock Options",
            value_owned_following=Decimal("2222.33"),
            direct_indirect="I",
            nature_of_ownership="Owned Indirectly",
        ),
    ]
    assert as_filed(txns(f, DV)[0]) == tx(
        DV,
        0,
        security_title="Derived Stock (HOLDING)",
        conversion_or_exercise_price=Decimal("50.55"),
        transaction_date=date(1980, 12, 25),
        transaction_form_type="4",
        transaction_code="C",
        equity_swap_involved=False,
        shares=Decimal("0"),
        price_per_share=Decimal("1001.23"),
        acquired_disposed="A",
        exercise_date=date(1980, 12, 25),
        expiration_date=date(1980, 12, 25),
        underlying_security_title="Derived Stock (HOLDING)",
        underlying_value=Decimal("100.12"),
        value_owned_following=Decimal("3210.88"),
        direct_indirect="D",
        footnote_ids={
            "security_title": ["F1", "F3"],
            "conversion_or_exercise_price": ["F5"],
            "price_per_share": ["F2"],
            "expiration_date": ["F4"],
        },
    )
    assert as_filed(holds(f, DV)[0]) == hd(
        DV,
        0,
        security_title="Derived Stock (HOLDING)",
        conversion_or_exercise_price=Decimal("50.55"),
        exercise_date=date(1980, 12, 25),
        expiration_date=date(1980, 12, 25),
        underlying_security_title="Derived Stock (HOLDING)",
        underlying_value=Decimal("100.12"),
        shares_owned_following=Decimal("0"),
        direct_indirect="D",
        footnote_ids={"conversion_or_exercise_price": ["F5"], "expiration_date": ["F4"]},
    )
    assert f.footnotes == {f"F{n}": f"Footnote {n}." for n in range(1, 6)}
    assert signatures(f) == [
        ("Jane Doe", date(2002, 11, 23)),
        ("John Q. Public", date(2002, 11, 22)),
        ("Uncle Sam", date(2002, 11, 24)),
    ]
    assert nd[1].derived.edgar_display_code == "SK"  # equitySwapInvolved=1 appends K


# (file, documentType, (nd tx, d tx, nd holdings, d holdings), owners, aff10b5One, notSubjectToSection16,
#  dateOfOriginalSubmission). Counted by hand in each document.
SPEC_SAMPLES = [
    ("spec/6ebd73c4ea52.xml", "4", (2, 1, 2, 1), 2, True, True, None),
    ("spec/f2f2e7c6b32a.xml", "4/A", (2, 1, 2, 1), 2, True, True, date(2003, 3, 1)),
    ("spec/83eca6d3fed2.xml", "5", (3, 1, 1, 1), 2, True, True, None),
    ("spec/c380dd1f4c9f.xml", "5/A", (3, 1, 1, 1), 2, True, True, date(2003, 3, 1)),
    ("spec/eebc972904e0.xml", "3", (0, 0, 1, 1), 1, None, None, None),
    ("spec/6ee43aa8bcfb.xml", "3/A", (0, 0, 1, 1), 1, None, None, date(2003, 3, 1)),
    # Malformed: each is the well-formed sample above plus one more owner whose address has
    # <rptOwnerCounrty>I7</rptOwnerState>; lxml's recover mode closes the element and keeps every row.
    ("spec/b9da8b3f7534.xml", "4", (2, 1, 2, 1), 3, True, True, None),
    ("spec/7bab93c48444.xml", "4/A", (2, 1, 2, 1), 3, True, True, date(2003, 3, 1)),
    ("spec/bae7c0cd2607.xml", "5", (3, 1, 1, 1), 3, True, True, None),
    ("spec/b891b3cbfcbb.xml", "5/A", (3, 1, 1, 1), 3, True, True, date(2003, 3, 1)),
    ("spec/c3cf5dedeb78.xml", "3", (0, 0, 1, 1), 2, None, None, None),
]
MALFORMED_SPEC = {
    "spec/b9da8b3f7534.xml",
    "spec/7bab93c48444.xml",
    "spec/bae7c0cd2607.xml",
    "spec/b891b3cbfcbb.xml",
}
MALFORMED_SPEC |= {"spec/c3cf5dedeb78.xml"}
# malformed sample -> the well-formed sample with the same tables
SPEC_TWINS = {
    "spec/b9da8b3f7534.xml": "spec/6ebd73c4ea52.xml",
    "spec/7bab93c48444.xml": "spec/f2f2e7c6b32a.xml",
    "spec/bae7c0cd2607.xml": "spec/83eca6d3fed2.xml",
    "spec/b891b3cbfcbb.xml": "spec/c380dd1f4c9f.xml",
    "spec/c3cf5dedeb78.xml": "spec/eebc972904e0.xml",
}


@pytest.mark.parametrize(("rel", "doc_type", "row_counts", "n_owners", "aff", "nss", "dos"), SPEC_SAMPLES)
def test_spec_samples(
    rel: str,
    doc_type: str,
    row_counts: tuple[int, int, int, int],
    n_owners: int,
    aff: bool | None,
    nss: bool | None,
    dos: date | None,
) -> None:
    f = parse(rel)
    assert (f.document_type, f.form_type, f.schema_version, f.accession_number) == (
        doc_type,
        doc_type,
        None,
        None,
    )
    assert (f.aff10b5one, f.not_subject_to_section16, f.date_of_original_submission) == (aff, nss, dos)
    assert issuer(f) == ("1212121212", None, "AWI")
    assert counts(f) == row_counts
    assert len(f.reporting_owners) == n_owners
    assert f.reporting_owners[0].cik == "0000343434"  # filed as 343434 in some samples, 0000343434 in others
    assert f.footnotes == {f"F{n}": f"Footnote {n}." for n in range(1, 6)}
    assert [s.name for s in f.signatures] == ["Jane Doe", "John Q. Public", "Uncle Sam"]
    assert f.remarks == "This is just a general comment."
    assert f.derived.is_amendment is doc_type.endswith("/A")
    if rel in MALFORMED_SPEC:
        assert f.warnings, "a recovered malformed document must say so in filing.warnings"


@pytest.mark.parametrize(("malformed", "twin"), sorted(SPEC_TWINS.items()))
def test_malformed_spec_samples_recover_everything(malformed: str, twin: str) -> None:
    bad, good = parse(malformed), parse(twin)
    assert [as_filed(t) for t in bad.transactions] == [as_filed(t) for t in good.transactions]
    assert [as_filed(h) for h in bad.holdings] == [as_filed(h) for h in good.holdings]
    assert [o.cik for o in bad.reporting_owners][:2] == ["0000343434", "0000343435"]
    # the misspelled element is closed by the recovery, so the zip code after it is still read
    extra = bad.reporting_owners[1].address
    assert (extra.non_us_address, extra.street1, extra.city, extra.zip_code) == (
        True,
        "123 Main St",
        "Anywhere",
        "212126",
    )
    assert extra.country == "I7"  # <rptOwnerCounrty> is the spec's own misspelling of rptOwnerCountry


# ------------------------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("rel", "code", "accession"),
    [
        # 1998 header-only submission: no <DOCUMENT>, no ownership XML
        ("txt/6e901dffc88f.txt", ErrorCode.NO_XML_DOCUMENT, "0001012325-98-000004"),
        # PEM-wrapped 2000 submission with a plain-text Form 4 table
        ("txt/c8c61ec73936.txt", ErrorCode.NO_XML_DOCUMENT, "0001094891-00-000193"),
        # 3/A spec sample: the first owner's <reportingOwnerAddress> start tag is missing, so lxml's recovery
        # closes <reportingOwner> early and drops both holdings; a repair that loses rows must be refused.
        ("spec/b3becc60a6da.xml", ErrorCode.MALFORMED_XML, None),
        # browser-saved test file whose only <rptOwnerCik> is inside an XML comment
        ("xml/9f89d37912c1.xml", ErrorCode.MISSING_REQUIRED, None),
    ],
)
def test_refused_with_a_code(rel: str, code: ErrorCode, accession: str | None) -> None:
    with pytest.raises(ParseError) as info:
        parse(rel)
    assert info.value.code == code
    if accession is not None:
        assert info.value.header.get("accession_number") == accession
