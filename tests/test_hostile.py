"""Hostile and broken inputs are refused with a coded ParseError, quickly and without memory growth."""

from __future__ import annotations

import resource
import time
from pathlib import Path

import pytest

from streams.bounds import MAX_ATTRIBUTES_PER_ELEMENT
from streams.parse import ParseError, parse_filing
from streams.parse.errors import ErrorCode

MINIMAL = (
    b'<?xml version="1.0"?><ownershipDocument><schemaVersion>X0508</schemaVersion>'
    b"<documentType>4</documentType><periodOfReport>2024-01-02</periodOfReport>"
    b"<issuer><issuerCik>0000320193</issuerCik><issuerName>Apple Inc.</issuerName>"
    b"<issuerTradingSymbol>AAPL</issuerTradingSymbol></issuer>"
    b"<reportingOwner><reportingOwnerId><rptOwnerCik>0001214156</rptOwnerCik>"
    b"<rptOwnerName>COOK TIMOTHY D</rptOwnerName></reportingOwnerId>"
    b"<reportingOwnerRelationship><isOfficer>1</isOfficer><officerTitle>CEO</officerTitle>"
    b"</reportingOwnerRelationship></reportingOwner>"
    b"<nonDerivativeTable><nonDerivativeTransaction><securityTitle><value>Common Stock</value></securityTitle>"
    b"<transactionDate><value>2024-01-02</value></transactionDate><transactionCoding>"
    b"<transactionFormType>4</transactionFormType><transactionCode>S</transactionCode>"
    b"<equitySwapInvolved>0</equitySwapInvolved></transactionCoding><transactionAmounts>"
    b"<transactionShares><value>100</value></transactionShares><transactionPricePerShare><value>185.5</value>"
    b"</transactionPricePerShare><transactionAcquiredDisposedCode><value>D</value>"
    b"</transactionAcquiredDisposedCode></transactionAmounts><postTransactionAmounts>"
    b"<sharesOwnedFollowingTransaction><value>900</value></sharesOwnedFollowingTransaction>"
    b"</postTransactionAmounts><ownershipNature><directOrIndirectOwnership><value>D</value>"
    b"</directOrIndirectOwnership></ownershipNature></nonDerivativeTransaction></nonDerivativeTable>"
    b"</ownershipDocument>"
)

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<ownershipDocument><remarks>&lol9;</remarks></ownershipDocument>"""


def external_entity(target: Path) -> bytes:
    return MINIMAL.replace(
        b'<?xml version="1.0"?>',
        b'<?xml version="1.0"?><!DOCTYPE ownershipDocument [<!ENTITY xxe SYSTEM "file://'
        + str(target).encode()
        + b'">]>',
    ).replace(b"<issuerName>Apple Inc.</issuerName>", b"<issuerName>&xxe;</issuerName>")


def max_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def refused(data: bytes, **kwargs) -> tuple[ParseError, float]:
    start = time.perf_counter()
    with pytest.raises(ParseError) as info:
        parse_filing(data, **kwargs)
    return info.value, time.perf_counter() - start


def test_minimal_document_parses() -> None:
    """The baseline the hostile variants are built from is itself valid."""
    filing = parse_filing(MINIMAL)
    assert filing.transactions[0].shares == 100


def test_billion_laughs_is_refused_fast() -> None:
    before = max_rss_kib()
    error, seconds = refused(BILLION_LAUGHS)
    assert error.code is ErrorCode.HOSTILE_XML
    assert seconds < 1.0
    assert max_rss_kib() - before < 50_000


def test_external_entity_never_reads_the_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    error, seconds = refused(external_entity(secret))
    assert error.code is ErrorCode.HOSTILE_XML
    assert "TOP-SECRET" not in str(error)
    assert seconds < 1.0


def test_external_entity_inside_a_submission_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    wrapped = (
        b"<SEC-DOCUMENT>0000320193-24-000001.txt : 20240103\n<SEC-HEADER>\nACCESSION NUMBER:\t\t0000320193-24-000001\n"
        b"CONFORMED SUBMISSION TYPE:\t4\n</SEC-HEADER>\n<DOCUMENT>\n<TYPE>4\n<TEXT>\n<XML>\n"
        + external_entity(secret)
        + b"\n</XML>\n</TEXT>\n</DOCUMENT>\n</SEC-DOCUMENT>\n"
    )
    error, _ = refused(wrapped)
    assert error.code is ErrorCode.HOSTILE_XML
    assert error.header.get("accession_number") == "0000320193-24-000001"


def test_fifty_megabyte_document_is_refused_before_parsing() -> None:
    padding = b"<remarks>" + b"x" * (50 * 1024 * 1024) + b"</remarks>"
    huge = MINIMAL.replace(b"</ownershipDocument>", padding + b"</ownershipDocument>")
    before = max_rss_kib()
    error, seconds = refused(huge)
    assert error.code is ErrorCode.TOO_LARGE
    assert seconds < 1.0
    assert max_rss_kib() - before < 50_000  # no copy of the input was made


def test_size_cap_is_configurable() -> None:
    error, _ = refused(MINIMAL, max_bytes=100)
    assert error.code is ErrorCode.TOO_LARGE
    assert parse_filing(MINIMAL, max_bytes=len(MINIMAL)).issuer.cik == "0000320193"


def test_deep_nesting_is_refused() -> None:
    deep = b"<ownershipDocument>" + b"<a>" * 100_000 + b"</a>" * 100_000 + b"</ownershipDocument>"
    error, seconds = refused(deep)
    assert error.code is ErrorCode.MALFORMED_XML
    assert seconds < 1.0


def with_attributes(count: int, *, repaired: bool) -> bytes:
    attributes = b"".join(b' a%d="v"' % i for i in range(count))
    data = MINIMAL.replace(
        b"</ownershipDocument>", b"<remarks" + attributes + b">x</remarks></ownershipDocument>"
    )
    return data.replace(b"</schemaVersion>", b"</schemaVersionX>") if repaired else data


@pytest.mark.parametrize("repaired", [False, True], ids=["well-formed", "repaired"])
def test_an_element_with_attributes_past_the_bound_is_hostile(repaired: bool) -> None:
    """Real elements carry one or two attributes; one with more than the bound is refused, repaired or not."""
    assert parse_filing(with_attributes(MAX_ATTRIBUTES_PER_ELEMENT, repaired=repaired)).remarks == "x"
    error, seconds = refused(with_attributes(MAX_ATTRIBUTES_PER_ELEMENT + 1, repaired=repaired))
    assert error.code is ErrorCode.HOSTILE_XML
    assert f"more than {MAX_ATTRIBUTES_PER_ELEMENT} attributes" in error.message
    assert seconds < 1.0


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", ErrorCode.MALFORMED_XML),
        (b"   \n", ErrorCode.MALFORMED_XML),
        (b"\x00\x01\x02garbage", ErrorCode.MALFORMED_XML),
        (b"<html><body>Form 4</body></html>", ErrorCode.NOT_OWNERSHIP_DOCUMENT),
        (
            b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"></feed>',
            ErrorCode.NOT_OWNERSHIP_DOCUMENT,
        ),
        (MINIMAL[: len(MINIMAL) // 2], ErrorCode.MALFORMED_XML),
        (MINIMAL.replace(b"<documentType>4<", b"<documentType>10-K<"), ErrorCode.NOT_OWNERSHIP_DOCUMENT),
        (MINIMAL.replace(b"<value>100</value>", b"<value>1e5</value>"), ErrorCode.INVALID_VALUE),
        (
            MINIMAL.replace(b"<value>2024-01-02</value>", b"<value>2024-02-30</value>"),
            ErrorCode.INVALID_VALUE,
        ),
        (MINIMAL.replace(b"<isOfficer>1<", b"<isOfficer>yes<"), ErrorCode.INVALID_VALUE),
        (MINIMAL.replace(b"<issuerCik>0000320193<", b"<issuerCik>APPLE<"), ErrorCode.INVALID_VALUE),
        (MINIMAL.replace(b"<issuerCik>0000320193</issuerCik>", b""), ErrorCode.MISSING_REQUIRED),
    ],
)
def test_refusals_carry_stable_codes(data: bytes, code: ErrorCode) -> None:
    error, _ = refused(data)
    assert error.code is code
    assert error.message


def test_invalid_value_names_the_element() -> None:
    error, _ = refused(MINIMAL.replace(b"<value>185.5</value>", b"<value>12.3.4</value>"))
    assert "transactionPricePerShare" in error.message
    assert "12.3.4" in error.message


def test_non_bytes_input_is_a_parse_error_not_a_type_error() -> None:
    with pytest.raises(ParseError):
        parse_filing("<ownershipDocument/>")  # type: ignore[arg-type]
