"""The EDGAR transport formats — getcurrent Atom pages and daily/full indexes — read from real recorded files.

Every expectation is taken from the raw bytes with regular expressions (or read by hand from the file and
quoted in the test), never from the parsers' own output. Fixtures live in tests/fixtures/edgar/ (see
tests/fixtures/MANIFEST.tsv for where each came from); two large indexes are stored gzip-compressed.
"""

from __future__ import annotations

import gzip
import itertools
import re
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.ingest.feed import (
    FEED_FORM_TYPES,
    OWNERSHIP_FORMS,
    PAGE_SIZE,
    FeedEntry,
    FeedFormatError,
    FeedPage,
    feed_url,
    ownership_filings,
    parse_feed,
    submission_url,
)
from streams.ingest.index import (
    IndexFormatError,
    IndexListing,
    archive_url,
    daily_index_url,
    ownership_index_entries,
    parse_index,
)
from tests.fixtures_index import fixture_bytes

BASE = "https://www.sec.gov"
EST = timezone(timedelta(hours=-5))
TYPE4_STARTS = list(range(0, 1001, 100))
SHIFTED_STARTS = (4400, 4500)  # two later pages of the same recording, fetched while the feed moved
OWNERSHIP_BYTES = {f.encode() for f in OWNERSHIP_FORMS}

ENTRY = re.compile(rb"<entry>(.*?)</entry>", re.S)
ENTRY_ACCESSION = re.compile(rb"accession-number=(\d{10}-\d{2}-\d{6})")
ENTRY_UPDATED = re.compile(rb"<updated>([^<]+)</updated>")
ENTRY_TERM = re.compile(rb'<category [^>]*term="([^"]+)"')
ENTRY_TITLE = re.compile(rb"<title>(.*?)</title>", re.S)
TITLE_ROLE = re.compile(rb"\(([A-Za-z][A-Za-z ]*)\)\s*$")
ACCESSION_SHAPE = re.compile(r"^\d{10}-\d{2}-\d{6}$")


def page_bytes(start: int) -> bytes:
    if start in SHIFTED_STARTS:  # kept apart: the replay server serves getcurrent-type4-* as one feed
        return fixture_bytes(f"edgar/atom/variant-shift-type4-start{start:04d}.atom.xml")
    return fixture_bytes(f"edgar/atom/getcurrent-type4-start{start:04d}.atom.xml")


def idx_bytes(name: str) -> bytes:
    data = fixture_bytes(f"edgar/idx/{name}")
    return gzip.decompress(data) if name.endswith(".gz") else data


def raw_entries(data: bytes) -> list[tuple[str, str, str, datetime]]:
    """(accession, form type, role, updated) of every <entry>, straight from the bytes."""
    rows = []
    for body in ENTRY.findall(data):
        acc = ENTRY_ACCESSION.search(body)
        term = ENTRY_TERM.search(body)
        title = ENTRY_TITLE.search(body)
        updated = ENTRY_UPDATED.search(body)
        assert acc and term and title and updated
        role = TITLE_ROLE.search(title[1])
        assert role, title[1]
        rows.append(
            (acc[1].decode(), term[1].decode(), role[1].decode(), datetime.fromisoformat(updated[1].decode()))
        )
    return rows


# --- Atom feed: the real type=4 pages of 2025-12-12 -------------------------------------------------------


@pytest.mark.parametrize("start", [*TYPE4_STARTS, *SHIFTED_STARTS])
def test_type4_page_matches_its_bytes(start: int) -> None:
    data = page_bytes(start)
    page = parse_feed(data)
    raw = raw_entries(data)

    assert len(page.entries) == data.count(b"<entry>") == len(raw) == PAGE_SIZE
    assert page.skipped == 0
    assert [e.accession_number for e in page.entries] == [a.decode() for a in ENTRY_ACCESSION.findall(data)]
    assert [e.form_type for e in page.entries] == [r[1] for r in raw]
    assert [e.role for e in page.entries] == [r[2] for r in raw]
    for entry, (_, _, _, updated) in zip(page.entries, raw, strict=True):
        assert entry.accepted_at.tzinfo is not None
        assert entry.accepted_at == updated
        assert entry.accepted_at.utcoffset() == updated.utcoffset()
        assert entry.cik is not None and re.fullmatch(r"\d{10}", entry.cik)
        assert entry.index_url is not None and entry.accession_number in entry.index_url

    feed_updated = re.search(rb"<updated>([^<]+)</updated>", data.split(b"<entry>", 1)[0])
    assert feed_updated is not None
    assert page.updated == datetime.fromisoformat(feed_updated[1].decode())
    filed = [
        date.fromisoformat(d.decode()) for d in re.findall(rb"Filed:&lt;/b&gt; (\d{4}-\d{2}-\d{2})", data)
    ]
    assert [e.filed_date for e in page.entries] == filed


@pytest.mark.parametrize("start", TYPE4_STARTS)
def test_ownership_filings_keeps_exact_forms_once_per_accession(start: int) -> None:
    data = page_bytes(start)
    raw = raw_entries(data)
    expected: list[str] = []
    for acc, term, _, _ in raw:
        if term in OWNERSHIP_FORMS and acc not in expected:
            expected.append(acc)

    kept = ownership_filings(parse_feed(data).entries)

    assert [e.accession_number for e in kept] == expected
    assert all(e.form_type in OWNERSHIP_FORMS for e in kept)
    # Each kept entry is the first one listed for its accession.
    first_index: dict[str, int] = {}
    for i, (acc, _, _, _) in enumerate(raw):
        first_index.setdefault(acc, i)
    page = parse_feed(data)
    assert [page.entries.index(e) for e in kept] == [first_index[a] for a in expected]


def test_prefix_filter_brings_other_forms_which_are_dropped() -> None:
    """type=4 is a prefix match: 424B2, 40-APP/A, 497K ... are on the pages and never survive the filter."""
    entries = [e for s in TYPE4_STARTS for e in parse_feed(page_bytes(s)).entries]
    raw_terms = Counter(t.decode() for s in TYPE4_STARTS for t in ENTRY_TERM.findall(page_bytes(s)))
    assert raw_terms["424B2"] > 0 and raw_terms["4/A"] > 0
    assert Counter(e.form_type for e in entries) == raw_terms
    kept = ownership_filings(entries)
    assert {e.form_type for e in kept} == {t for t in raw_terms if t in OWNERSHIP_FORMS} == {"4", "4/A"}
    assert not any(e.form_type.startswith(("424", "40-", "48", "49")) for e in kept)
    assert len({e.accession_number for e in kept}) == len(kept)


def test_each_filing_is_listed_once_per_entity() -> None:
    """A Form 4 is listed once as Issuer and once per reporting owner (twice for the usual single owner), the
    entries of one filing can be split across two pages, and ownership_filings takes each filing once."""
    entries = [e for s in TYPE4_STARTS for e in parse_feed(page_bytes(s)).entries]
    raw = [r for s in TYPE4_STARTS for r in raw_entries(page_bytes(s))]
    roles: dict[str, Counter[str]] = defaultdict(Counter)
    for acc, term, role, _ in raw:
        if term in OWNERSHIP_FORMS:
            roles[acc][role] += 1
    # The last filing of start=1000 may continue on start=1100 (not a fixture): leave it out.
    last = raw[-1][0]
    complete = {a: c for a, c in roles.items() if a != last}
    assert all(
        c["Issuer"] == 1 and c["Reporting"] >= 1 and set(c) <= {"Issuer", "Reporting"}
        for c in complete.values()
    )
    twins = [a for a, c in complete.items() if c.total() == 2]
    assert len(twins) > 0.9 * len(complete)

    kept = ownership_filings(entries)
    assert sorted(e.accession_number for e in kept) == sorted(roles)

    # General Atlantic's filing: 1 Issuer + 10 Reporting owners, the last owner on the next page.
    ga = "0000950142-25-003181"
    on_page = {
        s: sum(1 for e in parse_feed(page_bytes(s)).entries if e.accession_number == ga) for s in (0, 100)
    }
    assert on_page == {0: 10, 100: 1}
    assert roles[ga] == Counter({"Issuer": 1, "Reporting": 10})
    assert [e.accession_number for e in kept].count(ga) == 1


def test_first_entries_of_start_0() -> None:
    """Read by hand from the page (reference §9.1)."""
    first, twin = parse_feed(page_bytes(0)).entries[:2]
    assert first == FeedEntry(
        accession_number="0002063236-25-000004",
        form_type="4",
        accepted_at=datetime(2025, 12, 12, 18, 2, 43, tzinfo=EST),
        filed_date=date(2025, 12, 12),
        cik="0002063236",
        name="Perez Daniel Antonio",
        role="Reporting",
        index_url="https://www.sec.gov/Archives/edgar/data/2063236/000206323625000004/0002063236-25-000004-index.htm",
    )
    assert str(first.accepted_at.isoformat()) == "2025-12-12T18:02:43-05:00"
    assert (twin.accession_number, twin.name, twin.role, twin.cik) == (
        "0002063236-25-000004",
        "Hinge Health, Inc.",
        "Issuer",
        "0001673743",
    )
    assert twin.accepted_at == first.accepted_at
    assert submission_url(BASE, twin.cik or "", twin.accession_number) == (
        "https://www.sec.gov/Archives/edgar/data/1673743/000206323625000004/0002063236-25-000004.txt"
    )


def test_titles_with_markup_characters() -> None:
    """'&amp;' in a title is a plain '&' in the name; a name may itself hold parentheses."""
    entries = parse_feed(page_bytes(0)).entries
    names = {e.name for e in entries}
    assert "GAPCO GMBH & CO KG" in names
    assert "General Atlantic (SPV) GP, LLC" in names
    spv = next(e for e in entries if e.name == "General Atlantic (SPV) GP, LLC")
    assert (spv.cik, spv.role) == ("0001793940", "Reporting")


def test_pages_are_newest_first_from_start_0_to_1000() -> None:
    """The ingester pages back until entries are older than its last poll: that needs newest-first order."""
    times = [e.accepted_at for s in TYPE4_STARTS for e in parse_feed(page_bytes(s)).entries]
    raw_times = [r[3] for s in TYPE4_STARTS for r in raw_entries(page_bytes(s))]
    assert times == raw_times
    assert all(a >= b for a, b in itertools.pairwise(raw_times))


def test_paging_is_not_a_snapshot() -> None:
    """Recorded between two fetches: the feed moved on by two entries, so start=4500 begins with the last two
    entries of start=4400 again, newer than where 4400 ended. Dedup must span pages and order only holds
    within a page."""
    p4400 = parse_feed(page_bytes(4400)).entries
    p4500 = parse_feed(page_bytes(4500)).entries
    raw4400, raw4500 = raw_entries(page_bytes(4400)), raw_entries(page_bytes(4500))
    assert raw4500[0][3] > raw4400[-1][3]  # the order breaks at the page boundary
    assert [(e.accession_number, e.cik) for e in p4500[:2]] == [
        (e.accession_number, e.cik) for e in p4400[-2:]
    ]
    assert p4500[0].accepted_at > p4400[-1].accepted_at
    for page in (p4400, p4500):
        assert all(a.accepted_at >= b.accepted_at for a, b in itertools.pairwise(page))
    kept = ownership_filings(p4400 + p4500)
    assert len(kept) == len({e.accession_number for e in kept})


def test_unnamespaced_feed_reads_the_same() -> None:
    data = page_bytes(0)
    bare = data.replace(b' xmlns="http://www.w3.org/2005/Atom"', b"", 1)
    assert bare != data
    assert parse_feed(bare) == parse_feed(data)


# --- Atom feed: variants ----------------------------------------------------------------------------------


def test_synthetic_variant() -> None:
    data = fixture_bytes("edgar/atom/variant-synthetic-malformed.atom.xml")
    page = parse_feed(data)
    assert data.count(b"<entry>") == 3
    assert page.skipped == 1  # "Malformed item missing key pieces": no accession anywhere
    assert page.updated is None  # the feed has no <updated>
    apple, example = page.entries
    assert apple.accession_number == "0000320193-24-000123"  # from <id> ...accession=000032019324000123
    assert (apple.form_type, apple.cik, apple.name, apple.role) == (
        "4",
        "0000320193",
        "Apple Inc",
        "Reporting",
    )
    assert apple.accepted_at == datetime(2026, 2, 11, 1, 1, tzinfo=EST)
    assert apple.filed_date is None
    # No <updated>: <published> is the time; a title without a role.
    assert example.accepted_at == datetime(2026, 2, 11, 1, 3, tzinfo=UTC)
    assert (example.form_type, example.cik, example.role) == ("4/A", "0000789019", None)
    assert [e.accession_number for e in ownership_filings(page.entries)] == [
        "0000320193-24-000123",
        "0000789019-24-000987",
    ]


def test_indented_2023_variant() -> None:
    page = parse_feed(fixture_bytes("edgar/atom/variant-indented-2023.atom.xml"))
    (entry,) = page.entries
    assert entry.accession_number == "0000950103-23-012038"
    assert entry.filed_date == date(2023, 8, 15)  # "Filed:</b> 2023-08-15": the first <b> is missing
    assert (entry.form_type, entry.name, entry.cik, entry.role) == (
        "424B2",
        "CITIGROUP INC",
        "0000831001",
        "Filer",
    )
    assert entry.accepted_at == datetime(2023, 8, 15, 11, 21, 11, tzinfo=timezone(timedelta(hours=-4)))
    assert page.updated == datetime(2023, 8, 15, 11, 21, 52, tzinfo=timezone(timedelta(hours=-4)))
    assert ownership_filings(page.entries) == []


EDGAR_503 = b"""<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"
 "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml"><head><title>SEC.gov | Request Rate Threshold Exceeded</title></head>
<body><h1>Service Unavailable</h1><p>Your request could not be processed.<br></p></body></html>"""


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(EDGAR_503, id="html-503"),
        pytest.param(b"<html><body><h1>Service Unavailable</h1></body></html>", id="well-formed-html"),
        pytest.param(b"", id="empty"),
        pytest.param(b"<?xml version='1.0'?><ownershipDocument/>", id="not-atom"),
        pytest.param(b'<feed xmlns="http://example.com/not-atom"/>', id="foreign-namespace"),
    ],
)
def test_not_a_feed_is_refused(body: bytes) -> None:
    with pytest.raises(FeedFormatError):
        parse_feed(body)


def test_truncated_page_is_refused() -> None:
    data = page_bytes(0)
    with pytest.raises(FeedFormatError):
        parse_feed(data[: len(data) // 2])


@pytest.mark.parametrize(
    ("prolog", "reference"),
    [
        pytest.param(b'<!DOCTYPE feed [<!ENTITY who "Someone Else">]>', b"&who;", id="internal-entity"),
        pytest.param(
            b'<!DOCTYPE feed [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
            b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>',
            b"&c;",
            id="entity-expansion",
        ),
        pytest.param(
            b'<!DOCTYPE feed [<!ENTITY x SYSTEM "file:///etc/passwd">]>', b"&x;", id="external-entity"
        ),
        pytest.param(b'<!DOCTYPE feed SYSTEM "http://example.com/feed.dtd">', b"", id="external-dtd"),
    ],
)
def test_doctype_and_entities_are_refused(prolog: bytes, reference: bytes) -> None:
    declaration, _, rest = page_bytes(0).partition(b"\n")
    assert declaration.startswith(b"<?xml")
    with pytest.raises(FeedFormatError):
        parse_feed(declaration + b"\n" + prolog + b"\n" + rest)
    with pytest.raises(FeedFormatError):
        body = rest.replace(b"Perez Daniel Antonio", reference, 1)
        parse_feed(declaration + b"\n" + prolog + b"\n" + body)


def test_feed_urls() -> None:
    assert FEED_FORM_TYPES == ("4", "3", "5")
    assert feed_url(BASE, "4") == (
        "https://www.sec.gov/cgi-bin/browse-edgar?action=getcurrent&type=4&company=&dateb=&owner=include"
        "&start=0&count=100&output=atom"
    )
    assert feed_url(BASE, "4/A", start=200, count=40) == (
        "https://www.sec.gov/cgi-bin/browse-edgar?action=getcurrent&type=4%2FA&company=&dateb=&owner=include"
        "&start=200&count=40&output=atom"
    )
    assert submission_url(BASE, 1673743, "000206323625000004") == submission_url(
        BASE, "0001673743", "0002063236-25-000004"
    )
    with pytest.raises(ValueError):
        submission_url(BASE, 1, "not-an-accession")


# --- Indexes ----------------------------------------------------------------------------------------------

OWNERSHIP_FORM_RE = rb"(?:3|3/A|4|4/A|5|5/A)"


def unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def test_form_idx_20200318() -> None:
    data = idx_bytes("form.20200318.idx")
    listing = parse_index(data)
    lines = [line for line in data.splitlines() if b"edgar/data/" in line]
    assert len(listing.entries) == len(lines) == data.count(b"edgar/data/")
    assert listing.skipped == 0
    assert [e.file_name for e in listing.entries] == [line.split()[-1].decode() for line in lines]
    assert [e.cik for e in listing.entries] == [line.split()[-3].decode().zfill(10) for line in lines]
    # A daily index also lists older filings disseminated that day (SEC staff letters, UPLOAD, CORRESP).
    assert [e.date_filed for e in listing.entries] == [
        datetime.strptime(line.split()[-2].decode(), "%Y%m%d").date() for line in lines
    ]
    assert min(e.date_filed for e in listing.entries) < date(2020, 3, 18)
    # form.idx is sorted by form type; ownership lines start with the form type and two spaces or more.
    own = re.findall(rb"^" + OWNERSHIP_FORM_RE + rb"\s{2,}.*?(\d{10}-\d{2}-\d{6})\.txt\s*$", data, re.M)
    got = ownership_index_entries(listing.entries)
    assert [e.accession_number for e in got] == unique([a.decode() for a in own])
    assert {e.form_type for e in got} <= OWNERSHIP_FORMS
    assert {e.date_filed for e in got} == {date(2020, 3, 18)}
    forms = Counter(e.form_type for e in listing.entries)
    assert forms["1-A POS"] == len(re.findall(rb"^1-A POS\s", data, re.M)) > 0


def test_form_idx_line_read_by_hand() -> None:
    """`1-A POS     DELHI BANK CORP      927719      20200318    edgar/data/927719/0001213900-20-006773.txt`"""
    listing = parse_index(idx_bytes("form.20200318.idx"))
    delhi = next(e for e in listing.entries if e.accession_number == "0001213900-20-006773")
    assert (delhi.form_type, delhi.company_name, delhi.cik, delhi.date_filed, delhi.file_name) == (
        "1-A POS",
        "DELHI BANK CORP",
        "0000927719",
        date(2020, 3, 18),
        "edgar/data/927719/0001213900-20-006773.txt",
    )


def test_master_idx_linkedin_filing_listed_per_cik() -> None:
    data = idx_bytes("master.20130104.idx.gz")
    listing = parse_index(data)
    assert len(listing.entries) == data.count(b"edgar/data/")
    assert listing.skipped == 0
    linkedin = [e for e in listing.entries if e.accession_number == "0001209191-13-002209"]
    assert [(e.cik, e.company_name) for e in linkedin] == [
        ("0001271024", "LINKEDIN CORP"),
        ("0001519339", "Hoffman Reid"),
        ("0001521103", "Reid Hoffman & Michelle Yee Living Trust"),
    ]
    own = re.findall(
        rb"^\d+\|[^|\n]*\|" + OWNERSHIP_FORM_RE + rb"\|\d{8}\|edgar/data/\d+/([\d-]+)\.txt$", data, re.M
    )
    got = ownership_index_entries(listing.entries)
    assert [e.accession_number for e in got] == unique([a.decode() for a in own])
    assert len(got) < len(own)  # the dedup did something
    assert [e.cik for e in got if e.accession_number == "0001209191-13-002209"] == ["0001271024"]


def test_master_idx_small_and_1993_full_index() -> None:
    small = idx_bytes("master.20181231.idx")
    listing = parse_index(small)
    assert len(listing.entries) == small.count(b"edgar/data/") == 10
    assert listing.entries[0].company_name == "HENRY SCHEIN INC"
    own = re.findall(rb"\|" + OWNERSHIP_FORM_RE + rb"\|\d{8}\|edgar/data/\d+/([\d-]+)\.txt", small)
    assert [e.accession_number for e in ownership_index_entries(listing.entries)] == unique(
        [a.decode() for a in own]
    )

    old = idx_bytes("master-1993-filename.idx")
    assert b"Cloud HTTP:" in old and b"|Filename\n" in old
    listing = parse_index(old)
    assert len(listing.entries) == old.count(b"edgar/data/") == 20
    assert listing.entries[0].date_filed == date(1993, 12, 30)  # "1993-12-30"
    assert listing.entries[0].accession_number == "9999999997-02-056978"
    sc13 = [e for e in listing.entries if e.accession_number == "0001021408-01-503754"]
    assert [e.form_type for e in sc13] == ["SC 13D/A", "SC 13D/A"]
    assert ownership_index_entries(listing.entries) == []


def test_wrapped_header_2026() -> None:
    data = idx_bytes("form_index_2026_wrapped_header.idx")
    assert b"CIK\n      Date Filed  File Name\n" in data
    listing = parse_index(data)
    assert listing.skipped == 0
    assert [(e.form_type, e.company_name, e.cik) for e in listing.entries] == [
        ("1-A POS", "Bequest Bonds I Inc", "0002016678"),
        ("4", "DOE JANE", "0001214156"),
        ("4/A", "TRUST FUND 2020", "0001555001"),
        ("10-K", "EXAMPLE HOLDINGS 99 CORP", "0001998877"),
    ]
    assert {e.date_filed for e in listing.entries} == {date(2026, 7, 16)}
    assert [(e.form_type, e.accession_number) for e in ownership_index_entries(listing.entries)] == [
        ("4", "0000320193-26-000045"),
        ("4/A", "0001555001-26-000007"),
    ]


def test_empty_index() -> None:
    assert parse_index(idx_bytes("empty-form.idx")) == IndexListing(entries=[], skipped=0)


def test_badform_index() -> None:
    """A company name that overflows into the CIK column, a form type listed twice, no final newline."""
    data = idx_bytes("badform.idx")
    assert not data.endswith(b"\n")
    listing = parse_index(data)
    lines = [line for line in data.splitlines() if b"edgar/data/" in line]
    assert len(listing.entries) == len(lines) == 10
    assert listing.skipped == 0
    assert [e.form_type for e in listing.entries] == [line.split(b"  ")[0].decode() for line in lines]
    assert [e.cik for e in listing.entries] == [line.split()[-3].decode().zfill(10) for line in lines]
    assert {e.date_filed for e in listing.entries} == {
        date.fromisoformat(d.decode()) for d in re.findall(rb"\s(\d{4}-\d{2}-\d{2})\s", data)
    }
    overflow = next(e for e in listing.entries if e.cik == "0000820694")
    assert overflow.company_name == "UNITED PLANNERS' FINANCIAL SERVICES OF AMERICA A LIMITED PARTNER"
    assert overflow.form_type == "X-17A-5"
    alfadan = [e.form_type for e in listing.entries if e.accession_number == "0001477932-21-001700"]
    assert alfadan == ["1-A", "1-A POS"]
    assert not re.search(rb"^" + OWNERSHIP_FORM_RE + rb"\s", data, re.M)
    assert ownership_index_entries(listing.entries) == []


def test_company_idx() -> None:
    data = idx_bytes("company.20200102.idx.gz")
    listing = parse_index(data)
    lines = [line.decode("latin-1") for line in data.splitlines() if b"edgar/data/" in line]
    assert len(listing.entries) == len(lines)
    assert listing.skipped == 0
    # In this file every name fits its 62 columns: the fixed columns are a valid independent reading.
    assert [(e.company_name, e.form_type) for e in listing.entries] == [
        (line[:62].strip(), line[62:74].strip()) for line in lines
    ]
    own = [
        line.split()[-1].rsplit("/", 1)[1].removesuffix(".txt")
        for line in lines
        if line[62:74].strip() in OWNERSHIP_FORMS
    ]
    got = ownership_index_entries(listing.entries)
    assert [e.accession_number for e in got] == unique(own)
    assert len(got) < len(own)  # filings listed under the issuer and each owner


def test_latin1_company_names_and_unreadable_lines() -> None:
    data = idx_bytes("master.20181231.idx").replace(b"HENRY SCHEIN INC", b"SOCI\xc9T\xc9 G\xc9N\xc9RALE")
    listing = parse_index(data)
    assert listing.entries[0].company_name == "SOCIÉTÉ GÉNÉRALE"

    form = idx_bytes("form_index_2026_wrapped_header.idx").replace(b"DOE JANE", b"DO\xcb J\xc2NE")
    assert parse_index(form).entries[1].company_name == "DOË JÂNE"

    garbage = (
        data + b"\nthis line is not a filing\n1000228|X|4|2018-13-45|edgar/data/1/0001209191-18-064398.txt\n"
    )
    listing = parse_index(garbage)
    assert listing.skipped == 2
    assert len(listing.entries) == 10


def test_dates_in_both_formats() -> None:
    compact = parse_index(idx_bytes("master.20181231.idx")).entries[0]
    dashed = parse_index(idx_bytes("badform.idx")).entries[0]
    assert compact.date_filed == date(2018, 12, 31)  # "20181231"
    assert dashed.date_filed == date(2021, 2, 5)  # "2021-02-05"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(EDGAR_503, id="html-503"),
        pytest.param(b"", id="empty-body"),
        pytest.param(b"Description: Daily Index\n\nnothing else\n", id="no-header"),
        pytest.param(b"-----------------------------------------\nedgar/data/1/x.txt\n", id="separator-only"),
    ],
)
def test_not_an_index_is_refused(body: bytes) -> None:
    with pytest.raises(IndexFormatError):
        parse_index(body)


def test_index_urls() -> None:
    assert daily_index_url(BASE, date(2020, 3, 18)) == (
        "https://www.sec.gov/Archives/edgar/daily-index/2020/QTR1/form.20200318.idx"
    )
    assert daily_index_url(BASE, date(2013, 1, 4), kind="master").endswith("/2013/QTR1/master.20130104.idx")
    assert daily_index_url(BASE, date(2020, 4, 1)).endswith("/2020/QTR2/form.20200401.idx")
    assert daily_index_url(BASE, date(2018, 12, 31)).endswith("/2018/QTR4/form.20181231.idx")
    assert archive_url(BASE, "edgar/data/1000180/0001242648-13-000001.txt") == (
        "https://www.sec.gov/Archives/edgar/data/1000180/0001242648-13-000001.txt"
    )


# --- Robustness: mutated real bytes raise only the module's own error -----------------------------------

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEED_SEEDS = [
    page_bytes(0),
    fixture_bytes("edgar/atom/variant-synthetic-malformed.atom.xml"),
    fixture_bytes("edgar/atom/variant-indented-2023.atom.xml"),
]
_form = idx_bytes("form.20200318.idx")
INDEX_SEEDS = [
    b"\n".join(_form.splitlines()[:120]),
    idx_bytes("master.20181231.idx"),
    idx_bytes("badform.idx"),
    idx_bytes("form_index_2026_wrapped_header.idx"),
    idx_bytes("master-1993-filename.idx"),
]


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 6))):
        pos = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["cut", "insert", "replace", "delete"]))
        if op == "cut":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=12))
        elif op == "replace":
            chunk = draw(st.binary(min_size=1, max_size=12))
            data[pos : pos + len(chunk)] = chunk
        else:
            del data[pos : pos + draw(st.integers(1, 200))]
    return bytes(data)


def check_feed_page(page: FeedPage) -> None:
    for entry in page.entries:
        assert ACCESSION_SHAPE.match(entry.accession_number)
        assert entry.accepted_at.tzinfo is not None
        assert entry.cik is None or re.fullmatch(r"\d{10}", entry.cik)


@FUZZ
@given(mutated(FEED_SEEDS))
def test_parse_feed_raises_only_feed_format_error(data: bytes) -> None:
    try:
        page = parse_feed(data)
    except FeedFormatError:
        return
    check_feed_page(page)
    ownership_filings(page.entries)


@FUZZ
@given(mutated(INDEX_SEEDS))
def test_parse_index_raises_only_index_format_error(data: bytes) -> None:
    try:
        listing = parse_index(data)
    except IndexFormatError:
        return
    assert listing.skipped >= 0
    for entry in listing.entries:
        assert ACCESSION_SHAPE.match(entry.accession_number)
        assert re.fullmatch(r"\d{10}", entry.cik)
        assert entry.form_type == entry.form_type.strip() != ""
    ownership_index_entries(listing.entries)
