"""The worker's tables: one key space per repartitioned stream, small values under fine-grained keys.

``issuer-state`` lives on the partitions of the by-issuer stream (everything keyed under an issuer: seen
markers, amendment originals, alert windows and histories, the issuer's holding lines and their index, its
profile); ``owner-state`` on the partitions of the by-owner stream (every owner's holding lines and their
index). Table keys are bytes with the raw codec, so Faust's router sends a request for an issuer or owner CIK
to the worker holding that CIK's partition: the changelog partition of a write is the partition of the event
being processed, which is the CIK's partition of the repartition topic (streaming-notes R1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust
from faust.streams import current_event
from faust.types import TP

from streams.settings import Settings


class TableState:
    """The State port over a Faust table with bytes keys: what the pure steps read and the agents write.

    A write goes to the local store at once and its changelog record (the key, the value as Faust encodes it or
    a tombstone, the current event's partition: what Faust itself would send) waits in ``changelog`` for the
    agent to send with its own producer path. Faust's per-key ``send_soon`` (a future message, a buffer, a
    callback each) cost twice the send itself; the agent also keeps the store's persisted offsets, as Faust's
    callback did (``persisted``)."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self.name: str = table.name
        self.changelog: list[tuple[int, bytes, bytes | None]] = []

    @property
    def changelog_topic(self) -> str:
        return str(self.table.changelog_topic.get_topic_name())

    def get(self, key: str) -> Any | None:
        return self.table.get(key.encode())

    def put(self, key: str, value: Any | None) -> None:
        """Set ``key`` in the store (``None`` deletes it) in the current event's partition; queue its record."""
        event = current_event()
        if event is None:
            raise RuntimeError(f"a write to {self.name} outside of an event: no partition to write it to")
        k = key.encode()
        store = self.table.data
        if value is None:
            if self.table.get(k) is None:
                return
            del store[k]
            encoded = None
        else:
            store[k] = value
            encoded, _ = self.table.changelog_topic.prepare_value(value, self.table.value_serializer)
        self.changelog.append((event.message.partition, k, encoded))

    def take_changelog(self) -> list[tuple[int, bytes, bytes | None]]:
        records, self.changelog = self.changelog, []
        return records

    def persisted(self, partition: int, offset: int) -> None:
        """The changelog holds this partition's records up to ``offset``: what a RocksDB store remembers so a
        restart reads the changelog only past it (Faust's ``_on_changelog_sent``)."""
        self.table.data.set_persisted_offset(TP(self.changelog_topic, partition), offset)


@dataclass(frozen=True)
class Tables:
    issuer_state: Any
    owner_state: Any

    def all(self) -> dict[str, Any]:
        return {"issuer_state": self.issuer_state, "owner_state": self.owner_state}


def declare_tables(app: faust.App, settings: Settings) -> Tables:
    options: dict[str, Any] = {"key_type": bytes, "partitions": settings.partitions}
    return Tables(
        issuer_state=app.Table("issuer-state", **options),
        owner_state=app.Table("owner-state", **options),
    )
