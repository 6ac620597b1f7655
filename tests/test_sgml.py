"""The EDGAR full-submission wrapper (streams.parse.sgml): modern .txt, .nc dissemination files, 1990s headers
and PEM envelopes, read from the shared corpus; header fields checked against the files' own text.

Synthetic variants (a document order EDGAR does not use, a namespaced root, a one-line .nc, a PEM envelope
around a modern filing, bad dates) are built in the tests from real files and say so.
"""

from __future__ import annotations

import csv
import json
import random
import re
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from streams.parse.errors import ErrorCode, ParseError
from streams.parse.sgml import SubmissionHeader, Unwrapped, looks_like_submission, unwrap_submission

# The corpus is not in the repo: it sits beside the checkout, at ../shared/corpus. The files the named tests
# use are also copied into tests/fixtures under the same paths, so those tests run without it.
CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def corpus(path: str) -> bytes:
    """The bytes of a corpus file by its path relative to the corpus (e.g. "txt/7a623a2c1264.txt")."""
    if (FIXTURES / path).is_file():
        return (FIXTURES / path).read_bytes()
    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not present at {CORPUS}")
    file = CORPUS / path
    if not file.is_file():
        pytest.skip(f"corpus file {path} not present under {CORPUS}")
    return file.read_bytes()


def corpus_files(subdir: str) -> list[Path]:
    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not present at {CORPUS}")
    return sorted((CORPUS / subdir).glob("*"))


def manifest() -> dict[str, dict[str, str]]:
    if not (CORPUS / "MANIFEST.tsv").is_file():
        pytest.skip(f"shared corpus MANIFEST.tsv not present under {CORPUS}")
    with (CORPUS / "MANIFEST.tsv").open(newline="", encoding="utf-8") as fh:
        return {row["file"]: row for row in csv.DictReader(fh, delimiter="\t")}


def refused(data: bytes) -> ParseError:
    with pytest.raises(ParseError) as info:
        unwrap_submission(data)
    return info.value


LRCX = "txt/7a623a2c1264.txt"  # LRCX 4/A 0000707549-25-000004, modern wrapper
AAR = "txt/f9c7e592fdb8.txt"  # AAR Corp Form 4 + EX-24, 0001127602-25-001055
NC_TSVT = "txt/03db0cd95749.txt"  # .nc, 2seventy bio, 0001562180-25-000280
NC_ARW = "txt/390f203637a3.txt"  # .nc, Arrow Electronics, 0001127602-25-004598
LEGACY = "txt/6e901dffc88f.txt"  # 1998 header-only text, Morton International 0001012325-98-000004
PEM = "txt/c8c61ec73936.txt"  # PEM-wrapped 2000 text Form 4, Productivity Technologies 0001094891-00-000193
EXAMPLES = [LRCX, AAR, NC_TSVT, NC_ARW, LEGACY, PEM]


# --- modern wrapper ----------------------------------------------------------------------------------------


def test_lrcx_header_fields() -> None:
    u = unwrap_submission(corpus(LRCX))
    h = u.header
    assert u.format == "sgml"
    assert h.accession_number == "0000707549-25-000004"
    assert h.form_type == "4/A"
    assert h.acceptance_datetime == datetime(2025, 1, 21, 13, 23, 57, tzinfo=ZoneInfo("America/New_York"))
    assert h.acceptance_datetime is not None
    assert h.acceptance_datetime.tzinfo == ZoneInfo("America/New_York")
    assert h.acceptance_datetime.astimezone(UTC) == datetime(2025, 1, 21, 18, 23, 57, tzinfo=UTC)
    assert h.acceptance_datetime.isoformat() == "2025-01-21T13:23:57-05:00"
    assert h.filed_date == date(2025, 1, 21)
    assert h.period_of_report == date(2024, 11, 4)
    assert h.issuer_cik == "0000707549"
    assert h.issuer_name == "LAM RESEARCH CORP"
    assert h.issuer_sic == "3559"  # "SPECIAL INDUSTRY MACHINERY, NEC [3559]"
    assert h.issuer_state_of_incorporation == "DE"
    assert h.owner_ciks == ["0001779037"]
    assert u.document_types == ["4/A"]
    assert u.xml.startswith(b'<?xml version="1.0"?>\n<ownershipDocument>')
    assert u.xml.endswith(b"</ownershipDocument>")


def test_header_to_dict_is_json_friendly() -> None:
    d = unwrap_submission(corpus(LRCX)).header.to_dict()
    assert d == {
        "accession_number": "0000707549-25-000004",
        "form_type": "4/A",
        "acceptance_datetime": "2025-01-21T13:23:57-05:00",
        "filed_date": "2025-01-21",
        "period_of_report": "2024-11-04",
        "issuer_cik": "0000707549",
        "issuer_name": "LAM RESEARCH CORP",
        "issuer_sic": "3559",
        "issuer_state_of_incorporation": "DE",
        "owner_ciks": ["0001779037"],
    }
    assert json.loads(json.dumps(d)) == d
    assert SubmissionHeader().to_dict() == {}


def test_summer_acceptance_is_eastern_daylight_time() -> None:
    # Tesla 0001790565-23-000009; this copy of the file is re-indented (every line starts with spaces).
    h = unwrap_submission(corpus("txt/881ec4fa6083.txt")).header
    assert h.acceptance_datetime is not None
    assert h.acceptance_datetime.isoformat() == "2023-07-31T19:21:15-04:00"
    assert (h.issuer_cik, h.issuer_sic, h.owner_ciks) == ("0001318605", "3711", ["0001790565"])


def test_ex24_multi_document_picks_the_form4_xml() -> None:
    data = corpus(AAR)
    u = unwrap_submission(data)
    assert u.document_types == ["4", "EX-24"]
    assert u.header.accession_number == "0001127602-25-001055"
    assert u.xml.startswith(b"<?xml") and u.xml.endswith(b"</ownershipDocument>")
    assert b"<DOCUMENT>" not in u.xml and b"</XML>" not in u.xml
    # The XML is exactly the text between the first <XML> and </XML>, stripped.
    start, end = data.index(b"<XML>") + 5, data.index(b"</XML>")
    assert u.xml == data[start:end].strip()


@pytest.mark.parametrize(
    ("path", "types"),
    [
        ("txt/759405d23619.txt", ["3", "EX-24", "GRAPHIC"]),
        ("txt/b0518be7f92e.txt", ["3", "EX-24.1", "EX-24.2", "EX-24.3"]),
    ],
)
def test_several_documents(path: str, types: list[str]) -> None:
    u = unwrap_submission(corpus(path))
    assert u.document_types == types
    assert b"<ownershipDocument>" in u.xml and u.xml.endswith(b"</ownershipDocument>")


def _swap_documents(data: bytes) -> bytes:
    """Synthetic: the same submission with its EX-24 moved in front of the Form 4."""
    first = data.index(b"<DOCUMENT>")
    second = data.index(b"<DOCUMENT>", first + 1)
    end = data.index(b"</SEC-DOCUMENT>")
    return data[:first] + data[second:end] + data[first:second] + data[end:]


def test_ownership_document_need_not_be_first() -> None:
    data = _swap_documents(corpus(AAR))
    u = unwrap_submission(data)
    assert u.document_types == ["EX-24", "4"]
    assert u.xml == unwrap_submission(corpus(AAR)).xml


def test_namespaced_root_is_found_by_local_name() -> None:
    data = corpus(LRCX)
    prefixed = data.replace(b"<ownershipDocument>", b'<ns:ownershipDocument xmlns:ns="urn:x">').replace(
        b"</ownershipDocument>", b"</ns:ownershipDocument>"
    )
    assert b"<ns:ownershipDocument" in unwrap_submission(prefixed).xml
    default_ns = data.replace(b"<ownershipDocument>", b'<ownershipDocument xmlns="urn:x">')
    assert b'<ownershipDocument xmlns="urn:x">' in unwrap_submission(default_ns).xml


def test_other_document_xml_is_taken_when_the_form_document_has_none() -> None:
    # Synthetic: the Form 4 document's <TEXT> holds plain text; the ownership XML sits in a second document.
    data = corpus(LRCX)
    xml = unwrap_submission(data).xml
    doc = data.index(b"<DOCUMENT>")
    end = data.index(b"</SEC-DOCUMENT>")
    body = (
        b"<DOCUMENT>\n<TYPE>4/A\n<SEQUENCE>1\n<TEXT>\nplain text form\n</TEXT>\n</DOCUMENT>\n"
        b"<DOCUMENT>\n<TYPE>EX-99\n<SEQUENCE>2\n<TEXT>\n<XML>\n" + xml + b"\n</XML>\n</TEXT>\n</DOCUMENT>\n"
    )
    u = unwrap_submission(data[:doc] + body + data[end:])
    assert u.document_types == ["4/A", "EX-99"]
    assert u.xml == xml


def test_form_document_with_foreign_xml_is_skipped() -> None:
    # Synthetic: a "4" document whose XML is not an ownershipDocument, before the real one.
    data = corpus(LRCX)
    doc = data.index(b"<DOCUMENT>")
    foreign = b"<DOCUMENT>\n<TYPE>4/A\n<TEXT>\n<XML>\n<edgarSubmission/>\n</XML>\n</TEXT>\n</DOCUMENT>\n"
    u = unwrap_submission(data[:doc] + foreign + data[doc:])
    assert u.document_types == ["4/A", "4/A"]
    assert u.xml == unwrap_submission(data).xml


def test_xml_that_is_not_an_ownership_document_is_refused() -> None:
    data = corpus(LRCX)
    start, end = data.index(b"<XML>") + 5, data.index(b"</XML>")
    err = refused(data[:start] + b"\n<edgarSubmission><x/></edgarSubmission>\n" + data[end:])
    assert err.code == ErrorCode.NOT_OWNERSHIP_DOCUMENT
    assert "not an ownershipDocument" in err.message
    assert err.header["accession_number"] == "0000707549-25-000004"


def test_invalid_header_dates_become_none() -> None:
    data = corpus(LRCX)
    data = data.replace(b"FILED AS OF DATE:\t\t20250121", b"FILED AS OF DATE:\t\t20251341")
    data = data.replace(b"<ACCEPTANCE-DATETIME>20250121132357", b"<ACCEPTANCE-DATETIME>20250121256199")
    data = data.replace(b"CONFORMED PERIOD OF REPORT:\t20241104", b"CONFORMED PERIOD OF REPORT:\t2024-11")
    h = unwrap_submission(data).header
    assert h.filed_date is None and h.acceptance_datetime is None and h.period_of_report is None
    assert h.accession_number == "0000707549-25-000004"


def test_unknown_sic_is_none() -> None:
    data = corpus("txt/2603835916bd.txt")
    assert b"STANDARD INDUSTRIAL CLASSIFICATION:\tUNKNOWN SIC - 0000 [0000]" in data
    assert unwrap_submission(data).header.issuer_sic is None


# --- .nc dissemination files -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (
            NC_TSVT,
            {
                "accession_number": "0001562180-25-000280",
                "form_type": "4",
                "filed_date": "2025-01-08",
                "period_of_report": "2025-01-06",
                "issuer_cik": "0001860782",
                "issuer_name": "2seventy bio, Inc.",
                "issuer_sic": "2834",
                "issuer_state_of_incorporation": "DE",
                "owner_ciks": ["0002009134"],
            },
        ),
        (
            NC_ARW,
            {
                "accession_number": "0001127602-25-004598",
                "form_type": "4",
                "filed_date": "2025-02-13",
                "period_of_report": "2025-02-12",
                "issuer_cik": "0000007536",
                "issuer_name": "ARROW ELECTRONICS, INC.",
                "issuer_sic": "5065",
                "issuer_state_of_incorporation": "NY",
                "owner_ciks": ["0001870985"],
            },
        ),
    ],
)
def test_nc_files(path: str, expected: dict[str, object]) -> None:
    data = corpus(path)
    assert data.startswith(b"<SUBMISSION>\n") and b"\r<TYPE>4\r" in data  # lines end in a bare CR
    u = unwrap_submission(data)
    assert u.format == "nc"
    assert u.header.to_dict() == expected  # no acceptance datetime in either file
    assert u.header.acceptance_datetime is None
    assert u.document_types == ["4"]
    assert u.xml.startswith((b"<?xml", b"<ownershipDocument"))
    assert u.xml.endswith(b"</ownershipDocument>")


def test_nc_on_one_line() -> None:
    # Synthetic: the same .nc with every line break removed, tags running into each other.
    data = corpus(NC_TSVT)
    one_line = data.replace(b"\r", b"").replace(b"\n", b"")
    u = unwrap_submission(one_line)
    assert u.format == "nc"
    assert u.header.to_dict() == unwrap_submission(data).header.to_dict()
    assert u.xml.startswith(b'<?xml version="1.0"?><ownershipDocument>')


def test_nc_header_tags_are_read_only_before_the_first_document() -> None:
    # Synthetic: drop the submission's own <TYPE> and <PERIOD>; the document's <TYPE>4 must not stand in.
    data = corpus(NC_TSVT)
    data = data.replace(b"<TYPE>4\r<PUBLIC", b"<PUBLIC", 1).replace(b"<PERIOD>20250106\r", b"", 1)
    u = unwrap_submission(data)
    assert u.header.form_type is None and u.header.period_of_report is None
    assert u.header.accession_number == "0001562180-25-000280"
    assert u.document_types == ["4"]


# --- legacy and PEM ----------------------------------------------------------------------------------------


def test_legacy_header_only_text_filing() -> None:
    data = corpus(LEGACY)
    assert b"<DOCUMENT>" not in data and b"<XML>" not in data
    assert looks_like_submission(data)
    err = refused(data)
    assert err.code == ErrorCode.NO_XML_DOCUMENT
    assert "0001012325-98-000004" in err.message and "legacy text filing" in err.message
    assert err.header == {
        "accession_number": "0001012325-98-000004",
        "form_type": "4",
        "filed_date": "1998-11-20",
        "period_of_report": "1998-10-31",
        "issuer_cik": "0001035972",  # the SUBJECT COMPANY block
        "issuer_name": "MORTON INTERNATIONAL INC /IN/",
        "issuer_sic": "2890",
        "issuer_state_of_incorporation": "IN",
        "owner_ciks": ["0001012325"],  # the <REPORTING-OWNER> element
    }


def test_pem_wrapped_text_filing() -> None:
    data = corpus(PEM)
    assert data.startswith(b"-----BEGIN PRIVACY-ENHANCED MESSAGE-----\nProc-Type: 2001,MIC-CLEAR\n")
    assert looks_like_submission(data)
    err = refused(data)
    assert err.code == ErrorCode.NO_XML_DOCUMENT
    assert "PEM-wrapped" in err.message and "legacy text filing" in err.message
    assert "0001094891-00-000193" in err.message
    assert err.header == {
        "accession_number": "0001094891-00-000193",
        "form_type": "4",
        "filed_date": "2000-03-14",
        "period_of_report": "2000-02-29",
        "issuer_cik": "0000911787",
        "issuer_name": "PRODUCTIVITY TECHNOLOGIES CORP /",
        "issuer_sic": "3540",
        "issuer_state_of_incorporation": "DE",
        "owner_ciks": ["0001050609"],
    }


def test_pem_envelope_around_a_modern_filing() -> None:
    # Synthetic: the PEM envelope of c8c61ec73936.txt around the LRCX submission.
    pem = corpus(PEM)
    envelope = pem[: pem.index(b"<SEC-DOCUMENT>")]
    inner = corpus(LRCX)
    u = unwrap_submission(envelope + inner + b"-----END PRIVACY-ENHANCED MESSAGE-----\n")
    assert u.format == "pem"
    plain = unwrap_submission(inner)
    assert u.xml == plain.xml and u.header == plain.header and u.document_types == plain.document_types


# --- truncated and hostile input ---------------------------------------------------------------------------


def _outcome(data: bytes) -> Unwrapped | ParseError:
    try:
        return unwrap_submission(data)
    except ParseError as exc:
        return exc


@pytest.mark.parametrize("path", EXAMPLES)
def test_truncated_submissions(path: str) -> None:
    """Cut anywhere before the ownership XML is complete: malformed wrapper; after it: the same XML.
    (For the text-only filings the boundary is the closing </SEC-DOCUMENT>: before it, malformed.)"""
    data = corpus(path)
    full = _outcome(data)
    if isinstance(full, Unwrapped):
        boundary = data.index(b"</XML>") + len(b"</XML>")
    else:
        assert full.code == ErrorCode.NO_XML_DOCUMENT
        boundary = data.rindex(b"</SEC-DOCUMENT>") + len(b"</SEC-DOCUMENT>")
    accession = (full.header.to_dict() if isinstance(full, Unwrapped) else full.header)["accession_number"]
    header_end = data.find(b"<DOCUMENT>")
    cuts = sorted({*range(0, len(data), max(1, len(data) // 97)), boundary - 1, boundary, len(data) - 1})
    for cut in cuts:
        got = _outcome(data[:cut])
        if cut < boundary:
            assert isinstance(got, ParseError), cut
            assert got.code == ErrorCode.MALFORMED_WRAPPER, (cut, got)
            if 0 <= header_end < cut:
                assert got.header["accession_number"] == accession
            # a header cut inside its accession line never reports a partial accession number
            assert got.header.get("accession_number") in (None, accession)
        elif isinstance(full, Unwrapped):
            assert isinstance(got, Unwrapped), (cut, got)
            assert got.xml == full.xml
        else:
            assert isinstance(got, ParseError) and got.code == ErrorCode.NO_XML_DOCUMENT


def test_xml_without_closing_tag_is_malformed() -> None:
    data = corpus(LRCX)
    err = refused(data.replace(b"</XML>", b""))
    assert err.code == ErrorCode.MALFORMED_WRAPPER
    assert "no closing </XML>" in err.message
    assert err.header["accession_number"] == "0000707549-25-000004"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"   \n\t",
        b"\xef\xbb\xbf",
        b"hello world",
        b"<DOCUMENT>",
        b"<DOCUMENT><TYPE>4<TEXT><XML><ownershipDocument>",
        b"<SEC-DOCUMENT>",
        b"<SUBMISSION>" + b"<ISSUER><CIK>1" * 1000,
        b"\x00\xff" * 5000,
        b"-----BEGIN PRIVACY-ENHANCED MESSAGE-----\n",
        b'<?xml version="1.0"?><ownershipDocument></ownershipDocument>',
    ],
)
def test_garbage_is_a_malformed_wrapper(data: bytes) -> None:
    assert refused(data).code == ErrorCode.MALFORMED_WRAPPER


@pytest.mark.parametrize("value", ["not bytes", None, 42])
def test_non_bytes_is_a_parse_error(value: object) -> None:
    with pytest.raises(ParseError):
        unwrap_submission(value)  # type: ignore[arg-type]
    assert looks_like_submission(value) is False  # type: ignore[arg-type]


def test_bytearray_and_memoryview_are_accepted() -> None:
    data = corpus(LRCX)
    expected = unwrap_submission(data).xml
    assert unwrap_submission(bytearray(data)).xml == expected  # type: ignore[arg-type]
    assert unwrap_submission(memoryview(data)).xml == expected  # type: ignore[arg-type]
    assert looks_like_submission(memoryview(data))  # type: ignore[arg-type]


def test_random_mutations_raise_only_parse_error() -> None:
    rng = random.Random(20250121)
    samples = [corpus(p) for p in EXAMPLES]
    tokens = [
        b"<DOCUMENT>",
        b"</DOCUMENT>",
        b"<XML>",
        b"</XML>",
        b"<TYPE>4\n",
        b"<TEXT>",
        b"<SEC-DOCUMENT>",
        b"</SEC-DOCUMENT>",
        b"<ownershipDocument>",
        b"REPORTING-OWNER:",
        b"ISSUER:",
        b"<CIK>",
        b"\r",
        b"<",
        b"CENTRAL INDEX KEY:",
        b"-----BEGIN PRIVACY-ENHANCED MESSAGE-----\n",
        b"\xff\xfe",
        b"ACCESSION NUMBER:",
    ]
    for _ in range(1500):
        data = rng.choice(samples)
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(len(data) + 1)
            data = data[:pos] + rng.choice(tokens) + data[pos + rng.randint(0, 40) :]
        try:
            u = unwrap_submission(data)
        except ParseError as exc:
            assert exc.code in (
                ErrorCode.MALFORMED_WRAPPER,
                ErrorCode.NO_XML_DOCUMENT,
                ErrorCode.NOT_OWNERSHIP_DOCUMENT,
            ), exc
            json.dumps(exc.to_dict())
        else:
            assert isinstance(u.xml, bytes)
            json.dumps(u.header.to_dict())


# --- detection ---------------------------------------------------------------------------------------------


def test_looks_like_submission_for_every_corpus_submission() -> None:
    files = corpus_files("txt")
    assert files
    assert [p.name for p in files if not looks_like_submission(p.read_bytes())] == []


def test_bare_xml_is_not_a_submission() -> None:
    files = corpus_files("xml")
    assert files
    assert [p.name for p in files if looks_like_submission(p.read_bytes())] == []


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\xef\xbb\xbf\r\n  <SEC-DOCUMENT>x.txt : 20250101\n", True),
        (b"<SEC-HEADER>x.hdr.sgml : 20250101\n", True),
        (b"<SUBMISSION>\n<ACCESSION-NUMBER>", True),
        (b"<IMS-DOCUMENT>\n", True),
        (b"\n-----BEGIN PRIVACY-ENHANCED MESSAGE-----\n", True),
        (b"junk line\nACCESSION NUMBER:\t\t0001012325-98-000004\n", True),
        (b"", False),
        (b'<?xml version="1.0"?>\n<ownershipDocument>', False),
        (b"x" * 3000 + b"ACCESSION NUMBER:", False),  # only the first ~2 KB count
    ],
)
def test_looks_like_submission(data: bytes, expected: bool) -> None:
    assert looks_like_submission(data) is expected


# --- the whole corpus --------------------------------------------------------------------------------------


@pytest.mark.corpus
def test_every_corpus_submission() -> None:
    rows = manifest()
    files = corpus_files("txt")
    outcomes: Counter[str] = Counter()
    for path in files:
        rel = f"txt/{path.name}"
        row = rows.get(rel, {})
        got = _outcome(path.read_bytes())
        if isinstance(got, Unwrapped):
            outcomes[f"xml ({got.format})"] += 1
            header = got.header.to_dict()
            assert got.xml.startswith((b"<?xml", b"<ownershipDocument")), rel
            assert re.search(rb"</(?:[\w.-]+:)?ownershipDocument>\Z", got.xml), rel
            listed = re.search(r"documents=\d+\(([^)]*)\)", row.get("notes", ""))
            if listed:
                assert got.document_types == listed[1].split(","), rel
            if row.get("n_reporting_owners"):
                assert len(header["owner_ciks"]) == int(row["n_reporting_owners"]), rel
        else:
            assert got.code in (ErrorCode.NO_XML_DOCUMENT, ErrorCode.MALFORMED_WRAPPER), (rel, got)
            outcomes[str(got.code)] += 1
            header = got.header
        if row.get("accession"):
            assert header.get("accession_number") == row["accession"], rel
        if row.get("issuer_cik"):
            assert header.get("issuer_cik") == row["issuer_cik"], rel
        if row.get("form_type"):
            assert header.get("form_type") == row["form_type"], rel
    print(f"\nunwrap over {len(files)} corpus submissions: {dict(sorted(outcomes.items()))}")
    assert sum(outcomes.values()) == len(files)
    # What the files hold (checked by reading them): two 1990s text filings, one of them PEM-wrapped.
    assert outcomes[str(ErrorCode.NO_XML_DOCUMENT)] == 2
    assert outcomes["xml (nc)"] == 2
