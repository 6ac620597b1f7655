"""As-filed leaf values: text to Decimal, date, bool and CIK without ever changing what was filed.

Each converter raises ParseError(invalid_value) naming the element, so a bad filing says exactly where it is bad.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from streams.parse.errors import ErrorCode, ParseError

_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_GROUPED = re.compile(r"\$?\s*[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?|\$\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
# xs:date, optionally with a time part or a timezone suffix such as 2011-09-15-05:00 or 2021-09-30Z.
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:T[\d:.]+)?(?:Z|[+-]\d{2}:?\d{2})?")
_TRUE = frozenset({"1", "true"})
_FALSE = frozenset({"0", "false"})


def invalid(element: str, text: str, expected: str) -> ParseError:
    shown = text if len(text) <= 60 else text[:57] + "..."
    return ParseError(ErrorCode.INVALID_VALUE, f"<{element}> holds {shown!r}, expected {expected}")


def to_text(text: str, element: str, warnings: list[str]) -> str:
    return text


def to_decimal(text: str, element: str, warnings: list[str]) -> Decimal:
    plain = text.replace(".", "", 1)
    if plain.isdigit() and plain.isascii():  # the common case, without a regex
        return Decimal(text)
    if _DECIMAL.fullmatch(text):
        return Decimal(text)
    if _GROUPED.fullmatch(text):
        # Forbidden by the schema but unambiguous: "1,234.50" or "$2.38" mean one number only.
        warnings.append(f"<{element}> value {text!r} carried '$' or thousands separators; read as a number")
        return Decimal(text.replace(",", "").replace("$", "").replace(" ", ""))
    raise invalid(element, text, "a decimal number")


def to_date(text: str, element: str, warnings: list[str] | None = None) -> date:
    if len(text) == 10 and text[4] == "-" and text[7] == "-" and text.isascii():
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise invalid(element, text, "a date YYYY-MM-DD") from None
    m = _DATE.fullmatch(text)
    if m:
        try:
            return date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            pass
    raise invalid(element, text, "a date YYYY-MM-DD")


def to_bool(text: str, element: str, warnings: list[str] | None = None) -> bool:
    folded = text.lower()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise invalid(element, text, "1, 0, true or false")


def to_cik(text: str, element: str) -> str:
    if text.isdigit() and len(text) <= 10:
        return text.zfill(10)
    raise invalid(element, text, "a CIK of at most 10 digits")
