"""The replay EDGAR must be trustworthy: the ingester tests are only as good as its imitation of EDGAR.

Checked with plain http.client/urllib (never the project's own client) and against the real recorded files.
"""

from __future__ import annotations

import csv
import gzip
import http.client
import re
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from lxml import etree

from tests.edgar_server import (
    ATOM_DIR,
    NEW_YORK,
    SUBMISSIONS_DIR,
    EdgarReplay,
    Filer,
    Garbage,
    RequestRecord,
    Reset,
    Slow,
    Status,
    Submission,
    Truncate,
    dissemination_day,
    fixture_submission_paths,
    fixture_submissions,
    recorded_type4_pages,
    render_form_index,
)

ATOM = "{http://www.w3.org/2005/Atom}"
FIXTURES = Path(__file__).parent / "fixtures"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


def _real(in_repo: Path, in_corpus: Path) -> Path:
    """The recorded file: the committed copy when present, else the shared corpus one."""
    return in_repo if in_repo.is_file() else in_corpus


# getcurrent type=4 start=0, captured 2025-12-12 18:03:57 EST
REAL_ATOM_PAGE = _real(
    ATOM_DIR / "getcurrent-type4-start0000.atom.xml", CORPUS / "other/atom/925edeb9e928.atom.xml"
)
REAL_FORM_IDX = _real(FIXTURES / "edgar/idx/form.20200318.idx", CORPUS / "other/idx/f5a0294a796a.idx")

MULTI_OWNER = "0001493152-25-009612"  # SoftBank: 8 reporting owners + issuer
AMENDMENT = "0000707549-25-000004"  # LRCX 4/A
LATE_WEDNESDAY = "0000899243-20-003319"  # Form 3 accepted 2020-02-05 17:39:23
LATE_FRIDAY = "0001209191-20-009773"  # Form 5 accepted 2020-02-14 18:03:45
UA = "form4-streams tests admin@example.com"

SUBS = fixture_submissions()
BY_ACC = {s.accession_number: s for s in SUBS}


def feed_path(form: str = "4", start: int = 0, count: int = 100) -> str:
    return f"/cgi-bin/browse-edgar?action=getcurrent&type={form}&owner=include&count={count}&start={start}&output=atom"


def get(
    edgar: EdgarReplay, path: str, headers: dict[str, str] | None = None
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """A raw GET (no redirects, no decompression, errors returned not raised)."""
    port = urlsplit(edgar.base_url).port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def text(e: etree._Element, tag: str) -> str:
    value = e.findtext(f"{ATOM}{tag}")
    assert value is not None, tag
    return value


def term(e: etree._Element) -> str:
    category = e.find(f"{ATOM}category")
    assert category is not None
    return category.get("term", "")


def entries(page: bytes) -> list[etree._Element]:
    root = etree.fromstring(page)
    assert root.tag == f"{ATOM}feed"
    return root.findall(f"{ATOM}entry")


def accession_of(entry: etree._Element) -> str:
    return text(entry, "id").rsplit("=", 1)[1]


def title_cik(entry: etree._Element) -> str:
    m = re.fullmatch(r".+ - .+ \((\d{10})\) \((Reporting|Issuer)\)", text(entry, "title"))
    assert m, text(entry, "title")
    return m.group(1)


def whole_feed(edgar: EdgarReplay, form: str, count: int = 100) -> list[etree._Element]:
    """Page through the feed until EDGAR's past-the-end 503."""
    out: list[etree._Element] = []
    start = 0
    while True:
        status, _, body = get(edgar, feed_path(form, start, count))
        if status == 503:
            return out
        assert status == 200
        page = entries(body)
        assert page, "an empty page is only allowed at start=0"
        out += page
        start += count


def with_header(sub: Submission, **replace: str) -> Submission:
    """A hand-made variant of a real submission (header text substituted)."""
    body = sub.body
    for old, new in replace.items():
        body = body.replace(old.encode("latin-1"), new.encode("latin-1"))
    return Submission.from_txt(body)


# -- the fixture set -------------------------------------------------------------------------------------------


def test_fixture_set_is_the_requested_timeline() -> None:
    assert len(SUBS) == len(fixture_submission_paths()) == 74
    assert sorted(SUBS, key=lambda s: (s.accepted_at, s.accession_number)) == SUBS
    spread = Counter((s.accepted_at.year, s.form_type) for s in SUBS)
    assert spread == {(2020, "5"): 61, (2020, "3"): 4, (2025, "4"): 8, (2025, "4/A"): 1}
    for s in SUBS:
        local = s.accepted_at.date()
        if s.accepted_at.year == 2020:
            assert date(2020, 2, 3) <= local <= date(2020, 2, 14)
        else:
            assert date(2025, 1, 1) <= local <= date(2025, 3, 31)
        assert b"<XML>" in s.body and b"<ownershipDocument>" in s.body


def test_every_submission_has_a_manifest_row() -> None:
    with (FIXTURES / "MANIFEST.tsv").open(newline="", encoding="utf-8") as fh:
        rows = {r["file"]: r for r in csv.DictReader(fh, delimiter="\t")}
    for path in fixture_submission_paths():
        row = rows[f"edgar/submissions/{path.name}"]
        assert row["why"] == "replay server timeline"
        assert Submission.from_txt(path.read_bytes()).accession_number == row["accession"]


def test_from_txt_reads_the_sgml_header() -> None:
    s = BY_ACC[AMENDMENT]
    assert s.form_type == "4/A"
    assert s.accepted_at == datetime(2025, 1, 21, 13, 23, 57, tzinfo=NEW_YORK)
    assert s.accepted_at.utcoffset() is not None
    assert s.filed_date == date(2025, 1, 21)
    assert [f.role for f in s.filers] == ["Reporting", "Issuer"]
    assert s.filers[1].cik == "0000707549"
    assert (SUBMISSIONS_DIR / "7a623a2c1264.txt").read_bytes() == s.body

    multi = BY_ACC[MULTI_OWNER]
    assert [f.role for f in multi.filers] == ["Reporting"] * 8 + ["Issuer"]
    assert multi.filers[0] == Filer("0001065521", "SOFTBANK GROUP CORP.", "Reporting")  # not a FORMER NAME
    assert all(re.fullmatch(r"\d{10}", f.cik) for s in SUBS for f in s.filers)


def test_from_txt_refuses_legacy_text() -> None:
    legacy = re.sub(rb"<ACCEPTANCE-DATETIME>\d+\n", b"", SUBS[0].body)
    with pytest.raises(ValueError, match="ACCEPTANCE-DATETIME"):
        Submission.from_txt(legacy)


# -- the Atom feed ---------------------------------------------------------------------------------------------


def test_feed_is_atom_with_one_entry_per_filer_newest_first() -> None:
    with EdgarReplay(SUBS) as edgar:
        edgar.reveal()
        got = whole_feed(edgar, "5", count=40)
    fives = [s for s in SUBS if s.form_type == "5"]
    assert len(got) == sum(len(s.filers) for s in fives) == 2 * len(fives) + 1  # one Form 5 has two owners
    accs = [accession_of(e) for e in got]
    groups = [
        acc for i, acc in enumerate(accs) if i == 0 or accs[i - 1] != acc
    ]  # a filing's entries are adjacent
    newest_first = sorted(fives, key=lambda s: (s.accepted_at, s.accession_number), reverse=True)
    assert groups == [s.accession_number for s in newest_first]
    assert Counter(accs) == {s.accession_number: len(s.filers) for s in fives}
    for e in got:
        sub = BY_ACC[accession_of(e)]
        assert datetime.fromisoformat(text(e, "updated")) == sub.accepted_at
        assert term(e) == "5"
        summary = text(e, "summary")
        assert f"<b>Filed:</b> {sub.filed_date.isoformat()} <b>AccNo:</b> {sub.accession_number}" in summary
        cik = title_cik(e)
        assert cik in {f.cik for f in sub.filers}
        link = e.find(f"{ATOM}link")
        href = link.get("href") if link is not None else None
        nodash = sub.accession_number.replace("-", "")
        assert (
            href
            == f"https://www.sec.gov/Archives/edgar/data/{int(cik)}/{nodash}/{sub.accession_number}-index.htm"
        )


def test_entries_within_a_filing_follow_the_real_cik_descending_order() -> None:
    """sec.gov lists a filing's entries by CIK descending, so the issuer comes first when its CIK is larger."""
    with EdgarReplay([BY_ACC[MULTI_OWNER], BY_ACC[AMENDMENT], BY_ACC[LATE_WEDNESDAY]]) as edgar:
        edgar.reveal()
        got = entries(get(edgar, feed_path(""))[2])
    multi = [title_cik(e) for e in got if accession_of(e) == MULTI_OWNER]
    assert len(multi) == 9 and multi == sorted(multi, reverse=True)

    def roles(acc: str) -> list[str]:
        return [text(e, "title").rsplit(" ", 1)[1] for e in got if accession_of(e) == acc]

    assert roles(AMENDMENT) == ["(Reporting)", "(Issuer)"]  # owner 0001779037 > LRCX 0000707549
    assert roles(LATE_WEDNESDAY) == ["(Issuer)", "(Reporting)"]  # PPD 0001793294 > owner 0001508519


@pytest.mark.skipif(not REAL_ATOM_PAGE.is_file(), reason="shared corpus not present")
def test_feed_layout_matches_a_real_page_line_for_line() -> None:
    """Same lines as sec.gov once the values are blanked out (header, entry and footer)."""

    def skeleton(page: bytes) -> list[str]:
        text = page.decode("iso-8859-1")
        text = re.sub(r'"[^"]*"', '""', text)
        text = re.sub(r">[^<\n]+<", "><", text)
        text = re.sub(r"\d+", "9", text)
        text = re.sub(r"AccNo:&lt;/b&gt; [9-]+", "AccNo:&lt;/b&gt; 9", text)
        text = re.sub(r"Size:&lt;/b&gt; 9 [KM]B", "Size:&lt;/b&gt; 9 KB", text)
        return text.splitlines()

    real = REAL_ATOM_PAGE.read_bytes()
    with EdgarReplay(SUBS) as edgar:
        edgar.reveal()
        _, headers, ours = get(edgar, feed_path("4", count=1))
    assert headers["Content-Type"].startswith("application/atom+xml")
    real_lines, our_lines = skeleton(real), skeleton(ours)
    entry_len = real_lines.index("</entry>") - real_lines.index("<entry>") + 1
    head_len = real_lines.index("<entry>")
    assert our_lines[:head_len] == real_lines[:head_len]
    assert our_lines[head_len : head_len + entry_len] == real_lines[head_len : head_len + entry_len]
    assert our_lines[-1] == real_lines[-1] == "</feed>"
    assert ours.startswith(
        b'<?xml version="1.0" encoding="ISO-8859-1" ?>\n<feed xmlns="http://www.w3.org/2005/Atom">\n'
    )
    title = etree.fromstring(ours).findtext(f"{ATOM}title") or ""
    assert re.fullmatch(r"Latest Filings - \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d E[SD]T", title)


def test_type_filter_is_a_prefix_match() -> None:
    with EdgarReplay(SUBS) as edgar:
        edgar.reveal()
        forms = {t: Counter(term(e) for e in whole_feed(edgar, t)) for t in ("4", "4/A", "3", "")}
    entries_per_form: Counter[str] = Counter()
    for s in SUBS:
        entries_per_form[s.form_type] += len(s.filers)
    assert entries_per_form == {"5": 123, "3": 8, "4": 24, "4/A": 2}
    assert forms["4"] == {"4": 24, "4/A": 2}
    assert forms["4/A"] == {"4/A": 2}
    assert forms["3"] == {"3": 8}
    assert forms[""] == entries_per_form


def test_reveal_drives_the_feed_and_stamps_wall_clock_times() -> None:
    with EdgarReplay(SUBS) as edgar:
        status, _, body = get(edgar, feed_path("5"))
        assert status == 200 and entries(body) == []  # empty feed at start=0: a valid feed
        assert get(edgar, feed_path("5", start=100))[0] == 503
        before = time.time()
        first = edgar.reveal(3)
        assert first == SUBS[:3]
        assert set(edgar.revealed_at) == {s.accession_number for s in first}
        assert all(before <= t <= time.time() for t in edgar.revealed_at.values())
        _, _, body = get(edgar, feed_path(""))
        accs = [accession_of(e) for e in entries(body)]
        assert [a for i, a in enumerate(accs) if i == 0 or accs[i - 1] != a] == [
            s.accession_number for s in reversed(first)
        ]
        rest = edgar.reveal()
        assert rest == SUBS[3:]
        assert edgar.reveal() == [] and edgar.reveal(5) == []


def test_depth_paging_and_503_past_the_end() -> None:
    with EdgarReplay(SUBS, feed_depth=25) as edgar:
        edgar.reveal()
        got = whole_feed(edgar, "", count=10)
        assert len(got) == 25
        newest = sorted(SUBS, key=lambda s: (s.accepted_at, s.accession_number), reverse=True)
        assert accession_of(got[0]) == newest[0].accession_number
        assert [len(entries(get(edgar, feed_path("", s, 10))[2])) for s in (0, 10, 20)] == [10, 10, 5]
        status, headers, body = get(edgar, feed_path("", 25, 10))
        assert status == 503
        assert headers["Retry-After"] is None
        assert headers["Content-Type"].startswith("text/html") and b"<html>" in body


def test_duplicates_repeat_a_filings_entries() -> None:
    target = BY_ACC[MULTI_OWNER]
    with EdgarReplay(SUBS) as edgar:
        edgar.reveal()
        edgar.duplicate(target.accession_number, copies=2)
        got = [accession_of(e) for e in whole_feed(edgar, "4")]
    assert got.count(target.accession_number) == 3 * 9
    first = got.index(target.accession_number)
    assert got[first : first + 27] == [target.accession_number] * 27


def test_names_are_escaped_and_latin1_encoded() -> None:
    sub = with_header(BY_ACC[AMENDMENT], **{"LAM RESEARCH CORP": "AT&T <LAM> CAFÉ"})
    assert sub.filers[-1].name == "AT&T <LAM> CAFÉ"
    with EdgarReplay([sub]) as edgar:
        edgar.reveal()
        _, _, body = get(edgar, feed_path("4"))
    assert "AT&amp;T &lt;LAM&gt; CAFÉ".encode("iso-8859-1") in body
    titles = [text(e, "title") for e in entries(body)]
    assert "4/A - AT&T <LAM> CAFÉ (0000707549) (Issuer)" in titles


def test_recorded_pages_are_served_verbatim() -> None:
    pages = {("4", 0): b"<recorded page 0/>", ("4", 100): b"<recorded page 100/>"}
    with EdgarReplay(SUBS, recorded_pages=pages) as edgar:
        edgar.reveal()
        assert get(edgar, feed_path("4", 0))[2] == b"<recorded page 0/>"
        assert get(edgar, feed_path("4", 100))[2] == b"<recorded page 100/>"
        assert get(edgar, feed_path("4", 200))[0] == 503
        rendered = entries(get(edgar, feed_path("5", count=200))[2])  # other types: from the submissions
        assert len(rendered) == 123


def test_recorded_type4_pages_loader() -> None:
    pages = recorded_type4_pages()
    files = sorted(ATOM_DIR.glob("getcurrent-type4-start*.atom.xml"))
    starts = [
        int(m.group(1))
        for p in files
        if (m := re.fullmatch(r"getcurrent-type4-start(\d+)\.atom\.xml", p.name))
    ]
    assert sorted(pages) == [("4", start) for start in sorted(starts)]
    for (_, start), body in pages.items():
        assert len(entries(body)) > 0, start


# -- submissions -----------------------------------------------------------------------------------------------


def test_submissions_round_trip_byte_for_byte() -> None:
    with EdgarReplay(SUBS) as edgar:  # nothing revealed: the archive serves them anyway
        for s in SUBS:
            nodash = s.accession_number.replace("-", "")
            cik = int(s.filers[-1].cik)
            for path in (
                f"/Archives/edgar/data/{cik}/{nodash}/{s.accession_number}.txt",
                f"/Archives/edgar/data/{cik}/{s.accession_number}.txt",
            ):
                status, headers, body = get(edgar, path)
                assert (status, body) == (200, s.body)
                assert headers["Content-Length"] == str(len(s.body)) and headers["Content-Encoding"] is None
        s = SUBS[-1]
        status, headers, body = get(
            edgar, f"/Archives/edgar/data/1/{s.accession_number}.txt", {"Accept-Encoding": "gzip, deflate"}
        )
        assert status == 200 and headers["Content-Encoding"] == "gzip"
        assert headers["Content-Length"] == str(len(body)) and gzip.decompress(body) == s.body
        with urllib.request.urlopen(f"{edgar.base_url}/Archives/edgar/data/1/{s.accession_number}.txt") as r:
            assert r.read() == s.body


def test_unknown_paths_are_404() -> None:
    s = SUBS[0]
    with EdgarReplay(SUBS) as edgar:
        for path in (
            "/Archives/edgar/data/1/0000000000-20-000000.txt",
            f"/Archives/edgar/data/1/000000000020000000/{s.accession_number}.txt",  # wrong folder
            "/Archives/edgar/data/1/",
            "/cgi-bin/browse-edgar?action=getcompany&CIK=1",
            "/robots.txt",
        ):
            assert get(edgar, path)[0] == 404, path
        assert [r.status for r in edgar.requests] == [404] * 5


# -- daily form.idx --------------------------------------------------------------------------------------------


def idx_path(day: date, quarter: int | None = None) -> str:
    q = quarter or (day.month - 1) // 3 + 1
    return f"/Archives/edgar/daily-index/{day.year}/QTR{q}/form.{day:%Y%m%d}.idx"


def idx_rows(body: bytes) -> list[tuple[str, str, str, str, str]]:
    lines = body.decode("latin-1").split("\n")
    assert lines[-1] == ""
    rows = []
    for line in lines[10:-1]:
        assert len(line) == 150, line
        rows.append(
            (
                line[:12].rstrip(),
                line[12:74].rstrip(),
                line[74:86].rstrip(),
                line[86:98].rstrip(),
                line[98:].rstrip(),
            )
        )
    return rows


@pytest.mark.skipif(not REAL_FORM_IDX.is_file(), reason="shared corpus not present")
def test_form_idx_header_and_layout_match_the_real_file() -> None:
    real = REAL_FORM_IDX.read_bytes()
    ours = render_form_index(date(2020, 3, 18), [])
    assert real.startswith(ours)  # the whole header, byte for byte (incl. the " " blank lines)
    real_line = real.split(b"\n")[10]
    ours = render_form_index(date(2020, 2, 13), SUBS)
    assert len(ours.split(b"\n")[10]) == len(real_line) == 150


def test_form_idx_lists_each_filing_once_per_cik() -> None:
    day = date(2020, 2, 13)
    with EdgarReplay(SUBS) as edgar:
        status, headers, body = get(edgar, idx_path(day))
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert body.split(b"\n")[1] == b"Last Data Received:    Feb 13, 2020"
    rows = idx_rows(body)
    expected = [s for s in SUBS if s.index_day == day]
    assert len(rows) == sum(len(s.filers) for s in expected) > 0
    assert rows == sorted(rows, key=lambda r: (r[0], r[1], r[4]))
    for s in expected:
        mine = {(r[2], r[4]) for r in rows if r[4].endswith(f"/{s.accession_number}.txt")}
        assert mine == {
            (str(int(f.cik)), f"edgar/data/{int(f.cik)}/{s.accession_number}.txt") for f in s.filers
        }
    assert {r[3] for r in rows} == {f"{s.filed_date:%Y%m%d}" for s in expected} == {"20200212", "20200213"}


def test_form_idx_applies_the_1730_cutoff() -> None:
    late = BY_ACC[LATE_WEDNESDAY]
    assert late.accepted_at.strftime("%H:%M") == "17:39" and late.filed_date == date(2020, 2, 5)
    with EdgarReplay(SUBS) as edgar:
        wed = idx_rows(get(edgar, idx_path(date(2020, 2, 5)))[2])
        thu = idx_rows(get(edgar, idx_path(date(2020, 2, 6)))[2])
        mon = idx_rows(get(edgar, idx_path(date(2020, 2, 17)))[2])
    assert not any(LATE_WEDNESDAY in r[4] for r in wed)
    listed = [r for r in thu if LATE_WEDNESDAY in r[4]]
    assert len(listed) == 2 and {r[3] for r in listed} == {"20200205"}  # Date Filed stays the filing date
    assert any(LATE_FRIDAY in r[4] for r in mon)  # Friday evening -> Monday's index

    assert dissemination_day(datetime(2020, 2, 5, 17, 29, 59, tzinfo=NEW_YORK)) == date(2020, 2, 5)
    assert dissemination_day(datetime(2020, 2, 5, 17, 30, 0, tzinfo=NEW_YORK)) == date(2020, 2, 6)
    assert dissemination_day(datetime(2020, 2, 8, 10, 0, tzinfo=NEW_YORK)) == date(2020, 2, 10)  # Saturday
    hand_made = with_header(BY_ACC[AMENDMENT], **{"20250121132357": "20250124172959"})  # Friday 17:29:59
    assert hand_made.index_day == date(2025, 1, 24)


def test_form_idx_missing_days() -> None:
    with EdgarReplay(SUBS) as edgar:
        edgar.unpublish_index(date(2020, 2, 13))
        assert get(edgar, idx_path(date(2020, 2, 15)))[0] == 404  # Saturday
        assert get(edgar, idx_path(date(2020, 2, 13)))[0] == 404  # not yet published
        assert get(edgar, idx_path(date(2020, 2, 12), quarter=2))[0] == 404  # wrong quarter directory
        assert get(edgar, "/Archives/edgar/daily-index/2019/QTR1/form.20200212.idx")[0] == 404
        assert get(edgar, "/Archives/edgar/daily-index/2020/QTR1/form.20200231.idx")[0] == 404
        status, _, body = get(edgar, idx_path(date(2020, 2, 18)))  # a weekday without filings
        assert status == 200 and idx_rows(body) == []
        assert body == render_form_index(date(2020, 2, 18), [])
        status, headers, body = get(edgar, idx_path(date(2020, 2, 12)), {"Accept-Encoding": "gzip"})
        assert headers["Content-Encoding"] == "gzip" and len(idx_rows(gzip.decompress(body))) == 2 * 5


# -- faults ----------------------------------------------------------------------------------------------------


def test_status_faults_carry_code_and_retry_after() -> None:
    path = f"/Archives/edgar/data/1/{SUBS[0].accession_number}.txt"
    with EdgarReplay(SUBS) as edgar:
        edgar.inject(r"\.txt$", Status(429, retry_after="1"))
        edgar.inject(r"\.txt$", Status(503, retry_after="1"))
        edgar.inject(r"\.txt$", Status(403))
        edgar.inject(r"\.txt$", Status(502), times=2)
        got = [get(edgar, path) for _ in range(6)]
    assert [g[0] for g in got] == [429, 503, 403, 502, 502, 200]
    assert [g[1]["Retry-After"] for g in got] == ["1", "1", None, None, None, None]
    assert b"Undeclared Automated Tool" in got[2][2]
    assert got[5][2] == SUBS[0].body
    assert [r.fault for r in edgar.requests] == [
        "status:429",
        "status:503",
        "status:403",
        "status:502",
        "status:502",
        None,
    ]
    with pytest.raises(urllib.error.HTTPError) as err, EdgarReplay(SUBS) as edgar:
        edgar.inject("browse-edgar", Status(500))
        urllib.request.urlopen(edgar.base_url + feed_path())
    assert err.value.code == 500


def test_faults_only_hit_matching_paths() -> None:
    with EdgarReplay(SUBS) as edgar:
        edgar.inject(r"type=4&", Status(503, "1"))
        assert get(edgar, feed_path("5"))[0] == 200
        assert get(edgar, feed_path("4"))[0] == 503
        assert get(edgar, feed_path("4"))[0] == 200


def test_slow_delays_then_answers_normally() -> None:
    with EdgarReplay(SUBS) as edgar:
        edgar.inject("txt", Slow(0.3))
        started = time.monotonic()
        status, _, body = get(edgar, f"/Archives/edgar/data/1/{SUBS[1].accession_number}.txt")
        assert time.monotonic() - started >= 0.3
        assert (status, body) == (200, SUBS[1].body)
        assert edgar.requests[0].fault == "slow:0.3"


def test_truncate_sends_half_the_body() -> None:
    s = SUBS[2]
    with EdgarReplay(SUBS) as edgar:
        edgar.inject("txt", Truncate())
        port = urlsplit(edgar.base_url).port
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", f"/Archives/edgar/data/1/{s.accession_number}.txt")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.headers["Content-Length"] == str(len(s.body))
        with pytest.raises(http.client.IncompleteRead) as err:
            resp.read()
        conn.close()
        assert err.value.partial == s.body[: len(s.body) // 2]
        assert edgar.requests[0].fault == "truncate" and edgar.requests[0].status == 200


def test_reset_aborts_the_connection() -> None:
    with EdgarReplay(SUBS) as edgar:
        edgar.inject("browse-edgar", Reset())
        with pytest.raises((ConnectionError, http.client.RemoteDisconnected)):
            get(edgar, feed_path())
        assert get(edgar, feed_path())[0] == 200  # the server survives it
        assert [(r.status, r.fault) for r in edgar.requests] == [(None, "reset"), (200, None)]


def test_garbage_is_a_200_that_is_not_a_feed() -> None:
    with EdgarReplay(SUBS) as edgar:
        edgar.reveal()
        edgar.inject("browse-edgar", Garbage())
        status, headers, body = get(edgar, feed_path())
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    root = etree.fromstring(body, etree.HTMLParser())
    assert root.tag == "html" and not body.lstrip().startswith(b"<?xml")


# -- request log -----------------------------------------------------------------------------------------------


def test_requests_are_recorded_with_their_headers() -> None:
    with EdgarReplay(SUBS) as edgar:
        get(edgar, feed_path(), {"User-Agent": UA, "Accept-Encoding": "gzip, deflate"})
        get(edgar, "/nowhere")  # http.client sends no User-Agent
        before = time.time()
        with urllib.request.urlopen(edgar.base_url + idx_path(date(2020, 2, 3))):
            pass
    first, second, third = edgar.requests
    assert (first.path, first.user_agent, first.accept_encoding, first.status) == (
        feed_path(),
        UA,
        "gzip, deflate",
        200,
    )
    assert (second.user_agent, second.status, second.fault) == (None, 404, None)
    assert (third.user_agent or "").startswith("Python-urllib/") and third.wall >= before
    assert first.t <= second.t <= third.t


def test_max_in_window_slides_over_start_times() -> None:
    edgar = EdgarReplay([])

    def rec(t: float, path: str = "/a") -> RequestRecord:
        return RequestRecord(t, t, path, None, None, 200, None)

    assert edgar.max_in_window() == 0
    edgar.requests += [rec(t) for t in (0.0, 0.1, 0.5, 0.99, 1.0, 1.5, 1.6, 1.7, 1.95, 3.0)]
    edgar.requests += [rec(t, "/b") for t in (2.0, 2.1, 2.2)]
    assert edgar.max_in_window(1.0) == 7  # [1.5, 2.5); [1.0, 2.0) is half-open so it holds only 5
    assert edgar.max_in_window(1.0, path_pattern="^/a") == 6
    assert edgar.max_in_window(1.0, path_pattern="^/b") == 3
    assert edgar.max_in_window(0.001) == 1
    assert edgar.max_in_window(100.0) == 13


def test_concurrent_requests_are_all_served_and_recorded() -> None:
    with EdgarReplay(SUBS) as edgar:
        edgar.reveal()
        results: list[int] = []

        def worker(i: int) -> None:
            s = SUBS[i % len(SUBS)]
            status, _, body = get(edgar, f"/Archives/edgar/data/1/{s.accession_number}.txt")
            results.append(status if body == s.body else -1)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(24)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == [200] * 24
        assert len(edgar.requests) == 24
        assert edgar.max_in_window(10.0) == 24


def test_stop_drops_keep_alive_connections() -> None:
    """A stopped EDGAR must not keep answering over a pooled connection (aiohttp keeps them)."""
    edgar = EdgarReplay(SUBS).start()
    port = urlsplit(edgar.base_url).port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/nowhere")
        assert conn.getresponse().read() and conn.sock is not None  # HTTP/1.1: still open
        edgar.stop()
        with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
            conn.request("GET", "/nowhere")
            conn.getresponse().read()
    finally:
        conn.close()
        edgar.stop()
    assert len(edgar.requests) == 1
