"""Weighted-average price footnotes: one reported price stands for many fills, the range is only in the text.

Numbers stay Decimal exactly as written ("$188.970" keeps its three places): a float would change them.
"""

from __future__ import annotations

import re
from decimal import Decimal

from streams.derive import FREE_TEXT_CAP

# "weighted average" (then a look back for "volume": a leading optional group would make re try every position),
# or the other order, "average weighted price".
_WEIGHTED = re.compile(r"\bweighted[\s\-‐‑–—]*av(?:erag|g\b)", re.IGNORECASE)
_AVERAGE_WEIGHTED = re.compile(r"\bav(?:erage|g\.?)[\s\-‐‑–—]*weighted\b", re.IGNORECASE)
_VOLUME_BEFORE = re.compile(r"\bvolume[\s\-‐‑–—]*\Z", re.IGNORECASE)

# An amount: "1,234.50", "188.970", ".75", "10", never cut short ("1,234" of "1,234.50") nor part of a date.
# ASCII digits only: Decimal would read other scripts' digits too.
_AMOUNT = r"(?P<{0}_dollar>\$\s*)?(?P<{0}>[0-9]{{1,3}}(?:,[0-9]{{3}})+(?:\.[0-9]+)?|[0-9]*\.[0-9]+|[0-9]+)(?!\.?[0-9]|/)"
_RANGE = re.compile(
    rf"(?=[$0-9.])(?<![0-9.,/-]){_AMOUNT.format('low')}"
    r"\s*(?P<joint>to|through|and|[-‐‑–—])\s*"
    rf"{_AMOUNT.format('high')}(?!\s*(?:(?:shares?|percent)\b|%))",
    re.IGNORECASE,
)
_PRICE_WORD = re.compile(r"\bpric", re.IGNORECASE)
_BETWEEN = re.compile(r"\bbetween\s+\Z", re.IGNORECASE)
_PRICE_CONTEXT = 60  # characters before a range searched for "price" when it has no "$"
MAX_RANGES = 100  # per footnote; a real one lists a few dozen at most (one per row of a long filing)


def is_weighted_average_text(text: str | None) -> bool:
    """The footnote says the reported price is a weighted average ("weighted average", "weighted-average",
    "weighted avg.", "average weighted price"). A "volume weighted average price" is usually a market VWAP in
    a vesting or earn-out condition, not an average of the filer's fills, so it only counts when the same text
    also states a price range. Reads the first FREE_TEXT_CAP characters.
    """
    if not text:
        return False
    text = text[:FREE_TEXT_CAP]
    if "weighted" not in text.lower():  # cheap test first: most footnotes are not about prices
        return False
    if _AVERAGE_WEIGHTED.search(text):
        return True
    says_volume_weighted = False
    for m in _WEIGHTED.finditer(text):
        if _VOLUME_BEFORE.search(text, max(0, m.start() - 16), m.start()) is None:
            return True
        says_volume_weighted = True
    return says_volume_weighted and bool(price_ranges(text))


def price_ranges(text: str | None) -> list[tuple[Decimal, Decimal]]:
    """Every stated price range as (min, max), in text order, at most MAX_RANGES.

    Accepted: "from $X to $Y", "between $X and $Y", "range of $X to $Y", "$X - $Y" (any dash). A range
    must show a "$" (on the first amount for a dash range, which otherwise reads like a date or an id) or
    follow the word "price" closely; "and" only joins a range after "between"; amounts followed by "shares"
    are not prices. Reads the first FREE_TEXT_CAP characters.
    """
    if not text:
        return []
    text = text[:FREE_TEXT_CAP]
    if "$" not in text and _PRICE_WORD.search(text) is None:  # no range can qualify: skip the range scan
        return []
    found: list[tuple[Decimal, Decimal]] = []
    for m in _RANGE.finditer(text):
        joint = m["joint"].lower()
        if joint == "and" and not _BETWEEN.search(text, max(0, m.start() - 16), m.start()):
            continue
        if joint in ("to", "through", "and"):
            priced = (
                m["low_dollar"]
                or m["high_dollar"]
                or _PRICE_WORD.search(text, max(0, m.start() - _PRICE_CONTEXT), m.start())
            )
        else:
            priced = m["low_dollar"]
        if not priced:
            continue
        low, high = (Decimal(m[name].replace(",", "")) for name in ("low", "high"))
        found.append((min(low, high), max(low, high)))
        if len(found) == MAX_RANGES:
            break
    return found


def choose_range(
    ranges: list[tuple[Decimal, Decimal]], price: Decimal | None
) -> tuple[Decimal, Decimal] | None:
    """The range a row's price falls in, when one footnote lists the ranges of several rows.

    Without a price only an unambiguous (single distinct) range is returned; when several contain the price,
    the narrowest (the first of equals) is.
    """
    distinct = list(dict.fromkeys(ranges))
    if price is None:
        return distinct[0] if len(distinct) == 1 else None
    containing = [r for r in distinct if r[0] <= price <= r[1]]
    return min(containing, key=lambda r: r[1] - r[0]) if containing else None
