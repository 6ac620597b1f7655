"""Amendments (3/A, 4/A, 5/A): linking each to the filing it restates, in either arrival order, what it
supersedes, and which holding lines it retracts.

An amendment names its original only by ``dateOfOriginalSubmission``, never by accession number, so the link is
inferred, and only a unique candidate links (``ambiguous`` or ``no_original_found`` otherwise). What it
supersedes is matched per table by what an amendment can change; an amendment that arrives first waits and is
linked when its original arrives; of several amendments of one original, the latest accepted restates.

- :mod:`.step` — ``amendment_step``, once per filing, and what it changes (``AmendmentOutcome``);
- :mod:`.linking` — finding the original: originals indexed, amendments waiting (keys ``orig|``, ``amend|``,
  ``amended|``);
- :mod:`.matching` — the rows an amendment restates (``match_rows``);
- :mod:`.stored` — a filing's records as last published (key ``rec|``; ``store_rows`` / ``load_rows``);
- :mod:`.lines` — holding candidates of superseded rows dropped, holding lines retracted.

Memory lives only in the State port, in values bounded whatever the history: each module's docstring gives its
keys and their bounds.
"""

from streams.amendments.lines import _line_of, live_holding_candidates
from streams.amendments.linking import (
    AMBIGUOUS,
    CONTENT_LINK_METHOD,
    LINK_METHOD,
    MAX_ENTRIES_PER_KEY,
    NO_ORIGINAL,
)
from streams.amendments.matching import (
    MAX_SCORED_PAIRS,
    MIN_AGREEING_KEYS,
    SAME_POSITION,
    SAME_SIGNATURE,
    SIGNATURE_KEYS,
    SIMILAR_SIGNATURE,
    match_rows,
)
from streams.amendments.step import AmendmentOutcome, amended_holding_candidates, amendment_step
from streams.amendments.stored import (
    ROW_CHUNK_CHARS,
    _load_rows,
    _store_rows,
    has_rows,
    load_rows,
    store_rows,
)

__all__ = [
    "AMBIGUOUS",
    "CONTENT_LINK_METHOD",
    "LINK_METHOD",
    "MAX_ENTRIES_PER_KEY",
    "MAX_SCORED_PAIRS",
    "MIN_AGREEING_KEYS",
    "NO_ORIGINAL",
    "ROW_CHUNK_CHARS",
    "SAME_POSITION",
    "SAME_SIGNATURE",
    "SIGNATURE_KEYS",
    "SIMILAR_SIGNATURE",
    "AmendmentOutcome",
    "_line_of",
    "_load_rows",
    "_store_rows",
    "amended_holding_candidates",
    "amendment_step",
    "has_rows",
    "live_holding_candidates",
    "load_rows",
    "match_rows",
    "store_rows",
]
