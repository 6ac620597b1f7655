"""The bounds of what the parser hands on: every value inside them is one every later step handles (date
arithmetic, business-day counts, Decimal arithmetic and formatting, keys and table values), and derivation reads
a bounded amount of any text. ``tests/test_pipeline_properties.py`` and ``tests/test_adversarial.py`` hold
them to it. Also the bounds of the input itself that no size cap gives: attributes per element, members per
archive.
"""

from __future__ import annotations

from datetime import date

# A number has at most MAX_INTEGER_DIGITS digits before the point (a quadrillion: real share counts and dollar
# values stay under 10^12) and MAX_DECIMAL_PLACES after it, so at most 25 significant digits: exact in
# Decimal's default 28-digit context, products and sums round instead of failing, and int() and formatting
# always work.
MAX_INTEGER_DIGITS = 15
MAX_DECIMAL_PLACES = 10

# A date lies in MIN_DATE..MAX_DATE, so windows of a year or two either way stay representable and
# business-day counts stay cheap; real filings' dates (including typo'd years such as 2035) lie well inside.
MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(2200, 12, 31)

# Identifying text (titles, names, codes, the nature of ownership) is at most this long: it becomes part of
# holding keys, table values and Kafka keys, which are bounded. Real values are under 300 characters.
MAX_FIELD_CHARS = 1000

# Free text a filer controls (footnotes, remarks) has no length bound but the filing's, and derivation
# analyses at most its first FREE_TEXT_CAP characters, so no input of the allowed size makes it slow: every
# real footnote and remark seen is under 2,000 characters, and what derivation looks for (a 10b5-1 mention,
# an adoption date, a price range) is stated early. The as-filed text is kept whole.
FREE_TEXT_CAP = 8192
# Derivation reads at most this many characters of one filing's footnotes in all (each counted up to
# FREE_TEXT_CAP), in document order, so a filing of the full size cap packed with footnotes parses in a bounded
# time. Real filings use a few percent of it: the most seen is 15,000 characters in 34 footnotes. Footnotes past
# it keep their text; rows citing one carry the value flag ``footnote_not_read``.
FOOTNOTE_TEXT_BUDGET = 256 * 1024

# An element of an ownership document carries at most this many attributes; one with more is refused as
# ``hostile_xml``. Real ones carry at most two (a footnote's id, the root's schema location), but lxml reads an
# attribute by looking up its name, so code that reads every attribute of an element (the character check
# after a repair) takes time that grows with the square of their count: 150,000 attributes on one element of a
# 1.5 MB document held a parse for 38 s.
MAX_ATTRIBUTES_PER_ELEMENT = 64

# Local inputs (`form4 parse`, `form4 ingest files`) read at most this many members of one archive by default
# (FORM4_MAX_ARCHIVE_MEMBERS, --max-members): each tar header costs time and a zip's whole directory is loaded
# before its first member, so a 2 MB tar.gz of a million empty members took 19 s and 660 MB. A day of EDGAR's
# filings of every form is about 10,000.
DEFAULT_MAX_ARCHIVE_MEMBERS = 100_000


def date_in_bounds(value: date) -> bool:
    """A date every later step handles: MIN_DATE..MAX_DATE."""
    return MIN_DATE <= value <= MAX_DATE
