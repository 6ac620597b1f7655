"""The history store's tables (DDL for SQLite and PostgreSQL), created idempotently at start.

Every row is keyed by its topic message's key, so upserts make redelivery and replays harmless. ``sort_at`` is the
row's instant normalised to UTC text (``2022-11-09T01:18:08.000000Z``; empty when the message has none), so
"newest first" sorts the same way on both backends; keys and ``sort_at`` use the C collation on PostgreSQL.
Payloads are the message values exactly as published (JSON text).
"""

from __future__ import annotations

from streams.sinks.db import Connection, Dialect

#: Bump when the DDL changes incompatibly; the store refuses a database written by another version.
SCHEMA_VERSION = 1

_TABLES = """
CREATE TABLE IF NOT EXISTS filings (
    key TEXT{C} PRIMARY KEY,
    issuer_cik TEXT NOT NULL,
    document_type TEXT NOT NULL,
    acceptance_datetime TEXT,
    filed_date TEXT,
    sort_at TEXT{C} NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS filings_by_issuer ON filings (issuer_cik, sort_at, key);

CREATE TABLE IF NOT EXISTS transactions (
    txn_id TEXT{C} PRIMARY KEY,
    accession TEXT,
    issuer_cik TEXT NOT NULL,
    transaction_date TEXT,
    acceptance_datetime TEXT,
    superseded_by TEXT,
    sort_at TEXT{C} NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS transactions_by_issuer ON transactions (issuer_cik, sort_at, txn_id);

CREATE TABLE IF NOT EXISTS transaction_owners (
    txn_id TEXT{C} NOT NULL,
    owner_cik TEXT NOT NULL,
    sort_at TEXT{C} NOT NULL,
    PRIMARY KEY (txn_id, owner_cik)
);
CREATE INDEX IF NOT EXISTS transaction_owners_by_owner ON transaction_owners (owner_cik, sort_at, txn_id);

CREATE TABLE IF NOT EXISTS alerts (
    alert_id TEXT{C} PRIMARY KEY,
    issuer_cik TEXT NOT NULL,
    rule TEXT NOT NULL,
    severity TEXT NOT NULL,
    acceptance_datetime TEXT,
    window_end TEXT,
    revision BIGINT,
    sort_at TEXT{C} NOT NULL,
    arrival BIGINT NOT NULL UNIQUE,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_by_time ON alerts (sort_at, alert_id);
CREATE INDEX IF NOT EXISTS alerts_by_issuer ON alerts (issuer_cik, sort_at, alert_id);
CREATE INDEX IF NOT EXISTS alerts_by_rule ON alerts (rule, sort_at, alert_id);

CREATE TABLE IF NOT EXISTS alert_owners (
    alert_id TEXT{C} NOT NULL,
    owner_cik TEXT NOT NULL,
    sort_at TEXT{C} NOT NULL,
    PRIMARY KEY (alert_id, owner_cik)
);
CREATE INDEX IF NOT EXISTS alert_owners_by_owner ON alert_owners (owner_cik, sort_at, alert_id);

CREATE TABLE IF NOT EXISTS issuers (
    cik TEXT PRIMARY KEY,
    name TEXT,
    ticker TEXT,
    as_of TEXT{C} NOT NULL
);
CREATE INDEX IF NOT EXISTS issuers_by_ticker ON issuers (ticker, as_of);

CREATE TABLE IF NOT EXISTS sink_offsets (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset BIGINT NOT NULL,
    PRIMARY KEY (topic, partition)
);

CREATE TABLE IF NOT EXISTS sink_counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
"""

#: The counter the sink draws alert ``arrival`` numbers from (its row lock orders concurrent writers' commits).
ARRIVAL_COUNTER = "alert_arrival"
_VERSION_COUNTER = "schema_version"


def statements(dialect: Dialect) -> list[str]:
    """The DDL of every table and index for ``dialect``, one statement per item."""
    collate = ' COLLATE "C"' if dialect == "postgresql" else ""
    text = _TABLES.replace("{C}", collate)
    return [s.strip() for s in text.split(";") if s.strip()]


def create(conn: Connection) -> None:
    """Create what is missing (idempotent, safe while other processes do the same); refuse another version."""
    with conn.transaction():
        if conn.dialect == "postgresql":
            conn.execute(
                "SELECT pg_advisory_xact_lock(?)", (0x466F726D34,)
            )  # concurrent CREATE IF NOT EXISTS
        for statement in statements(conn.dialect):
            conn.execute(statement)
        for name, value in ((ARRIVAL_COUNTER, 0), (_VERSION_COUNTER, SCHEMA_VERSION)):
            conn.execute(
                "INSERT INTO sink_counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                (name, value),
            )
        found = conn.execute("SELECT value FROM sink_counters WHERE name = ?", (_VERSION_COUNTER,))[0][0]
    if found != SCHEMA_VERSION:
        raise RuntimeError(
            f"the history database {conn.url.redacted()} has schema version {found}, this program needs "
            f"{SCHEMA_VERSION}: point FORM4_DATABASE_URL at a new database and let `form4 sink` refill it"
        )
