"""A Form 3, 4 or 5 as a person reads it: EDGAR's HTML rendering, or the text a browser copies from it.

EDGAR serves the filing's XML rendered through its stylesheet under ``xslF345X0N/`` (``…/xslF345X05/form4.xml``
returns HTML, not the XML), and people paste what the browser shows ("FORM 4 … STATEMENT OF CHANGES IN
BENEFICIAL OWNERSHIP … Table I"). Neither is the filing; both used to be refused as ``malformed_xml`` or
``hostile_xml`` (the page's ``<!DOCTYPE html>``). ``detect`` recognises them so the refusal can say what the
input is, what to send instead and which filing it shows.

Pure and bounded: only the first ``PREFIX`` bytes are read, once; every pattern is linear (tags and whitespace
are replaced by single passes, labels are found with ``str.find``). ``detect`` never looks at an EDGAR submission
(.txt, .nc, PEM), and the parser asks it only about a bare document that already failed to parse as XML, so a
filing that parses is never refused by it.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

from streams.parse.errors import ErrorCode, ParseError
from streams.parse.sgml import looks_like_submission

__all__ = ["PREFIX", "RENDERED_CODES", "RenderedForm", "declares_entity", "detect", "refusal"]

PREFIX = 64 * 1024  # the rendered page's boxes 1-6 and Table I's heading end within the first ~15 KB
_VALUE_CAP = 150  # characters kept of a name read off the page
_LOOKAHEAD = 400  # characters after a label that its value is looked for in
_LINK_WINDOW = 1000  # characters after a label that its box's EDGAR company link is looked for in
# What a failed XML parse of a rendered page is refused as; only these are re-labelled.
RENDERED_CODES = frozenset({ErrorCode.MALFORMED_XML, ErrorCode.HOSTILE_XML, ErrorCode.NOT_OWNERSHIP_DOCUMENT})

# The form's title, upper case on the page, lower case here: (title, form type), most specific first.
_TITLES = (
    ("initial statement of beneficial ownership", "3"),
    ("annual statement of changes in beneficial ownership", "5"),
    ("statement of changes in beneficial ownership", "4"),
)
_OWNER_LABEL = "name and address of reporting person"
_ISSUER_LABEL = "issuer name and ticker or trading symbol"
_TABLE_I = "non-derivative securities"  # Table I's heading, on all three forms
_PERIOD_LABELS = (  # box that shows periodOfReport: Form 4, Form 3, Form 5
    "date of earliest transaction (month/day/year)",
    "date of event requiring statement (month/day/year)",
    "fiscal year ended (month/day/year)",
)
_AMENDMENT_LABEL = "if amendment, date of original filed (month/day/year)"
# The first element of a page (after comments, processing instructions and the DOCTYPE): an ownershipDocument
# or an Atom feed never starts with one of these.
_HTML_FIRST = frozenset(
    {"html", "head", "body", "meta", "title", "style", "link", "table", "div", "p", "span"}
)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")  # keeps offsets

_TAG = re.compile(r"<[^<>]*>")  # [^<>]: a run of "<" without ">" fails at the next "<", never rescans
_SPACE_RUN = re.compile(r"\s+")
_TAG_NAME = re.compile(r"<([A-Za-z][A-Za-z0-9]{0,15})")
_US_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_CIK_LINK = re.compile(r"CIK=(\d{1,10})(?!\d)", re.IGNORECASE)
# A filing's folder in an address on the page (a browser's "saved from url" comment, a pasted address bar):
# /Archives/edgar/data/<cik>/<accession, 18 digits>[/xslF345X05]/<document>
_ARCHIVES = re.compile(
    r"/Archives/edgar/data/(\d{1,10})/(\d{10})-?(\d{2})-?(\d{6})(?:/(?:(xslF345X\d{2})/)?([\w.-]{1,200}))?",
    re.IGNORECASE,
)
_ACCESSION = re.compile(r"(?<!\d)(\d{10})-(\d{2})-(\d{6})(?!\d)")
_ENTITY = re.compile(rb"<!ENTITY", re.IGNORECASE)
_ENTITY_TEXT = re.compile(r"<!ENTITY", re.IGNORECASE)

_ARCHIVES_URL = "https://www.sec.gov/Archives/edgar/data"


@dataclass(frozen=True, slots=True)
class RenderedForm:
    """What a rendered form is, and what could be read off it (each field best effort, None when not shown)."""

    kind: Literal["html", "text"]
    form_type: str
    issuer_name: str | None = None
    issuer_cik: str | None = None
    trading_symbol: str | None = None
    owner_name: str | None = None
    owner_cik: str | None = None
    period_of_report: date | None = None
    date_of_original_submission: date | None = None
    accession_number: str | None = None
    folder_cik: str | None = None  # the CIK in the filing's address, when the page carries it
    xml_document: str | None = None  # the XML's file name, when the page's address was under xslF345X0N/
    stylesheet: str | None = None  # that xslF345X0N segment

    def header(self) -> dict[str, str]:
        """For a dead letter's ``header``: which filing this is, as strings."""
        fields = {
            "form_type": self.form_type,
            "accession_number": self.accession_number,
            "period_of_report": self.period_of_report.isoformat() if self.period_of_report else None,
            "issuer_cik": self.issuer_cik,
            "issuer_name": self.issuer_name,
            "trading_symbol": self.trading_symbol,
            "owner_cik": self.owner_cik,
            "owner_name": self.owner_name,
        }
        return {key: value for key, value in fields.items() if value}

    def message(self) -> str:
        what = (
            f"EDGAR's HTML rendering of a Form {self.form_type} (the page a browser shows),"
            if self.kind == "html"
            else f"the text of a Form {self.form_type} as a person reads it (e.g. copied from EDGAR's page),"
        )
        shown = []
        if self.issuer_name or self.issuer_cik:
            issuer = self.issuer_name or ""
            if self.trading_symbol:
                issuer += f" [{self.trading_symbol}]"
            if self.issuer_cik:
                issuer += f" (CIK {self.issuer_cik})"
            shown.append(f"issuer {issuer.strip()}")
        if self.owner_name or self.owner_cik:
            owner = (self.owner_name or "") + (f" (CIK {self.owner_cik})" if self.owner_cik else "")
            shown.append(f"reporting owner {owner.strip()}")
        if self.period_of_report:
            shown.append(f"period of report {self.period_of_report.isoformat()}")
        if self.date_of_original_submission:
            shown.append(f"amending the filing of {self.date_of_original_submission.isoformat()}")
        if self.accession_number:
            shown.append(f"accession {self.accession_number}")
        about = f": {', '.join(shown)}" if shown else ""
        return (
            f"input is {what} not the filing's XML{about}. The pipeline reads EDGAR's ownership XML or the "
            f"complete submission .txt: {self._where()}"
        )

    def _where(self) -> str:
        """Where the filing's XML and .txt are: their addresses when the page named its accession, else how to
        find them."""
        form = self.form_type[0]
        if self.accession_number:
            known = self.folder_cik or self.issuer_cik or self.owner_cik
            cik = str(int(known)) if known else "<issuer CIK>"
            folder = f"{_ARCHIVES_URL}/{cik}/{self.accession_number.replace('-', '')}"
            txt = f"{folder}/{self.accession_number}.txt"
            if self.xml_document:
                return (
                    f"send {folder}/{self.xml_document} (this page's address without {self.stylesheet}/) "
                    f"or {txt}"
                )
            return f"send {txt}, or the .xml listed in {folder}/{self.accession_number}-index.htm"
        cik = str(int(self.issuer_cik)) if self.issuer_cik else "<issuer CIK>"
        index = f"{_ARCHIVES_URL}/{cik}/<accession without dashes>/<accession>-index.htm"
        lookup = self.issuer_cik or self.trading_symbol
        where = (
            f"among the issuer's Form {form} filings, https://www.sec.gov/cgi-bin/browse-edgar?action=getcompany"
            f"&CIK={lookup}&type={form} (its index is {index})"
            if lookup
            else f"in its index, {index}"
        )
        return (
            f"find the filing {where}, and send its .xml document or the .txt (an address under xslF345X0N/ "
            "serves this rendering: without that segment it serves the XML)"
        )


def detect(data: bytes) -> RenderedForm | None:
    """The rendered form ``data`` is, or None. Reads at most the first PREFIX bytes.

    The rule, on the first PREFIX bytes with tags dropped, entities decoded and whitespace collapsed
    (labels compared in ASCII lower case):

    - HTML: the first element (after comments, processing instructions and a DOCTYPE) is an HTML one (html,
      head, body, meta, title, ...), and either its <title> is EDGAR's ``SEC FORM 3``/``4``/``5`` (or ``/A``),
      or the page shows a form title ("STATEMENT OF CHANGES IN BENEFICIAL OWNERSHIP", "INITIAL STATEMENT OF
      BENEFICIAL OWNERSHIP", "ANNUAL STATEMENT OF CHANGES IN BENEFICIAL OWNERSHIP") and one of the boxes
      "Name and Address of Reporting Person", "Issuer Name and Ticker or Trading Symbol" or Table I
      ("Non-Derivative Securities").
    - Text (the first character is not "<"): a form title, "Name and Address of Reporting Person", and
      "Issuer Name and Ticker or Trading Symbol" or Table I.

    An EDGAR submission (.txt, .nc, PEM) is never one: its own rules apply (a 1990s text Form 4 in a .txt is
    ``no_xml_document``).
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        return None
    head = bytes(data[:PREFIX])
    if looks_like_submission(head):
        return None
    raw = _decode(head)
    start = len(raw) - len(raw.lstrip())
    if raw.startswith("<", start):
        if not _html_first(raw, start):
            return None
        kind: Literal["html", "text"] = "html"
        raw_low = raw.translate(_ASCII_LOWER)
        flat = _flatten(_drop_blocks(raw, raw_low))
    else:
        kind = "text"
        raw_low = ""
        flat = _SPACE_RUN.sub(" ", raw)
    low = flat.translate(_ASCII_LOWER)

    form_type = next((form for title, form in _TITLES if title in low), None)
    owner_at = low.find(_OWNER_LABEL)
    issuer_at = low.find(_ISSUER_LABEL)
    has_table = _TABLE_I in low
    boxed = owner_at >= 0 or issuer_at >= 0 or has_table
    if kind == "html":
        titled = _html_title_form(raw_low)
        if titled is None and (form_type is None or not boxed):
            return None
        form_type = form_type or titled
    elif form_type is None or owner_at < 0 or (issuer_at < 0 and not has_table):
        return None
    assert form_type is not None

    issuer_name, symbol = _issuer(flat, issuer_at)
    original = _date_after(flat, low, _AMENDMENT_LABEL)
    folder_cik, accession, stylesheet, document = _address(raw)
    return RenderedForm(
        kind=kind,
        form_type=form_type + ("/A" if original else ""),
        issuer_name=issuer_name,
        issuer_cik=_link_cik(raw, raw_low, "issuer name") if kind == "html" else None,
        trading_symbol=symbol,
        owner_name=_owner(flat, low, owner_at),
        owner_cik=_link_cik(raw, raw_low, _OWNER_LABEL) if kind == "html" else None,
        period_of_report=next(
            (d for label in _PERIOD_LABELS if (d := _date_after(flat, low, label)) is not None), None
        ),
        date_of_original_submission=original,
        accession_number=accession,
        folder_cik=folder_cik,
        xml_document=document if stylesheet else None,
        stylesheet=stylesheet,
    )


def declares_entity(data: bytes) -> bool:
    """An ENTITY declaration anywhere in the input (in UTF-16 too): such an input stays ``hostile_xml``,
    whatever page it dresses up as."""
    if _ENTITY.search(data):
        return True
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return _ENTITY_TEXT.search(data.decode("utf-16", "ignore")) is not None
    return False


def refusal(data: bytes, error: ParseError) -> ParseError | None:
    """The ``rendered_form`` refusal for a bare document the XML parser refused with ``error``, or None when
    the input is not a rendered form (the original refusal stands)."""
    if error.code not in RENDERED_CODES:
        return None
    if error.code is ErrorCode.HOSTILE_XML and declares_entity(data):
        return None
    form = detect(data)
    if form is None:
        return None
    return ParseError(ErrorCode.RENDERED_FORM, form.message(), header=form.header())


# ----------------------------------------------------------------------------------------------------


def _decode(head: bytes) -> str:
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):  # Notepad's "Unicode": a pasted form saved as UTF-16
        return head.decode("utf-16", "replace")
    return head.decode("utf-8", "replace").lstrip("\ufeff")


def _html_first(raw: str, pos: int) -> bool:
    """Is the first element at or after ``pos`` an HTML one? Comments, <?...?> and <!...> are skipped."""
    for _ in range(64):  # a page opens with a handful of these; more is not a rendered form
        space = _SPACE_RUN.match(raw, pos)
        if space:
            pos = space.end()
        if raw.startswith("<!--", pos):
            close = raw.find("-->", pos + 4)
            if close < 0:
                return False
            pos = close + 3
        elif raw.startswith("<?", pos) or raw.startswith("<!", pos):
            close = raw.find(">", pos + 2)
            if close < 0:
                return False
            pos = close + 1
        else:
            m = _TAG_NAME.match(raw, pos)
            return m is not None and m[1].lower() in _HTML_FIRST
    return False


def _drop_blocks(raw: str, raw_low: str) -> str:
    """The page without comments and the contents of <style> and <script>: text a browser does not show.

    Each opener's next position is searched again only once passed, so the whole is one pass per opener."""
    blocks = (("<!--", "-->"), ("<style", "</style>"), ("<script", "</script>"))
    following = [raw_low.find(opener) for opener, _ in blocks]
    out: list[str] = []
    pos = 0
    while True:
        for i, (opener, _) in enumerate(blocks):
            if 0 <= following[i] < pos:
                following[i] = raw_low.find(opener, pos)
        found = [(at, i) for i, at in enumerate(following) if at >= 0]
        if not found:
            break
        at, i = min(found)
        out.append(raw[pos:at])
        close = blocks[i][1]
        end = raw_low.find(close, at)
        pos = len(raw) if end < 0 else end + len(close)
    out.append(raw[pos:])
    return " ".join(out)


def _flatten(page: str) -> str:
    """Tags to spaces, entities decoded (after, so "&lt;" is never a tag), whitespace collapsed."""
    return _SPACE_RUN.sub(" ", html.unescape(_TAG.sub(" ", page)))


def _html_title_form(raw_low: str) -> str | None:
    """The N of <title>SEC FORM N</title>, EDGAR's title for the rendering."""
    at = raw_low.find("<title>")
    if at < 0:
        return None
    title = raw_low[at + 7 : at + 64].split("<", 1)[0].split()
    if len(title) == 3 and title[:2] == ["sec", "form"] and title[2] in ("3", "4", "5", "3/a", "4/a", "5/a"):
        return title[2][:1]
    return None


def _clean(value: str) -> str | None:
    value = value.strip(" *:-\u2013\u2014")
    return value[:_VALUE_CAP].strip() or None


def _owner(flat: str, low: str, at: int) -> str | None:
    """Box 1: the name between the label (and its "*") and "(Last)" — EDGAR's layout puts the name first."""
    if at < 0:
        return None
    start = at + len(_OWNER_LABEL)
    end = low.find("(last)", start, start + _LOOKAHEAD)
    if end < 0:
        return None
    return _clean(flat[start:end])


def _issuer(flat: str, at: int) -> tuple[str | None, str | None]:
    """Box 2 (3 on Form 3): "Affirm Holdings, Inc. [ AFRM ]"."""
    if at < 0:
        return None, None
    start = at + len(_ISSUER_LABEL)
    window = flat[start : start + _LOOKAHEAD]
    bracket = window.find("[")
    if bracket < 0:
        return None, None
    close = window.find("]", bracket)
    symbol = _clean(window[bracket + 1 : close]) if close > bracket else None
    if symbol is not None and (len(symbol) > 12 or " " in symbol):
        symbol = None
    return _clean(window[:bracket]), symbol


def _date_after(flat: str, low: str, label: str) -> date | None:
    """The MM/DD/YYYY right after a box's label, when the box shows one."""
    at = low.find(label)
    if at < 0:
        return None
    m = _US_DATE.match(flat[at + len(label) : at + len(label) + 16].lstrip())
    if m is None:
        return None
    try:
        return date(int(m[3]), int(m[1]), int(m[2]))
    except ValueError:
        return None


def _link_cik(raw: str, raw_low: str, label: str) -> str | None:
    """The CIK of the EDGAR company link (``browse-edgar?action=getcompany&CIK=…``) right after a box's label."""
    at = raw_low.find(label)
    if at < 0:
        return None
    m = _CIK_LINK.search(raw, at, at + _LINK_WINDOW)
    return m[1].zfill(10) if m else None


def _address(raw: str) -> tuple[str | None, str | None, str | None, str | None]:
    """(folder CIK, accession, xslF345X0N, document) from a filing address on the page; else a bare accession."""
    m = _ARCHIVES.search(raw)
    if m:
        return m[1], f"{m[2]}-{m[3]}-{m[4]}", m[5], m[6]
    m = _ACCESSION.search(raw)
    if m:
        return None, f"{m[1]}-{m[2]}-{m[3]}", None, None
    return None, None, None, None
