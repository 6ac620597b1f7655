"""From one output-topic message to the row the history store keeps: pure functions, no I/O.

Only the fields the store indexes are read (and checked); the payload is stored as published, so a newer worker
that adds fields never makes the sink refuse its messages. Anything unusable raises :class:`Malformed` with a
short reason code; the sink logs it, counts it and goes on.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

#: EDGAR's clock: dates without a time (an alert's window end, a query's ``since``) are Eastern days.
EASTERN = ZoneInfo("America/New_York")

_CIK = re.compile(r"^\d{10}$")


class Malformed(ValueError):
    """A message the store cannot keep; ``reason`` is a stable code for logs and metrics."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def instant_key(moment: datetime) -> str:
    """The sortable UTC text of an instant (naive means Eastern, EDGAR's clock)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=EASTERN)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def day_start_key(day: date) -> str:
    """The sortable UTC text of the first instant of an Eastern day."""
    return instant_key(datetime.combine(day, time(0), tzinfo=EASTERN))


@dataclass(frozen=True, slots=True)
class FilingRow:
    key: str
    issuer_cik: str
    issuer_name: str | None
    ticker: str | None
    document_type: str
    acceptance_datetime: str | None
    filed_date: str | None
    sort_at: str
    payload: str


@dataclass(frozen=True, slots=True)
class TransactionRow:
    txn_id: str
    accession: str | None
    issuer_cik: str
    transaction_date: str | None
    acceptance_datetime: str | None
    superseded_by: str | None
    sort_at: str
    owner_ciks: tuple[str, ...]
    payload: str


@dataclass(frozen=True, slots=True)
class AlertRow:
    alert_id: str
    issuer_cik: str
    rule: str
    severity: str
    acceptance_datetime: str | None
    window_end: str | None
    revision: int | None
    sort_at: str
    owner_ciks: tuple[str, ...]
    payload: str


def filing_row(key: str, value: bytes) -> FilingRow:
    doc, payload = _document(value)
    issuer = _issuer(doc)
    accepted = _optional_text(doc, "acceptance_datetime")
    return FilingRow(
        key=key,
        issuer_cik=issuer["cik"],
        issuer_name=_optional_text(issuer, "name"),
        ticker=_ticker(issuer.get("trading_symbol")),
        document_type=_text(doc, "document_type"),
        acceptance_datetime=accepted,
        filed_date=_date_text(doc, "filed_date"),
        sort_at=_instant_key(accepted),
        payload=payload,
    )


def transaction_row(key: str, value: bytes) -> TransactionRow:
    doc, payload = _document(value)
    txn_id = doc.get("txn_id")
    if txn_id != key:
        raise Malformed("key_mismatch", f"message key {key!r} is not its txn_id {txn_id!r}")
    accepted = _optional_text(doc, "acceptance_datetime")
    return TransactionRow(
        txn_id=key,
        accession=_optional_text(doc, "accession_number"),
        issuer_cik=_issuer(doc)["cik"],
        transaction_date=_date_text(doc, "transaction_date"),
        acceptance_datetime=accepted,
        superseded_by=_optional_text(doc, "superseded_by"),
        sort_at=_instant_key(accepted),
        owner_ciks=_owner_ciks(doc, "reporting_owners"),
        payload=payload,
    )


def alert_row(key: str, value: bytes) -> AlertRow:
    doc, payload = _document(value)
    alert_id = doc.get("alert_id")
    if alert_id != key:
        raise Malformed("key_mismatch", f"message key {key!r} is not its alert_id {alert_id!r}")
    accepted = _optional_text(doc, "acceptance_datetime")
    window_end = _date_text(doc, "window_end")
    revision = doc.get("revision")
    if revision is not None and (
        not isinstance(revision, int) or isinstance(revision, bool) or not -(2**63) <= revision < 2**63
    ):
        raise Malformed("bad_field", f"revision must be a 64-bit integer, got {revision!r}")
    if accepted is not None:
        sort_at = _instant_key(accepted)
    else:
        sort_at = day_start_key(date.fromisoformat(window_end)) if window_end else ""
    return AlertRow(
        alert_id=key,
        issuer_cik=_issuer(doc)["cik"],
        rule=_text(doc, "rule"),
        severity=_text(doc, "severity"),
        acceptance_datetime=accepted,
        window_end=window_end,
        revision=revision,
        sort_at=sort_at,
        owner_ciks=_owner_ciks(doc, "owners"),
        payload=payload,
    )


def _document(value: bytes) -> tuple[dict[str, Any], str]:
    try:
        payload = value.decode("utf-8")
        doc = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Malformed("not_json", f"{type(exc).__name__}: {str(exc)[:200]}") from None
    if not isinstance(doc, dict):
        raise Malformed("not_json", f"a JSON object was expected, got {type(doc).__name__}")
    return doc, payload


def storable_key(key: str) -> str:
    """A key the databases can hold exactly: no NUL (PostgreSQL text refuses it), no lone surrogate."""
    if "\x00" in key or _column(key) != key:
        raise Malformed("bad_key", f"the key {key!r} contains NUL or an unpaired surrogate")
    return key


def _column(value: str) -> str:
    """An indexed copy of a payload string both databases accept: NUL dropped, lone surrogates replaced (a
    JSON escape such as \\u0000 can put them there). The payload itself is stored exactly as published."""
    return value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "")


def _text(doc: dict[str, Any], name: str) -> str:
    value = doc.get(name)
    if not isinstance(value, str) or not value:
        raise Malformed("missing_field", f"{name} must be a non-empty string, got {value!r}")
    return _column(value)


def _optional_text(doc: dict[str, Any], name: str) -> str | None:
    value = doc.get(name)
    if value is not None and not isinstance(value, str):
        raise Malformed("bad_field", f"{name} must be a string or null, got {value!r}")
    return (_column(value) or None) if value else None


def _date_text(doc: dict[str, Any], name: str) -> str | None:
    value = _optional_text(doc, name)
    if value is not None:
        try:
            date.fromisoformat(value)
        except ValueError:
            raise Malformed("bad_field", f"{name} must be an ISO date, got {value!r}") from None
    return value


def _instant_key(value: str | None) -> str:
    if value is None:
        return ""
    try:
        return instant_key(datetime.fromisoformat(value))
    except ValueError:
        raise Malformed("bad_field", f"acceptance_datetime must be an ISO instant, got {value!r}") from None


def _issuer(doc: dict[str, Any]) -> dict[str, Any]:
    issuer = doc.get("issuer")
    if (
        not isinstance(issuer, dict)
        or not isinstance(issuer.get("cik"), str)
        or not _CIK.match(issuer["cik"])
    ):
        raise Malformed("missing_field", "issuer.cik must be a 10-digit CIK")
    return issuer


def _owner_ciks(doc: dict[str, Any], name: str) -> tuple[str, ...]:
    owners = doc.get(name)
    if not isinstance(owners, list):
        raise Malformed("missing_field", f"{name} must be a list")
    ciks = []
    for owner in owners:
        cik = owner.get("cik") if isinstance(owner, dict) else None
        if not isinstance(cik, str) or not _CIK.match(cik):
            raise Malformed("bad_field", f"every {name}[].cik must be a 10-digit CIK, got {cik!r}")
        ciks.append(cik)
    return tuple(sorted(set(ciks)))


def _ticker(value: Any) -> str | None:
    """Tickers are looked up case-insensitively; placeholders such as "NONE" or "N/A" are no ticker."""
    if not isinstance(value, str):
        return None
    ticker = value.strip().upper()
    return None if ticker in ("", "NONE", "N/A", "NA") else ticker
