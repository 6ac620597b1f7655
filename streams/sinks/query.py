"""History queries as data: filters to SQL, and the opaque paging cursor. Pure, testable without a database.

Lists are newest first by (``sort_at``, key), both descending. A cursor is the sort key of the last row of a
page; the next page is every row strictly below it, so rows inserted meanwhile never shift a page (those newer
than the cursor are simply not part of this walk) and each row is returned exactly once.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from streams.sinks.rows import day_start_key, instant_key

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

_DIGITS = re.compile(r"^\d{1,10}$")
_TICKER = re.compile(r"^[A-Za-z0-9.\-]{1,16}$")


class QueryError(ValueError):
    """A request the store cannot answer as asked (bad CIK, limit, date or cursor): a client error (HTTP 400)."""


def cik(value: str, what: str = "CIK") -> str:
    """``"320193"`` -> ``"0000320193"``; up to 10 digits."""
    value = value.strip()
    if not _DIGITS.match(value):
        raise QueryError(f"{what} must be up to 10 digits, got {value!r}")
    return value.zfill(10)


def ticker(value: str) -> str:
    value = value.strip()
    if not _TICKER.match(value):
        raise QueryError(f"ticker must be 1 to 16 letters, digits, '.' or '-', got {value!r}")
    return value.upper()


def limit(value: int) -> int:
    if not 1 <= value <= MAX_LIMIT:
        raise QueryError(f"limit must be between 1 and {MAX_LIMIT}, got {value}")
    return value


def encode_cursor(sort_at: str, key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([sort_at, key]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        decoded = None
    if not (isinstance(decoded, list) and len(decoded) == 2 and all(isinstance(p, str) for p in decoded)):
        raise QueryError("cursor is not one this API returned: start again without a cursor")
    return decoded[0], decoded[1]


def _parse_when(value: str, name: str) -> date | datetime:
    text = value.strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise QueryError(
            f"{name} must be an ISO date or instant, e.g. 2024-03-01 or 2024-03-01T09:30:00-05:00, got {value!r}"
        ) from None


def lower_bound(since: str) -> str:
    """``since``: from the start of that (Eastern) day, or from that instant (Eastern when it has no offset)."""
    when = _parse_when(since, "since")
    return instant_key(when) if isinstance(when, datetime) else day_start_key(when)


def upper_bound(until: str) -> tuple[str, str]:
    """``until``: up to the end of that (Eastern) day, or up to and including that instant: (operator, bound)."""
    when = _parse_when(until, "until")
    if isinstance(when, datetime):
        return "<=", instant_key(when)
    return "<", day_start_key(when + timedelta(days=1))


@dataclass(frozen=True)
class Listing:
    """One paged list: ``source`` (FROM ... [JOIN ...]) whose rows sort by ``sort``/``key`` and carry ``payload``."""

    source: str
    sort: str
    key: str
    payload: str
    conditions: tuple[tuple[str, tuple[Any, ...]], ...] = ()


def transactions_of_issuer(issuer_cik: str) -> Listing:
    return Listing(
        "transactions t", "t.sort_at", "t.txn_id", "t.payload", (("t.issuer_cik = ?", (cik(issuer_cik),)),)
    )


def transactions_of_owner(owner_cik: str) -> Listing:
    return Listing(
        "transaction_owners o JOIN transactions t ON t.txn_id = o.txn_id",
        "o.sort_at",
        "o.txn_id",
        "t.payload",
        (("o.owner_cik = ?", (cik(owner_cik, "owner CIK"),)),),
    )


def alerts(issuer: str | None = None, owner: str | None = None, rule: str | None = None) -> Listing:
    conditions: list[tuple[str, tuple[Any, ...]]] = []
    if owner is not None:
        source, sort, key = (
            "alert_owners o JOIN alerts a ON a.alert_id = o.alert_id",
            "o.sort_at",
            "o.alert_id",
        )
        conditions.append(("o.owner_cik = ?", (cik(owner, "owner CIK"),)))
    else:
        source, sort, key = "alerts a", "a.sort_at", "a.alert_id"
    if issuer is not None:
        conditions.append(("a.issuer_cik = ?", (cik(issuer, "issuer CIK"),)))
    if rule is not None:
        conditions.append(("a.rule = ?", (rule,)))
    return Listing(source, sort, key, "a.payload", tuple(conditions))


def page_sql(
    listing: Listing, *, since: str | None, until: str | None, cursor: str | None, page_size: int
) -> tuple[str, list[Any]]:
    """The SELECT of one page (``payload, sort_at, key``), newest first, one row more than ``page_size`` so the
    caller knows whether another page follows. Rows without an instant sort last and drop out of any
    ``since``/``until`` range."""
    where = [c for c, _ in listing.conditions]
    params: list[Any] = [p for _, ps in listing.conditions for p in ps]
    if since is not None:
        where.append(f"{listing.sort} >= ?")
        params.append(lower_bound(since))
    if until is not None:
        op, bound = upper_bound(until)
        where.append(f"{listing.sort} {op} ? AND {listing.sort} <> ''")
        params.append(bound)
    if cursor is not None:
        after_sort, after_key = decode_cursor(cursor)
        where.append(f"({listing.sort} < ? OR ({listing.sort} = ? AND {listing.key} < ?))")
        params += [after_sort, after_sort, after_key]
    sql = (
        f"SELECT {listing.payload}, {listing.sort}, {listing.key} FROM {listing.source}"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + f" ORDER BY {listing.sort} DESC, {listing.key} DESC LIMIT ?"
    )
    params.append(limit(page_size) + 1)
    return sql, params


def page(rows: list[tuple[Any, ...]], page_size: int) -> dict[str, Any]:
    """The answer for the rows of :func:`page_sql`: ``{"items": [payload, ...], "next_cursor": str | None}``."""
    items = rows[:page_size]
    more = len(rows) > page_size
    return {
        "items": [json.loads(payload) for payload, _, _ in items],
        "next_cursor": encode_cursor(items[-1][1], items[-1][2]) if more and items else None,
    }
