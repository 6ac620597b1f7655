"""Local RocksDB table files are trusted only after a clean stop.

Faust writes a table key to the local store at once and its changelog record later (after the outputs, in the
producer's buffer), and keeps the changelog offset it has reached beside the data. A kill -9 can therefore
leave local files that hold writes the changelog never got, and an offset behind writes the changelog did get;
recovery then replays older changelog values over newer local ones, while other keys of the same event stay
newer — an event half present, which the redelivered event then mistakes for done. Kafka Streams treats a store
without a clean checkpoint the same way: the local files go, and the store is rebuilt from its changelog, which
holds every event's writes in order (a prefix of them for the last one, completed by the journal:
``streams/state/journal.py``).

A marker file lives beside the table files while a worker runs; a clean stop removes it. Finding it at start
means the last run did not stop cleanly.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

log = logging.getLogger("streams.app")

MARKER = "running"


def _on_disk(app: Any) -> bool:
    return str(app.conf.store).startswith("rocksdb:")


def marker_path(app: Any) -> Path:
    return Path(app.conf.tabledir) / MARKER


def open_local_state(app: Any) -> bool:
    """Before the worker starts: drop the table files an unclean stop left (True when it did), then mark the
    files as in use."""
    if not _on_disk(app):
        return False
    tabledir = Path(app.conf.tabledir)
    marker = marker_path(app)
    unclean = marker.exists()
    if unclean:
        dropped = sorted(p.name for p in tabledir.iterdir() if p.name != MARKER)
        log.warning(
            "the last worker run did not stop cleanly: rebuilding %d local table stores from their changelogs",
            len(dropped),
            extra={"reason": "unclean_stop", "path": str(tabledir)},
        )
        for name in dropped:
            path = tabledir / name
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        metrics = getattr(app, "form4", {}).get("metrics")
        if metrics is not None:
            for table in app.tables.values():
                metrics.state_rebuilds.labels(table.name, "unclean_stop").inc()
    tabledir.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{os.getpid()}\n")
    return unclean


def close_local_state(app: Any) -> None:
    """After a clean stop (the producer flushed, every changelog record acknowledged): the files are whole."""
    if _on_disk(app):
        marker_path(app).unlink(missing_ok=True)
