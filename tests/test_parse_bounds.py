"""The parser refuses, as ``invalid_value`` naming the field, what the steps after it could not handle, and
never hands them a naive acceptance time, another script's digits or a wide-encoded DOCTYPE."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from streams.models import DeadLetter, Filing, RawFilingEvent
from streams.parse import ParseError, parse_filing
from streams.parse.errors import ErrorCode
from streams.parse.values import MAX_DATE, MAX_DECIMAL_PLACES, MAX_FIELD_CHARS, MAX_INTEGER_DIGITS, MIN_DATE
from streams.process import Source, read_event
from tests.test_hostile import MINIMAL

EASTERN = ZoneInfo("America/New_York")


def refused(data: bytes, **kwargs: object) -> ParseError:
    with pytest.raises(ParseError) as info:
        parse_filing(data, **kwargs)  # type: ignore[arg-type]
    return info.value


def wrapped(acceptance: bytes) -> bytes:
    return (
        b"<SEC-DOCUMENT>0000320193-24-000001.txt : 20240103\n<SEC-HEADER>\n"
        b"<ACCEPTANCE-DATETIME>" + acceptance + b"\nACCESSION NUMBER:\t\t0000320193-24-000001\n"
        b"CONFORMED SUBMISSION TYPE:\t4\n</SEC-HEADER>\n<DOCUMENT>\n<TYPE>4\n<TEXT>\n<XML>\n"
        + MINIMAL
        + b"\n</XML>\n</TEXT>\n</DOCUMENT>\n</SEC-DOCUMENT>\n"
    )


# ------------------------------------------------------------------------------------- acceptance times


def test_a_naive_acceptance_time_is_read_as_eastern() -> None:
    filing = parse_filing(MINIMAL, acceptance_datetime=datetime(2024, 1, 2, 18, 30))
    assert filing.acceptance_datetime == datetime(2024, 1, 2, 18, 30, tzinfo=EASTERN)
    assert filing.acceptance_datetime.utcoffset() == timedelta(hours=-5)  # EST in January
    summer = parse_filing(MINIMAL, acceptance_datetime=datetime(2024, 7, 2, 18, 30))
    assert summer.acceptance_datetime is not None and summer.acceptance_datetime.utcoffset() == timedelta(
        hours=-4
    )


def test_an_aware_acceptance_time_is_kept_as_given() -> None:
    given = datetime(2024, 1, 2, 23, 30, tzinfo=UTC)
    filing = parse_filing(MINIMAL, acceptance_datetime=given)
    assert filing.acceptance_datetime == given and filing.acceptance_datetime.tzinfo is UTC


def test_naive_then_aware_envelopes_give_comparable_times() -> None:
    """The issue's case: a naive envelope time, then an aware one for the same line, compare without error."""
    times = []
    for stamp in ("2024-01-02T18:30:00", "2024-01-02T23:31:00+00:00"):
        event = RawFilingEvent.for_document(
            MINIMAL, received_at=datetime(2024, 1, 3, tzinfo=UTC), acceptance_datetime=stamp
        )
        result = read_event(event.model_dump_json().encode(), Source(), 5 * 1024 * 1024)
        assert isinstance(result, Filing)
        times.append(result.acceptance_datetime)
    naive_read, aware = times
    assert naive_read is not None and aware is not None
    assert naive_read < aware and aware - naive_read == timedelta(minutes=1)


def test_an_acceptance_time_outside_the_bounds_is_refused_naming_it() -> None:
    error = refused(MINIMAL, acceptance_datetime=datetime(1, 1, 1, 12, 0))
    assert error.code is ErrorCode.INVALID_VALUE and "acceptance_datetime" in error.message
    error = refused(wrapped(b"99991230120000"))
    assert error.code is ErrorCode.INVALID_VALUE and "acceptance_datetime" in error.message
    assert error.header.get("accession_number") == "0000320193-24-000001"


# ----------------------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    "value",
    [
        "1" + "0" * 35,  # a sale of 10^35 shares
        "7" * 5000,  # past int()'s digit limit
        "1" + "0" * MAX_INTEGER_DIGITS,  # one digit too many
        "0." + "0" * MAX_DECIMAL_PLACES + "1",  # one place too many
        "1,000,000,000,000,000,000",
        "$" + "9" * 40,
    ],
)
def test_numbers_beyond_the_bounds_are_refused_naming_the_element(value: str) -> None:
    error = refused(MINIMAL.replace(b"<value>100</value>", f"<value>{value}</value>".encode()))
    assert error.code is ErrorCode.INVALID_VALUE
    assert "transactionShares" in error.message


@pytest.mark.parametrize(
    "value",
    [
        "9" * MAX_INTEGER_DIGITS,
        "0." + "0" * (MAX_DECIMAL_PLACES - 1) + "1",
        "-5",
        "0",
        "1,234.5",
        "0" * 20 + "7",
    ],
)
def test_numbers_within_the_bounds_are_kept_exactly(value: str) -> None:
    filing = parse_filing(MINIMAL.replace(b"<value>100</value>", f"<value>{value}</value>".encode()))
    assert filing.transactions[0].shares == Decimal(value.replace(",", ""))


# ------------------------------------------------------------------------------------------- dates


@pytest.mark.parametrize("value", ["0001-01-01", "9999-12-30", "1899-12-31", "2201-01-01"])
def test_dates_outside_the_bounds_are_refused_naming_the_element(value: str) -> None:
    error = refused(MINIMAL.replace(b"<value>2024-01-02</value>", f"<value>{value}</value>".encode()))
    assert error.code is ErrorCode.INVALID_VALUE and "transactionDate" in error.message


def test_dates_at_the_bounds_flow() -> None:
    for bound in (MIN_DATE, MAX_DATE):
        data = MINIMAL.replace(b"<value>2024-01-02</value>", f"<value>{bound}</value>".encode())
        assert parse_filing(data).transactions[0].transaction_date == bound


# ---------------------------------------------------------------------------------- digits and encodings


ARABIC_INDIC_CIK = "١٣١٨٦٠٥"  # 1318605 in Arabic-Indic digits: Tesla's CIK, were it read as digits


@pytest.mark.parametrize(
    ("old", "new", "element"),
    [
        (b"<issuerCik>0000320193<", f"<issuerCik>{ARABIC_INDIC_CIK}<", "issuerCik"),
        (b"<rptOwnerCik>0001214156<", f"<rptOwnerCik>{ARABIC_INDIC_CIK}<", "rptOwnerCik"),
        (b"<value>100</value>", "<value>١٠٠</value>", "transactionShares"),
        (b"<value>185.5</value>", "<value>١٨٥.٥</value>", "transactionPricePerShare"),
        (b"<value>2024-01-02</value>", "<value>٢٠٢٤-٠١-٠٢</value>", "transactionDate"),
    ],
)
def test_only_ascii_digits_are_numbers(old: bytes, new: str, element: str) -> None:
    data = MINIMAL.replace(old, new.encode(), 1)
    assert data != MINIMAL
    error = refused(data)
    assert error.code is ErrorCode.INVALID_VALUE and element in error.message


DOCTYPE_DOCUMENT = MINIMAL.decode().replace(
    '<?xml version="1.0"?>', '<?xml version="1.0" encoding="{encoding}"?><!DOCTYPE x [<!ENTITY e "e">]>'
)


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"])
def test_a_wide_encoded_doctype_is_hostile(codec: str) -> None:
    """With a byte-order mark (utf-16, utf-32) and without (-le, -be)."""
    encoding = codec.split("-")[0].upper() + "-" + codec.split("-")[1]
    data = DOCTYPE_DOCUMENT.format(encoding=encoding).encode(codec)
    assert b"<!DOCTYPE" not in data
    assert refused(data).code is ErrorCode.HOSTILE_XML


def test_a_wide_encoded_document_without_doctype_still_parses() -> None:
    data = MINIMAL.decode().replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>')
    assert parse_filing(data.encode("utf-16")).issuer.cik == "0000320193"


def test_a_surrogate_in_a_repaired_document_is_refused_naming_the_element() -> None:
    """The misspelled closing tag makes the parser repair the document; the repair keeps the surrogate."""
    data = MINIMAL.replace(b"</schemaVersion>", b"</schemaVersionX>").replace(
        b"</ownershipDocument>", b"<remarks>a &#xD800; b</remarks></ownershipDocument>"
    )
    error = refused(data)
    assert error.code is ErrorCode.INVALID_VALUE
    assert "<remarks>" in error.message and "surrogate" in error.message


def test_the_refusals_reach_dead_letters_with_the_parser_code() -> None:
    data = MINIMAL.replace(b"<issuerCik>0000320193<", f"<issuerCik>{ARABIC_INDIC_CIK}<".encode())
    result = read_event(data, Source(topic="form4.raw"), 5 * 1024 * 1024)
    assert isinstance(result, DeadLetter) and result.reason == "invalid_value"


# ------------------------------------------------------------------------------------- identifying text


@pytest.mark.parametrize(
    ("tag", "value", "element"),
    [
        (b"<value>", b"Common Stock", "securityTitle"),
        (b"<issuerName>", b"Apple Inc.", "issuerName"),
        (b"<rptOwnerName>", b"COOK TIMOTHY D", "rptOwnerName"),
        (b"<officerTitle>", b"CEO", "officerTitle"),
    ],
)
def test_identifying_text_longer_than_the_bound_is_refused(tag: bytes, value: bytes, element: str) -> None:
    """Titles and names become holding keys and table values, which are bounded; footnotes and remarks are not."""
    error = refused(MINIMAL.replace(tag + value + b"<", tag + b"x" * (MAX_FIELD_CHARS + 1) + b"<", 1))
    assert error.code is ErrorCode.INVALID_VALUE and element in error.message
    parse_filing(MINIMAL.replace(tag + value + b"<", tag + b"x" * MAX_FIELD_CHARS + b"<", 1))


def test_free_text_has_no_such_bound() -> None:
    remarks = b"<remarks>" + b"word " * 200_000 + b"</remarks>"
    filing = parse_filing(MINIMAL.replace(b"</ownershipDocument>", remarks + b"</ownershipDocument>"))
    assert filing.remarks is not None and len(filing.remarks) > MAX_FIELD_CHARS
