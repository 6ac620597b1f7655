"""A Form 3/4/5 as a person reads it (EDGAR's HTML rendering, or its text copied from a browser) is refused as
``rendered_form``, saying what it is, which filing it shows and what to send instead; nothing else is.

Fixtures (tests/fixtures/rendered/, see tests/fixtures/MANIFEST.tsv) show the real filing xml/842e33f8da8c.xml
(Affirm Holdings, Keith Rabois, 0001628280-23-010740): the page as EDGAR's xslF345X04 stylesheet lays it out,
saved from a browser, and the text a browser copies from it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from streams.models import DeadLetter, RawFilingEvent
from streams.parse import ParseError, parse_filing
from streams.parse.errors import ErrorCode
from streams.parse.rendered import PREFIX, declares_entity, detect
from streams.process import Source, read_event
from tests.fixtures_index import fixture_bytes
from tests.test_hostile import MINIMAL

HTML = fixture_bytes("rendered/842e33f8da8c.html")
# What a watcher fetching .../xslF345X04/wf-form4_168064570446975.xml receives: the page without the comment a
# browser adds when it saves it ("saved from url=..."), so without the filing's address.
FETCHED = HTML.split(b"\n", 1)[1]
COPIED = fixture_bytes("rendered/842e33f8da8c_copied.txt")
FOLDER = "https://www.sec.gov/Archives/edgar/data/1820953/000162828023010740"


def refusal(data: bytes) -> ParseError:
    with pytest.raises(ParseError) as info:
        parse_filing(data)
    return info.value


def test_edgar_html_rendering_saved_from_a_browser_is_a_rendered_form() -> None:
    error = refusal(HTML)
    assert error.code is ErrorCode.RENDERED_FORM
    message = error.message
    assert message.startswith(
        "input is EDGAR's HTML rendering of a Form 4 (the page a browser shows), not the"
    )
    for shown in (
        "issuer Affirm Holdings, Inc. [AFRM] (CIK 0001820953)",
        "reporting owner Rabois Keith (CIK 0001539865)",
        "period of report 2023-04-03",
        "accession 0001628280-23-010740",
        "reads EDGAR's ownership XML or the complete submission .txt",
        # the page's own address, without the stylesheet segment, is the XML
        f"send {FOLDER}/wf-form4_168064570446975.xml (this page's address without xslF345X04/)",
        f"{FOLDER}/0001628280-23-010740.txt",
    ):
        assert shown in message, shown
    assert error.header == {
        "form_type": "4",
        "accession_number": "0001628280-23-010740",
        "period_of_report": "2023-04-03",
        "issuer_cik": "0001820953",
        "issuer_name": "Affirm Holdings, Inc.",
        "trading_symbol": "AFRM",
        "owner_cik": "0001539865",
        "owner_name": "Rabois Keith",
    }


def test_the_page_as_fetched_points_to_the_filing_index() -> None:
    """No address on the page: the message gives the index's URL pattern under the issuer's CIK."""
    error = refusal(FETCHED)
    assert error.code is ErrorCode.RENDERED_FORM
    assert "accession_number" not in error.header
    assert error.header["issuer_cik"] == "0001820953"
    assert (
        "https://www.sec.gov/Archives/edgar/data/1820953/<accession without dashes>/<accession>-index.htm"
        in error.message
    )
    assert "browse-edgar?action=getcompany&CIK=0001820953&type=4" in error.message
    assert "xslF345X0N/" in error.message


def test_text_copied_from_a_browser_is_a_rendered_form() -> None:
    error = refusal(COPIED)
    assert error.code is ErrorCode.RENDERED_FORM
    assert error.message.startswith("input is the text of a Form 4 as a person reads it")
    assert (
        "issuer Affirm Holdings, Inc. [AFRM], reporting owner Rabois Keith, period of report 2023-04-03"
        in error.message
    )
    assert "<accession>-index.htm" in error.message
    assert error.header == {
        "form_type": "4",
        "period_of_report": "2023-04-03",
        "issuer_name": "Affirm Holdings, Inc.",
        "trading_symbol": "AFRM",
        "owner_name": "Rabois Keith",
    }


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(lambda b: b.replace(b"\n", b"\r\n"), id="crlf"),
        pytest.param(lambda b: b.decode().encode("utf-16"), id="utf16-notepad"),
        pytest.param(lambda b: b"\xef\xbb\xbf" + b, id="bom"),
        pytest.param(lambda b: b.replace(b"\t", b"    "), id="tabs-as-spaces"),
        pytest.param(lambda b: b[:1500], id="first-lines-only"),
        pytest.param(lambda b: b.upper(), id="upper-case"),
    ],
)
def test_copied_text_as_people_save_it(variant) -> None:  # type: ignore[no-untyped-def]
    form = detect(variant(COPIED))
    assert form is not None and form.kind == "text"
    assert form.issuer_name and form.issuer_name.lower() == "affirm holdings, inc."
    assert form.period_of_report is not None and form.period_of_report.isoformat() == "2023-04-03"


@pytest.mark.parametrize(
    ("title", "label", "form_type"),
    [
        (
            b"INITIAL STATEMENT OF BENEFICIAL OWNERSHIP OF SECURITIES",
            b"2. Date of Event Requiring Statement",
            "3",
        ),
        (
            b"ANNUAL STATEMENT OF CHANGES IN BENEFICIAL OWNERSHIP",
            b"3. Statement for Issuer's Fiscal Year Ended",
            "5",
        ),
    ],
)
def test_forms_3_and_5_by_their_titles_and_period_boxes(title: bytes, label: bytes, form_type: str) -> None:
    text = COPIED.replace(b"STATEMENT OF CHANGES IN BENEFICIAL OWNERSHIP", title).replace(
        b"3. Date of Earliest Transaction", label
    )
    for data in (text, HTML.replace(b"STATEMENT OF CHANGES IN BENEFICIAL OWNERSHIP", title)):
        form = detect(data)
        assert form is not None and form.form_type == form_type
        assert "Form " + form_type in refusal(data).message
    form = detect(text)
    assert form is not None and form.period_of_report is not None
    assert form.period_of_report.isoformat() == "2023-04-03"


def test_an_amendment_shows_its_original_date() -> None:
    amended = HTML.replace(
        b"4. If Amendment, Date of Original Filed (Month/Day/Year)</span><br>",
        b'4. If Amendment, Date of Original Filed (Month/Day/Year)</span><br><span class="FormData">04/05/2023</span>',
    ).replace(b"<title>SEC FORM 4</title>", b"<title>SEC FORM 4/A</title>")
    error = refusal(amended)
    assert error.header["form_type"] == "4/A"
    assert "Form 4/A" in error.message and "amending the filing of 2023-04-05" in error.message


def test_the_head_of_edgars_page_alone_is_recognised_by_its_title() -> None:
    """What a fetcher of an xslF345X05/ address sees first (quoted by a public parser's test): refused as the
    rendering, not as hostile XML for its HTML DOCTYPE."""
    head = (
        b'<!DOCTYPE html PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN" "http://www.w3.org/TR/html4/loose.dtd">\n'
        b'<html>\n<head>\n<meta http-equiv="Content-Type" content="text/html; charset=UTF-8">\n'
        b"<title>SEC FORM 4</title>\n</head>\n"
        b'<body><table><tr><td class="FormData">Nadella Satya</td></tr></table></body>\n</html>\n'
    )
    assert refusal(head).code is ErrorCode.RENDERED_FORM
    assert refusal(head.replace(b"SEC FORM 4<", b"SEC FORM 40-F<")).code is ErrorCode.HOSTILE_XML


def test_a_dead_letter_says_rendered_form_with_the_filing_it_shows() -> None:
    for value in (
        HTML,
        RawFilingEvent.for_document(COPIED, received_at=datetime.now(UTC)).model_dump_json().encode(),
    ):
        letter = read_event(value, Source(topic="form4.raw", partition=0, offset=7), 5 * 1024 * 1024)
        assert isinstance(letter, DeadLetter)
        assert letter.reason == "rendered_form"
        assert letter.header["issuer_name"] == "Affirm Holdings, Inc."
        assert letter.header["period_of_report"] == "2023-04-03"
        assert "not the filing's XML" in letter.message
        assert len(letter.message) < 1024  # what dead_letter() keeps of a message


# ---- never a misfire -------------------------------------------------------------------------------------


def test_an_xml_filing_quoting_the_forms_text_parses() -> None:
    """Remarks and footnotes may quote the form: a document that parses is never looked at."""
    quoted = (
        b"STATEMENT OF CHANGES IN BENEFICIAL OWNERSHIP 1. Name and Address of Reporting Person* Cook Timothy D "
        b"(Last) (First) (Middle) 2. Issuer Name and Ticker or Trading Symbol Apple Inc. [ AAPL ] "
        b"Table I - Non-Derivative Securities Acquired, Disposed of, or Beneficially Owned"
    )
    data = MINIMAL.replace(b"</ownershipDocument>", b"<remarks>" + quoted + b"</remarks></ownershipDocument>")
    assert parse_filing(data).remarks == quoted.decode()
    assert detect(data) is None
    html_first = MINIMAL.replace(b"<ownershipDocument>", b"<!-- <html> -->\n<ownershipDocument>")
    assert parse_filing(html_first).issuer.cik == "0000320193"
    assert detect(html_first) is None


@pytest.mark.parametrize(
    ("data", "code"),
    [
        pytest.param(b"<html><body>Form 4</body></html>", ErrorCode.NOT_OWNERSHIP_DOCUMENT, id="any-html"),
        pytest.param(
            b"Insiders file a Statement of Changes in Beneficial Ownership within two business days.",
            ErrorCode.MALFORMED_XML,
            id="prose-naming-the-form",
        ),
        pytest.param(
            HTML.replace(b'loose.dtd">', b'loose.dtd" [<!ENTITY a "aaaaaaaaaa">]>'),
            ErrorCode.HOSTILE_XML,
            id="rendering-declaring-an-entity",
        ),
        pytest.param(
            MINIMAL[: len(MINIMAL) // 2] + b" STATEMENT OF CHANGES IN BENEFICIAL OWNERSHIP",
            ErrorCode.MALFORMED_XML,
            id="truncated-xml",
        ),
    ],
)
def test_other_refusals_keep_their_codes(data: bytes, code: ErrorCode) -> None:
    assert refusal(data).code is code


def test_a_legacy_text_submission_stays_no_xml_document() -> None:
    """A 2000 Form 4 typed as text inside its EDGAR .txt is a submission: its own rules apply."""
    legacy = fixture_bytes("txt/c8c61ec73936.txt")
    assert b"STATEMENT OF CHANGES IN BENEFICIAL OWNERSHIP" in legacy
    assert detect(legacy) is None
    assert refusal(legacy).code is ErrorCode.NO_XML_DOCUMENT


def test_only_a_bounded_prefix_is_read() -> None:
    """Labels past PREFIX are not seen, and a page at the size cap costs what its prefix costs."""
    late = b" " * PREFIX + COPIED
    assert detect(late) is None
    big = COPIED + b"Table I " * (5 * 1024 * 1024 // 8)
    start = time.process_time()
    for _ in range(10):
        assert detect(big) is not None
    assert (time.process_time() - start) / 10 < 0.05


def test_entity_check_reads_wide_encodings() -> None:
    assert declares_entity('<!DOCTYPE html [<!ENTITY a "b">]>'.encode("utf-16"))
    assert not declares_entity(COPIED.decode().encode("utf-16"))
