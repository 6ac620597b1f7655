"""Linking an amendment (3/A, 4/A, 5/A) to the filing it restates, in either arrival order.

An amendment names its original only by ``dateOfOriginalSubmission``, never by accession number, so the link
is inferred, and only a unique candidate links (``ambiguous`` or ``no_original_found`` otherwise):

- ``issuer+owners+original_date``: same issuer, same set of reporting owners, and the original's filing date
  or acceptance date equal to ``dateOfOriginalSubmission``;
- ``issuer+owners+content``: when the original is a bare document (no accession, so no filing date is known):
  same issuer and owners, the same period of report (not after ``dateOfOriginalSubmission``), and the same
  transaction rows by (table, transaction date, code). When no bare original of that period has those rows (an
  amendment that also corrects the period of report), the bare original with the same rows whatever its
  period, that period and the amendment's not after ``dateOfOriginalSubmission``; never for a filing without
  transaction rows.

An amendment restates the filing, so what it supersedes is matched by what an amendment can change, per table
(``match_rows``): identical rows first, then the most similar signatures, then the rest by position when the
table has as many rows in both; rows it leaves alone stay live. An amendment that arrives first waits and is
linked when its original arrives: the original's restated rows are then published already superseded. Of
several amendments of one original, the latest accepted restates: it supersedes what it restates in the
original and in the earlier amendments, and an earlier one arriving later comes out with those rows superseded.

Memory lives only in the State port, in values bounded whatever the history:

- ``orig|<issuer>|<owners>|filed|<date>``: originals filed or accepted that day; ``orig|…|period|<date>``: bare
  originals by period of report; ``orig|…|rows|<content>``: bare originals with transaction rows by their rows
  (the digest of their (table, transaction date, code)), with their period. At most ``MAX_ENTRIES_PER_KEY``
  entries of about 150 bytes (oldest dropped).
- ``amend|<issuer>|<owners>|filed|<date>`` / ``amend|…|period|<date>`` / ``amend|…|rows|<content>``: amendments
  that found no original, by their ``dateOfOriginalSubmission``, period of report and rows (with rows only).
  At most ``MAX_ENTRIES_PER_KEY`` entries of about 250 bytes (linked ones dropped first, then the oldest).
- ``amended|<id>``: the amendments linked to original ``<id>``, with their acceptance times, at most
  ``MAX_ENTRIES_PER_KEY`` (oldest dropped).
- ``rec|<id>``: a filing's records as last published and the footnote texts they cite (each once, cited by
  number), as one ASCII JSON text: at most ``ROW_CHUNK_CHARS`` characters per value (under 64 KB once
  serialised), a longer text continuing under ``rec|<id>|<digest>|1``, ``|2``... (one value for a typical
  filing, a few hundred for the largest legal one). Kept for originals with transactions and for amendments;
  never pruned here (like the per-accession records table they replace): one key per filing.

``<owners>`` is the sorted owner CIKs joined by commas; ``<id>`` the accession number, or ``sha256:<hash>`` of a
bare document, which is also what ``amends_accession`` and ``superseded_by`` carry for one.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date
from typing import Any

from streams.derive.enrich import filing_identity
from streams.holdings import order
from streams.models import Filing, HoldingKey, HoldingRetraction, HoldingState, Transaction, TransactionRecord
from streams.records import holding_candidates, holding_key_string, normalize_security, transaction_records
from streams.state import State, key

LINK_METHOD = "issuer+owners+original_date"
CONTENT_LINK_METHOD = "issuer+owners+content"
NO_ORIGINAL = "no_original_found"
AMBIGUOUS = "ambiguous"

SAME_SIGNATURE = "same_signature"  # every signature key agrees
SIMILAR_SIGNATURE = "similar_signature"  # the most similar row, at most 2 keys differ
SAME_POSITION = "same_position"  # the rest, when the table has as many rows in both: in document order

#: What a row's signature compares, in order of weight when two candidates are equally similar.
SIGNATURE_KEYS = (
    "transaction_date",
    "transaction_code",
    "acquired_disposed",
    "shares",
    "security_title",
    "price_per_share",
    "ownership",
    "balance_after",
)
MIN_AGREEING_KEYS = len(SIGNATURE_KEYS) - 2
# Split in 3 groups, keys of a pair with at most 2 differing agree on a whole group: candidates come from
# buckets by group, each with one of the keys that tell tranches apart (shares, price, balance after).
_BUCKET_GROUPS = ((0, 1, 2, 3), (4, 5), (6, 7))
MAX_SCORED_PAIRS = 50_000  # per table: bounds a pathological similarity match to about 0.3 s

MAX_ENTRIES_PER_KEY = 8  # originals (or waiting amendments) of one issuer, owner set and date
ROW_CHUNK_CHARS = 30_000  # ASCII JSON; escaping at most doubles it, so a value stays under 64 KB


@dataclass
class AmendmentOutcome:
    """What one filing changes in what was published. Send ``retract`` before the filing's holding candidates."""

    records: list[TransactionRecord]
    """This filing's records: an amendment's with ``amends_accession`` / ``amendment_link_method``; an original's
    rows that an earlier-arrived amendment restates already carry ``superseded_by``."""
    superseded: list[TransactionRecord] = field(default_factory=list)
    """An earlier-published original's rows this amendment restates, republished with ``superseded_by``."""
    relinked: list[TransactionRecord] = field(default_factory=list)
    """Earlier-published amendment rows now linked to this original, republished with ``amends_accession``."""
    retract: list[HoldingRetraction] = field(default_factory=list)
    """Holding lines whose balance came from a superseded row the amendment does not restate on that line."""
    restates: dict[str, list[str]] = field(default_factory=dict)
    """This amendment's row (txn_id) -> the earlier rows it restates: its holding candidate replaces theirs."""


def amendment_step(filing: Filing, state: State) -> AmendmentOutcome:
    """Link, supersede and remember, once per filing. Idempotent: the same filing again (a redelivery after its
    state was written) gives the same outcome and writes nothing new."""
    if filing.derived.is_amendment:
        return _amendment(filing, state)
    return _original(filing, state)


def amended_holding_candidates(filing: Filing, outcome: AmendmentOutcome) -> list[HoldingState]:
    """The filing's live holding candidates (``live_holding_candidates``), each amendment row's naming the rows
    it restates (``HoldingState.restates_row_ids``), so that its line forgets them."""
    return [
        c.model_copy(update={"restates_row_ids": outcome.restates[c.source_row_id]})
        if c.source_row_id in outcome.restates
        else c
        for c in live_holding_candidates(holding_candidates(filing), outcome.records)
    ]


def live_holding_candidates(
    candidates: list[HoldingState], records: list[TransactionRecord]
) -> list[HoldingState]:
    """The filing's holding candidates without those of rows already superseded when it arrived (an original
    that came after its amendment): a restated balance must not overwrite the amendment's."""
    stale = {r.txn_id for r in records if r.superseded_by is not None}
    return [c for c in candidates if c.source_row_id not in stale]


# ---------------------------------------------------------------------------------------------- row matching


def _signature(row: Transaction) -> tuple[object, ...]:
    return (
        row.transaction_date,
        row.transaction_code,
        row.acquired_disposed,
        row.shares,
        normalize_security(row.security_title or ""),
        row.price_per_share,
        (row.direct_indirect, normalize_security(row.nature_of_ownership or "")),
        (row.shares_owned_following, row.value_owned_following),
    )


def match_rows(
    original: Sequence[Transaction], amendment: Sequence[Transaction]
) -> list[tuple[int, int, str]]:
    """(original index, amendment index, how) for each original row the amendment restates, per table:

    1. ``same_signature``: rows whose every signature key agrees, in document order;
    2. ``similar_signature``: each remaining amendment row takes the most similar remaining original row —
       most keys agreeing, then by ``SIGNATURE_KEYS`` order, then nearest position — with at most 2 keys
       differing;
    3. ``same_position``: if the table has as many rows in both (the amendment restates the table), the rest
       pair in document order, whatever they changed.

    Otherwise original rows left unmatched are left alone, and amendment rows left unmatched are new.
    """
    pairs: list[tuple[int, int, str]] = []
    for table in ("non_derivative", "derivative"):
        in_original = [i for i, r in enumerate(original) if r.table == table]
        in_amendment = [j for j, r in enumerate(amendment) if r.table == table]
        if not in_original or not in_amendment:
            continue
        waiting: dict[tuple[object, ...], deque[int]] = defaultdict(deque)
        for i in in_original:
            waiting[_signature(original[i])].append(i)
        found = []
        for j in in_amendment:
            same = waiting.get(_signature(amendment[j]))
            if same:
                found.append((same.popleft(), j, SAME_SIGNATURE))
        found += _most_similar(original, amendment, *_left(in_original, in_amendment, found))
        if len(in_original) == len(in_amendment):
            left_o, left_a = _left(in_original, in_amendment, found)
            found += [(i, j, SAME_POSITION) for i, j in zip(left_o, left_a, strict=True)]
        pairs += found
    return sorted(pairs)


def _left(
    in_original: list[int], in_amendment: list[int], pairs: list[tuple[int, int, str]]
) -> tuple[list[int], list[int]]:
    taken_o, taken_a = {i for i, _, _ in pairs}, {j for _, j, _ in pairs}
    return [i for i in in_original if i not in taken_o], [j for j in in_amendment if j not in taken_a]


def _most_similar(
    original: Sequence[Transaction], amendment: Sequence[Transaction], left_o: list[int], left_a: list[int]
) -> list[tuple[int, int, str]]:
    signatures = {i: _signature(original[i]) for i in left_o}
    buckets: list[dict[object, list[int]]] = [defaultdict(list) for _ in _BUCKET_GROUPS]
    for i in left_o:
        for bucket, group in zip(buckets, _BUCKET_GROUPS, strict=True):
            bucket[tuple(signatures[i][k] for k in group)].append(i)
    scored = []
    budget = MAX_SCORED_PAIRS
    for j in left_a:
        theirs = _signature(amendment[j])
        groups = sorted(
            (
                bucket.get(tuple(theirs[k] for k in group), [])
                for bucket, group in zip(buckets, _BUCKET_GROUPS, strict=True)
            ),
            key=len,
        )
        seen: set[int] = set()
        for candidates in groups:  # smallest bucket first; a row one key off cannot be bettered: stop there
            budget -= len(candidates)
            if budget < 0:
                break  # pathological: rows not scored stay live (or pair by position) rather than block the loop
            best = 0
            for i in candidates:
                if i in seen:
                    continue
                seen.add(i)
                agree = [mine == their for mine, their in zip(signatures[i], theirs, strict=True)]
                best = max(best, sum(agree))
                if sum(agree) >= MIN_AGREEING_KEYS:
                    distance = abs(original[i].row_index - amendment[j].row_index)
                    scored.append((-sum(agree), [not a for a in agree], distance, j, i))
            if best == len(SIGNATURE_KEYS) - 1:
                break
    scored.sort()
    used_o: set[int] = set()
    used_a: set[int] = set()
    pairs = []
    for *_, j, i in scored:
        if i not in used_o and j not in used_a:
            used_o.add(i)
            used_a.add(j)
            pairs.append((i, j, SIMILAR_SIGNATURE))
    return pairs


# ------------------------------------------------------------------------------------------------ the steps


def _amendment(filing: Filing, state: State) -> AmendmentOutcome:
    me = _identity(filing)
    original, method = _find_original(filing, me, state)
    records = transaction_records(
        filing, amends_accession=original["id"] if original else None, amendment_link_method=method
    )
    if original is None:
        if method == NO_ORIGINAL:
            _remember_waiting(filing, me, records, state)
        return AmendmentOutcome(records=records)
    accepted = _accepted(filing)
    siblings = [e for e in _entries(state, key("amended", original["id"])) if e["id"] != me]
    later = sorted((e for e in siblings if _is_later(e["accepted"], accepted)), key=_acceptance_order)
    earlier_siblings = [e for e in siblings if not _is_later(e["accepted"], accepted)]
    claimed_later = {e["id"] for e in later}
    outcome = AmendmentOutcome(records=records)
    # The original's rows, then each earlier amendment's rows, that this one restates; a row a later-accepted
    # amendment restates stays superseded by that one.
    for target in [original, *earlier_siblings]:
        rows = list(_load_rows(state, target["id"]))
        pairs = [p for p in match_rows(rows, records) if rows[p[0]].superseded_by not in claimed_later]
        restated = {
            i: rows[i].model_copy(update={"superseded_by": me, "supersede_match": how}) for i, _, how in pairs
        }
        # Rows are kept as last published, so a redelivered filing republishes them as they now stand.
        _store_rows(state, target["id"], [restated.get(i, r) for i, r in enumerate(rows)])
        outcome.superseded += restated.values()
        outcome.retract += _retractions(filing, rows, records, pairs, me)
        for i, j, _ in pairs:
            outcome.restates.setdefault(records[j].txn_id, []).append(rows[i].txn_id)
    # This amendment's own rows that a later-accepted one (arrived first) restates: the latest wins.
    for sibling in later:
        for _, j, how in match_rows(records, list(_load_rows(state, sibling["id"]))):
            records[j] = records[j].model_copy(
                update={"superseded_by": sibling["id"], "supersede_match": how}
            )
    outcome.records = records
    _store_rows(state, me, records)
    _add_entry(state, key("amended", original["id"]), {"id": me, "accepted": accepted})
    return outcome


def _original(filing: Filing, state: State) -> AmendmentOutcome:
    me = _identity(filing)
    records = transaction_records(filing)
    _index_original(filing, me, state)
    # What amendments already superseded, when this is the original again (a redelivery, a replay).
    restated: dict[int, tuple[str, str | None]] = {
        n: (r.superseded_by, r.supersede_match)
        for n, r in enumerate(_load_rows(state, me))
        if r.superseded_by is not None
    }
    waiting = sorted(_waiting_for(filing, me, state), key=lambda found: _acceptance_order(found[0]))
    linked: list[tuple[dict[str, Any], list[TransactionRecord]]] = []
    for entry, method in waiting:
        rows = [
            r.model_copy(update={"amends_accession": me, "amendment_link_method": method})
            for r in _load_rows(state, entry["id"])
        ]
        for i, _, how in match_rows(records, rows):
            restated[i] = (entry["id"], how)  # in acceptance order: the latest amendment wins
        linked.append((entry, rows))
        _mark_linked(filing, entry, me, method, state)
    relinked: list[TransactionRecord] = []
    retract: list[HoldingRetraction] = []
    for n, (entry, rows) in enumerate(linked):
        for later, later_rows in linked[n + 1 :]:  # each amendment's rows a later-accepted one restates
            pairs = match_rows(rows, later_rows)
            for i, _, how in pairs:
                rows[i] = rows[i].model_copy(update={"superseded_by": later["id"], "supersede_match": how})
            retract += _stale_lines(rows, pairs, later["id"])
        _store_rows(state, entry["id"], rows)
        sibling = {"id": entry["id"], "accepted": entry.get("accepted")}
        _add_entry(state, key("amended", me), sibling)
        relinked += rows
    records = [
        r.model_copy(update={"superseded_by": restated[n][0], "supersede_match": restated[n][1]})
        if n in restated
        else r
        for n, r in enumerate(records)
    ]
    _store_rows(state, me, records)
    return AmendmentOutcome(records=records, relinked=relinked, retract=retract)


def _accepted(filing: Filing) -> str | None:
    when = filing.acceptance_datetime
    return when.astimezone(UTC).isoformat() if when is not None else None


def _is_later(accepted: str | None, than: str | None) -> bool:
    """Accepted after ``than``; when either time is unknown, arrival order stands (what is stored came first)."""
    return accepted is not None and than is not None and accepted > than


def _acceptance_order(entry: dict[str, Any]) -> str:
    return entry.get("accepted") or ""


def _identity(filing: Filing) -> str:
    return filing_identity({"accession_number": filing.accession_number, "raw_sha256": filing.raw_sha256})


def _owners(filing: Filing) -> str:
    return ",".join(filing.derived.reporting_owner_ciks)


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def _dates(filing: Filing) -> list[date]:
    """The days an original may be cited by: its filing date and its acceptance date (after-hours filings)."""
    accepted = filing.acceptance_datetime.date() if filing.acceptance_datetime else None
    return sorted({d for d in (filing.filed_date, accepted) if d is not None})


def _content(rows: Sequence[Transaction]) -> str:
    """What a bare original and its amendment share when no date can: the (table, date, code) of their rows."""
    facts = sorted({(r.table, _iso(r.transaction_date) or "", r.transaction_code or "") for r in rows})
    return hashlib.sha256(json.dumps(facts).encode()).hexdigest()[:24]


_NO_ROWS = _content(())


def _entries(state: State, k: str) -> list[dict[str, Any]]:
    return [dict(e) for e in state.get(k) or []]


def _find_original(filing: Filing, me: str, state: State) -> tuple[dict[str, Any] | None, str]:
    issuer, owners = filing.issuer.cik, _owners(filing)
    cited = filing.date_of_original_submission
    if cited is not None:
        dated = [
            e
            for e in _entries(state, key("orig", issuer, owners, "filed", cited.isoformat()))
            if e["id"] != me
        ]
        if len(dated) == 1:
            return dated[0], LINK_METHOD
        if dated:
            return None, AMBIGUOUS
    period = filing.period_of_report
    content = _content(filing.transactions)
    if period is not None and (cited is None or period <= cited):
        bare = [
            e
            for e in _entries(state, key("orig", issuer, owners, "period", period.isoformat()))
            if e["id"] != me and e["content"] == content
        ]
        if len(bare) == 1:
            return bare[0], CONTENT_LINK_METHOD
        if bare:
            return None, AMBIGUOUS
    # An amendment that also corrects the period of report: the bare originals with the same rows, whatever
    # their period (not after dateOfOriginalSubmission either).
    if _not_after(_iso(period), _iso(cited)):
        moved = [
            e
            for e in _by_rows(state, "orig", issuer, owners, content)
            if e["id"] != me and _not_after(e["period"], _iso(cited))
        ]
        if len(moved) == 1:
            return moved[0], CONTENT_LINK_METHOD
        if moved:
            return None, AMBIGUOUS
    return None, NO_ORIGINAL


def _not_after(day: str | None, cited: str | None) -> bool:
    """``day`` (ISO) is on or before ``cited``, or either is unknown."""
    return day is None or cited is None or day <= cited


def _rows_keys(kind: str, issuer: str, owners: str, content: str) -> list[str]:
    """``<kind>|<issuer>|<owners>|rows|<content>``: filings by their rows, whatever their period; none for a
    filing without transaction rows (nothing to match)."""
    return [] if content == _NO_ROWS else [key(kind, issuer, owners, "rows", content)]


def _by_rows(state: State, kind: str, issuer: str, owners: str, content: str) -> list[dict[str, Any]]:
    """The bare originals (``orig``) or waiting amendments (``amend``) with these rows, whatever their period."""
    return [e for k in _rows_keys(kind, issuer, owners, content) for e in _entries(state, k)]


def _add_entry(state: State, k: str, entry: dict[str, Any], evict_first: str | None = None) -> None:
    """Add ``entry`` under ``k`` unless its id is there; keep ``MAX_ENTRIES_PER_KEY``, dropping entries that
    have ``evict_first`` set before the oldest others."""
    entries = _entries(state, k)
    if any(e["id"] == entry["id"] for e in entries):
        return
    entries.append(entry)
    while len(entries) > MAX_ENTRIES_PER_KEY:
        done = [n for n, e in enumerate(entries) if evict_first and e.get(evict_first)]
        entries.pop(done[0] if done else 0)
    state.put(k, entries)


def _index_original(filing: Filing, me: str, state: State) -> None:
    issuer, owners = filing.issuer.cik, _owners(filing)
    entry = {"id": me, "content": _content(filing.transactions)}
    dates = _dates(filing)
    for d in dates:
        _add_entry(state, key("orig", issuer, owners, "filed", d.isoformat()), entry)
    period = _iso(filing.period_of_report)
    if not dates and period is not None:
        _add_entry(state, key("orig", issuer, owners, "period", period), entry)
        for k in _rows_keys("orig", issuer, owners, entry["content"]):
            _add_entry(state, k, {**entry, "period": period})


def _waiting_keys(filing: Filing, entry: dict[str, Any]) -> list[str]:
    """Where the waiting amendment ``entry`` is kept: by the date it cites, its period of report, its rows."""
    issuer, owners = filing.issuer.cik, _owners(filing)
    cited, period, content = entry["cited"], entry["period"], entry.get("content")
    keys = []
    if cited:
        keys.append(key("amend", issuer, owners, "filed", cited))
    if period:
        keys.append(key("amend", issuer, owners, "period", period))
    if content:
        keys += _rows_keys("amend", issuer, owners, content)
    return keys


def _remember_waiting(filing: Filing, me: str, records: list[TransactionRecord], state: State) -> None:
    entry = {
        "id": me,
        "cited": _iso(filing.date_of_original_submission),
        "period": _iso(filing.period_of_report),
        "content": _content(filing.transactions),
        "accepted": _accepted(filing),
        "linked": None,
        "method": None,
    }
    for k in _waiting_keys(filing, entry):
        _add_entry(state, k, entry, evict_first="linked")
    _store_rows(state, me, records)


def _waiting_for(filing: Filing, me: str, state: State) -> list[tuple[dict[str, Any], str]]:
    """Amendments that arrived before this original and now link to it, oldest first, with the method."""
    issuer, owners = filing.issuer.cik, _owners(filing)
    found: dict[str, tuple[dict[str, Any], str]] = {}
    dates = _dates(filing)
    for d in dates:
        originals = _entries(state, key("orig", issuer, owners, "filed", d.isoformat()))
        for entry in _entries(state, key("amend", issuer, owners, "filed", d.isoformat())):
            mine = entry["linked"] in (None, me)
            unique = [o["id"] for o in originals if o["id"] != entry["id"]] == [me]
            if mine and unique:
                found.setdefault(entry["id"], (entry, LINK_METHOD))
    period = filing.period_of_report
    if not dates and period is not None:
        content = _content(filing.transactions)
        originals = _entries(state, key("orig", issuer, owners, "period", period.isoformat()))
        same = [o["id"] for o in originals if o["content"] == content]
        for entry in _entries(state, key("amend", issuer, owners, "period", period.isoformat())):
            mine = entry["linked"] in (None, me)
            cited_later = entry["cited"] is None or date.fromisoformat(entry["cited"]) >= period
            if mine and cited_later and entry["content"] == content and same == [me]:
                found.setdefault(entry["id"], (entry, CONTENT_LINK_METHOD))
        # Amendments with these rows that corrected the period of report: as ``_find_original`` would link them.
        same_rows = _by_rows(state, "orig", issuer, owners, content)
        for entry in _by_rows(state, "amend", issuer, owners, content):
            cited = entry["cited"]
            mine = entry["linked"] in (None, me)
            fits = _not_after(entry["period"], cited) and _not_after(period.isoformat(), cited)
            unique = [o["id"] for o in same_rows if _not_after(o["period"], cited)] == [me]
            if mine and fits and unique:
                found.setdefault(entry["id"], (entry, CONTENT_LINK_METHOD))
    return list(found.values())


def _mark_linked(filing: Filing, entry: dict[str, Any], me: str, method: str, state: State) -> None:
    for k in _waiting_keys(filing, entry):
        entries = _entries(state, k)
        changed = [
            {**e, "linked": me, "method": method} if e["id"] == entry["id"] and e["linked"] != me else e
            for e in entries
        ]
        if changed != entries:
            state.put(k, changed)


# ------------------------------------------------------------------------------------------ rows in state


def _store_rows(state: State, me: str, records: list[TransactionRecord]) -> None:
    """The records and the footnote texts they cite as one ASCII JSON text (in as few values as fit: one for a
    typical filing, so one changelog write), each footnote text once per filing and cited by number (a long
    footnote cited by 1,000 rows is kept once, not 1,000 times)."""
    if not records:
        return
    notes: dict[str, int] = {}
    rows = []
    for record in records:
        row = record.model_dump(mode="json")
        texts = row["derived"]["footnote_texts"]
        row["derived"]["footnote_texts"] = [notes.setdefault(t, len(notes)) for t in texts]
        rows.append(row)
    stored = {"rows": rows, "notes": list(notes)}
    _put_text(state, key("rec", me), json.dumps(stored, separators=(",", ":"), sort_keys=True))


def _load_rows(state: State, me: str) -> Iterator[TransactionRecord]:
    text = _get_text(state, key("rec", me))
    if text is None:
        return  # an entry without its rows (never expected): link, but supersede nothing
    stored = json.loads(text)
    for row in stored["rows"]:
        row["derived"]["footnote_texts"] = [stored["notes"][k] for k in row["derived"]["footnote_texts"]]
        yield TransactionRecord.model_validate(row)


def _put_text(state: State, k: str, text: str) -> None:
    """``text`` (ASCII) under ``k``, continued past ``ROW_CHUNK_CHARS`` under ``k|<digest>|1``, ``|2``...; storing
    the same text again writes nothing.

    The parts of a longer text are named for its digest and written before the head that names them, and the
    previous version's parts are deleted after it: a kill between the writes leaves a whole version readable.
    """
    parts = [text[p : p + ROW_CHUNK_CHARS] for p in range(0, len(text), ROW_CHUNK_CHARS)] or [""]
    digest = _digest(text) if len(parts) > 1 else None
    head = {"parts": len(parts), "text": parts[0], "digest": digest}
    old = state.get(k)
    if old == head:
        return
    for p, part in enumerate(parts[1:], start=1):
        state.put(key(k, str(digest), str(p)), part)
    state.put(k, head)
    if old and old.get("digest") and old["digest"] != digest:
        for p in range(1, old["parts"]):
            state.put(key(k, old["digest"], str(p)), None)


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _get_text(state: State, k: str) -> str | None:
    """The text ``_put_text`` stored, or None when there is none whole (never expected: see ``_put_text``)."""
    head = state.get(k)
    if head is None:
        return None
    if head["parts"] == 1:
        return str(head["text"])
    digest = head["digest"]
    text = str(head["text"]) + "".join(
        str(state.get(key(k, digest, str(p))) or "") for p in range(1, head["parts"])
    )
    return text if _digest(text) == digest else None


# --------------------------------------------------------------------------------------------- holdings


def _line_of(record: TransactionRecord, n: int, owner_cik: str) -> HoldingState:
    """The holding candidate an original row gave (as ``streams.records.holding_candidates`` built it)."""
    return HoldingState(
        key=HoldingKey(
            owner_cik=owner_cik,
            issuer_cik=record.issuer.cik,
            security_title=normalize_security(record.security_title or ""),
            direct_indirect=record.direct_indirect,
            nature_of_ownership=record.nature_of_ownership,
            is_derivative=record.table == "derivative",
        ),
        shares_owned=record.shares_owned_following,
        value_owned=record.value_owned_following,
        as_of_date=record.transaction_date or record.period_of_report,
        acceptance_datetime=record.acceptance_datetime,
        source_accession=record.accession_number,
        source_row_id=record.txn_id,
        source_kind="transaction",
        source_row_index=n,
    )


def _stale_lines(
    rows: list[TransactionRecord], pairs: list[tuple[int, int, str]], by: str
) -> list[HoldingRetraction]:
    """The lines of an earlier amendment's rows that a later one (both waiting for the original) restates: the
    line drops them, or forgets them as its previous balance (``streams.holdings.forget_previous``)."""
    lines: dict[str, tuple[HoldingKey, list[str]]] = {}
    for i, _, _ in pairs:
        row = rows[i]
        if row.shares_owned_following is None and row.value_owned_following is None:
            continue
        for owner in row.reporting_owners:
            stale = _line_of(row, i, owner.cik)
            lines.setdefault(holding_key_string(stale.key), (stale.key, []))[1].append(row.txn_id)
    return [
        HoldingRetraction(key=k, source_row_ids=ids, superseded_by=by)
        for _, (k, ids) in sorted(lines.items())
    ]


def _retractions(
    amendment: Filing,
    earlier: list[TransactionRecord],
    records: list[TransactionRecord],
    pairs: list[tuple[int, int, str]],
    me: str,
) -> list[HoldingRetraction]:
    """Lines of superseded rows that the amendment's restated row will not overwrite: another line (a corrected
    title, ownership, table) or an earlier as-of date. Applied before the amendment's candidates."""
    restating = {(c.key.owner_cik, c.source_row_id): c for c in holding_candidates(amendment)}
    lines: dict[str, tuple[HoldingKey, list[str]]] = {}
    for i, j, _ in pairs:
        row = earlier[i]
        if row.shares_owned_following is None and row.value_owned_following is None:
            continue
        for owner in row.reporting_owners:
            stale = _line_of(row, i, owner.cik)
            new = restating.get((owner.cik, records[j].txn_id))
            if new is not None and new.key == stale.key and order(new) >= order(stale):
                continue
            line = lines.setdefault(holding_key_string(stale.key), (stale.key, []))
            line[1].append(row.txn_id)
    return [
        HoldingRetraction(key=line_key, source_row_ids=ids, superseded_by=me)
        for _, (line_key, ids) in sorted(lines.items())
    ]


#: A filing's records as last published, for ``streams.alerts.revise`` and ``streams.process``.
store_rows = _store_rows
load_rows = _load_rows
