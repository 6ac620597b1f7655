"""Connections to the history store's two backends behind one small interface: SQLite (stdlib ``sqlite3``, the
embedded default) and PostgreSQL (psycopg 3). SQL is written once with ``?`` placeholders; :class:`Connection`
translates them for psycopg."""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

Dialect = Literal["sqlite", "postgresql"]

_URL_HELP = (
    "use sqlite:///<path> (relative to the working directory; sqlite:////<absolute path>) "
    "or postgresql://user@host:port/db"
)


@dataclass(frozen=True)
class DatabaseUrl:
    """A parsed FORM4_DATABASE_URL: the backend and what to open."""

    dialect: Dialect
    #: SQLite: the file (resolved against the working directory when opened); PostgreSQL: the URL for psycopg.
    target: str

    def path(self) -> Path:
        return Path(self.target).resolve()

    def redacted(self) -> str:
        """The URL for logs and error messages: the password, if any, is masked."""
        if self.dialect == "sqlite":
            return f"sqlite:///{self.target}"
        return redact(self.target)


def parse_database_url(url: str) -> DatabaseUrl:
    """``sqlite:///rel/path``, ``sqlite:////abs/path`` or ``postgresql://...`` (``postgres://`` too); else a
    ValueError that says what a valid URL looks like. Pure: opens nothing."""
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if sep and scheme == "sqlite":
        if not rest.startswith("/") or rest in ("/", "/:memory:"):
            raise ValueError(f"database URL {url!r} names no SQLite file: {_URL_HELP}")
        return DatabaseUrl("sqlite", rest[1:])
    if sep and scheme in ("postgresql", "postgres"):
        parts = urlsplit(url)
        if not parts.hostname and "host=" not in (parts.query or ""):
            raise ValueError(f"database URL {redact(url)!r} names no host: {_URL_HELP}")
        return DatabaseUrl("postgresql", urlunsplit(("postgresql", *parts[1:])))
    raise ValueError(f"database URL {redact(url)!r} is not supported: {_URL_HELP}")


def redact(url: str) -> str:
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)


class Connection:
    """One database connection, used by one thread at a time.

    ``transaction()`` groups statements atomically (on SQLite it takes the write lock at the start, so a writer
    never fails halfway on a busy database); outside a transaction every statement commits on its own.
    """

    def __init__(self, url: DatabaseUrl, raw: Any) -> None:
        self.url = url
        self.dialect: Dialect = url.dialect
        self._raw = raw

    @classmethod
    def open(cls, url: DatabaseUrl) -> Connection:
        if url.dialect == "sqlite":
            path = url.path()
            path.parent.mkdir(parents=True, exist_ok=True)
            raw = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=60.0)
            raw.execute("PRAGMA journal_mode=WAL")  # readers never block the sink, nor the sink them
            # A commit survives a crash of the process (kill -9); a power cut may lose the last commits, and their
            # offsets with them (same transaction), so the sink reads those messages again: still exactly once.
            raw.execute("PRAGMA synchronous=NORMAL")
            return cls(url, raw)
        import psycopg

        return cls(url, psycopg.connect(url.target, autocommit=True))

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.dialect == "postgresql" else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement; the rows it returns (none for most writes)."""
        cursor = self._raw.execute(self._sql(sql), params)
        if cursor.description is None:
            return []
        return list(cursor.fetchall())

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            if self.dialect == "postgresql":
                with self._raw.cursor() as cursor:
                    cursor.executemany(self._sql(sql), rows)
            else:
                self._raw.executemany(sql, rows)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything inside commits together, or not at all."""
        if self.dialect == "postgresql":
            with self._raw.transaction():
                yield
            return
        self._raw.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._raw.execute("ROLLBACK")
            raise
        self._raw.execute("COMMIT")

    def refused(self, exc: BaseException) -> bool:
        """The database refused the data itself (a value out of range, a constraint), not the connection: writing
        the same rows again would fail again."""
        if isinstance(exc, OverflowError | UnicodeEncodeError):
            return True
        if self.dialect == "sqlite":
            return isinstance(exc, sqlite3.DataError | sqlite3.IntegrityError)
        import psycopg

        return isinstance(exc, psycopg.DataError | psycopg.IntegrityError)

    def broken(self) -> bool:
        """The server closed the connection (restart, network): open a new one."""
        return self.dialect == "postgresql" and bool(self._raw.closed or self._raw.broken)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._raw.close()


def placeholders(count: int) -> str:
    """``?, ?, ?`` for an ``IN (...)`` list of ``count`` values."""
    return ", ".join("?" * count)
