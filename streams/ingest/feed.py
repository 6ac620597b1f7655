"""EDGAR's current-filings Atom feed (``browse-edgar?action=getcurrent&output=atom``), parsed without network.

A page is an ISO-8859-1 Atom document of up to 100 ``<entry>`` elements, newest first. Each entry names one
filing: ``<title>FORM - NAME (CIK) (Role)</title>``, an HTML ``<summary>`` with ``Filed: YYYY-MM-DD AccNo: …``,
``<updated>`` = acceptance time with UTC offset, ``<id>…accession-number=…</id>`` and a ``<link>`` to the index
page. ``type=`` is a prefix filter (``type=4`` also lists 424B2, 40-APP, …) and a filing is listed once per
entity it involves (Reporting and Issuer), so exact-form filtering and dedup are done here (reference §9.1).

One bad entry must not cost the page: a whole page (it ends with ``</feed>``) that is not well-formed is read
entry by entry, a bare ``&`` (an unescaped "AT&T" in a title) is escaped, and an entry still unreadable is
reported in :attr:`FeedPage.problems` and left to the daily index. A cut or foreign body is refused.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

from lxml import etree

OWNERSHIP_FORMS: frozenset[str] = frozenset({"3", "3/A", "4", "4/A", "5", "5/A"})
#: The ``type=`` filters we poll; prefix matches, so "4" also brings 4/A (and 424B2, which we drop).
FEED_FORM_TYPES: tuple[str, ...] = ("4", "3", "5")
PAGE_SIZE = 100

ATOM_NS = "http://www.w3.org/2005/Atom"
#: EDGAR's own clock; only used for the (never seen) timestamp without an offset.
EDGAR_TZ = ZoneInfo("America/New_York")

_ACCESSION = re.compile(r"(?<!\d)(\d{10})-?(\d{2})-?(\d{6})(?!\d)")
_FILED = re.compile(r"Filed:\s*(?:</b>\s*)?(\d{4}-\d{2}-\d{2})")
_TITLE_ROLE = re.compile(r"\s*\(([^()]*)\)\s*$")
_TITLE_CIK = re.compile(r"\s*\((\d{1,10})\)\s*$")
_LINK_CIK = re.compile(r"/data/(\d{1,10})/")
_ENTRY_START = re.compile(rb"<entry[\s>]")
_FEED_START = re.compile(rb"<feed(?:\s[^>]*)?>")
_FEED_END = re.compile(rb"</feed>\s*\Z")
_WHERE = re.compile(r",? line \d+, column \d+|\s*\(<string>, line \d+\)")  # of the entry alone: no help
_UPDATED = re.compile(rb"<updated>\s*([^<]{1,64}?)\s*</updated>")
#: An ``&`` that starts none of XML's own references (a DTD, which could declare more, is refused anyway).
_BARE_AMPERSAND = re.compile(rb"&(?!(?:amp|lt|gt|quot|apos|#[0-9]{1,7}|#x[0-9A-Fa-f]{1,6});)")

#: :attr:`EntryProblem.reason` values: read after escaping a bare ``&`` / not readable as XML / read but
#: without an accession number or acceptance time.
REPAIRED = "repaired"
MALFORMED = "malformed"
INCOMPLETE = "incomplete"


class FeedFormatError(ValueError):
    """The body is not a well-formed Atom feed (truncated download, HTML error page, DOCTYPE): retry it."""


@dataclass(frozen=True, slots=True)
class FeedEntry:
    accession_number: str
    form_type: str
    accepted_at: datetime
    filed_date: date | None
    cik: str | None
    name: str | None
    role: str | None
    index_url: str | None


@dataclass(frozen=True, slots=True)
class EntryProblem:
    """An entry read only after a repair, or not at all, with what could be seen of it. ``key`` is the same
    on every poll that lists the entry, so the ingester reports it once."""

    reason: str
    key: str
    accession_number: str | None
    accepted_at: datetime | None
    detail: str


@dataclass(frozen=True, slots=True)
class FeedPage:
    entries: list[FeedEntry]
    updated: datetime | None
    skipped: int  # entries not in ``entries``: malformed or incomplete
    problems: tuple[EntryProblem, ...] = ()

    @property
    def listed(self) -> int:
        """Entries on the page, read or not: a full page means the feed may go on."""
        return len(self.entries) + self.skipped


def normalize_accession(value: str) -> str | None:
    """The first accession number in ``value`` as ``0000000000-YY-NNNNNN`` (dashed or 18 digits), else None."""
    m = _ACCESSION.search(value)
    return f"{m[1]}-{m[2]}-{m[3]}" if m else None


def _parse_time(text: str | None) -> datetime | None:
    """An RFC 3339 timestamp; one without an offset is read as EDGAR (Eastern) time so it stays comparable."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=EDGAR_TZ)


def _local(tag: object) -> str | None:
    """The local name of an Atom (or un-namespaced) element; None for comments, PIs and foreign elements."""
    if not isinstance(tag, str):
        return None
    if tag[0] != "{":
        return tag
    ns, _, local = tag[1:].partition("}")
    return local if ns == ATOM_NS else None


def _text(element: etree._Element) -> str:
    if len(element) == 0:  # the usual case: plain (or escaped-HTML) text
        return element.text or ""
    return "".join(t for t in element.itertext() if isinstance(t, str))


def _split_title(title: str) -> tuple[str | None, str | None, str | None, str | None]:
    """``FORM - NAME (CIK) (Role)`` -> (form, name, cik, role); each part may be missing."""
    rest = title.strip()
    form, sep, tail = rest.partition(" - ")
    if sep:
        rest = tail
    else:
        form = ""
    role = cik = None
    m = _TITLE_ROLE.search(rest)
    if m and not m[1].strip().isdigit() and m[1].strip():
        role = m[1].strip()
        rest = rest[: m.start()]
    m = _TITLE_CIK.search(rest)
    if m:
        cik = m[1].zfill(10)
        rest = rest[: m.start()]
    return form.strip() or None, rest.strip() or None, cik, role


def _entry(element: etree._Element) -> FeedEntry | None:
    """One ``<entry>``, or None when it has no usable accession number or time."""
    title = summary = updated = published = term = id_text = href = None
    for child in element:
        local = _local(child.tag)
        if local == "title":
            title = _text(child)
        elif local == "summary":
            summary = _text(child)
        elif local == "updated":
            updated = child.text
        elif local == "published":
            published = child.text
        elif local == "category":
            term = term or child.get("term")
        elif local == "id":
            id_text = child.text
        elif local == "link" and href is None and child.get("rel", "alternate") == "alternate":
            href = child.get("href")
    accession = None
    for source in (id_text, summary, href):
        if source and (accession := normalize_accession(source)):
            break
    accepted_at = _parse_time(updated) or _parse_time(published)
    if accession is None or accepted_at is None:
        return None
    form, name, cik, role = _split_title(title or "")
    if cik is None and href and (m := _LINK_CIK.search(href)):
        cik = m[1].zfill(10)
    filed_date = None
    if summary and (m := _FILED.search(summary)):
        try:
            filed_date = date.fromisoformat(m[1])
        except ValueError:
            filed_date = None
    return FeedEntry(
        accession_number=accession,
        form_type=(term or "").strip() or form or "",
        accepted_at=accepted_at,
        filed_date=filed_date,
        cik=cik,
        name=name,
        role=role,
        index_url=href.strip() if href else None,
    )


def _parse(data: bytes) -> etree._Element:
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=False
    )
    try:
        root = etree.fromstring(data, parser)
    except (etree.LxmlError, ValueError, LookupError) as exc:  # LookupError: an unknown declared encoding
        raise FeedFormatError(f"not well-formed XML: {exc}") from exc
    if root is None:
        raise FeedFormatError("empty document")
    return root


def _check_feed(root: etree._Element) -> None:
    if root.getroottree().docinfo.internalDTD is not None:  # set by any <!DOCTYPE>, with or without a subset
        raise FeedFormatError("a DOCTYPE is not allowed in a feed")
    if _local(root.tag) != "feed":
        raise FeedFormatError(f"not an Atom feed: root element {root.tag!r}")


def _key(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:16]


def _read(root: etree._Element) -> tuple[list[FeedEntry], datetime | None, list[EntryProblem]]:
    """The entries and the feed's own ``<updated>`` under a parsed ``<feed>``."""
    entries: list[FeedEntry] = []
    updated: datetime | None = None
    problems: list[EntryProblem] = []
    for child in root:
        local = _local(child.tag)
        if local == "entry":
            entry = _entry(child)
            if entry is not None:
                entries.append(entry)
                continue
            raw = etree.tostring(child)
            when = _UPDATED.search(raw)
            problems.append(
                EntryProblem(
                    INCOMPLETE,
                    f"{INCOMPLETE}:#{_key(raw)}",
                    None,
                    _parse_time(when[1].decode("latin-1")) if when else None,
                    "no accession number or acceptance time",
                )
            )
        elif local == "updated" and updated is None:
            updated = _parse_time(child.text)
    return entries, updated, problems


def parse_feed(data: bytes) -> FeedPage:
    """Every entry of one feed page, in document order; raises FeedFormatError when it is not an Atom feed."""
    data = bytes(data)
    try:
        root = _parse(data)
    except FeedFormatError as exc:
        return _salvage(data, exc)
    _check_feed(root)
    entries, updated, problems = _read(root)
    return FeedPage(entries=entries, updated=updated, skipped=len(problems), problems=tuple(problems))


def _salvage(data: bytes, error: FeedFormatError) -> FeedPage:
    """A whole page that is not well-formed: its frame (declaration, ``<feed>``, the feed's own elements) must
    parse, then each ``<entry>`` is parsed alone, so one that no parser can read loses only itself. A body cut
    short (no closing ``</feed>``), without entries, or whose frame does not parse is refused: retried."""
    end = _FEED_END.search(data)
    starts = [m.start() for m in _ENTRY_START.finditer(data)]
    if end is None or not starts or end.start() < starts[-1]:
        raise error
    head = data[: starts[0]]
    opening = _FEED_START.search(head)
    if opening is None:
        raise error
    try:
        frame = _parse(head + b"</feed>")
    except FeedFormatError:
        raise error from None
    _check_feed(frame)
    _, updated, _ = _read(frame)
    prolog = head[: opening.end()]  # declaration and <feed ...>: each entry is parsed inside them
    entries: list[FeedEntry] = []
    problems: list[EntryProblem] = []
    for start, stop in zip(starts, [*starts[1:], end.start()], strict=True):
        read, late_updated, found = _read_entry(prolog, data[start:stop])
        entries += read
        problems += found
        updated = updated or late_updated
    skipped = sum(1 for p in problems if p.reason != REPAIRED)
    return FeedPage(entries=entries, updated=updated, skipped=skipped, problems=tuple(problems))


def _read_entry(prolog: bytes, chunk: bytes) -> tuple[list[FeedEntry], datetime | None, list[EntryProblem]]:
    """One ``<entry>`` (up to the next) parsed alone; failing that, again with bare ``&`` escaped."""
    try:
        return _read(_parse(prolog + chunk + b"</feed>"))
    except FeedFormatError as exc:
        detail = _WHERE.sub("", (str(exc).splitlines() or [""])[0])[:300]
    repaired = _BARE_AMPERSAND.sub(b"&amp;", chunk)
    if repaired != chunk:
        try:
            entries, updated, problems = _read(_parse(prolog + repaired + b"</feed>"))
        except FeedFormatError:
            pass
        else:
            fixed = [
                EntryProblem(
                    REPAIRED, f"{REPAIRED}:{e.accession_number}", e.accession_number, e.accepted_at, detail
                )
                for e in entries
            ]
            return entries, updated, problems + fixed
    accession = normalize_accession(chunk.decode("latin-1"))
    when = _UPDATED.search(chunk)
    problem = EntryProblem(
        MALFORMED,
        f"{MALFORMED}:{accession or '#' + _key(chunk)}",
        accession,
        _parse_time(when[1].decode("latin-1")) if when else None,
        detail,
    )
    return [], None, [problem]


def feed_url(base_url: str, form_type: str, start: int = 0, count: int = PAGE_SIZE) -> str:
    """The getcurrent Atom page for one ``type=`` prefix filter."""
    return (
        f"{base_url.rstrip('/')}/cgi-bin/browse-edgar?action=getcurrent&type={quote(form_type, safe='')}"
        f"&company=&dateb=&owner=include&start={start}&count={count}&output=atom"
    )


def ownership_filings(entries: Iterable[FeedEntry]) -> list[FeedEntry]:
    """Exact Forms 3/4/5 (and amendments), one entry per accession (the first seen), order kept."""
    seen: set[str] = set()
    kept: list[FeedEntry] = []
    for entry in entries:
        if entry.form_type.strip().upper() in OWNERSHIP_FORMS and entry.accession_number not in seen:
            seen.add(entry.accession_number)
            kept.append(entry)
    return kept


def submission_url(base_url: str, cik: str | int, accession_number: str) -> str:
    """The full ``.txt`` submission of a filing; any CIK it lists works in the path."""
    accession = normalize_accession(accession_number)
    if accession is None:
        raise ValueError(f"not an accession number: {accession_number!r}")
    return (
        f"{base_url.rstrip('/')}/Archives/edgar/data/{int(cik)}/{accession.replace('-', '')}/{accession}.txt"
    )
