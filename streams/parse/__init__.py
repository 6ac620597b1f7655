"""The parser: bytes in, a Filing or a coded ParseError out. Pure — no network, no global state.

Accepts a bare ownershipDocument (any schema version, namespaced or not) or EDGAR's full submission
(.txt, .nc dissemination, PEM-wrapped); the format is detected from the bytes. A Form 3/4/5 as a person reads
it (EDGAR's HTML rendering, or its text copied from a browser) is refused as ``rendered_form``, saying which
filing it shows and what to send instead.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError

from streams import __version__
from streams.bounds import MAX_DATE, MIN_DATE, date_in_bounds
from streams.derive.calendar import edgar_filing_date
from streams.derive.enrich import enrich
from streams.models import Filing
from streams.parse.errors import ErrorCode, ParseError
from streams.parse.ownership import DOCUMENT_TYPES, load_tree, read_document
from streams.parse.rendered import refusal as rendered_refusal
from streams.parse.sgml import EASTERN, looks_like_submission, unwrap_submission

__all__ = ["DEFAULT_MAX_BYTES", "ErrorCode", "ParseError", "parse_filing"]

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
PARSER_VERSION = __version__


def parse_filing(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    accession_number: str | None = None,
    acceptance_datetime: datetime | None = None,
    filed_date: date | None = None,
) -> Filing:
    """Parse one filing. The keyword arguments fill in what a bare XML document cannot say about itself
    (the pipeline knows them from the feed); values from an EDGAR wrapper take precedence. Without a filing
    date from either, a known acceptance time gives the one EDGAR gives it (``edgar_filing_date``).
    """
    try:
        return _parse(data, max_bytes, accession_number, acceptance_datetime, filed_date)
    except ParseError:
        raise
    except RecursionError:
        raise ParseError(ErrorCode.MALFORMED_XML, "document nests too deeply") from None
    except Exception as exc:  # the contract: nothing but ParseError escapes, whatever the input
        raise ParseError(ErrorCode.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}") from exc


def eastern(value: datetime | None, header: dict[str, Any] | None = None) -> datetime | None:
    """An acceptance time as a tz-aware datetime: one without a UTC offset is EDGAR's wall clock, US Eastern.

    Aware values are kept as given. Never returns a naive datetime, which later steps could not compare.
    """
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise ParseError(
            ErrorCode.INVALID_VALUE, f"acceptance_datetime is {value!r}, not a datetime", header=header
        )
    return value.replace(tzinfo=EASTERN) if value.utcoffset() is None else value


def _parse(
    data: bytes,
    max_bytes: int,
    accession_number: str | None,
    acceptance_datetime: datetime | None,
    filed_date: date | None,
) -> Filing:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ParseError(ErrorCode.INTERNAL_ERROR, f"parse_filing takes bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_bytes:
        raise ParseError(
            ErrorCode.TOO_LARGE,
            f"input is {len(data):,} bytes, over the {max_bytes:,}-byte cap (raise max_bytes)",
        )
    if not data.strip():
        raise ParseError(ErrorCode.MALFORMED_XML, "input is empty")

    warnings: list[str] = []
    header: dict[str, Any] = {}
    source_format = "xml"
    xml = data
    submission = looks_like_submission(data)
    if submission:
        unwrapped = unwrap_submission(data)
        header = unwrapped.header.to_dict()
        source_format = unwrapped.format
        xml = unwrapped.xml
    try:
        doc = read_document(load_tree(xml.lstrip(b"\xef\xbb\xbf \t\r\n"), warnings), warnings)
    except ParseError as exc:
        exc.header = exc.header or header
        # Only a bare document that is not XML is looked at: a page someone saved or copied from a browser.
        rendered = None if submission else rendered_refusal(data, exc)
        if rendered is not None:
            raise rendered from None
        raise

    h = unwrapped.header if header else None
    doc["accession_number"] = (h and h.accession_number) or accession_number
    doc["acceptance_datetime"] = eastern((h and h.acceptance_datetime) or acceptance_datetime, header)
    doc["filed_date"] = (h and h.filed_date) or filed_date
    for name in ("acceptance_datetime", "filed_date"):
        value = doc[name]
        if value is not None and not date_in_bounds(value if type(value) is date else value.date()):
            raise ParseError(
                ErrorCode.INVALID_VALUE,
                f"{name} is {value.isoformat()}, outside {MIN_DATE}..{MAX_DATE}",
                header=header,
            )
    if doc["filed_date"] is None and doc["acceptance_datetime"] is not None:
        filed = edgar_filing_date(doc["acceptance_datetime"])  # an envelope's or feed's acceptance time
        doc["filed_date"] = filed if date_in_bounds(filed) else None  # a day past MAX_DATE stays unknown
    if h:
        if h.issuer_sic:
            doc["issuer"]["sic"] = h.issuer_sic
        if h.issuer_state_of_incorporation:
            doc["issuer"]["state_of_incorporation"] = h.issuer_state_of_incorporation
        if h.issuer_cik and h.issuer_cik != doc["issuer"]["cik"]:
            warnings.append(f"EDGAR header names issuer {h.issuer_cik}, the document {doc['issuer']['cik']}")

    document_type = doc.get("document_type") or (h.form_type if h else None)
    if document_type is None:
        raise ParseError(ErrorCode.MISSING_REQUIRED, "document has no <documentType>", header=header)
    document_type = document_type.upper()
    if document_type not in DOCUMENT_TYPES:
        raise ParseError(
            ErrorCode.NOT_OWNERSHIP_DOCUMENT,
            f"<documentType> is {document_type!r}, not one of {sorted(DOCUMENT_TYPES)}",
            header=header,
        )
    doc["document_type"] = document_type
    doc["form_type"] = (h.form_type if h else None) or document_type
    doc["source_format"] = source_format
    doc["raw_sha256"] = hashlib.sha256(data).hexdigest()
    doc["parser_version"] = PARSER_VERSION
    doc["warnings"] = warnings
    enrich(doc)
    try:
        return Filing.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ParseError(ErrorCode.INVALID_VALUE, f"{where}: {first['msg']}", header=header) from None
