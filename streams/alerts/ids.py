"""Deterministic alert ids: a replayed filing or window re-emits the same id, so consumers can deduplicate."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from hashlib import blake2b


def alert_id(rule: str, issuer_cik: str, window_start: date | None, txn_ids: Iterable[str]) -> str:
    """Hash of the rule, the issuer, the window start and the sorted contributing txn_ids.

    Built only from what the alert is about (never from times of processing or rule thresholds), so the
    same rows behind the same rule always give the same id, in any order and on any worker.
    """
    start = window_start.isoformat() if window_start else ""
    material = "|".join((rule, issuer_cik, start, *sorted(set(txn_ids))))
    return blake2b(material.encode(), digest_size=16).hexdigest()


def event_alert_id(
    issuer_cik: str, group: str, day: date | None, direction: str, *, filing: str | None = None
) -> str:
    """Hash of the event itself: issuer, owner group (sorted CIKs), trade date and direction (buy or sell).

    Independent of the rules it matched and of the filings that reported it, so every revision of the event's
    alert has the same id. ``filing``: for an event too old to be remembered, which is judged per filing, the
    filing's identity, so each filing's alert keeps its own id.
    """
    parts = ("event", issuer_cik, group, day.isoformat() if day else "", direction)
    material = "|".join((*parts, filing) if filing else parts)
    return blake2b(material.encode(), digest_size=16).hexdigest()
