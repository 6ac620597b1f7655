"""Transaction codes: the coarse category consumers filter on, EDGAR's display code and a date sanity flag."""

from __future__ import annotations

from datetime import date

from streams.models import Category

# Form 4 General Instruction 8, as summarised in the domain reference (section 5).
CODE_DESCRIPTIONS: dict[str, str] = {
    "A": "Grant or award under Rule 16b-3(d)",
    "C": "Conversion of a derivative security",
    "D": "Disposition to the issuer under Rule 16b-3(e)",
    "E": "Expiration of a short derivative position",
    "F": "Payment of the exercise price or tax liability by delivering or withholding securities",
    "G": "Bona fide gift",
    "H": "Expiration or cancellation of a long derivative position with value received",
    "I": "Discretionary transaction under Rule 16b-3(f)",
    "J": "Other acquisition or disposition (described in a footnote)",
    "L": "Small acquisition under Rule 16a-6",
    "M": "Exercise or conversion of a derivative security exempted under Rule 16b-3",
    "O": "Exercise of an out-of-the-money derivative security",
    "P": "Open-market or private purchase",
    "S": "Open-market or private sale",
    "U": "Disposition in a tender of shares in a change-of-control transaction",
    "W": "Acquisition or disposition by will or the laws of descent and distribution",
    "X": "Exercise of an in-the-money or at-the-money derivative security",
    "Z": "Deposit into or withdrawal from a voting trust",
}

_CATEGORIES: dict[str, Category] = {
    "P": Category.OPEN_MARKET_PURCHASE,
    "S": Category.OPEN_MARKET_SALE,
    "A": Category.GRANT_AWARD,
    "F": Category.TAX_WITHHOLDING,
    "M": Category.OPTION_EXERCISE,
    "X": Category.OPTION_EXERCISE,
    "O": Category.OPTION_EXERCISE,
    "C": Category.CONVERSION,
    "G": Category.GIFT,
    "D": Category.DISPOSITION_TO_ISSUER,
}

EARLIEST_PLAUSIBLE_YEAR = 1990  # before Section 16 filings reached EDGAR; "0022" is a typo of 2022
MAX_YEARS_BEFORE_PERIOD = 10


def _clean(code: str | None) -> str | None:
    return (code or "").strip().upper() or None


def category(code: str | None) -> Category:
    """Coarse class of a code: F looks like a sale but is tax withholding, so it is kept apart from S."""
    return _CATEGORIES.get(_clean(code) or "", Category.OTHER)


def is_open_market(code: str | None) -> bool:
    """Only P and S are discretionary trades at market; the signal most insider screens look for."""
    return _clean(code) in ("P", "S")


def edgar_display_code(
    code: str | None, *, equity_swap_involved: bool | None, timeliness: str | None
) -> str | None:
    """The code as EDGAR displays it: K appended for an equity swap, then V for a voluntary (early) report.

    The XML carries only the bare code; "SK", "GV" and "JKV" are what readers of the rendered forms expect.
    """
    clean = _clean(code)
    if clean is None:
        return None
    early = timeliness is not None and timeliness.strip().upper() == "E"
    return clean + ("K" if equity_swap_involved else "") + ("V" if early else "")


def date_plausible(d: date | None, *, period_of_report: date | None, filed: date | None) -> bool:
    """False for dates that are almost surely typos (2035 for 2025, 0022 for 2022); the row is still kept.

    Implausible: a year before 1990; more than 1 day after the filing date (or, when that is unknown, the
    period of report); more than 10 years before the period of report. Unknown dates are not implausible.
    """
    if d is None:
        return True
    if d.year < EARLIEST_PLAUSIBLE_YEAR:
        return False
    latest = filed or period_of_report
    if latest is not None and (d - latest).days > 1:
        return False
    if period_of_report is not None:
        back = (d.year + MAX_YEARS_BEFORE_PERIOD, d.month, d.day)
        if back < (period_of_report.year, period_of_report.month, period_of_report.day):
            return False
    return True
