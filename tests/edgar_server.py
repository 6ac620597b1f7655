"""A local EDGAR that replays real recorded submissions, so the ingesters can be tested without the internet.

It serves the four things `form4 ingest` reads, in EDGAR's own formats and at EDGAR's own URLs:

- the current-filings Atom feed (``/cgi-bin/browse-edgar?action=getcurrent``), rendered like the real page
  (ISO-8859-1, one entry per filer, newest first, HTTP 503 past the end), or real recorded pages verbatim;
- full submissions (``/Archives/edgar/data/<cik>/[<acc nodash>/]<acc>.txt``), byte for byte;
- daily form indexes (``/Archives/edgar/daily-index/YYYY/QTRq/form.YYYYMMDD.idx``), fixed-width like the real
  ``form.20200318.idx``, with the 5:30 pm dissemination cut-off;
- the quarterly Form 3/4/5 data sets (``/files/structureddata/data/insider-transactions-data-sets/2024q4_form345.zip``),
  whatever ZIPs the test gives (`EdgarReplay.datasets`; tests/datasets.py builds them from filings), 404 otherwise.

Tests drive time by hand (`EdgarReplay.reveal`), inject transport faults (`EdgarReplay.inject`) and inspect what
the client did (`EdgarReplay.requests`, `EdgarReplay.max_in_window`). The server runs in its own daemon thread so
it is independent of the test's asyncio loop. Pure stdlib.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from streams.broker import EmbeddedBroker

NEW_YORK = ZoneInfo("America/New_York")
EDGAR_FIXTURES = Path(__file__).parent / "fixtures" / "edgar"
SUBMISSIONS_DIR = EDGAR_FIXTURES / "submissions"
ATOM_DIR = EDGAR_FIXTURES / "atom"

#: The daily index is cut at 5:30 pm New York time; later acceptances are disseminated the next weekday.
INDEX_CUTOFF = (17, 30)


# --------------------------------------------------------------------------------------------------------------
# Submissions
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filer:
    """One CIK involved in a filing, as the SGML header names it."""

    cik: str  # 10 digits, zero-padded
    name: str
    role: str  # "Reporting" | "Issuer"


_ROLE_OF_SECTION = {"REPORTING-OWNER": "Reporting", "ISSUER": "Issuer"}
_SECTION = re.compile(r"^([A-Z][A-Z -]*[A-Z]):\s*$")


def _header_field(header: str, name: str) -> str:
    m = re.search(rf"^{re.escape(name)}:[ \t]*(.*?)[ \t]*$", header, re.M)
    if not m or not m.group(1):
        raise ValueError(f"SGML header has no {name!r}")
    return m.group(1)


def _filers(header: str) -> tuple[Filer, ...]:
    """REPORTING-OWNER and ISSUER sections of the header, in file order, reporting owners first."""
    found: list[tuple[str, dict[str, str]]] = []
    current: dict[str, str] | None = None
    for line in header.splitlines():
        top = _SECTION.match(line)
        if top:  # a new top-level section ends the previous one
            role = _ROLE_OF_SECTION.get(top.group(1))
            current = None
            if role:
                current = {}
                found.append((role, current))
            continue
        if current is None:
            continue
        key, sep, value = line.strip().partition(":")
        if sep and key in ("COMPANY CONFORMED NAME", "CENTRAL INDEX KEY"):
            current.setdefault(key, value.strip())
    filers = [
        Filer(cik=fields["CENTRAL INDEX KEY"].zfill(10), name=fields["COMPANY CONFORMED NAME"], role=role)
        for role, fields in found
        if fields.get("CENTRAL INDEX KEY") and fields.get("COMPANY CONFORMED NAME")
    ]
    filers.sort(key=lambda f: f.role != "Reporting")  # stable: owners in file order, then the issuer
    return tuple(filers)


@dataclass(frozen=True)
class Submission:
    """A full `.txt` submission plus the header facts the feed and the index need."""

    accession_number: str
    form_type: str
    accepted_at: datetime  # tz-aware, America/New_York
    filed_date: date
    filers: tuple[Filer, ...]
    body: bytes = field(repr=False)

    @classmethod
    def from_txt(cls, data: bytes) -> Submission:
        """Read the modern SGML header; raises ValueError for legacy/`.nc` files (no ACCEPTANCE-DATETIME)."""
        end = data.find(b"</SEC-HEADER>")
        header = data[: end if end >= 0 else len(data)].decode("latin-1")
        accepted = re.search(r"^<ACCEPTANCE-DATETIME>(\d{14})\s*$", header, re.M)
        if not accepted:
            raise ValueError("no <ACCEPTANCE-DATETIME> (not a modern SGML submission)")
        filers = _filers(header)
        if not filers:
            raise ValueError("SGML header names no REPORTING-OWNER or ISSUER")
        return cls(
            accession_number=_header_field(header, "ACCESSION NUMBER"),
            form_type=_header_field(header, "CONFORMED SUBMISSION TYPE"),
            accepted_at=datetime.strptime(accepted.group(1), "%Y%m%d%H%M%S").replace(tzinfo=NEW_YORK),
            filed_date=datetime.strptime(_header_field(header, "FILED AS OF DATE"), "%Y%m%d").date(),
            filers=filers,
            body=data,
        )

    @property
    def index_day(self) -> date:
        """The day whose daily index lists this filing."""
        return dissemination_day(self.accepted_at)

    @property
    def size_label(self) -> str:
        """The feed's `Size:` text (EDGAR shows whole KB, then MB from 1000 KB on)."""
        kb = max(1, round(len(self.body) / 1024))
        return f"{kb} KB" if kb < 1000 else f"{max(1, round(kb / 1024))} MB"


def dissemination_day(accepted_at: datetime) -> date:
    """Before 17:30 on a weekday: that day; at/after 17:30 or on a weekend: the next weekday.
    (Federal holidays are not modelled.)"""
    local = accepted_at.astimezone(NEW_YORK)
    day = local.date()
    if day.weekday() < 5 and (local.hour, local.minute) < INDEX_CUTOFF:
        return day
    day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _sort_key(s: Submission) -> tuple[datetime, str]:
    return (s.accepted_at, s.accession_number)


def max_in_window(times: Sequence[float], window: float = 1.0) -> int:
    """The most of ``times`` within any half-open interval [t, t + window)."""
    ordered = sorted(times)
    best = lo = 0
    for hi, t in enumerate(ordered):
        while ordered[lo] <= t - window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def fixture_submissions() -> list[Submission]:
    """Every recorded submission under tests/fixtures/edgar/submissions, oldest accepted first."""
    subs = [Submission.from_txt(p.read_bytes()) for p in sorted(SUBMISSIONS_DIR.glob("*.txt"))]
    return sorted(subs, key=_sort_key)


def fixture_submission_paths() -> list[Path]:
    """The files behind `fixture_submissions` (they are replay data, not parser fixtures)."""
    return sorted(SUBMISSIONS_DIR.glob("*.txt"))


def recorded_type4_pages() -> dict[tuple[str, int], bytes]:
    """Whatever real `type=4` getcurrent pages are recorded under tests/fixtures/edgar/atom, keyed (type, start)."""
    pages: dict[tuple[str, int], bytes] = {}
    for p in sorted(ATOM_DIR.glob("getcurrent-type4-start*.atom.xml")):
        m = re.fullmatch(r"getcurrent-type4-start(\d+)\.atom\.xml", p.name)
        if m:
            pages[("4", int(m.group(1)))] = p.read_bytes()
    return pages


# --------------------------------------------------------------------------------------------------------------
# Faults
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Status:
    """Answer with this HTTP status and an HTML page (403 gets EDGAR's "Undeclared Automated Tool" page)."""

    code: int
    retry_after: str | None = None

    @property
    def name(self) -> str:
        return f"status:{self.code}"


@dataclass(frozen=True)
class Slow:
    """Sleep this long, then answer normally."""

    seconds: float

    @property
    def name(self) -> str:
        return f"slow:{self.seconds:g}"


@dataclass(frozen=True)
class Truncate:
    """Send the headers with the full Content-Length, then half the body, then close the connection."""

    @property
    def name(self) -> str:
        return "truncate"


@dataclass(frozen=True)
class Reset:
    """Close the socket without any response, with SO_LINGER 0 so the peer gets a real RST."""

    @property
    def name(self) -> str:
        return "reset"


@dataclass(frozen=True)
class Garbage:
    """A 200 whose body is an HTML page, not what was asked for."""

    @property
    def name(self) -> str:
        return "garbage"


Fault = Status | Slow | Truncate | Reset | Garbage

UNDECLARED_TOOL_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>SEC.gov | Your Request Originates from an Undeclared Automated Tool"
    b"</title></head>\n<body><h1>Your Request Originates from an Undeclared Automated Tool</h1>\n"
    b"<p>To allow for equitable access to all users, SEC reserves the right to limit requests originating from "
    b"undeclared automated tools. Your request has been identified as part of a network of automated tools "
    b"outside of the acceptable policy and will be managed until action is taken to declare your traffic.</p>\n"
    b"<p>Please declare your traffic by updating your user agent to include company specific information.</p>\n"
    b"</body></html>\n"
)
GARBAGE_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>EDGAR | Maintenance</title></head>\n"
    b"<body><h1>EDGAR is temporarily unavailable</h1><p>Please try again later.</p></body></html>\n"
)


def _error_page(code: int, reason: str) -> bytes:
    return (
        f"<!DOCTYPE html>\n<html><head><title>{code} {reason}</title></head>\n"
        f"<body><h1>{reason}</h1></body></html>\n"
    ).encode("ascii")


_REASONS = {
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it."""

    t: float  # time.monotonic() at handler entry
    wall: float  # time.time() at handler entry
    path: str  # path including the query string
    user_agent: str | None
    accept_encoding: str | None
    status: int | None  # None when the fault sent no response (Reset)
    fault: str | None


# --------------------------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------------------------


def _index_link(cik: str, accession: str) -> str:
    return f"https://www.sec.gov/Archives/edgar/data/{int(cik)}/{accession.replace('-', '')}/{accession}-index.htm"


def _entry(sub: Submission, filer: Filer) -> str:
    title = escape(f"{sub.form_type} - {filer.name} ({filer.cik}) ({filer.role})")
    form = escape(sub.form_type, {'"': "&quot;"})
    return (
        "<entry>\n"
        f"<title>{title}</title>\n"
        f'<link rel="alternate" type="text/html" href="{_index_link(filer.cik, sub.accession_number)}"/>\n'
        '<summary type="html">\n'
        f" &lt;b&gt;Filed:&lt;/b&gt; {sub.filed_date.isoformat()} &lt;b&gt;AccNo:&lt;/b&gt; "
        f"{sub.accession_number} &lt;b&gt;Size:&lt;/b&gt; {sub.size_label}\n"
        "</summary>\n"
        f"<updated>{sub.accepted_at.isoformat()}</updated>\n"
        f'<category scheme="https://www.sec.gov/" label="form type" term="{form}"/>\n'
        f"<id>urn:tag:sec.gov,2008:accession-number={sub.accession_number}</id>\n"
        "</entry>\n"
    )


def feed_entries(subs: Sequence[Submission]) -> list[str]:
    """One `<entry>` per filer, filings newest first. Within a filing the real feed orders entries by CIK
    descending (so `(Issuer)` comes first when the issuer's CIK is the larger): every recorded page does."""
    out: list[str] = []
    for sub in sorted(subs, key=_sort_key, reverse=True):
        for filer in sorted(sub.filers, key=lambda f: f.cik, reverse=True):
            out.append(_entry(sub, filer))
    return out


def render_feed(entries: Sequence[str], now: datetime) -> bytes:
    """The Atom document, exactly laid out like a real getcurrent page."""
    now = now.astimezone(NEW_YORK).replace(microsecond=0)
    head = (
        '<?xml version="1.0" encoding="ISO-8859-1" ?>\n'
        '<feed xmlns="http://www.w3.org/2005/Atom">\n'
        f"<title>Latest Filings - {now:%a, %d %b %Y %H:%M:%S %Z}</title>\n"
        '<link rel="alternate" href="/cgi-bin/browse-edgar?action=getcurrent"/>\n'
        '<link rel="self" href="/cgi-bin/browse-edgar?action=getcurrent"/>\n'
        "<id>https://www.sec.gov/cgi-bin/browse-edgar?action=getcurrent</id>\n"
        "<author><name>Webmaster</name><email>webmaster@sec.gov</email></author>\n"
        f"<updated>{now.isoformat()}</updated>\n"
    )
    return (head + "".join(entries) + "</feed>\n").encode("iso-8859-1", "xmlcharrefreplace")


PAST_END_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>503 Service Unavailable</title></head>\n"
    b"<body><h1>Service Unavailable</h1><p>The server is temporarily unable to service your request. "
    b"Please try again later.</p></body></html>\n"
)

_INDEX_HEADER = (
    "Description:           Daily Index of EDGAR Dissemination Feed by Form Type\n"
    "Last Data Received:    {received}\n"
    "Comments:              webmaster@sec.gov\n"
    "Anonymous FTP:         ftp://ftp.sec.gov/edgar/\n"
    " \n \n \n \n"
    "Form Type   Company Name                                                  CIK         Date Filed  File Name\n"
    + "-" * 141
    + "\n"
)


def render_form_index(day: date, subs: Sequence[Submission]) -> bytes:
    """`form.YYYYMMDD.idx` like the real daily files: fixed width (12/62/12/12/52), names cut at 60 characters,
    Date Filed as YYYYMMDD, one line per CIK involved, sorted by form type then company name."""
    rows: list[tuple[str, str, str, str, str]] = []
    for sub in subs:
        seen: set[str] = set()
        for filer in sub.filers:
            if filer.cik in seen:
                continue
            seen.add(filer.cik)
            cik = str(int(filer.cik))
            rows.append(
                (
                    sub.form_type,
                    filer.name[:60],
                    cik,
                    f"{sub.filed_date:%Y%m%d}",
                    f"edgar/data/{cik}/{sub.accession_number}.txt",
                )
            )
    rows.sort()
    text = _INDEX_HEADER.format(received=f"{day:%b} {day.day:>2}, {day.year}")
    text += "".join(f"{f:<12}{n:<62}{c:<12}{d:<12}{p:<52}\n" for f, n, c, d, p in rows)
    return text.encode("latin-1", "replace")


# --------------------------------------------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------------------------------------------

_TXT_PATH = re.compile(r"/Archives/edgar/data/(\d{1,10})/(?:(\d{18})/)?(\d{10}-\d{2}-\d{6})\.txt")
_IDX_PATH = re.compile(r"/Archives/edgar/daily-index/(\d{4})/QTR([1-4])/form\.(\d{8})\.idx")
_DATASET_PATH = re.compile(
    r"/files/structureddata/data/insider-transactions-data-sets/(\d{4}q[1-4]_form345\.zip)"
)


#: How `EdgarReplay.malform` breaks an entry (the title is its first line).
_MALFORM = {
    "ampersand": lambda entry: entry.replace(" - ", " - AT&T ", 1),
    "tag": lambda entry: entry.replace("</title>", "</titel>", 1),
}


@dataclass
class _Injection:
    pattern: re.Pattern[str]
    fault: Fault
    remaining: int


@dataclass
class _Answer:
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str]


class EdgarReplay:
    """A local EDGAR over a fixed set of submissions; use as ``with EdgarReplay(subs) as edgar:``.

    - Feed: only revealed submissions, `type` is a prefix filter (as on sec.gov), `owner` is ignored, `count`
      defaults to 40, the newest `feed_depth` entries (after duplicates) are all that is left of the feed.
    - `recorded_pages`: for a type that has recorded pages, only those exact starts exist (verbatim, whatever
      `count` says); any other start of that type gets the past-the-end 503. Other types are rendered.
    - Archive and daily indexes: every submission, revealed or not (the archive has a filing before the feed
      lists it).
    """

    def __init__(
        self,
        submissions: Sequence[Submission],
        *,
        feed_depth: int = 200,
        recorded_pages: Mapping[tuple[str, int], bytes] | None = None,
        index_follows_reveals: bool = False,
        datasets: Mapping[str, bytes] | None = None,
    ) -> None:
        self._all = sorted(submissions, key=_sort_key)
        self._by_accession = {s.accession_number: s for s in self._all}
        if len(self._by_accession) != len(self._all):
            raise ValueError("duplicate accession numbers among the submissions")
        self.feed_depth = feed_depth
        #: True: a day's index exists only once the revealed timeline has moved past that day (EDGAR publishes
        #: it after the day ends), so live tests never see the future through the index.
        self.index_follows_reveals = index_follows_reveals
        self.recorded_pages = dict(recorded_pages) if recorded_pages is not None else None
        #: Quarterly data set ZIPs by file name (``2024q4_form345.zip``); a quarter not here is a 404.
        self.datasets: dict[str, bytes] = dict(datasets or {})
        self._lock = threading.Lock()
        self._revealed: list[Submission] = []
        self._revealed_set: set[str] = set()
        self._duplicates: dict[str, int] = {}
        self._malformed: dict[str, str] = {}
        self._unpublished: set[date] = set()
        self._faults: list[_Injection] = []
        self.revealed_at: dict[str, float] = {}
        self.requests: list[RequestRecord] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def start(self) -> EdgarReplay:
        replay = self

        class Handler(_Handler):
            edgar = replay

        server = _Server(("127.0.0.1", 0), Handler)
        self._server = server
        self.base_url = f"http://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="edgar-replay", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.close_connections()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> EdgarReplay:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- test controls -----------------------------------------------------------------------------------------

    def reveal(self, n: int | None = None) -> list[Submission]:
        """Make the next `n` unrevealed submissions (oldest accepted first; None = all) appear in the feed."""
        with self._lock:
            pending = [s for s in self._all if s.accession_number not in self._revealed_set]
            chosen = pending if n is None else pending[:n]
            now = time.time()
            for s in chosen:
                self._revealed.append(s)
                self._revealed_set.add(s.accession_number)
                self.revealed_at[s.accession_number] = now
            return list(chosen)

    @property
    def submissions(self) -> list[Submission]:
        """All submissions the archive serves, oldest accepted first."""
        return list(self._all)

    def inject(self, path_pattern: str, fault: Fault, times: int = 1) -> None:
        """The next `times` requests whose path+query matches the regex get `fault` (first injected, first used)."""
        with self._lock:
            self._faults.append(_Injection(re.compile(path_pattern), fault, times))

    def duplicate(self, accession_number: str, copies: int = 2) -> None:
        """That filing's entries appear `copies` extra times in the feed, right after the originals."""
        if accession_number not in self._by_accession:
            raise KeyError(accession_number)
        with self._lock:
            self._duplicates[accession_number] = copies

    def malform(self, accession_number: str, how: str = "ampersand") -> None:
        """That filing's feed entries come out not well-formed: ``ampersand`` puts an unescaped ``&`` in each
        title (a company name like "AT&T"), ``tag`` closes each title with the wrong tag (no parser reads it)."""
        if accession_number not in self._by_accession or how not in _MALFORM:
            raise KeyError(accession_number if how in _MALFORM else how)
        with self._lock:
            self._malformed[accession_number] = how

    def unpublish_index(self, day: date) -> None:
        """That day's daily index 404s, as before EDGAR publishes it."""
        with self._lock:
            self._unpublished.add(day)

    def max_in_window(self, window: float = 1.0, path_pattern: str | None = None) -> int:
        """The most requests that started within any half-open interval [t, t + window)."""
        pattern = re.compile(path_pattern) if path_pattern else None
        with self._lock:
            times = [r.t for r in self.requests if pattern is None or pattern.search(r.path)]
        return max_in_window(times, window)

    # -- request handling (called from server threads) -------------------------------------------------------

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for item in self._faults:
                if item.pattern.search(path):
                    item.remaining -= 1
                    if item.remaining <= 0:
                        self._faults.remove(item)
                    return item.fault
        return None

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self.requests.append(record)

    def _answer(self, path: str) -> _Answer:
        url = urlsplit(path)
        if url.path == "/cgi-bin/browse-edgar":
            return self._feed(parse_qs(url.query))
        m = _TXT_PATH.fullmatch(url.path)
        if m:
            folder, accession = m.group(2), m.group(3)
            sub = self._by_accession.get(accession)
            if sub is None or (folder is not None and folder != accession.replace("-", "")):
                return _not_found()
            return _Answer(200, sub.body, "text/plain", {})
        m = _IDX_PATH.fullmatch(url.path)
        if m:
            return self._index(int(m.group(1)), int(m.group(2)), m.group(3))
        m = _DATASET_PATH.fullmatch(url.path)
        if m:
            with self._lock:
                body = self.datasets.get(m.group(1))
            return _Answer(200, body, "application/zip", {}) if body is not None else _not_found()
        return _not_found()

    def _feed(self, query: dict[str, list[str]]) -> _Answer:
        if query.get("action", [""])[0] != "getcurrent":
            return _not_found()
        form = query.get("type", [""])[0].strip().upper()
        try:
            start = max(0, int(query.get("start", ["0"])[0] or 0))
            count = max(1, int(query.get("count", ["40"])[0] or 40))
        except ValueError:
            return _Answer(400, _error_page(400, "Bad Request"), "text/html", {})
        atom = "application/atom+xml"
        if self.recorded_pages is not None and any(t == form for t, _ in self.recorded_pages):
            page = self.recorded_pages.get((form, start))
            if page is None:  # not recorded: past the end of what we have
                return _Answer(503, PAST_END_PAGE, "text/html", {})
            return _Answer(200, page, atom, {})
        entries = [entry for _, entry in self._feed_entries(form)]
        if start > 0 and start >= len(entries):
            return _Answer(503, PAST_END_PAGE, "text/html", {})
        return _Answer(200, render_feed(entries[start : start + count], datetime.now(NEW_YORK)), atom, {})

    def _feed_entries(self, form: str) -> list[tuple[str, str]]:
        """(accession, entry XML) of what the feed for type=`form` lists now, newest first, depth applied."""
        with self._lock:
            subs = [s for s in self._revealed if s.form_type.upper().startswith(form)]
            duplicates = dict(self._duplicates)
            malformed = dict(self._malformed)
        entries: list[tuple[str, str]] = []
        for sub in sorted(subs, key=_sort_key, reverse=True):
            group = feed_entries([sub])
            if sub.accession_number in malformed:
                group = [_MALFORM[malformed[sub.accession_number]](e) for e in group]
            entries.extend(
                (sub.accession_number, e) for e in group * (1 + duplicates.get(sub.accession_number, 0))
            )
        return entries[: self.feed_depth]

    def feed_accessions(self, form: str = "") -> set[str]:
        """The accession numbers the feed for type=`form` lists now ("" = every type)."""
        return {accession for accession, _ in self._feed_entries(form.strip().upper())}

    def _index(self, year: int, quarter: int, yyyymmdd: str) -> _Answer:
        try:
            day = datetime.strptime(yyyymmdd, "%Y%m%d").date()
        except ValueError:
            return _not_found()
        with self._lock:
            unpublished = day in self._unpublished
            if self.index_follows_reveals:
                latest = max((s.index_day for s in self._revealed), default=None)
                unpublished = unpublished or latest is None or day >= latest
        if day.year != year or (day.month - 1) // 3 + 1 != quarter or day.weekday() >= 5 or unpublished:
            return _not_found()
        subs = [s for s in self._all if s.index_day == day]
        return _Answer(200, render_form_index(day, subs), "text/plain", {})


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a client that hangs up mid-request must not block shutdown
    request_queue_size = 128  # a burst of connections must not sit in SYN retries (1 s each)

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Drop keep-alive connections too, so a stopped EDGAR really stops answering."""
        with self._open_lock:
            open_now = list(self._open)
        for sock in open_now:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout, reset) is normal here; anything else is printed."""
        exc = sys.exc_info()[1]
        if not isinstance(exc, (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def _not_found() -> _Answer:
    return _Answer(404, _error_page(404, "Not Found"), "text/html", {})


class _Handler(BaseHTTPRequestHandler):
    """Records the request, applies any injected fault, then answers like EDGAR."""

    edgar: EdgarReplay
    protocol_version = "HTTP/1.1"  # keep-alive, like sec.gov; every answer has a Content-Length

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the records are in `EdgarReplay.requests`."""

    def version_string(self) -> str:
        return "Apache"

    def do_GET(self) -> None:
        t, wall = time.monotonic(), time.time()
        edgar = self.edgar
        fault = edgar._take_fault(self.path)
        user_agent = self.headers.get("User-Agent")
        accept_encoding = self.headers.get("Accept-Encoding")

        def record(status: int | None) -> None:
            edgar._record(
                RequestRecord(
                    t, wall, self.path, user_agent, accept_encoding, status, fault.name if fault else None
                )
            )

        if isinstance(fault, Reset):
            record(None)
            self._reset()
            return
        if isinstance(fault, Slow):
            time.sleep(fault.seconds)
        if isinstance(fault, Status):
            body = (
                UNDECLARED_TOOL_PAGE
                if fault.code == 403
                else _error_page(fault.code, _REASONS.get(fault.code, ""))
            )
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            answer = _Answer(fault.code, body, "text/html", headers)
        elif isinstance(fault, Garbage):
            answer = _Answer(200, GARBAGE_PAGE, "text/html", {})
        else:
            try:
                answer = edgar._answer(self.path)
            except Exception as exc:  # a bug in the replay must show up as a 500, not a silent hang-up
                answer = _Answer(500, f"replay server error: {exc!r}\n".encode(), "text/plain", {})
        record(answer.status)
        self._send(answer, accept_encoding or "", truncate=isinstance(fault, Truncate))

    def _send(self, answer: _Answer, accept_encoding: str, *, truncate: bool) -> None:
        body = answer.body
        gzipped = "gzip" in accept_encoding.lower()
        if gzipped:
            body = gzip.compress(body, mtime=0)
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        if gzipped:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if truncate:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def _reset(self) -> None:
        """Abort the connection: SO_LINGER 0 makes close() send RST instead of FIN."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()  # drop the makefile reference, or close() would be deferred
        self.connection.close()


# --------------------------------------------------------------------------------------------------------------
# The ingester against this server
# --------------------------------------------------------------------------------------------------------------

USER_AGENT = "form4-streams tests test@form4-streams.invalid"
REPO_ROOT = Path(__file__).resolve().parents[1]


class Ingester:
    """One `form4 ingest ...` subprocess pointed at an EdgarReplay, with its own state file, logging to a file.
    Extra FORM4_* settings come as keyword arguments."""

    def __init__(
        self, broker: EmbeddedBroker, prefix: str, edgar: EdgarReplay, tmp: Path, **env: str
    ) -> None:
        self.log_path = tmp / "ingest.log"
        with socket.socket() as probe:  # its own metrics port: tests and other ingesters run side by side
            probe.bind(("127.0.0.1", 0))
            self.metrics_port = int(probe.getsockname()[1])
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("FORM4_")},
            "FORM4_BROKER_URL": broker.url,
            "FORM4_TOPIC_PREFIX": prefix,
            "FORM4_PARTITIONS": "4",
            "FORM4_EDGAR_BASE_URL": edgar.base_url,
            "FORM4_EDGAR_USER_AGENT": USER_AGENT,
            "FORM4_INGEST_STATE": str(tmp / "ingest.sqlite3"),
            "FORM4_DATA_DIR": str(tmp / "data"),
            "FORM4_LOG_FORMAT": "json",
            "FORM4_INGEST_METRICS_PORT": str(self.metrics_port),
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def metrics(self) -> str:
        """The ingester's /metrics page."""
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as resp:
            return str(resp.read().decode())

    def start(self, *args: str) -> Ingester:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streams.cli", "ingest", *args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO_ROOT,
            )
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Signal it and return its exit status; killed (status -9) if it does not exit within ``timeout``."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])
