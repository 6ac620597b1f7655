"""The history queries the HTTP API answers from the SQL store: async, never blocking the event loop.

Each call runs its SQL on a small pool of threads (one connection per thread), so a slow query delays only its
own request. Answers are JSON-ready: the payloads exactly as published on the topics, plus paging info.
Bad arguments raise :class:`~streams.sinks.query.QueryError` (answer 400 with its message).
"""

from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from streams.sinks import query, schema
from streams.sinks.db import Connection, DatabaseUrl, parse_database_url
from streams.sinks.query import DEFAULT_LIMIT, QueryError

__all__ = ["HistoryQueries", "QueryError"]


class HistoryQueries:
    """``HistoryQueries(settings.database_url)``; ``await close()`` at shutdown."""

    def __init__(self, database_url: str | DatabaseUrl, *, threads: int = 4) -> None:
        self.url = parse_database_url(database_url) if isinstance(database_url, str) else database_url
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="history-sql")
        self._local = threading.local()
        self._connections: list[Connection] = []
        self._lock = threading.Lock()
        self._schema_ready = False

    async def transactions_of_issuer(
        self,
        cik: str,
        *,
        since: str | None = None,
        until: str | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """The issuer's transaction records, newest first: ``{"items": [record, ...], "next_cursor": ...}``."""
        return await self._page(query.transactions_of_issuer(cik), since, until, limit, cursor)

    async def transactions_of_owner(
        self,
        cik: str,
        *,
        since: str | None = None,
        until: str | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """The records listing this reporting owner, newest first: ``{"items": [...], "next_cursor": ...}``."""
        return await self._page(query.transactions_of_owner(cik), since, until, limit, cursor)

    async def alerts(
        self,
        *,
        issuer: str | None = None,
        owner: str | None = None,
        rule: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """Alerts (latest revision of each), newest first: ``{"items": [alert, ...], "next_cursor": ...}``."""
        return await self._page(query.alerts(issuer, owner, rule), since, until, limit, cursor)

    async def alerts_after(self, arrival: int | None, limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
        """For a live page: alerts stored (or revised) after ``arrival``, oldest first, as
        ``{"items": [alert, ...], "last_arrival": N}``; ask again with ``last_arrival``. ``arrival=None`` starts
        a page: the newest ``limit`` alerts. A revised alert comes again under the same ``alert_id``."""
        size = query.limit(limit)
        if arrival is None:
            rows = await self._run(
                "SELECT payload, arrival FROM alerts ORDER BY arrival DESC LIMIT ?", [size]
            )
            rows.reverse()
        else:
            rows = await self._run(
                "SELECT payload, arrival FROM alerts WHERE arrival > ? ORDER BY arrival LIMIT ?",
                [arrival, size],
            )
        last = int(rows[-1][1]) if rows else (arrival or 0)
        return {"items": [json.loads(payload) for payload, _ in rows], "last_arrival": last}

    async def issuer_by_ticker(self, ticker: str) -> dict[str, Any] | None:
        """``{"cik", "name", "ticker", "as_of"}`` of the issuer whose newest filing carries this ticker (case does
        not matter), or None. ``as_of`` is the UTC instant of that filing."""
        rows = await self._run(
            "SELECT cik, name, ticker, as_of FROM issuers WHERE ticker = ? ORDER BY as_of DESC, cik LIMIT 1",
            [query.ticker(ticker)],
        )
        if not rows:
            return None
        cik, name, found, as_of = rows[0]
        return {"cik": cik, "name": name, "ticker": found, "as_of": as_of or None}

    async def close(self) -> None:
        """Wait for the queries in progress (off the event loop), then close every connection."""
        await asyncio.to_thread(self._pool.shutdown, True)
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()

    # --- plumbing ---------------------------------------------------------------------------------------------

    async def _page(
        self, listing: query.Listing, since: str | None, until: str | None, limit: int, cursor: str | None
    ) -> dict[str, Any]:
        sql, params = query.page_sql(listing, since=since, until=until, cursor=cursor, page_size=limit)
        return query.page(await self._run(sql, params), limit)

    async def _run(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._execute, sql, params)

    def _execute(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        conn = self._connection()
        try:
            return conn.execute(sql, params)
        except Exception:
            if not conn.broken():
                raise
        self._discard(conn)  # the server went away (restart): one more try on a new connection
        return self._connection().execute(sql, params)

    def _connection(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = Connection.open(self.url)
            with self._lock:
                self._connections.append(conn)
                if (
                    not self._schema_ready
                ):  # the API may start before the sink: answer empty lists, not errors
                    schema.create(conn)
                    self._schema_ready = True
            self._local.conn = conn
        return conn

    def _discard(self, conn: Connection) -> None:
        conn.close()
        self._local.conn = None
        with self._lock:
            if conn in self._connections:
                self._connections.remove(conn)
