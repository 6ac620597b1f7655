"""The one exception the parser raises, with stable codes that dashboards and dead letters key on."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    TOO_LARGE = "too_large"
    HOSTILE_XML = "hostile_xml"
    MALFORMED_XML = "malformed_xml"
    MALFORMED_WRAPPER = "malformed_wrapper"
    NO_XML_DOCUMENT = "no_xml_document"
    NOT_OWNERSHIP_DOCUMENT = "not_ownership_document"
    RENDERED_FORM = "rendered_form"
    INVALID_VALUE = "invalid_value"
    MISSING_REQUIRED = "missing_required"
    INTERNAL_ERROR = "internal_error"


class ParseError(Exception):
    """Why an input could not become a Filing.

    ``header`` keeps whatever the EDGAR wrapper told us (accession, form type, dates) even when the
    ownership XML is missing or broken, so a dead letter still says which filing it was.
    """

    def __init__(self, code: ErrorCode, message: str, *, header: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = ErrorCode(code)
        self.message = message
        self.header = header or {}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": str(self.code), "message": self.message}
        if self.header:
            out["header"] = self.header
        return out
