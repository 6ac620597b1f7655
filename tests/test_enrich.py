"""Derived values on real filings, each checked by hand against the document and the calendar."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from streams.models import Category, PriceStatus, Role
from streams.parse import parse_filing
from streams.parse.sgml import unwrap_submission
from tests.fixtures_index import fixture_bytes


def test_weighted_average_ranges_are_matched_to_each_row_price() -> None:
    """TSLA 0000899243-22-035394: one footnote per row, "prices ranging from $188.970 to $189.960"."""
    filing = parse_filing(fixture_bytes("xml/e364df9da26c.xml"))
    first, second = filing.transactions[:2]
    assert (first.price_per_share, first.derived.price_low, first.derived.price_high) == (
        Decimal("189.578"),
        Decimal("188.970"),
        Decimal("189.960"),
    )
    assert (second.derived.price_low, second.derived.price_high) == (Decimal("189.970"), Decimal("190.960"))
    assert first.derived.is_weighted_average
    assert str(first.derived.price_low) == "188.970"  # as written, three places kept


def test_plan_adoption_lag_and_acceptance_on_an_apple_filing() -> None:
    """AAPL 0000320193-22-000061: sold 2022-05-04 (Wed), filed 2022-05-06 (Fri) at 18:30:57 Eastern."""
    filing = parse_filing(fixture_bytes("txt/a6ab43128199.txt"))
    assert filing.acceptance_datetime == datetime(
        2022, 5, 6, 18, 30, 57, tzinfo=filing.acceptance_datetime.tzinfo
    )
    assert filing.acceptance_datetime.utcoffset() == timedelta(hours=-4)  # EDT in May
    row = filing.transactions[0]
    assert (row.derived.price_low, row.derived.price_high) == (Decimal("159.42"), Decimal("160.41"))
    assert row.derived.tenb51_footnote_mention and row.derived.tenb51_plan
    assert row.derived.tenb51_plan_adoption_date == date(2021, 8, 16)
    assert row.derived.filing_lag_business_days == 2
    assert row.derived.is_late is False
    assert filing.reporting_owners[0].roles == [Role.GENERAL_COUNSEL]  # "SVP, GC and Secretary"


def test_late_filing_counts_federal_holidays() -> None:
    """SoftBank 0001493152-25-009612: trade 2024-12-09, filed 2025-03-07. 64 weekdays, minus Dec 24 (closure),
    Dec 25, Jan 1, Jan 9 (national day of mourning), MLK day and Presidents' day: 58 business days."""
    filing = parse_filing(fixture_bytes("txt/0de306b08345.txt"))
    row = filing.transactions[0]
    assert row.transaction_date == date(2024, 12, 9)
    assert filing.filed_date == date(2025, 3, 7)
    assert row.derived.filing_lag_business_days == 58
    assert row.derived.is_late is True
    assert filing.derived.joint_filer_count == 8


def test_see_remarks_title_is_read_from_the_remarks() -> None:
    """2seventy bio .nc: officerTitle "See Remarks", remarks "Title: Senior Vice President of Quality ..."."""
    filing = parse_filing(fixture_bytes("txt/03db0cd95749.txt"))
    owner = filing.reporting_owners[0]
    assert owner.officer_title == "See Remarks"  # as filed
    assert owner.roles == [Role.OTHER_OFFICER]
    grant = filing.transactions[0]
    assert grant.derived.category is Category.GRANT_AWARD
    assert grant.derived.price_status is PriceStatus.ZERO
    assert grant.derived.dollar_value is None or grant.derived.dollar_value == 0


def test_total_value_typed_into_the_price_is_flagged_not_multiplied() -> None:
    """AbCellera 0000899243-20-034355: convertible notes with transactionTotalValue 30430000.00 and the same
    number in transactionPricePerShare."""
    filing = parse_filing(fixture_bytes("xml/0489944b8445.xml"))
    notes = [t for t in filing.transactions if t.total_value == Decimal("30430000.00")]
    assert notes
    grant = notes[0]
    assert grant.price_per_share == Decimal("30430000.00")  # as filed
    assert grant.derived.value_flags == ["price_equals_total_value"]
    assert grant.derived.dollar_value is None
    purchase = next(t for t in filing.transactions if t.transaction_code == "P")
    assert purchase.derived.dollar_value == Decimal("60000000.00")  # 3,000,000 x $20.00
    assert purchase.derived.value_flags == []


def test_ceo_roles_from_flags_and_title() -> None:
    filing = parse_filing(fixture_bytes("xml/e364df9da26c.xml"))
    assert filing.reporting_owners[0].roles == [Role.CEO, Role.DIRECTOR, Role.TEN_PERCENT_OWNER]


def test_row_ids_are_stable_and_distinct_across_tables() -> None:
    data = fixture_bytes("txt/7a623a2c1264.txt")
    first, again = parse_filing(data), parse_filing(data)
    assert [t.txn_id for t in first.transactions] == [t.txn_id for t in again.transactions]
    assert len({t.txn_id for t in first.transactions}) == len(first.transactions)
    # The bare XML with the accession from a feed envelope gives the same ids as the full submission.
    xml = unwrap_submission(data).xml
    bare = parse_filing(xml, accession_number="0000707549-25-000004")
    assert bare.source_format == "xml"
    assert [t.txn_id for t in bare.transactions] == [t.txn_id for t in first.transactions]
    assert [t.txn_id for t in parse_filing(xml).transactions] != [t.txn_id for t in first.transactions]
