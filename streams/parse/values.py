"""As-filed leaf values: text to Decimal, date, bool and CIK without ever changing what was filed.

Each converter raises ParseError(invalid_value) naming the element, so a bad filing says exactly where it is bad.
"""

from __future__ import annotations

import contextlib
import re
from datetime import date
from decimal import Decimal

from streams.bounds import (
    MAX_DATE,
    MAX_DECIMAL_PLACES,
    MAX_FIELD_CHARS,
    MAX_INTEGER_DIGITS,
    MIN_DATE,
    date_in_bounds,
)
from streams.parse.errors import ErrorCode, ParseError

__all__ = [
    "MAX_DATE",
    "MAX_DECIMAL_PLACES",
    "MAX_FIELD_CHARS",
    "MAX_INTEGER_DIGITS",
    "MIN_DATE",
    "date_in_bounds",
    "to_bool",
    "to_cik",
    "to_date",
    "to_decimal",
    "to_text",
]

# ASCII digits only (re.ASCII): "\d" alone would take Arabic-Indic and other digits, which Decimal and int read.
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)", re.ASCII)
_GROUPED = re.compile(r"\$?\s*[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?|\$\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)", re.ASCII)
# xs:date, optionally with a time part or a timezone suffix such as 2011-09-15-05:00 or 2021-09-30Z.
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:T[\d:.]+)?(?:Z|[+-]\d{2}:?\d{2})?", re.ASCII)

_MAX_NUMBER_CHARS = 64  # longer than any bounded number with a sign, "$", separators and padding zeros
_NUMBER_BOUNDS = f"a decimal number with at most {MAX_INTEGER_DIGITS} digits before the point and {MAX_DECIMAL_PLACES} after"
_DATE_BOUNDS = f"a date YYYY-MM-DD between {MIN_DATE} and {MAX_DATE}"
_TRUE = frozenset({"1", "true"})
_FALSE = frozenset({"0", "false"})


def invalid(element: str, text: str, expected: str) -> ParseError:
    shown = text if len(text) <= 60 else text[:57] + "..."
    return ParseError(ErrorCode.INVALID_VALUE, f"<{element}> holds {shown!r}, expected {expected}")


def to_text(text: str, element: str, warnings: list[str] | None = None) -> str:
    if len(text) > MAX_FIELD_CHARS:
        raise invalid(element, text, f"at most {MAX_FIELD_CHARS} characters")
    return text


def to_decimal(text: str, element: str, warnings: list[str]) -> Decimal:
    if len(text) > _MAX_NUMBER_CHARS:
        raise invalid(element, text, _NUMBER_BOUNDS)
    plain = text.replace(".", "", 1)
    if plain.isdigit() and plain.isascii():  # the common case, without a regex
        dot = text.find(".")
        if (dot if dot >= 0 else len(text)) <= MAX_INTEGER_DIGITS and (
            dot < 0 or len(text) - dot - 1 <= MAX_DECIMAL_PLACES
        ):
            return Decimal(text)  # within the bounds by its length alone
        return bounded_decimal(Decimal(text), element, text)
    if _DECIMAL.fullmatch(text):
        return bounded_decimal(Decimal(text), element, text)
    if _GROUPED.fullmatch(text):
        # Forbidden by the schema but unambiguous: "1,234.50" or "$2.38" mean one number only.
        warnings.append(f"<{element}> value {text!r} carried '$' or thousands separators; read as a number")
        return bounded_decimal(
            Decimal(text.replace(",", "").replace("$", "").replace(" ", "")), element, text
        )
    raise invalid(element, text, "a decimal number")


def bounded_decimal(value: Decimal, element: str, text: str) -> Decimal:
    """The value itself when later steps can take it (see MAX_INTEGER_DIGITS), else invalid_value."""
    exponent = value.as_tuple().exponent
    if value.adjusted() >= MAX_INTEGER_DIGITS or (
        isinstance(exponent, int) and -exponent > MAX_DECIMAL_PLACES
    ):
        raise invalid(element, text, _NUMBER_BOUNDS)
    return value


def to_date(text: str, element: str, warnings: list[str] | None = None) -> date:
    value: date | None = None
    if len(text) == 10 and text[4] == "-" and text[7] == "-" and text.isascii():
        try:
            value = date.fromisoformat(text)
        except ValueError:
            raise invalid(element, text, "a date YYYY-MM-DD") from None
    elif m := _DATE.fullmatch(text):
        with contextlib.suppress(ValueError):
            value = date(int(m[1]), int(m[2]), int(m[3]))
    if value is None:
        raise invalid(element, text, "a date YYYY-MM-DD")
    if not MIN_DATE <= value <= MAX_DATE:
        raise invalid(element, text, _DATE_BOUNDS)
    return value


def to_bool(text: str, element: str, warnings: list[str] | None = None) -> bool:
    folded = text.lower()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise invalid(element, text, "1, 0, true or false")


def to_cik(text: str, element: str) -> str:
    if text.isdigit() and text.isascii() and len(text) <= 10:
        return text.zfill(10)
    raise invalid(element, text, "a CIK of at most 10 digits")
