"""Net insider flow per issuer: discretionary open-market purchases minus sales, by filing date (state kind ``flow``).

Discretionary means not under a 10b5-1 plan (``derived.tenb51_plan`` is not True): plan trades were decided
months before. Windows of 30, 90, 180 and 365 days end on a filing date and are keyed on filing dates, so a window
never includes what was not yet public (no look-ahead). Dollars are trusted row values only (rows whose value looks
wrong add nothing); insiders are owner groups (joint filers once) with a discretionary trade in the window.
Amendments add nothing (they restate trades already counted).

Keys and values (all bounded):
- ``flow|<issuer cik>``: ``{"days": [ISO filing dates that have a bucket]}``, only the 365 days up to the newest
  filing date (at most 365 entries); older buckets are deleted when they fall out.
- ``flow|<issuer cik>|<filing date>``: ``{"purchases_usd", "sales_usd", "buyers", "sellers", "extra_buyers",
  "extra_sellers", "filings"}``: at most MAX_GROUPS buyers and sellers by name (more are only counted, and may then
  be counted once per day rather than once per window) and the last MAX_FILINGS filings counted, so a filing
  processed twice adds nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from streams.alerts.aggregate import group_key, is_purchase, is_sale, owner_ciks, row_value
from streams.alerts.ids import alert_id
from streams.alerts.rules import RulesConfig
from streams.alerts.text import format_money, issuer_label
from streams.derive.calendar import edgar_filing_date
from streams.models import Alert, TransactionRecord
from streams.state import State, key

WINDOWS = (30, 90, 180, 365)
HORIZON_DAYS = max(WINDOWS)
MAX_GROUPS = 100
MAX_FILINGS = 300
FLOW_TURN = "flow_turn"


def index_key(issuer_cik: str) -> str:
    return key("flow", issuer_cik)


def bucket_key(issuer_cik: str, day: date) -> str:
    return key("flow", issuer_cik, day.isoformat())


def filing_date_of(record: TransactionRecord) -> date | None:
    if record.filed_date is not None:
        return record.filed_date
    return edgar_filing_date(record.acceptance_datetime) if record.acceptance_datetime else None


def discretionary(record: TransactionRecord) -> bool:
    return (is_purchase(record) or is_sale(record)) and record.derived.tenb51_plan is not True


def window_totals(state: State, issuer_cik: str, end: date, days: int) -> dict[str, Any]:
    """The window of ``days`` filing dates ending on ``end`` (both included)."""
    start = end - timedelta(days=days - 1)
    index = state.get(index_key(issuer_cik)) or {"days": []}
    purchases = sales = Decimal(0)
    buyers: set[str] = set()
    sellers: set[str] = set()
    extra_buyers = extra_sellers = 0
    for day in index["days"]:
        if not start <= date.fromisoformat(day) <= end:
            continue
        bucket = state.get(key("flow", issuer_cik, day))
        if not bucket:
            continue
        purchases += Decimal(bucket["purchases_usd"])
        sales += Decimal(bucket["sales_usd"])
        buyers.update(bucket["buyers"])
        sellers.update(bucket["sellers"])
        extra_buyers += bucket["extra_buyers"]
        extra_sellers += bucket["extra_sellers"]
    n_buyers, n_sellers = len(buyers) + extra_buyers, len(sellers) + extra_sellers
    return {
        "days": days,
        "purchases_usd": purchases,
        "sales_usd": sales,
        "net_usd": purchases - sales,
        "buyers": n_buyers,
        "sellers": n_sellers,
        "net_insiders": n_buyers - n_sellers,
    }


def flow_report(state: State, issuer_cik: str, end: date) -> dict[str, Any]:
    """Net discretionary flow over 30, 90, 180 and 365 days of filing dates ending on ``end``; Decimals as strings."""
    windows = []
    for days in WINDOWS:
        totals = window_totals(state, issuer_cik, end, days)
        windows.append({k: str(v) if isinstance(v, Decimal) else v for k, v in totals.items()})
    return {"issuer_cik": issuer_cik, "end": end.isoformat(), "windows": windows}


def flow_step(state: State, records: Sequence[TransactionRecord], rules: RulesConfig) -> Alert | None:
    """Add one filing's discretionary open-market rows to its filing date's bucket; a flow_turn alert when the
    rule's window crosses both thresholds with this filing."""
    rows = [r for r in records if discretionary(r) and not r.is_amendment]
    day = filing_date_of(records[0]) if records else None
    if not rows or day is None:
        return None
    issuer = records[0].issuer
    index = state.get(index_key(issuer.cik)) or {"days": []}
    newest = max([day, *(date.fromisoformat(d) for d in index["days"])])
    oldest = newest - timedelta(days=HORIZON_DAYS - 1)
    if day < oldest:
        return None  # older than any window can reach
    name = bucket_key(issuer.cik, day)
    bucket = state.get(name) or {
        "purchases_usd": "0",
        "sales_usd": "0",
        "buyers": [],
        "sellers": [],
        "extra_buyers": 0,
        "extra_sellers": 0,
        "filings": [],
    }
    identity = rows[0].accession_number or min(r.txn_id for r in rows)
    if identity in bucket["filings"]:
        return None  # already counted: a redelivery
    rule = rules.flow_turn
    before = window_totals(state, issuer.cik, day, rule.window_days) if rule.enabled else None

    bucket = dict(bucket)
    bucket["filings"] = [*bucket["filings"], identity][-MAX_FILINGS:]
    for side, picked, people, extra in (
        ("purchases_usd", [r for r in rows if is_purchase(r)], "buyers", "extra_buyers"),
        ("sales_usd", [r for r in rows if is_sale(r)], "sellers", "extra_sellers"),
    ):
        if not picked:
            continue
        values = [v for v in (row_value(r) for r in picked) if v is not None]
        bucket[side] = str(Decimal(bucket[side]) + sum(values, Decimal(0)))
        group = group_key(owner_ciks(picked[0]))
        if group not in bucket[people]:
            if len(bucket[people]) < MAX_GROUPS:
                bucket[people] = sorted([*bucket[people], group])
            else:
                bucket[extra] += 1
    state.put(name, bucket)
    kept = sorted({d for d in index["days"] if date.fromisoformat(d) >= oldest} | {day.isoformat()})
    for dropped in set(index["days"]) - set(kept):
        state.put(key("flow", issuer.cik, dropped), None)
    if kept != index["days"]:
        state.put(index_key(issuer.cik), {"days": kept})

    if before is None:
        return None
    after = window_totals(state, issuer.cik, day, rule.window_days)
    if not (_strong(after, rules) and not _strong(before, rules)):
        return None
    txn_ids = sorted(r.txn_id for r in rows)
    return Alert(
        alert_id=alert_id(FLOW_TURN, issuer.cik, day, [str(rule.window_days)]),
        rule=FLOW_TURN,
        severity=rule.severity,
        issuer=issuer,
        owners=list(records[0].reporting_owners),
        txn_ids=txn_ids,
        accession_numbers=sorted({r.accession_number for r in rows if r.accession_number}),
        dollar_value=after["net_usd"],
        window_start=day - timedelta(days=rule.window_days - 1),
        window_end=day,
        acceptance_datetime=max((r.acceptance_datetime for r in rows if r.acceptance_datetime), default=None),
        message=(
            f"Net discretionary insider buying of {issuer_label(issuer)} turned strongly positive: "
            f"{format_money(after['net_usd'])} net (purchases {format_money(after['purchases_usd'])}, sales "
            f"{format_money(after['sales_usd'])}), {after['buyers']} buyers and {after['sellers']} sellers in the "
            f"{rule.window_days} days of filings to {day.isoformat()}, not under 10b5-1 plans."
        ),
    )


def _strong(totals: dict[str, Any], rules: RulesConfig) -> bool:
    rule = rules.flow_turn
    return bool(totals["net_usd"] >= rule.min_net_usd and totals["net_insiders"] >= rule.min_net_insiders)
