"""A batch of consumed messages reduced to what the store must write: pure, no I/O.

Within one topic a key lives on one partition, so messages of a key arrive in order and the last one wins
(a tombstone deletes). Alerts are the exception: a revision never yields to an older one, whatever the order they
arrive in, so their messages are kept in order and folded against the stored row by :func:`fold_alert`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from streams.sinks.rows import (
    AlertRow,
    FilingRow,
    Malformed,
    TransactionRow,
    alert_row,
    filing_row,
    storable_key,
    transaction_row,
)

Kind = Literal["filings", "transactions", "alerts"]


class Message(NamedTuple):
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class Skipped(NamedTuple):
    """A malformed message: where it is and why it was skipped."""

    topic: str
    partition: int
    offset: int
    key: str | None
    reason: str
    detail: str


@dataclass
class Batch:
    filings: dict[str, FilingRow | None] = field(default_factory=dict)
    transactions: dict[str, TransactionRow | None] = field(default_factory=dict)
    alerts: dict[str, list[AlertRow | None]] = field(default_factory=dict)
    #: ``{(topic, partition): offset of the next message to read}`` after this batch.
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)
    messages: int = 0


def build_batch(messages: Iterable[Message], kinds: Mapping[str, Kind]) -> Batch:
    """Reduce ``messages`` (in partition order) to the writes of one transaction; malformed ones are skipped."""
    batch = Batch()
    for m in messages:
        batch.messages += 1
        where = (m.topic, m.partition)
        batch.offsets[where] = max(batch.offsets.get(where, 0), m.offset + 1)
        key: str | None = None
        try:
            if m.key is None:
                raise Malformed("no_key", "the message has no key, so it cannot be stored by key")
            try:
                key = storable_key(m.key.decode("utf-8"))
            except UnicodeDecodeError:
                raise Malformed("bad_key", "the key is not UTF-8") from None
            kind = kinds[m.topic]
            if kind == "filings":
                filing = None if m.value is None else filing_row(key, m.value)
                batch.filings.pop(key, None)  # dict order = order of each key's last message
                batch.filings[key] = filing
            elif kind == "transactions":
                record = None if m.value is None else transaction_row(key, m.value)
                batch.transactions.pop(key, None)
                batch.transactions[key] = record
            else:
                alert = None if m.value is None else alert_row(key, m.value)
                batch.alerts.setdefault(key, []).append(alert)
        except Malformed as exc:
            detail = str(exc).split(": ", 1)[-1]
            batch.skipped.append(Skipped(m.topic, m.partition, m.offset, key, exc.reason, detail))
    return batch


class StoredAlert(NamedTuple):
    """What the store holds of an alert: enough to decide whether a newer message replaces it."""

    revision: int | None
    payload: str


def fold_alert(
    current: AlertRow | StoredAlert | None, incoming: AlertRow | None
) -> AlertRow | StoredAlert | None:
    """The alert that stands after ``incoming`` arrives: a tombstone deletes; a higher revision replaces; the same
    revision with another payload replaces (the topic's latest value); a lower revision is ignored. A missing
    revision counts as 0."""
    if incoming is None or current is None:
        return incoming
    new, old = incoming.revision or 0, current.revision or 0
    if new > old or (new == old and incoming.payload != current.payload):
        return incoming
    return current
