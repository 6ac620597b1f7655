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

from streams.settings import Settings


class TableState:
    """The State port over a Faust table with bytes keys: what the pure steps read and the agents write."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self.name: str = table.name

    def get(self, key: str) -> Any | None:
        return self.table.get(key.encode())

    def put(self, key: str, value: Any | None) -> None:
        k = key.encode()
        if value is None:
            if self.table.get(k) is not None:
                del self.table[k]
        else:
            self.table[k] = value


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
