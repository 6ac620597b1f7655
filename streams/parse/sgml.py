"""EDGAR's full-submission wrapper: find the ownershipDocument XML and read the header around it.

Handles the modern ``<SEC-DOCUMENT>`` .txt (``KEY:<tab>value`` header), the ``<SUBMISSION>`` .nc dissemination
format (dash-named tags with no closing tag, lines ending in CR or all on one line), the 1990s header formats
(``SUBJECT COMPANY:``, ``<REPORTING-OWNER>`` elements, ``<IMS-DOCUMENT>``) and the PEM envelope around any of
them. Pure functions over bytes: the submission is scanned with ``bytes.find`` and precompiled byte patterns;
only header values are decoded (latin-1, which never fails). The only exception raised is ParseError.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from streams.parse.errors import ErrorCode, ParseError

__all__ = ["SubmissionHeader", "Unwrapped", "looks_like_submission", "unwrap_submission"]

EASTERN = ZoneInfo("America/New_York")  # EDGAR stamps acceptance times in US Eastern time
OWNERSHIP_TYPES = frozenset({"3", "4", "5", "3/A", "4/A", "5/A"})

_HEADER_CAP = 256 * 1024  # a header is a few KB; never read further than this looking for its end
_SNIFF = 2048  # how far looks_like_submission looks for a legacy "ACCESSION NUMBER:"
_PEM_BEGIN = b"-----BEGIN PRIVACY-ENHANCED MESSAGE-----"
_PEM_END = b"-----END PRIVACY-ENHANCED MESSAGE-----"
_ROOTS = (  # opening tag (upper case) -> (format, closing tag)
    (b"<SEC-DOCUMENT>", "sgml", b"</SEC-DOCUMENT>"),
    (b"<SEC-HEADER>", "sgml", b"</SEC-DOCUMENT>"),
    (b"<IMS-DOCUMENT>", "sgml", b"</IMS-DOCUMENT>"),
    (b"<IMS-HEADER>", "sgml", b"</IMS-DOCUMENT>"),
    (b"<SUBMISSION>", "nc", b"</SUBMISSION>"),
)

_LEADING_SPACE = re.compile(rb"(?:\xef\xbb\xbf|\s)*")
_LEGACY_HEADER = re.compile(rb"ACCESSION[ \t]+NUMBER[ \t]*:", re.IGNORECASE)
# The header keys we read, as "KEY:<tab>value" lines (modern and legacy .txt) or "<TAG>value" (.nc, where a
# value runs to the next tag or line end). Everything else in the header is skipped by the regex engine, so
# the Python loop sees a dozen tokens. Line ends are normalised to LF first (.nc files use bare CR).
_LINE_KEYS: dict[bytes, tuple[str, str | None]] = {
    b"REPORTING-OWNER": ("section", "owner"),
    b"FILER": ("section", "owner"),  # 1990s ownership filings: FILER is the reporting person
    b"ISSUER": ("section", "issuer"),
    b"SUBJECT COMPANY": ("section", "issuer"),  # ... and SUBJECT COMPANY the issuer
    b"FILED BY": ("section", None),
    b"SERIAL COMPANY": ("section", None),
    b"ACCESSION NUMBER": ("submission", "accession_number"),
    b"CONFORMED SUBMISSION TYPE": ("submission", "form_type"),
    b"FILED AS OF DATE": ("submission", "filed_date"),
    b"CONFORMED PERIOD OF REPORT": ("submission", "period_of_report"),
    b"CENTRAL INDEX KEY": ("entity", "cik"),
    b"COMPANY CONFORMED NAME": ("entity", "name"),
    b"STANDARD INDUSTRIAL CLASSIFICATION": ("entity", "sic"),
    b"STATE OF INCORPORATION": ("entity", "state"),
}
_TAG_KEYS: dict[bytes, tuple[str, str | None]] = {
    b"REPORTING-OWNER": ("section", "owner"),
    b"FILER": ("section", "owner"),
    b"ISSUER": ("section", "issuer"),
    b"SUBJECT-COMPANY": ("section", "issuer"),
    b"FILED-BY": ("section", None),
    b"SERIAL-COMPANY": ("section", None),
    b"ACCESSION-NUMBER": ("submission", "accession_number"),
    b"TYPE": ("submission", "form_type"),
    b"ACCEPTANCE-DATETIME": ("submission", "acceptance_datetime"),
    b"FILING-DATE": ("submission", "filed_date"),
    b"PERIOD": ("submission", "period_of_report"),
    b"CIK": ("entity", "cik"),
    b"CONFORMED-NAME": ("entity", "name"),
    b"ASSIGNED-SIC": ("entity", "sic"),
    b"STATE-OF-INCORPORATION": ("entity", "state"),
    b"SEC-DOCUMENT": ("root", None),  # "<SEC-DOCUMENT>0000707549-25-000004.txt : 20250121"
    b"SEC-HEADER": ("root", None),
}


def _alternation(keys: dict[bytes, Any]) -> bytes:
    return b"|".join(re.escape(k) for k in sorted(keys, key=len, reverse=True))


_HEADER_TOKEN = re.compile(
    rb"^[ \t]*(" + _alternation(_LINE_KEYS) + rb")[ \t]*:[ \t]*([^\n]*)"
    rb"|<(/?)(" + _alternation(_TAG_KEYS) + rb")>[ \t]*([^<\n]*)",
    re.MULTILINE,
)
_DOC_TYPE = re.compile(rb"<TYPE>[ \t]*([^<\r\n]*)")
_SIC_BRACKETS = re.compile(r"\[\s*(\d{1,4})\s*\]")
_ACCESSION = re.compile(r"(\d{10})-?(\d{2})-?(\d{6})")
_PEM_HEADER_LINE = re.compile(rb"[A-Za-z][A-Za-z0-9-]*:|[ \t]")
_NS_PREFIX = re.compile(rb"<[A-Za-z_][\w.-]*:\Z")
_WS = b" \t\r\n\f\v"

# Where a header field lands. Section names switch the current block; the rest are read in it.
@dataclass(slots=True)
class SubmissionHeader:
    accession_number: str | None = None
    form_type: str | None = None
    acceptance_datetime: datetime | None = None
    filed_date: date | None = None
    period_of_report: date | None = None
    issuer_cik: str | None = None
    issuer_name: str | None = None
    issuer_sic: str | None = None
    issuer_state_of_incorporation: str | None = None
    owner_ciks: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in _HEADER_FIELDS:
            value = getattr(self, name)
            if value is None or value == [] or value == "":
                continue
            if isinstance(value, date | datetime):
                value = value.isoformat()
            elif isinstance(value, list):
                value = list(value)
            out[name] = value
        return out


_HEADER_FIELDS = tuple(SubmissionHeader.__dataclass_fields__)


@dataclass(slots=True)
class Unwrapped:
    format: Literal["sgml", "nc", "pem"]
    header: SubmissionHeader
    xml: bytes
    document_types: list[str]


def looks_like_submission(data: bytes) -> bool:
    """True when the bytes start like an EDGAR submission rather than a bare XML document."""
    if not isinstance(data, bytes | bytearray | memoryview):
        return False
    if isinstance(data, memoryview):
        data = bytes(data[: _SNIFF + 64])
    start = _skip_space(data, 0, len(data))
    head = bytes(data[start : start + 48]).upper()
    if head.startswith(_PEM_BEGIN) or any(head.startswith(tag) for tag, _, _ in _ROOTS):
        return True
    return _LEGACY_HEADER.search(data, 0, min(len(data), _SNIFF)) is not None


def unwrap_submission(data: bytes) -> Unwrapped:
    """Return the ownershipDocument XML of a full submission with its header, or raise ParseError.

    The document picked is the first whose <TYPE> is 3/4/5 (or an amendment) and whose <XML> holds an
    ownershipDocument; failing that, any document whose <XML> holds one.
    """
    if isinstance(data, bytearray | memoryview):
        data = bytes(data)
    elif not isinstance(data, bytes):
        raise ParseError(ErrorCode.MALFORMED_WRAPPER, f"a submission is bytes, got {type(data).__name__}")
    header = SubmissionHeader()
    try:
        return _unwrap(data, header)
    except ParseError:
        raise
    except Exception as exc:  # the contract: nothing but ParseError escapes, whatever the input
        raise ParseError(
            ErrorCode.INTERNAL_ERROR,
            f"unwrapping failed: {type(exc).__name__}: {exc}",
            header=_safe_dict(header),
        ) from exc


# ----------------------------------------------------------------------------------------------------


def _unwrap(data: bytes, header: SubmissionHeader) -> Unwrapped:
    lo, hi = _skip_space(data, 0, len(data)), len(data)
    fmt: Literal["sgml", "nc", "pem"] = "sgml"
    if data.startswith(_PEM_BEGIN, lo):
        fmt = "pem"
        lo, hi = _pem_body(data, lo, hi)

    root_close = None
    head = data[lo : lo + 24].upper()
    for tag, root_fmt, close in _ROOTS:
        if head.startswith(tag):
            root_close = close
            if fmt != "pem":
                fmt = root_fmt  # type: ignore[assignment]
            break

    first_doc = data.find(b"<DOCUMENT>", lo, hi)
    header_end = first_doc if first_doc >= 0 else min(hi, lo + _HEADER_CAP)
    for marker in (b"</SEC-HEADER>", b"</IMS-HEADER>"):
        pos = data.find(marker, lo, header_end)
        if pos >= 0:
            header_end = pos
    if root_close is None and fmt != "pem" and data.find(b"<SUBMISSION>", lo, header_end) >= 0:
        fmt = "nc"
    has_header = _read_header(data, lo, header_end, header)
    recognised = root_close is not None or has_header

    if first_doc < 0:
        if not recognised:
            raise ParseError(
                ErrorCode.MALFORMED_WRAPPER,
                "not an EDGAR submission: no recognisable header and no <DOCUMENT>",
                header=header.to_dict(),
            )
        if root_close is not None and data.rfind(root_close, lo, hi) < 0:
            raise ParseError(
                ErrorCode.MALFORMED_WRAPPER,
                f"{_describe(header, fmt)} is truncated: no <DOCUMENT> and no closing {root_close.decode()}",
                header=header.to_dict(),
            )
        raise ParseError(
            ErrorCode.NO_XML_DOCUMENT,
            f"{_describe(header, fmt)} holds no ownership XML: legacy text filing "
            "(header only, no <DOCUMENT>)",
            header=header.to_dict(),
        )

    types: list[str] = []
    preferred: tuple[int, int] | None = None
    fallback: tuple[int, int] | None = None
    text_docs: list[str] = []  # documents with no <XML>
    other_xml: list[str] = []  # documents whose <XML> is not an ownershipDocument
    unclosed_xml: str | None = None
    truncated = False
    start = first_doc
    while start >= 0:
        end = data.find(b"</DOCUMENT>", start + 10, hi)
        nxt = data.find(b"<DOCUMENT>", start + 10, end if end >= 0 else hi)
        if nxt >= 0:  # a document left open before the next one starts
            end = nxt
            truncated = True
        elif end < 0:
            end = hi
            truncated = True
        text = data.find(b"<TEXT>", start, end)
        m = _DOC_TYPE.search(data, start, text if text >= 0 else min(end, start + 4096))
        doc_type = _text(m[1]).upper() if m else ""
        types.append(doc_type)
        label = f"{len(types)} ({doc_type or 'no type'})"
        xml_open = data.find(b"<XML>", text if text >= 0 else start, end)
        if xml_open < 0:
            text_docs.append(label)
        else:
            xml_close = data.find(b"</XML>", xml_open + 5, end)
            if xml_close < 0:
                unclosed_xml = unclosed_xml or label
            elif _holds_ownership(data, xml_open + 5, xml_close):
                span = (xml_open + 5, xml_close)
                if preferred is None and doc_type in OWNERSHIP_TYPES:
                    preferred = span
                elif fallback is None:
                    fallback = span
            else:
                other_xml.append(label)
        start = nxt if nxt >= 0 else data.find(b"<DOCUMENT>", end, hi)

    if root_close is not None and not truncated and data.rfind(root_close, lo, hi) < 0:
        truncated = True
    chosen = preferred or fallback
    if chosen is not None:
        a, b = _strip(data, *chosen)
        return Unwrapped(format=fmt, header=header, xml=data[a:b], document_types=types)

    what = _describe(header, fmt)
    if unclosed_xml is not None:
        raise ParseError(
            ErrorCode.MALFORMED_WRAPPER,
            f"{what} is truncated: <XML> of document {unclosed_xml} has no closing </XML>",
            header=header.to_dict(),
        )
    if truncated:
        raise ParseError(
            ErrorCode.MALFORMED_WRAPPER,
            f"{what} is truncated: a <DOCUMENT> or the submission is not closed, and no ownership XML "
            f"was found in documents {', '.join(types) or 'none'}",
            header=header.to_dict(),
        )
    if other_xml:
        detail = f"the <XML> of document {', '.join(other_xml)} is not an ownershipDocument"
    else:
        detail = f"legacy text filing (document {', '.join(text_docs)} is plain text, no <XML>)"
    raise ParseError(
        ErrorCode.NO_XML_DOCUMENT, f"{what} holds no ownership XML: {detail}", header=header.to_dict()
    )


def _read_header(data: bytes, lo: int, hi: int, header: SubmissionHeader) -> bool:
    """Fill ``header`` from data[lo:hi]; True when anything header-like was found."""
    text = data[lo:hi]
    if b"\r" in text:
        text = text.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    section: str | None = None
    found = False
    issuer_cik_seen = False
    for m in _HEADER_TOKEN.finditer(text):
        if m[1] is not None:
            kind, name = _LINE_KEYS[m[1]]
            raw = m[2]
        else:
            kind, name = _TAG_KEYS[m[4]]
            raw = m[5]
            if m[3]:  # a closing tag: leaving the block
                if kind == "section":
                    section = None
                continue
        if kind == "section":
            section = name
            found = True
        elif kind == "submission":
            found = True
            if name is not None and getattr(header, name) is None:
                _set_submission_field(header, name, _text(raw))
        elif kind == "root":
            if header.accession_number is None:
                acc = _ACCESSION.match(_text(raw))
                if acc:
                    header.accession_number = "-".join(acc.groups())
        elif section == "owner":
            if name == "cik":
                cik = _cik(_text(raw))
                if cik and cik not in header.owner_ciks:
                    header.owner_ciks.append(cik)
        elif section == "issuer":
            if name == "cik":
                if not issuer_cik_seen:
                    issuer_cik_seen = True
                    header.issuer_cik = _cik(_text(raw))
            elif name == "name":
                if header.issuer_name is None:
                    header.issuer_name = _text(raw) or None
            elif name == "sic":
                if header.issuer_sic is None:
                    header.issuer_sic = _sic(_text(raw))
            elif header.issuer_state_of_incorporation is None:
                header.issuer_state_of_incorporation = _text(raw) or None
    return found


def _set_submission_field(header: SubmissionHeader, attr: str, value: str) -> None:
    if not value:
        return
    if attr == "accession_number":
        acc = _ACCESSION.fullmatch(value)
        header.accession_number = "-".join(acc.groups()) if acc else value
    elif attr == "form_type":
        header.form_type = value
    elif attr == "acceptance_datetime":
        header.acceptance_datetime = _datetime(value)
    elif attr == "filed_date":
        header.filed_date = _date(value)
    elif attr == "period_of_report":
        header.period_of_report = _date(value)


def _pem_body(data: bytes, lo: int, hi: int) -> tuple[int, int]:
    """The span inside a PEM envelope: after the Proc-Type/Originator-Name/MIC-Info lines, before -----END."""
    pos = data.find(b"\n", lo, hi)
    pos = hi if pos < 0 else pos + 1
    limit = min(hi, pos + 16 * 1024)
    while pos < limit:
        eol = data.find(b"\n", pos, hi)
        eol = hi if eol < 0 else eol + 1
        line = data[pos:eol].rstrip(b"\r\n")
        if not line.strip():  # the blank line that ends the PEM header
            pos = eol
            break
        if not _PEM_HEADER_LINE.match(line) or line.lstrip().startswith(b"<"):
            break  # no blank line: the body starts here
        pos = eol
    end = data.rfind(_PEM_END, pos, hi)
    if end < 0:
        end = hi
    return _skip_space(data, pos, end), end


def _holds_ownership(data: bytes, lo: int, hi: int) -> bool:
    """Does data[lo:hi] hold an ownershipDocument element (any namespace prefix)?"""
    pos = data.find(b"ownershipDocument", lo, hi)
    tries = 0
    while pos >= 0 and tries < 16:
        after = data[pos + 17 : pos + 18]
        if after and after in b" \t\r\n>/":
            before = data[pos - 1 : pos]
            if before == b"<" and pos - 1 >= lo:
                return True
            if before == b":" and _NS_PREFIX.search(data[max(lo, pos - 64) : pos]):
                return True
        pos = data.find(b"ownershipDocument", pos + 17, hi)
        tries += 1
    return False


def _skip_space(data: bytes, lo: int, hi: int) -> int:
    m = _LEADING_SPACE.match(data, lo, hi)
    return m.end() if m else lo


def _strip(data: bytes, lo: int, hi: int) -> tuple[int, int]:
    lo = _skip_space(data, lo, hi)
    while hi > lo and data[hi - 1] in _WS:
        hi -= 1
    return lo, hi


def _text(raw: bytes) -> str:
    return raw.decode("latin-1").strip()


def _cik(value: str) -> str | None:
    value = value.strip()
    if value.isdigit() and value.isascii() and len(value) <= 10:
        return value.zfill(10)
    return None


def _sic(value: str) -> str | None:
    """'SPECIAL INDUSTRY MACHINERY, NEC [3559]' or '3559' -> '3559'; 'UNKNOWN SIC - 0000 [0000]' -> None."""
    m = _SIC_BRACKETS.search(value)
    if m:
        value = m[1]
    if not (value.isdigit() and value.isascii() and len(value) <= 4):
        return None
    value = value.zfill(4)
    return None if value == "0000" else value


def _date(value: str) -> date | None:
    if len(value) != 8 or not (value.isdigit() and value.isascii()):
        return None
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        return None


def _datetime(value: str) -> datetime | None:
    if len(value) != 14 or not (value.isdigit() and value.isascii()):
        return None
    try:
        return datetime(
            int(value[:4]), int(value[4:6]), int(value[6:8]),
            int(value[8:10]), int(value[10:12]), int(value[12:]), tzinfo=EASTERN,
        )
    except ValueError:
        return None


def _describe(header: SubmissionHeader, fmt: str) -> str:
    parts = [f"form {header.form_type}"] if header.form_type else []
    if fmt == "pem":
        parts.append("PEM-wrapped")
    elif fmt == "nc":
        parts.append(".nc dissemination file")
    detail = f" ({', '.join(parts)})" if parts else ""
    return f"submission {header.accession_number or '(no accession number)'}{detail}"


def _safe_dict(header: SubmissionHeader) -> dict[str, Any]:
    try:
        return header.to_dict()
    except Exception:  # pragma: no cover - defensive
        return {}
