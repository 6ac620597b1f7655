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
_DOC_HEADER_CAP = 8192  # <TYPE>, <SEQUENCE>, <FILENAME>, <DESCRIPTION> come before <TEXT>, within a few lines
_MAX_BLOCKS = 1000  # REPORTING-OWNER/ISSUER blocks read from one header (a real one has a handful)
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

_SPACE = re.compile(rb"\s*")
_BOM = b"\xef\xbb\xbf"
_LEGACY_HEADER = re.compile(rb"ACCESSION[ \t]+NUMBER[ \t]*:", re.IGNORECASE)
# Header keys, as "KEY:<tab>value" lines (modern and legacy .txt; the key starts its line) or "<TAG>value"
# (.nc, where a value runs to the next tag or line end). The header is read with bytes.find, one search per
# key, which is several times faster than running a regex (or a Python loop) over every byte of it.
_SUBMISSION_FIELDS = (  # (attribute, line key, tag)
    ("accession_number", b"ACCESSION NUMBER:", b"<ACCESSION-NUMBER>"),
    ("form_type", b"CONFORMED SUBMISSION TYPE:", b"<TYPE>"),
    ("acceptance_datetime", None, b"<ACCEPTANCE-DATETIME>"),
    ("filed_date", b"FILED AS OF DATE:", b"<FILING-DATE>"),
    ("period_of_report", b"CONFORMED PERIOD OF REPORT:", b"<PERIOD>"),
)
# Blocks naming a company: "NAME:" lines open a block that runs to the next one; <NAME> tags open and close.
# Modern and .nc headers use REPORTING-OWNER and ISSUER; 1990s headers title the issuer SUBJECT COMPANY and
# the reporting person FILER (or a <REPORTING-OWNER> element), so those are searched for only when needed.
_OWNER_SECTIONS = (b"REPORTING-OWNER",)
_ISSUER_SECTIONS = (b"ISSUER",)
_LEGACY_OWNER_SECTIONS = (b"FILER",)
_LEGACY_ISSUER_SECTIONS = (b"SUBJECT COMPANY", b"SUBJECT-COMPANY")
_OTHER_SECTIONS = (b"FILED BY", b"FILED-BY")  # ends a legacy block; its CIK is nobody we report
_CIK_KEYS = (b"CENTRAL INDEX KEY:", b"<CIK>")
_NAME_KEYS = (b"COMPANY CONFORMED NAME:", b"<CONFORMED-NAME>")
_SIC_KEYS = (b"STANDARD INDUSTRIAL CLASSIFICATION:", b"<ASSIGNED-SIC>")
_STATE_KEYS = (b"STATE OF INCORPORATION:", b"<STATE-OF-INCORPORATION>")
_ROOT_ACCESSION = re.compile(rb"<SEC-(?:DOCUMENT|HEADER)>[ \t]*(\d{10}-\d{2}-\d{6})")
_DOC_TYPE = re.compile(rb"<TYPE>[ \t]*([^<\r\n]*)")
_SIC_BRACKETS = re.compile(r"\[\s*(\d{1,4})\s*\]", re.ASCII)
_ACCESSION = re.compile(r"(\d{10})-?(\d{2})-?(\d{6})", re.ASCII)
_PEM_HEADER_LINE = re.compile(rb"[A-Za-z][A-Za-z0-9-]*:|[ \t]")
_NS_PREFIX = re.compile(rb"<[A-Za-z_][\w.-]*:\Z")
_WS = b" \t\r\n\f\v"


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
    cut_off = False  # the header runs to the end of the input (or of what we read): it may be truncated
    if 0 <= first_doc <= lo + _HEADER_CAP:
        header_end = first_doc
    else:
        header_end = min(hi, lo + _HEADER_CAP)
        cut_off = True
        for marker in (b"</SEC-HEADER>", b"</IMS-HEADER>"):
            pos = data.find(marker, lo, header_end)
            if pos >= 0:
                header_end = pos
                cut_off = False
    if root_close is None and fmt != "pem" and data.find(b"<SUBMISSION>", lo, header_end) >= 0:
        fmt = "nc"
    has_header = _read_header(data, lo, header_end, header, cut_off=cut_off)
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
        # One forward scan per document (to its </DOCUMENT>); everything else is a short or backward search,
        # so a large EX-24 or GRAPHIC costs no more than a memchr over it.
        end = data.find(b"</DOCUMENT>", start + 10, hi)
        if end < 0:
            end = hi
            truncated = True
        doc_head_end = min(end, start + _DOC_HEADER_CAP)
        text = data.find(b"<TEXT>", start, doc_head_end)
        m = _DOC_TYPE.search(data, start, text if text >= 0 else doc_head_end)
        doc_type = _text(m[1]).upper() if m else ""
        types.append(doc_type)
        label = f"{len(types)} ({doc_type or 'no type'})"
        body = text + 6 if text >= 0 else start + 10
        if doc_type in OWNERSHIP_TYPES:
            xml_open = data.find(b"<XML>", body, end)
        else:  # other documents: only an <XML> opening the <TEXT>, as EDGAR writes it
            xml_open = _skip_space(data, body, end)
            if not data.startswith(b"<XML>", xml_open):
                xml_open = -1
        if xml_open < 0:
            text_docs.append(label)
        else:
            xml_close = data.rfind(b"</XML>", xml_open + 5, end)
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
        start = data.find(b"<DOCUMENT>", end, hi)

    if root_close is not None and not truncated and data.rfind(root_close, lo, hi) < 0:
        truncated = True
    chosen = preferred or fallback
    if chosen is not None:
        a, b = _strip(data, *chosen)
        return Unwrapped(format=fmt, header=header, xml=data[a:b], document_types=types)

    what = _describe(header, fmt)
    if not recognised:
        raise ParseError(
            ErrorCode.MALFORMED_WRAPPER,
            f"not an EDGAR submission: no recognisable header, and no ownership XML in documents "
            f"{_list_types(types)}",
            header=header.to_dict(),
        )
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
            f"was found in documents {_list_types(types)}",
            header=header.to_dict(),
        )
    if other_xml:
        # XML of another kind (a Form D, an XBRL exhibit): the submission is not an ownership filing.
        raise ParseError(
            ErrorCode.NOT_OWNERSHIP_DOCUMENT,
            f"{what} holds no ownership XML: the <XML> of document {', '.join(other_xml)} is not an "
            "ownershipDocument",
            header=header.to_dict(),
        )
    detail = f"legacy text filing (document {', '.join(text_docs)} is plain text, no <XML>)"
    raise ParseError(
        ErrorCode.NO_XML_DOCUMENT, f"{what} holds no ownership XML: {detail}", header=header.to_dict()
    )


def _read_header(data: bytes, lo: int, hi: int, header: SubmissionHeader, *, cut_off: bool = False) -> bool:
    """Fill ``header`` from data[lo:hi]; True when anything header-like (a field or a block) was found.

    ``cut_off``: the header runs to the end of the input (a truncated submission), so its last line may be cut
    short ("ACCESSION NUMBER: 00007") and is dropped rather than read as a wrong value.
    """
    text = data[lo:hi]
    if b"\r" in text:  # .nc files end lines with a bare CR
        text = text.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if cut_off:
        text = text[: max(text.rfind(b"\n"), text.rfind(b"<"), 0)]
    found = False
    for attr, line_key, tag in _SUBMISSION_FIELDS:
        raw = _value(text, 0, len(text), line_key, tag)
        if raw is not None:
            found = True
            _set_submission_field(header, attr, _text(raw))
    if header.accession_number is None:
        m = _ROOT_ACCESSION.match(text)
        if m:
            header.accession_number = m[1].decode("ascii")

    marks: list[tuple[int, int, str | None, bool]] = []  # (start, end, role, opens a block)
    _find_sections(text, _OWNER_SECTIONS, "owner", marks)
    _find_sections(text, _ISSUER_SECTIONS, "issuer", marks)
    if not any(role == "issuer" for _, _, role, _ in marks):
        _find_sections(text, _LEGACY_ISSUER_SECTIONS, "issuer", marks)
        _find_sections(text, _LEGACY_OWNER_SECTIONS, "owner", marks)
        _find_sections(text, _OTHER_SECTIONS, None, marks)
    if not marks:
        return found
    marks.sort()
    issuer_seen = False
    for i, (_, start, role, opens) in enumerate(marks):
        if not opens or role is None:
            continue
        stop = marks[i + 1][0] if i + 1 < len(marks) else len(text)
        cik = _value(text, start, stop, *_CIK_KEYS)
        if role == "owner":
            value = _cik(_text(cik)) if cik is not None else None
            if value and value not in header.owner_ciks:
                header.owner_ciks.append(value)
        elif not issuer_seen:
            issuer_seen = True
            header.issuer_cik = _cik(_text(cik)) if cik is not None else None
            raw = _value(text, start, stop, *_NAME_KEYS)
            header.issuer_name = (_text(raw) or None) if raw is not None else None
            raw = _value(text, start, stop, *_SIC_KEYS)
            header.issuer_sic = _sic(_text(raw)) if raw is not None else None
            raw = _value(text, start, stop, *_STATE_KEYS)
            header.issuer_state_of_incorporation = (_text(raw) or None) if raw is not None else None
    return True


def _find_sections(
    text: bytes, names: tuple[bytes, ...], role: str | None, marks: list[tuple[int, int, str | None, bool]]
) -> None:
    """Append (start, end, role, opens) for every "NAME:" line, <NAME> and </NAME> in text."""
    for name in names:
        pos = text.find(name)
        while pos >= 0 and len(marks) < _MAX_BLOCKS:
            end = pos + len(name)
            if text.startswith(b">", end) and pos > 0:
                if text[pos - 1] == 0x3C:  # <NAME>
                    marks.append((pos - 1, end + 1, role, True))
                elif text[pos - 1] == 0x2F and pos > 1 and text[pos - 2] == 0x3C:  # </NAME>
                    marks.append((pos - 2, end + 1, role, False))
            elif _line_start(text, pos):
                colon = _skip_blanks(text, end)
                if text.startswith(b":", colon):
                    marks.append((pos, colon + 1, role, True))
            pos = text.find(name, end)


def _value(text: bytes, lo: int, hi: int, line_key: bytes | None, tag: bytes) -> bytes | None:
    """Raw value of the first ``KEY:`` line, else of the first ``<TAG>``, in text[lo:hi].

    The keys are long and end in a colon, so they are not checked to start their line (company names and
    addresses never hold "CENTRAL INDEX KEY:"); that check would cost as much as the search.
    """
    if line_key is not None:
        pos = text.find(line_key, lo, hi)
        if pos >= 0:
            start = pos + len(line_key)
            end = text.find(b"\n", start, hi)
            return text[start : hi if end < 0 else end]
    pos = text.find(tag, lo, hi)
    if pos < 0:
        return None
    start = pos + len(tag)
    end = text.find(b"<", start, hi)
    if end < 0:
        end = hi
    nl = text.find(b"\n", start, end)
    return text[start : end if nl < 0 else nl]


_INDENT_CAP = 256  # a header line is indented by a few tabs; looking further back would be quadratic


def _line_start(text: bytes, pos: int) -> bool:
    """Only blanks between the previous line break (or the start) and pos, looking back _INDENT_CAP bytes:
    a key in a long line of repeated keys costs a constant, not a scan back to the line's start."""
    lo = max(0, pos - _INDENT_CAP)
    nl = text.rfind(b"\n", lo, pos)
    if nl < 0 and lo > 0:
        return False
    return not text[nl + 1 : pos].strip(b" \t")


def _skip_blanks(text: bytes, pos: int) -> int:
    while text[pos : pos + 1] in (b" ", b"\t"):
        pos += 1
    return pos


def _set_submission_field(header: SubmissionHeader, attr: str, value: str) -> None:
    if not value:
        return
    if attr == "accession_number":
        acc = _ACCESSION.fullmatch(value)
        header.accession_number = "-".join(acc.groups()) if acc else None
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
    """Index of the first byte in data[lo:hi] that is neither ASCII whitespace nor a UTF-8 byte-order mark."""
    while True:
        m = _SPACE.match(data, lo, hi)
        if m:
            lo = m.end()
        if not data.startswith(_BOM, lo, hi):
            return lo
        lo += 3


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
    """YYYYMMDD -> date; anything else (or an impossible date) -> None."""
    if len(value) != 8 or not (value.isdigit() and value.isascii()):
        return None
    try:
        return date.fromisoformat(value)  # 3.11+ reads the basic YYYYMMDD form
    except ValueError:
        return None


def _datetime(value: str) -> datetime | None:
    """YYYYMMDDHHMMSS, US Eastern wall time -> tz-aware datetime; anything else -> None."""
    if len(value) != 14 or not (value.isdigit() and value.isascii()):
        return None
    try:
        return datetime.fromisoformat(f"{value[:8]}T{value[8:]}").replace(tzinfo=EASTERN)
    except ValueError:
        return None


def _list_types(types: list[str]) -> str:
    shown = ", ".join(t or "(no type)" for t in types[:20])
    return shown + (f" and {len(types) - 20} more" if len(types) > 20 else "")


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
