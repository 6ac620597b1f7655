"""Weighted-average price footnotes: one reported price stands for many fills, the range is only in the text.

Numbers stay Decimal exactly as written ("$188.970" keeps its three places): a float would change them.
A range keeps the currency it is stated in: a range in Canadian dollars, euros, pounds or shekels is never read
as dollars (``StatedRange.currency``; see ``stated_ranges``).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import NamedTuple

from streams.derive import FREE_TEXT_CAP

USD = "USD"

# "weighted average" (then a look back for "volume": a leading optional group would make re try every position),
# or the other order, "average weighted price".
_WEIGHTED = re.compile(r"\bweighted[\s\-‐‑–—]*av(?:erag|g\b)", re.IGNORECASE)
_AVERAGE_WEIGHTED = re.compile(r"\bav(?:erage|g\.?)[\s\-‐‑–—]*weighted\b", re.IGNORECASE)
_VOLUME_BEFORE = re.compile(r"\bvolume[\s\-‐‑–—]*\Z", re.IGNORECASE)

# Currencies, by how a footnote writes them. Only what says one currency unambiguously: ISO codes in capitals
# (a word "cad" or "nis" is something else), symbols, a letter prefix glued to "$" ("C$", "HK$"), and names.
# US markers ("US$", "USD", "U.S. dollars") mark a range as dollars even in a footnote naming another currency.
_DOLLAR_PREFIXES = {  # written before "$"
    "C": "CAD",
    "CA": "CAD",
    "CAN": "CAD",
    "CDN": "CAD",
    "A": "AUD",
    "AU": "AUD",
    "NZ": "NZD",
    "HK": "HKD",
    "S": "SGD",
    "NT": "TWD",
    "R": "BRL",
    "MEX": "MXN",
    "US": USD,
    "U.S.": USD,
}
_SYMBOLS = {"€": "EUR", "£": "GBP", "¥": "JPY", "₪": "ILS", "₹": "INR", "₩": "KRW"}
_CODES = {
    **{code: code for code in ("USD", "CAD", "EUR", "GBP", "GBX", "CHF", "JPY", "CNY", "HKD", "AUD", "NZD")},
    **{code: code for code in ("SGD", "TWD", "ILS", "INR", "KRW", "SEK", "NOK", "DKK", "ZAR", "BRL", "MXN")},
    "NIS": "ILS",
    "RMB": "CNY",
}
_NAMES = [  # whole words, in any case but where noted
    (r"\b(?i:canadian\s+dollars?)\b", "CAD"),
    (r"\b(?i:australian\s+dollars?)\b", "AUD"),
    (r"\b(?i:new\s+zealand\s+dollars?)\b", "NZD"),
    (r"\b(?i:hong\s+kong\s+dollars?)\b", "HKD"),
    (r"\b(?i:singapore\s+dollars?)\b", "SGD"),
    (r"\b(?i:new\s+taiwan\s+dollars?)\b", "TWD"),
    (r"(?i:\bu\.\s?s\.|\bus|\bunited\s+states)\s+(?i:dollars?)\b", USD),
    (r"\b(?:(?i:euros)|euro)\b", "EUR"),  # "Euro" capitalised is often a name ("Euro Pacific Capital")
    (r"\b(?i:pounds?\s+sterling|british\s+pounds?)\b", "GBP"),
    (r"\b(?i:pence)\b", "GBX"),
    (r"\b(?i:(?:new\s+)?(?:israeli\s+)?(?:new\s+)?shekels?)\b", "ILS"),
    (r"\b(?i:swiss\s+francs?)\b", "CHF"),
    (r"\b(?:(?i:japanese\s+)?yen)\b", "JPY"),  # "Yen" capitalised can be a name
    (r"\b(?i:renminbi|yuan)\b", "CNY"),
    (r"\b(?i:(?:indian\s+)?rupees?)\b", "INR"),
]


def _alternation(markers: list[tuple[str, str]]) -> tuple[str, tuple[str, ...]]:
    """One group per marker, so the group that matched names the currency: (source, codes by group)."""
    return "|".join(f"(?P<c{i}>{rx})" for i, (rx, _) in enumerate(markers)), tuple(c for _, c in markers)


def _currency(m: re.Match[str] | None, codes: tuple[str, ...]) -> str | None:
    return codes[int(m.lastgroup[1:])] if m is not None and m.lastgroup else None


def _letter_dollar(prefix: str) -> str:
    """'C$', 'CDN $', 'U.S.$': a single letter only glued to the '$' ('Class A $0.001 par' is no currency)."""
    glue = "" if len(prefix) == 1 else r"\s?"
    written = {"CAN": "Can", "CDN": "(?:CDN|Cdn)", "MEX": "Mex"}.get(prefix, re.escape(prefix))
    return rf"\b{written}{glue}\$"


_CODE_WORDS = [(rf"\b{code}\b", currency) for code, currency in _CODES.items()]
# Right before an amount: "C$10.00", "CAD 10.00", "CAD$10.00", "€10.00", "US$10.00".
_PREFIX_MARKERS = [
    *[(_letter_dollar(p), c) for p, c in _DOLLAR_PREFIXES.items()],
    *[(re.escape(s), c) for s, c in _SYMBOLS.items()],
    *[(rf"{rx}\s?\$?", c) for rx, c in _CODE_WORDS],
]
_PREFIX_SOURCE, _PREFIX_CODES = _alternation(_PREFIX_MARKERS)
_CURRENCY_BEFORE = re.compile(rf"(?=[{''.join(_SYMBOLS)}]|\b[A-Za-z])(?:{_PREFIX_SOURCE})\s*\Z")
_PREFIX_LOOKBACK = 12  # characters before an amount searched for a prefix ("U.S. $" is 6)
# Right after a range: "$10.00 to $10.50 CAD", "10.00 to 10.50 Canadian dollars", "(EUR)".
_SUFFIX_SOURCE, _SUFFIX_CODES = _alternation([*_CODE_WORDS, *_NAMES])
# Possessive, and only from where a run of blanks starts: no rescanning of the run from inside it.
_CURRENCY_AFTER = re.compile(rf"(?<![ \t])[ \t]*+\(?+[ \t]*+(?=[A-Za-z])(?:{_SUFFIX_SOURCE})")
# Anywhere in a footnote: a currency other than the dollar named beside a range written with a bare "$" (or no
# sign) makes that range's currency the one named ("prices in Canadian dollars ranging from $13.60 to $14.20").
_FOREIGN_SOURCE, _FOREIGN_CODES = _alternation(
    [
        m
        for m in (
            *[(_letter_dollar(p), c) for p, c in _DOLLAR_PREFIXES.items()],
            *[(re.escape(s), c) for s, c in _SYMBOLS.items()],
            *_CODE_WORDS,
            *_NAMES,
        )
        if m[1] != USD
    ]
)
# The lookahead first: a position that starts neither a word nor a symbol is passed over without trying the
# alternatives one by one (a sixth of the time on a footnote-sized text).
_FOREIGN_NAMED = re.compile(rf"(?=[{''.join(_SYMBOLS)}]|\b[A-Za-z])(?:{_FOREIGN_SOURCE})")
# The prefix a range's high amount may carry ("C$10.00 to C$10.50"), classified by _CURRENCY_BEFORE like the
# low amount's. Case-sensitive inside the case-insensitive range pattern.
_HIGH_PREFIX = "(?-i:" + "|".join(f"(?:{rx})" for rx, _ in _PREFIX_MARKERS) + ")"

# An amount: "1,234.50", "188.970", ".75", "10", never cut short ("1,234" of "1,234.50", "$1" of a typo'd
# "$1,1140.890") nor part of a date. ASCII digits only: Decimal would read other scripts' digits too.
_AMOUNT = (
    r"(?P<{0}_dollar>\$\s*)?(?P<{0}>[0-9]{{1,3}}(?:,[0-9]{{3}})+(?:\.[0-9]+)?|[0-9]*\.[0-9]+|[0-9]+)"
    r"(?!\.?[0-9]|,[0-9]|/)"
)
_NOT_SHARES = r"(?!\s*(?:(?:shares?|percent)\b|%))"
_RANGE = re.compile(
    rf"(?=[$0-9.])(?<![0-9.,/-]){_AMOUNT.format('low')}"
    r"\s*(?P<joint>to|through|and|[-‐‑–—])\s*"
    rf"(?:{_HIGH_PREFIX}\s*)?{_AMOUNT.format('high')}{_NOT_SHARES}",
    re.IGNORECASE,
)
# "the lowest price ... was $X and the highest price was $Y", "a low of $X and a high of $Y", either order;
# the words between are any but a digit, "$" or ";" (so each amount is the one its word introduces).
_EXTREME = r"\b(?P<{0}>low(?:est)?|high(?:est)?)\b"
_GAP = r"[^$0-9;]{{0,{0}}}?"
_LOW_HIGH = re.compile(
    rf"{_EXTREME.format('first')}{_GAP.format(80)}(?<![0-9.,/-]){_AMOUNT.format('low')}"
    rf"[^$0-9;]{{1,40}}?{_EXTREME.format('second')}{_GAP.format(80)}{_AMOUNT.format('high')}"
    rf"{_NOT_SHARES}",
    re.IGNORECASE,
)
# "the lowest and highest prices were $X and $Y" (or "high and low", "$Y and $X").
_LOW_AND_HIGH = re.compile(
    rf"{_EXTREME.format('first')}\s+(?:and|&)\s+{_EXTREME.format('second')}{_GAP.format(80)}"
    rf"(?<![0-9.,/-]){_AMOUNT.format('low')}\s*(?:and|,|/)\s*{_AMOUNT.format('high')}{_NOT_SHARES}",
    re.IGNORECASE,
)
_PRICE_WORD = re.compile(r"\bpric", re.IGNORECASE)
_BETWEEN = re.compile(r"\bbetween\s+\Z", re.IGNORECASE)
_PRICE_CONTEXT = 60  # characters before a range searched for "price" when it has no "$"
_SIGNS = frozenset("$€£¥₪₹₩")
MAX_RANGES = 100  # per footnote; a real one lists a few dozen at most (one per row of a long filing)


class StatedRange(NamedTuple):
    low: Decimal
    high: Decimal
    currency: str  # ISO 4217 ("USD", "CAD", "EUR", ...; "GBX" for pence)


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
    return says_volume_weighted and bool(stated_ranges(text))


def price_ranges(text: str | None) -> list[tuple[Decimal, Decimal]]:
    """The ranges ``stated_ranges`` finds in US dollars, as (min, max): never one stated in another currency."""
    return [(r.low, r.high) for r in stated_ranges(text) if r.currency == USD]


def stated_ranges(text: str | None) -> list[StatedRange]:
    """Every stated price range as (min, max, currency), in text order, at most MAX_RANGES.

    Accepted: "from $X to $Y", "between $X and $Y", "range of $X to $Y", "$X - $Y" (any dash), "the lowest
    price ... was $X and the highest price was $Y", "a low of $X and a high of $Y", "the low and high prices
    were $X and $Y" (either order). A range must show a "$" or a currency (on the first amount for a dash
    range, which otherwise reads like a date or an id) or follow the word "price" closely; "and" only joins a
    range after "between"; amounts followed by "shares" are not prices.

    The currency: the one an amount of the range is marked with ("C$10.00", "CAD 10.00", "€10.00",
    "10.50 Canadian dollars", "US$10.00"); for a range with a bare "$" or no sign, the first currency other than
    the dollar the text names anywhere ("prices in Canadian dollars ranging from $13.60 to $14.20"), else USD.
    Reads the first FREE_TEXT_CAP characters.
    """
    if not text:
        return []
    text = text[:FREE_TEXT_CAP]
    if _SIGNS.isdisjoint(text) and _PRICE_WORD.search(text) is None:  # no range can qualify: skip the scans
        return []
    found: list[tuple[int, int, Decimal, Decimal, str | None]] = []
    for m in _RANGE.finditer(text):
        joint = m["joint"].lower()
        lead = _lead(text, m)
        if joint == "and" and not _BETWEEN.search(text, max(0, lead - 16), lead):
            continue
        if joint in ("to", "through", "and"):
            marked = _marked(text, m)
            priced = bool(
                marked
                or m["low_dollar"]
                or m["high_dollar"]
                or _PRICE_WORD.search(text, max(0, lead - _PRICE_CONTEXT), lead)
            )
        else:  # a dash range needs its first amount marked: "$12.01-$12.50", "C$12.01-12.50"
            priced = bool(m["low_dollar"] or _prefix(text, m, "low"))
            marked = _marked(text, m) if priced else None
        if priced:
            found.append((m.start(), m.end(), *_amounts(m), marked))
        if len(found) == MAX_RANGES:
            break
    lowered = text.lower()
    extremes = (_LOW_HIGH, _LOW_AND_HIGH) if "low" in lowered and "high" in lowered else ()
    for pattern in extremes:  # most footnotes name no low and high: skip both scans
        for m in pattern.finditer(text):
            if m["first"][0].lower() == m["second"][0].lower():  # "low ... low": not a range
                continue
            marked = _marked(text, m)
            if marked or m["low_dollar"] or m["high_dollar"] or _PRICE_WORD.search(m[0]):
                found.append((m.start(), m.end(), *_amounts(m), marked))
            if len(found) >= 3 * MAX_RANGES:
                break
    if not found:
        return []
    unmarked = (  # the scan for a named foreign currency only when some range is not marked
        (_currency(_FOREIGN_NAMED.search(text), _FOREIGN_CODES) or USD)
        if any(f[4] is None for f in found)
        else USD
    )
    ranges: list[StatedRange] = []
    end = 0
    for start, stop, low, high, currency in sorted(found, key=lambda f: f[0]):
        if start < end:  # inside a range already taken (two wordings of one statement)
            continue
        ranges.append(StatedRange(low, high, currency or unmarked))
        end = stop
        if len(ranges) == MAX_RANGES:
            break
    return ranges


def _amounts(m: re.Match[str]) -> tuple[Decimal, Decimal]:
    low, high = (Decimal(m[name].replace(",", "")) for name in ("low", "high"))
    return min(low, high), max(low, high)


def _lead(text: str, m: re.Match[str]) -> int:
    """Where a range starts, with the currency marked before its first amount ("NIS 4.10", "C$4.10")."""
    start = m.start("low")
    before = _CURRENCY_BEFORE.search(text, max(0, start - _PREFIX_LOOKBACK), start)
    return min(m.start(), before.start()) if before else m.start()


def _prefix(text: str, m: re.Match[str], name: str) -> str | None:
    """The currency marked right before an amount ("C$", "CAD", "€", "US$"), None for a bare "$" or none."""
    start = m.start(name)
    return _currency(_CURRENCY_BEFORE.search(text, max(0, start - _PREFIX_LOOKBACK), start), _PREFIX_CODES)


def _marked(text: str, m: re.Match[str]) -> str | None:
    """The currency a range's own amounts are marked with: one other than the dollar wins (a range is never read
    as dollars when any part of it says otherwise), then an explicit US marker; None when unmarked."""
    marks = [
        _prefix(text, m, "low"),
        _prefix(text, m, "high"),
        _currency(_CURRENCY_AFTER.match(text, m.end()), _SUFFIX_CODES),
    ]
    return next((c for c in marks if c and c != USD), None) or next((c for c in marks if c), None)


def choose_range(
    ranges: list[tuple[Decimal, Decimal]], price: Decimal | None
) -> tuple[Decimal, Decimal] | None:
    """The range a row's price falls in, when one footnote lists the ranges of several rows.

    Without a price only an unambiguous (single distinct) range is returned; when several contain the price,
    the narrowest (the first of equals) is. A price stated to fewer places than the range falls in it when it
    rounds from a value inside ($5.14 for fills from $5.1386 to $5.1390: half a cent either way).
    """
    distinct = list(dict.fromkeys(ranges))
    if price is None:
        return distinct[0] if len(distinct) == 1 else None
    half = _half_unit(price) if price > 0 else Decimal(0)  # a $0 grant or gift is no rounded average
    containing = [r for r in distinct if r[0] - half <= price <= r[1] + half]
    return min(containing, key=lambda r: r[1] - r[0]) if containing else None


def nearest_range(
    ranges: list[tuple[Decimal, Decimal]], price: Decimal, slack: Decimal
) -> tuple[Decimal, Decimal] | None:
    """For a price outside every range: the range it lies closest to, relative to the nearer bound, when that is
    at most ``slack`` (0.10: 10%) away: the row's range with the price just outside it (a typo in the footnote or
    the price). None when every range is farther (then none is the row's)."""
    best: tuple[Decimal, tuple[Decimal, Decimal]] | None = None
    for low, high in dict.fromkeys(ranges):
        if price < low:
            distance = (low - price) / low
        elif price > high and high > 0:
            distance = (price - high) / high
        else:
            continue  # inside (choose_range's case), or a bound <= 0 nothing is relative to
        if distance <= slack and (best is None or distance < best[0]):
            best = (distance, (low, high))
    return best[1] if best else None


def _half_unit(price: Decimal) -> Decimal:
    """Half a unit in the last place the price is written to: 0.005 for $5.14, 0.5 for $10."""
    exponent = price.as_tuple().exponent
    places = exponent if isinstance(exponent, int) and exponent < 0 else 0
    return Decimal(5).scaleb(places - 1)
