"""Finding the filing an amendment restates, in either arrival order: originals indexed, amendments waiting.

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

An amendment that finds no original waits (``_remember_waiting``) and is linked when its original arrives
(``_waiting_for``, ``_mark_linked``). Memory lives only in the State port, in values bounded whatever the history:

- ``orig|<issuer>|<owners>|filed|<date>``: originals filed or accepted that day; ``orig|…|period|<date>``: bare
  originals by period of report; ``orig|…|rows|<content>``: bare originals with transaction rows by their rows
  (the digest of their (table, transaction date, code)), with their period. At most ``MAX_ENTRIES_PER_KEY``
  entries of about 150 bytes (oldest dropped).
- ``amend|<issuer>|<owners>|filed|<date>`` / ``amend|…|period|<date>`` / ``amend|…|rows|<content>``: amendments
  that found no original, by their ``dateOfOriginalSubmission``, period of report and rows (with rows only).
  At most ``MAX_ENTRIES_PER_KEY`` entries of about 250 bytes (linked ones dropped first, then the oldest).
- ``amended|<id>``: the amendments linked to original ``<id>``, with their acceptance times, at most
  ``MAX_ENTRIES_PER_KEY`` (oldest dropped).

``<owners>`` is the sorted owner CIKs joined by commas; ``<id>`` the accession number, or ``sha256:<hash>`` of a
bare document, which is also what ``amends_accession`` and ``superseded_by`` carry for one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, date
from typing import Any

from streams.amendments.stored import _store_rows
from streams.models import Filing, Transaction, TransactionRecord
from streams.state import State, key

LINK_METHOD = "issuer+owners+original_date"
CONTENT_LINK_METHOD = "issuer+owners+content"
NO_ORIGINAL = "no_original_found"
AMBIGUOUS = "ambiguous"

MAX_ENTRIES_PER_KEY = 8  # originals (or waiting amendments) of one issuer, owner set and date


def _accepted(filing: Filing) -> str | None:
    when = filing.acceptance_datetime
    return when.astimezone(UTC).isoformat() if when is not None else None


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
