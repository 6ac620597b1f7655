"""The business-day calendar (holidays library + executive-order closures) and EDGAR's filing date, on real filings."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from streams.alerts import RulesConfig, evaluate_filing
from streams.derive.calendar import (
    business_days_between,
    edgar_filing_date,
    is_business_day,
    next_business_day,
    us_federal_holidays,
)
from streams.models import Filing
from streams.parse import parse_filing
from streams.process import Source, read_event
from tests.fixtures_index import fixture_bytes
from tests.test_alerts import records_from_filing

ET = ZoneInfo("America/New_York")
MAESTRI = Path(__file__).resolve().parent.parent / "samples" / "63f718a06c6b.xml"  # AAPL CFO sale, 2020-10-09


def test_december_2025_executive_order_closures() -> None:
    assert {date(2025, 12, 24), date(2025, 12, 25), date(2025, 12, 26)} <= us_federal_holidays(2025)
    assert not is_business_day(date(2025, 12, 24)) and not is_business_day(date(2025, 12, 26))
    assert business_days_between(date(2025, 12, 22), date(2025, 12, 29)) == 2  # Tue 23, Mon 29
    assert next_business_day(date(2025, 12, 23)) == date(2025, 12, 29)


def test_half_day_closings_are_business_days() -> None:
    # The library lists Christmas Eve 2002 and 2009 as half-day closings: EDGAR was open.
    assert is_business_day(date(2002, 12, 24)) and is_business_day(date(2009, 12, 24))


@pytest.mark.parametrize(
    ("accepted", "filed"),
    [
        (datetime(2025, 12, 23, 17, 29, tzinfo=ET), date(2025, 12, 23)),
        (datetime(2025, 12, 23, 17, 31, tzinfo=ET), date(2025, 12, 23)),  # after 5:30 pm: same day for 3/4/5
        (datetime(2025, 12, 23, 21, 59, 59, tzinfo=ET), date(2025, 12, 23)),
        (datetime(2025, 12, 23, 22, 0, tzinfo=ET), date(2025, 12, 29)),  # 10 pm: next business day
        (datetime(2025, 12, 24, 2, 30, tzinfo=ZoneInfo("UTC")), date(2025, 12, 23)),  # 21:30 ET in UTC
        (datetime(2025, 12, 27, 10, 0, tzinfo=ET), date(2025, 12, 29)),  # Saturday
        (datetime(2024, 3, 11, 9, 0), date(2024, 3, 11)),  # naive: taken as Eastern
    ],
)
def test_edgar_filing_date(accepted: datetime, filed: date) -> None:
    assert edgar_filing_date(accepted) == filed


def _maestri_moved(trade: str, accepted: datetime) -> list:
    """Maestri's real Form 4 with its trade and period dates moved; no SGML header, so only the acceptance time."""
    xml = MAESTRI.read_bytes().replace(b"2020-10-09", trade.encode())
    filing = parse_filing(xml, accession_number="0000320193-25-000999", acceptance_datetime=accepted)
    return records_from_filing(filing)


def test_trade_before_christmas_2025_filed_after_is_on_time() -> None:
    records = _maestri_moved("2025-12-22", datetime(2025, 12, 29, 16, 0, tzinfo=ET))
    assert records and all(r.filed_date == date(2025, 12, 29) for r in records)  # from the acceptance time
    assert {r.derived.filing_lag_business_days for r in records} == {2}  # was 4 without the closures
    assert not any(r.derived.is_late for r in records)
    assert "late_filing" not in {a.rule for a in evaluate_filing(records, RulesConfig())}


@pytest.mark.parametrize(
    ("accepted", "filed"),
    [
        ("2025-12-23T22:15:00-05:00", date(2025, 12, 29)),  # after 10 pm, then 24-26 closed and a weekend
        ("2025-12-23T21:45:00-05:00", date(2025, 12, 23)),  # after 5:30 pm, before 10 pm: same day (3/4/5)
        ("2025-12-24T02:30:00+00:00", date(2025, 12, 23)),  # 21:30 Eastern, given in UTC
        ("2025-12-23T22:15:00", date(2025, 12, 29)),  # no offset: EDGAR's clock, Eastern
        ("2025-12-27T10:00:00-05:00", date(2025, 12, 29)),  # a Saturday
    ],
)
def test_an_envelopes_acceptance_time_gives_the_filing_date(accepted: str, filed: date) -> None:
    """Maestri's real Form 4 (bare XML, no EDGAR header) in a raw envelope with an acceptance time: the filing
    and its records carry the filing date EDGAR gives that time, and lateness counts from it."""
    envelope = json.dumps(
        {
            "accession_number": "0000320193-25-000999",
            "received_at": "2025-12-29T12:00:00Z",
            "acceptance_datetime": accepted,
            "document": MAESTRI.read_text(),
        }
    ).encode()
    filing = read_event(envelope, Source(), 1 << 20)
    assert isinstance(filing, Filing)
    assert filing.filed_date == filed
    records = records_from_filing(filing)
    assert records and all(r.filed_date == filed for r in records)
    lag = business_days_between(date(2020, 10, 9), filed)  # the trade date as filed
    assert {r.derived.filing_lag_business_days for r in records} == {lag}


def test_a_header_filing_date_is_kept_and_none_is_made_up() -> None:
    """The EDGAR header's FILED AS OF DATE wins over the acceptance time; without an acceptance time there is
    no filing date."""
    wrapped = parse_filing(
        fixture_bytes("txt/a6ab43128199.txt"), acceptance_datetime=datetime(2030, 1, 1, 23, 0, tzinfo=ET)
    )
    assert wrapped.filed_date == date(2022, 5, 6)  # the header's, accepted 18:30 that day
    assert parse_filing(MAESTRI.read_bytes()).filed_date is None


def test_after_ten_pm_acceptance_counts_from_the_next_business_day() -> None:
    records = _maestri_moved("2025-12-19", datetime(2025, 12, 23, 22, 15, tzinfo=ET))  # Fri trade
    assert {r.derived.filing_lag_business_days for r in records} == {3}  # Mon 22, Tue 23, Mon 29
    assert all(r.derived.is_late for r in records)
    assert "late_filing" in {a.rule for a in evaluate_filing(records, RulesConfig())}
    on_time = _maestri_moved("2025-12-19", datetime(2025, 12, 23, 21, 45, tzinfo=ET))  # after 5:30, before 10
    assert {r.derived.filing_lag_business_days for r in on_time} == {2}
