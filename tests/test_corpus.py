"""Every fixture — and every file of ../shared/corpus when it is present — parses or is refused with a code,
and nothing in a parsed filing is lost: rows, footnote references and footnote texts all accounted for.

The expected counts come from the raw bytes with regular expressions, independently of the parser's walk.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from streams.models import Filing
from streams.parse import ParseError, parse_filing
from streams.parse.errors import ErrorCode
from streams.parse.rendered import detect as detect_rendered
from tests.fixtures_index import CORPUS, FIXTURES, all_fixture_paths, corpus_paths

ROW = re.compile(
    rb"<(?:[\w.-]+:)?(nonDerivativeTransaction|nonDerivativeHolding|derivativeTransaction|derivativeHolding)[\s>/]"
)
FOOTNOTE_REF = re.compile(rb"<(?:[\w.-]+:)?footnoteId\s+id\s*=\s*[\"']\s*([^\"'\s]*)\s*[\"']")
COMMENT = re.compile(rb"<!--.*?-->", re.S)
KIND = {
    b"nonDerivativeTransaction": ("non_derivative", "transactions"),
    b"nonDerivativeHolding": ("non_derivative", "holdings"),
    b"derivativeTransaction": ("derivative", "transactions"),
    b"derivativeHolding": ("derivative", "holdings"),
}
# Refusals that are right for the input: the documents themselves are broken or are not filings.
EXPECTED_REFUSALS = {
    ErrorCode.NO_XML_DOCUMENT,  # legacy text and PEM-wrapped submissions
    ErrorCode.MISSING_REQUIRED,  # synthetic fixtures and an error fixture with the owner CIK commented out
    ErrorCode.MALFORMED_XML,  # spec sample whose repair would lose rows
    ErrorCode.NOT_OWNERSHIP_DOCUMENT,
}


def ownership_part(data: bytes) -> bytes:
    """The bytes the counts are taken from: the <XML> part of a submission, minus comments."""
    start = data.find(b"<XML>")
    if start != -1:
        data = data[start : data.find(b"</XML>", start)]
    return COMMENT.sub(b"", data)


def check_nothing_lost(filing: Filing, data: bytes) -> None:
    raw = ownership_part(data)
    expected_rows = Counter(KIND[m] for m in ROW.findall(raw))
    got_rows = Counter((t.table, "transactions") for t in filing.transactions) + Counter(
        (h.table, "holdings") for h in filing.holdings
    )
    assert got_rows == expected_rows

    expected_refs = Counter(ref.decode() for ref in FOOTNOTE_REF.findall(raw))
    got_refs: Counter[str] = Counter()
    for row in [*filing.transactions, *filing.holdings]:
        for ids in row.footnote_ids.values():
            got_refs.update(ids)
    for ids in filing.footnote_ids.values():
        got_refs.update(ids)
    assert got_refs == expected_refs

    # A cited id is resolved to its text; the rare filing that cites an undefined id says so in warnings.
    unresolved = set(got_refs) - set(filing.footnotes)
    undefined_warned = {
        w.split()[1] for w in filing.warnings if w.endswith("is cited but not defined in <footnotes>")
    }
    assert unresolved == undefined_warned

    for index, kind in ((t.row_index, t.table) for t in filing.transactions):
        assert index < expected_rows[(kind, "transactions")]
    assert len({t.txn_id for t in filing.transactions}) == len(filing.transactions)


def outcome(path: Path) -> tuple[str, Filing | ParseError]:
    data = path.read_bytes()
    try:
        filing = parse_filing(data)
    except ParseError as exc:
        return "refused", exc
    check_nothing_lost(filing, data)
    return "parsed", filing


# Forms as a person reads them (EDGAR's HTML rendering, text copied from a browser): refused as rendered_form.
RENDERED = FIXTURES / "rendered"


@pytest.mark.parametrize("path", all_fixture_paths(), ids=lambda p: str(p.relative_to(p.parents[1])))
def test_fixture(path: Path) -> None:
    kind, result = outcome(path)
    if path.is_relative_to(RENDERED):
        assert isinstance(result, ParseError) and result.code is ErrorCode.RENDERED_FORM, result
    elif kind == "refused":
        assert isinstance(result, ParseError)
        assert result.code in EXPECTED_REFUSALS, f"{result.code}: {result.message}"


def test_the_rendered_form_detector_fires_on_no_fixture_filing() -> None:
    """Every fixture file but the rendered forms (XML, submissions, EDGAR's feeds and indexes, whatever parses or
    not): the detector does not recognise it, so none is refused as rendered_form."""
    files = [p for p in FIXTURES.rglob("*") if p.is_file() and not p.is_relative_to(RENDERED)]
    assert len(files) > 150
    assert [p for p in files if detect_rendered(p.read_bytes()) is not None] == []
    assert all(detect_rendered(p.read_bytes()) is not None for p in RENDERED.iterdir())


FILINGS_IN_CORPUS = [p for p in corpus_paths() if p.parent.name not in ("atom", "idx")]


@pytest.mark.corpus
@pytest.mark.skipif(not FILINGS_IN_CORPUS, reason=f"shared corpus not present at {CORPUS}")
def test_whole_corpus() -> None:
    """Every real filing in the corpus parses; the only refusals are the documented broken or legacy ones."""
    outcomes: Counter[str] = Counter()
    refusals: dict[str, str] = {}
    for path in FILINGS_IN_CORPUS:
        kind, result = outcome(path)
        if isinstance(result, ParseError):
            outcomes[str(result.code)] += 1
            refusals[str(path.relative_to(CORPUS))] = f"{result.code}: {result.message}"
        else:
            outcomes[kind] += 1
    print(dict(outcomes))
    unexpected = {p: why for p, why in refusals.items() if why.split(":")[0] not in EXPECTED_REFUSALS}
    assert not unexpected
    real_refused = {
        p: why
        for p, why in refusals.items()
        if not p.startswith(("other/synthetic", "other/sec_spec_sample"))
        and not why.startswith("no_xml_document")
    }
    # One real-world test fixture has its owner CIK commented out (documented in the corpus manifest notes).
    assert set(real_refused) <= {"xml/9f89d37912c1.xml"}, real_refused
    assert outcomes["parsed"] >= 0.97 * len(FILINGS_IN_CORPUS)


@pytest.mark.corpus
@pytest.mark.skipif(not corpus_paths(), reason=f"shared corpus not present at {CORPUS}")
def test_the_rendered_form_detector_fires_on_no_corpus_file() -> None:
    """Every file of the shared corpus (filings that parse, legacy text submissions whose typed Form 4 shows the
    same title and boxes, Atom pages, indexes): none is recognised as a rendered form."""
    files = [p for p in CORPUS.rglob("*") if p.is_file()]
    assert [str(p.relative_to(CORPUS)) for p in files if detect_rendered(p.read_bytes()) is not None] == []


@pytest.mark.corpus
@pytest.mark.skipif(not corpus_paths(), reason=f"shared corpus not present at {CORPUS}")
def test_feed_pages_and_indexes_are_refused_with_a_code() -> None:
    """Atom pages and index files are not filings: a worker fed one must dead-letter it, not crash."""
    others = [p for p in corpus_paths() if p.parent.name in ("atom", "idx")]
    codes = Counter()
    for path in others:
        with pytest.raises(ParseError) as info:
            parse_filing(path.read_bytes())
        codes[info.value.code] += 1
    assert set(codes) <= {
        ErrorCode.NOT_OWNERSHIP_DOCUMENT,
        ErrorCode.MALFORMED_XML,
        ErrorCode.MALFORMED_WRAPPER,
    }
