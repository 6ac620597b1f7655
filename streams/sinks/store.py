"""The history store's write side: one batch of topic messages and the sink's next offsets in ONE transaction.

Because the offsets commit with the rows, a sink killed at any moment restarts from exactly what the database
holds: every message is applied once, nothing is doubled or lost (exactly-once *into the database*, whatever
the broker offers). Synchronous by design: the sink calls it from a worker thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from streams import faults
from streams.sinks import schema
from streams.sinks.batch import Batch, StoredAlert, fold_alert
from streams.sinks.db import Connection, DatabaseUrl, parse_database_url, placeholders
from streams.sinks.rows import AlertRow, FilingRow, TransactionRow

#: Values per ``IN (...)`` list: far below SQLite's and PostgreSQL's parameter limits.
_CHUNK = 500


@dataclass(frozen=True)
class Applied:
    """What one :meth:`HistoryStore.apply` changed, for logs and metrics."""

    filings: int
    transactions: int
    alerts: int
    deleted: int


class HistoryStore:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @classmethod
    def open(cls, url: str | DatabaseUrl) -> HistoryStore:
        """Connect and create the tables that are missing."""
        parsed = parse_database_url(url) if isinstance(url, str) else url
        conn = Connection.open(parsed)
        try:
            schema.create(conn)
        except BaseException:
            conn.close()
            raise
        return cls(conn)

    def close(self) -> None:
        self.conn.close()

    def offsets(self) -> dict[tuple[str, int], int]:
        """``{(topic, partition): next offset to read}`` as of the last committed batch."""
        rows = self.conn.execute("SELECT topic, partition, next_offset FROM sink_offsets")
        return {(topic, int(partition)): int(offset) for topic, partition, offset in rows}

    def apply(self, batch: Batch) -> Applied:
        """Write ``batch`` and its offsets atomically."""
        with self.conn.transaction():
            filings = self._filings(batch.filings)
            transactions = self._transactions(batch.transactions)
            alerts = self._alerts(batch.alerts)
            self.conn.executemany(
                "INSERT INTO sink_offsets (topic, partition, next_offset) VALUES (?, ?, ?) "
                "ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset",
                [(topic, partition, offset) for (topic, partition), offset in batch.offsets.items()],
            )
        # Committed: rows and offsets together. The sink commits nothing to Kafka (no consumer group; its offsets
        # are these rows), so all that follows is in memory: the result, metrics, logs. Every commit passes here
        # once: a whole batch, and each message of a refused batch that write_messages writes (or skips) alone;
        # a transaction rolled back raises before it.
        faults.reach("sink_committed")
        deleted = sum(v is None for v in batch.filings.values()) + sum(
            v is None for v in batch.transactions.values()
        )
        return Applied(filings, transactions, alerts, deleted)

    # --- filings and issuers ----------------------------------------------------------------------------------

    def _filings(self, changes: dict[str, FilingRow | None]) -> int:
        self._delete("filings", "key", [k for k, v in changes.items() if v is None])
        rows = [v for v in changes.values() if v is not None]
        self.conn.executemany(
            "INSERT INTO filings (key, issuer_cik, document_type, acceptance_datetime, filed_date, sort_at, payload) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET issuer_cik = excluded.issuer_cik, "
            "document_type = excluded.document_type, acceptance_datetime = excluded.acceptance_datetime, "
            "filed_date = excluded.filed_date, sort_at = excluded.sort_at, payload = excluded.payload",
            [
                (
                    r.key,
                    r.issuer_cik,
                    r.document_type,
                    r.acceptance_datetime,
                    r.filed_date,
                    r.sort_at,
                    r.payload,
                )
                for r in rows
            ],
        )
        # The issuer's name and ticker as of its newest filing (a rename or new ticker replaces the old one).
        newest: dict[str, FilingRow] = {}
        for r in rows:
            if r.issuer_cik not in newest or r.sort_at >= newest[r.issuer_cik].sort_at:
                newest[r.issuer_cik] = r
        self.conn.executemany(
            "INSERT INTO issuers (cik, name, ticker, as_of) VALUES (?, ?, ?, ?) ON CONFLICT (cik) DO UPDATE SET "
            "name = excluded.name, ticker = excluded.ticker, as_of = excluded.as_of "
            "WHERE excluded.as_of >= issuers.as_of",
            [(r.issuer_cik, r.issuer_name, r.ticker, r.sort_at) for r in newest.values()],
        )
        return len(rows)

    # --- transactions -----------------------------------------------------------------------------------------

    def _transactions(self, changes: dict[str, TransactionRow | None]) -> int:
        self._delete("transaction_owners", "txn_id", list(changes))
        self._delete("transactions", "txn_id", [k for k, v in changes.items() if v is None])
        rows = [v for v in changes.values() if v is not None]
        self.conn.executemany(
            "INSERT INTO transactions (txn_id, accession, issuer_cik, transaction_date, acceptance_datetime, "
            "superseded_by, sort_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (txn_id) DO UPDATE SET "
            "accession = excluded.accession, issuer_cik = excluded.issuer_cik, "
            "transaction_date = excluded.transaction_date, acceptance_datetime = excluded.acceptance_datetime, "
            "superseded_by = excluded.superseded_by, sort_at = excluded.sort_at, payload = excluded.payload",
            [
                (
                    r.txn_id,
                    r.accession,
                    r.issuer_cik,
                    r.transaction_date,
                    r.acceptance_datetime,
                    r.superseded_by,
                    r.sort_at,
                    r.payload,
                )
                for r in rows
            ],
        )
        self.conn.executemany(
            "INSERT INTO transaction_owners (txn_id, owner_cik, sort_at) VALUES (?, ?, ?)",
            [(r.txn_id, owner, r.sort_at) for r in rows for owner in r.owner_ciks],
        )
        return len(rows)

    # --- alerts -----------------------------------------------------------------------------------------------

    def _alerts(self, changes: dict[str, list[AlertRow | None]]) -> int:
        if not changes:
            return 0
        stored = self._stored_alerts(list(changes))
        deleted: list[str] = []
        written: list[AlertRow] = []
        for alert_id, messages in changes.items():
            before = stored.get(alert_id)
            after: AlertRow | StoredAlert | None = before
            for message in messages:
                after = fold_alert(after, message)
            if after is None and before is not None:
                deleted.append(alert_id)
            elif isinstance(after, AlertRow) and (
                before is None or (after.revision, after.payload) != (before.revision, before.payload)
            ):
                written.append(after)
        self._delete("alert_owners", "alert_id", [*deleted, *(a.alert_id for a in written)])
        self._delete("alerts", "alert_id", deleted)
        if not written:
            return 0
        # Arrival numbers come from one counter row: its lock, held to commit, makes commits happen in arrival
        # order even with several sinks, so "alerts after arrival N" never skips a row that commits late.
        last = self.conn.execute(
            "UPDATE sink_counters SET value = value + ? WHERE name = ? RETURNING value",
            (len(written), schema.ARRIVAL_COUNTER),
        )[0][0]
        first = int(last) - len(written) + 1
        self.conn.executemany(
            "INSERT INTO alerts (alert_id, issuer_cik, rule, severity, acceptance_datetime, window_end, revision, "
            "sort_at, arrival, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (alert_id) DO UPDATE SET "
            "issuer_cik = excluded.issuer_cik, rule = excluded.rule, severity = excluded.severity, "
            "acceptance_datetime = excluded.acceptance_datetime, window_end = excluded.window_end, "
            "revision = excluded.revision, sort_at = excluded.sort_at, arrival = excluded.arrival, "
            "payload = excluded.payload",
            [
                (
                    a.alert_id,
                    a.issuer_cik,
                    a.rule,
                    a.severity,
                    a.acceptance_datetime,
                    a.window_end,
                    a.revision,
                    a.sort_at,
                    first + i,
                    a.payload,
                )
                for i, a in enumerate(written)
            ],
        )
        self.conn.executemany(
            "INSERT INTO alert_owners (alert_id, owner_cik, sort_at) VALUES (?, ?, ?)",
            [(a.alert_id, owner, a.sort_at) for a in written for owner in a.owner_ciks],
        )
        return len(written)

    def _stored_alerts(self, ids: Sequence[str]) -> dict[str, StoredAlert]:
        found: dict[str, StoredAlert] = {}
        for chunk in _chunks(ids):
            for alert_id, revision, payload in self.conn.execute(
                f"SELECT alert_id, revision, payload FROM alerts WHERE alert_id IN ({placeholders(len(chunk))})",
                chunk,
            ):
                found[alert_id] = StoredAlert(None if revision is None else int(revision), payload)
        return found

    def _delete(self, table: str, column: str, keys: Sequence[str]) -> None:
        for chunk in _chunks(keys):
            self.conn.execute(f"DELETE FROM {table} WHERE {column} IN ({placeholders(len(chunk))})", chunk)


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
