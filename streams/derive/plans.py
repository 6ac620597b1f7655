"""Rule 10b5-1 trading plans in footnote and remarks text.

Before the 2023 checkbox a footnote is the only sign of a plan, and afterwards it is still the only place
the adoption date is given. The anti-fraud rule 10b-5 is cited in the same footnotes, so the match must not
fire on it ("Rule 10b-5 under the Exchange Act", "Rule 10b-5(b)").
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date

from streams.bounds import FREE_TEXT_CAP, date_in_bounds

_DASH = "-‐‑‒–—−"  # hyphen-minus, hyphen, non-breaking hyphen, figure dash, en dash, em dash, minus sign

# "10b5-1", "10b-5-1", "10b5–1", "10b 5-1", "10b51": between the 5 and the 1 a dash or nothing. A plain space
# there ("10b5 1") only counts when no dash separates b and 5, because "Rule 10b-5 1 share" is rule 10b-5
# followed by a number. The 1 must not be followed by another digit ("10b5-12" is not a plan).
_MENTION = re.compile(
    rf"(?<!\d)10\s?b(?:\s?[{_DASH}]?\s?5(?:\s*[{_DASH}]\s*)?1|\s?5 1)(?!\d)",
    re.IGNORECASE,
)

_MAYBE = re.compile(r"10\s?b", re.IGNORECASE)  # literal-prefixed, so re scans it fast: most texts stop here

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_MONTH_NAMES = "|".join(sorted(_MONTHS, key=len, reverse=True))
_MONTH = rf"\b(?:{_MONTH_NAMES})\b\.?"
_DATE = re.compile(
    rf"(?P<mdy_month>{_MONTH})\s*(?P<mdy_day>[0-9]{{1,2}})(?:st|nd|rd|th)?\s*,?\s*(?P<mdy_year>[0-9]{{4}})\b"
    rf"|\b(?P<dmy_day>[0-9]{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<dmy_month>{_MONTH}),?\s*(?P<dmy_year>[0-9]{{4}})\b"
    r"|\b(?P<iso_year>[0-9]{4})-(?P<iso_month>[0-9]{1,2})-(?P<iso_day>[0-9]{1,2})\b"
    r"|\b(?P<us_month>[0-9]{1,2})[/-](?P<us_day>[0-9]{1,2})[/-](?P<us_year>[0-9]{4}|[0-9]{2})\b",
    re.IGNORECASE,
)
# Words that introduce the adoption date; "dated" only right before the date ("a plan dated May 1, 2024").
_ADOPTED = re.compile(r"\b(?:adopted|adoption\s+date(?:\s+of)?|entered\s+into|(?P<dated>dated))\b", re.I)
# Between the keyword and its date: a short phrase ("by the reporting person's trust on") with no second verb
# or event, so "adopted by the holder, and the sales on May 1" does not give May 1.
_GAP_LIMIT = 100
_GAP_STOP = re.compile(
    r"\b(?:and|which|sold|sales?|purchas\w*|effected|executed|transactions?|modif\w*|amend\w*|"
    r"terminat\w*|expir\w*|exercis\w*|vest\w*)\b|;|\d{4}",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+")
_ABBREVIATION = re.compile(
    rf"\b(?:{_MONTH_NAMES}|mr|mrs|ms|dr|jr|sr|st|inc|co|corp|ltd|no|nos|l\.p|l\.l\.c|u\.s|n\.a|v|vs)\.$", re.I
)
_ABBREVIATION_TAIL = 16  # longer than any abbreviation above with the word boundary before it
# A later sentence about "the plan" (not "the 2020 Equity Incentive Plan") can give the date.
_THE_PLAN = re.compile(r"\b(?:the|such|this|that|said|trading)\s+plan\b", re.IGNORECASE)


def mentions_10b5_1(text: str | None) -> bool:
    """True when the text cites Rule 10b5-1 in any of its spellings, never for bare Rule 10b-5.

    Reads the first FREE_TEXT_CAP characters.
    """
    if not text:
        return False
    text = text[:FREE_TEXT_CAP]
    return _MAYBE.search(text) is not None and _MENTION.search(text) is not None


def _sentences(text: str) -> Iterator[str]:
    """Split on sentence punctuation, gluing back splits after abbreviations ("Mr. Smith") or before a
    piece that does not start with a capital ("Dec. 6", "Inc. and").

    Linear: a sentence is built as a list of pieces, and the abbreviation test looks only at the tail of the
    piece before the split (an abbreviation is a short word), never at the whole sentence so far. Lazy, so a
    reader that finds its date in the first sentences does not split the rest.
    """
    sentence: list[str] = []
    for piece in _pieces(text):
        if sentence and (_ABBREVIATION.search(sentence[-1][-_ABBREVIATION_TAIL:]) or not piece[:1].isupper()):
            sentence.append(piece)
            continue
        if sentence:
            yield " ".join(sentence)
        sentence = [piece]
    if sentence:
        yield " ".join(sentence)


def _pieces(text: str) -> Iterator[str]:
    """``_SENTENCE_END.split(text)``, one piece at a time."""
    start = 0
    for end in _SENTENCE_END.finditer(text):
        yield text[start : end.start()]
        start = end.end()
    yield text[start:]


def _to_date(found: re.Match[str]) -> date | None:
    g = found.groupdict()
    adopted: date | None = None
    try:
        if g["mdy_month"]:
            adopted = date(int(g["mdy_year"]), _month(g["mdy_month"]), int(g["mdy_day"]))
        elif g["dmy_month"]:
            adopted = date(int(g["dmy_year"]), _month(g["dmy_month"]), int(g["dmy_day"]))
        elif g["iso_year"]:
            adopted = date(int(g["iso_year"]), int(g["iso_month"]), int(g["iso_day"]))
        else:
            year = int(g["us_year"])
            adopted = date(year + 2000 if year < 100 else year, int(g["us_month"]), int(g["us_day"]))
    except ValueError:
        return None
    return adopted if date_in_bounds(adopted) else None  # "May 1, 0001" is no date later steps can use


def _month(name: str) -> int:
    return _MONTHS[name.rstrip(".").lower()]


def plan_adoption_date(text: str | None) -> date | None:
    """The date a 10b5-1 plan was adopted (or entered into), when a sentence about the plan states it.

    The sentence must cite 10b5-1, or speak of "the plan" in a text that cites 10b5-1 elsewhere. The date must
    follow "adopted"/"entered into"/"adoption date" closely (see ``_GAP_STOP``), so a modification or trade
    date is not taken for it. First such date in text order; None when there is none or it is not a real date.
    Reads the first FREE_TEXT_CAP characters.
    """
    if not text or not mentions_10b5_1(text):
        return None
    text = text[:FREE_TEXT_CAP]
    for sentence in _sentences(text):
        if not (mentions_10b5_1(sentence) or _THE_PLAN.search(sentence)):
            continue
        for keyword in _ADOPTED.finditer(sentence):
            found = _DATE.search(sentence, keyword.end(), keyword.end() + _GAP_LIMIT)
            gap = sentence[keyword.end() : found.start()] if found else ""
            if found is None or _GAP_STOP.search(gap) or (keyword["dated"] and gap.strip()):
                continue
            adopted = _to_date(found)
            if adopted is not None:
                return adopted
    return None
