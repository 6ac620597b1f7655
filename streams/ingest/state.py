"""What the EDGAR ingester knows, durably: filings published (with their form4.raw offsets), filings found but
not yet published, filings given up on, how far each feed has been read, and which daily indexes are done.

One SQLite file (WAL, one writer: the ingester). Every change commits before the ingester moves on, so a
restart resumes exactly where it stopped. The only window is between the broker's ack and the commit; the
ingester closes it at start by reading form4.raw past the offsets recorded here (:func:`reconcile` in
``streams.ingest.raw``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS published (
    accession TEXT PRIMARY KEY,
    form_type TEXT,
    source TEXT NOT NULL,
    accepted_at TEXT,
    partition INTEGER,
    "offset" INTEGER,
    published_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pending (
    accession TEXT PRIMARY KEY,
    index_day TEXT,
    item TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS pending_by_day ON pending (index_day);
CREATE TABLE IF NOT EXISTS failed (
    accession TEXT PRIMARY KEY,
    item TEXT NOT NULL,
    reason TEXT NOT NULL,
    failed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS index_days (
    day TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    entries INTEGER,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

#: index_days.status values
DAY_DUE = "due"  # to be read (again): not fetched yet, or not yet published by EDGAR
DAY_LISTED = "listed"  # its filings are in `pending`; done once they are all published
DAY_DONE = "done"
DAY_MISSING = "missing"  # no index for that day (weekend, holiday): not an error


@dataclass(frozen=True)
class Item:
    """A filing to fetch and publish: where it is and what the source said about it."""

    accession_number: str
    url: str
    form_type: str | None
    source: str  # "edgar_feed" or "edgar_index"
    accepted_at: datetime | None = None
    priority: int = 0
    index_day: date | None = None
    found_at: datetime | None = None  # when a feed poll first listed it (form4_ingest_feed_to_topic_seconds)

    def to_json(self) -> str:
        data = asdict(self)
        data["accepted_at"] = self.accepted_at.isoformat() if self.accepted_at else None
        data["found_at"] = self.found_at.isoformat() if self.found_at else None
        data["index_day"] = self.index_day.isoformat() if self.index_day else None
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Item:
        data = json.loads(text)
        if data.get("accepted_at"):
            data["accepted_at"] = datetime.fromisoformat(data["accepted_at"])
        if data.get("found_at"):
            data["found_at"] = datetime.fromisoformat(data["found_at"])
        if data.get("index_day"):
            data["index_day"] = date.fromisoformat(data["index_day"])
        return cls(**data)


class IngestState:
    """The ingester's memory. Keeps the published accession numbers in memory too, for cheap lookups."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._published = {row[0] for row in self._db.execute("SELECT accession FROM published")}
        self._failed = {row[0] for row in self._db.execute("SELECT accession FROM failed")}

    def close(self) -> None:
        self._db.close()

    # --- published ------------------------------------------------------------------------------------------
    def is_published(self, accession: str) -> bool:
        return accession in self._published

    def is_known(self, accession: str) -> bool:
        """Published, given up on, or waiting to be fetched: nothing to do when a source lists it again."""
        return accession in self._published or accession in self._failed or self._pending_has(accession)

    def _pending_has(self, accession: str) -> bool:
        row = self._db.execute("SELECT 1 FROM pending WHERE accession = ?", (accession,)).fetchone()
        return row is not None

    @property
    def published_count(self) -> int:
        return len(self._published)

    def mark_published(
        self,
        item: Item,
        partition: int | None,
        offset: int | None,
        published_at: datetime,
    ) -> None:
        with self._tx():
            self._db.execute(
                'INSERT OR REPLACE INTO published (accession, form_type, source, accepted_at, partition, "offset", '
                "published_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    item.accession_number,
                    item.form_type,
                    item.source,
                    item.accepted_at.isoformat() if item.accepted_at else None,
                    partition,
                    offset,
                    published_at.isoformat(),
                ),
            )
            self._db.execute("DELETE FROM pending WHERE accession = ?", (item.accession_number,))
        self._published.add(item.accession_number)

    def mark_seen_on_topic(self, accessions: Iterable[tuple[str, int, int]], seen_at: datetime) -> int:
        """Record filings found on form4.raw but not here (published just before a crash, or by another
        producer): (accession, partition, offset). Returns how many were new."""
        new = 0
        with self._tx():
            for accession, partition, offset in accessions:
                if accession in self._published:
                    continue
                self._db.execute(
                    'INSERT OR REPLACE INTO published (accession, source, partition, "offset", published_at) '
                    "VALUES (?, 'topic', ?, ?, ?)",
                    (accession, partition, offset, seen_at.isoformat()),
                )
                self._db.execute("DELETE FROM pending WHERE accession = ?", (accession,))
                self._published.add(accession)
                new += 1
        return new

    def topic_offsets(self) -> dict[int, int]:
        """The highest form4.raw offset recorded per partition."""
        rows = self._db.execute(
            'SELECT partition, MAX("offset") FROM published WHERE partition IS NOT NULL GROUP BY partition'
        )
        return {int(p): int(o) for p, o in rows}

    # --- pending --------------------------------------------------------------------------------------------
    def add_pending(self, items: Iterable[Item]) -> list[Item]:
        """Remember filings to fetch; returns those that were new (not published, failed or pending)."""
        added = []
        with self._tx():
            for item in items:
                if item.accession_number in self._published or item.accession_number in self._failed:
                    continue
                cur = self._db.execute(
                    "INSERT OR IGNORE INTO pending (accession, index_day, item) VALUES (?, ?, ?)",
                    (
                        item.accession_number,
                        item.index_day.isoformat() if item.index_day else None,
                        item.to_json(),
                    ),
                )
                if cur.rowcount:
                    added.append(item)
        return added

    def pending(self, index_day: date | None = None) -> list[Item]:
        if index_day is None:
            rows = self._db.execute("SELECT item FROM pending")
        else:
            rows = self._db.execute("SELECT item FROM pending WHERE index_day = ?", (index_day.isoformat(),))
        return [Item.from_json(row[0]) for row in rows]

    def pending_count(self, index_day: date | None = None) -> int:
        if index_day is None:
            return int(self._db.execute("SELECT COUNT(*) FROM pending").fetchone()[0])
        row = self._db.execute("SELECT COUNT(*) FROM pending WHERE index_day = ?", (index_day.isoformat(),))
        return int(row.fetchone()[0])

    def mark_failed(self, item: Item, reason: str, failed_at: datetime) -> None:
        with self._tx():
            self._db.execute(
                "INSERT OR REPLACE INTO failed (accession, item, reason, failed_at) VALUES (?, ?, ?, ?)",
                (item.accession_number, item.to_json(), reason, failed_at.isoformat()),
            )
            self._db.execute("DELETE FROM pending WHERE accession = ?", (item.accession_number,))
        self._failed.add(item.accession_number)

    # --- daily indexes --------------------------------------------------------------------------------------
    def day_status(self, day: date) -> str | None:
        row = self._db.execute("SELECT status FROM index_days WHERE day = ?", (day.isoformat(),)).fetchone()
        return str(row[0]) if row else None

    def set_day(self, day: date, status: str, now: datetime, entries: int | None = None) -> None:
        with self._tx():
            self._db.execute(
                "INSERT INTO index_days (day, status, entries, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(day) DO UPDATE SET status = excluded.status, "
                "entries = COALESCE(excluded.entries, index_days.entries), updated_at = excluded.updated_at",
                (day.isoformat(), status, entries, now.isoformat()),
            )

    def add_days(self, days: Iterable[date], now: datetime) -> None:
        """Make days due unless already known."""
        with self._tx():
            for day in days:
                self._db.execute(
                    "INSERT OR IGNORE INTO index_days (day, status, updated_at) VALUES (?, ?, ?)",
                    (day.isoformat(), DAY_DUE, now.isoformat()),
                )

    def days(self, statuses: Iterable[str] | None = None) -> list[tuple[date, str]]:
        rows = self._db.execute("SELECT day, status FROM index_days ORDER BY day")
        wanted = set(statuses) if statuses is not None else None
        return [(date.fromisoformat(d), s) for d, s in rows if wanted is None or s in wanted]

    # --- feed progress and other facts ------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._tx():
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def get_time(self, key: str) -> datetime | None:
        value = self.get_meta(key)
        return datetime.fromisoformat(value) if value else None

    def _tx(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
