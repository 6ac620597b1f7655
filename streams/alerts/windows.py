"""Rules that need memory across filings: cluster buys and first purchases, as pure state transitions.

The Faust agent keeps one state per issuer CIK in a table (the states are pydantic models, so they serialise to
JSON) and calls ``cluster_step`` / ``first_purchase_step`` with each filing's records. The steps never mutate the
state they are given and are idempotent: a filing seen again adds nothing and raises nothing, and an alert that
is re-derived (a crash between sending and saving the state) has the same deterministic id.

Who counts as one insider: the owners of one filing are one group (a joint filing of a fund, its general
partner and the person behind them is one buyer, pitfall 8). Groups that share any owner CIK are merged, so the
same person filing alone and, on another day, jointly with their fund still counts once: overcounting would
invent clusters, undercounting only delays one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from streams.alerts.aggregate import (
    aggregate,
    combine_plans,
    filing_groups,
    group_key,
    is_purchase,
    owner_ciks,
)
from streams.alerts.evaluate import build_alert
from streams.alerts.ids import alert_id
from streams.alerts.rules import RulesConfig, Severity
from streams.alerts.text import cluster_message, first_purchase_message, owner_phrase
from streams.models import Alert, Dec, Issuer, OwnerRef, Role, TransactionRecord

CLUSTER_BUY = "cluster_buy"
FIRST_PURCHASE = "first_purchase"
# Bounds of the cluster state (besides window_days of dates): a burst of filings keeps the newest purchases.
MAX_CLUSTER_PURCHASES = 200
MAX_EMITTED_CLUSTERS = 50


class _State(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClusterPurchase(_State):
    """One owner group's open-market purchases on one day in one filing (its tranches summed)."""

    group: str = Field(description="sorted owner CIKs joined by commas: the joint group, or the single filer")
    owner_ciks: list[str]
    owners: list[OwnerRef]
    owner_roles: list[Role] = Field(default_factory=list)
    transaction_date: date
    txn_ids: list[str]
    dollar_value: Dec | None = None
    shares: Dec | None = None
    tenb51_plan: bool | None = None
    accession_number: str | None = None
    acceptance_datetime: datetime | None = None


class EmittedCluster(_State):
    """A cluster already alerted on, so a window that only repeats its insiders stays quiet."""

    alert_id: str
    owner_ciks: list[str]
    window_start: date
    window_end: date


class ClusterState(_State):
    """Recent purchases of one issuer: only those within window_days of the newest, so it stays small."""

    issuer_cik: str | None = None
    purchases: list[ClusterPurchase] = Field(default_factory=list)
    emitted: list[EmittedCluster] = Field(default_factory=list)


class FirstPurchaseState(_State):
    """The owners seen buying one issuer on the open market (sorted CIKs)."""

    issuer_cik: str | None = None
    buyers: list[str] = Field(default_factory=list)


def cluster_step(
    state: ClusterState | None, records: list[TransactionRecord], rules: RulesConfig
) -> tuple[ClusterState, list[Alert]]:
    """Add a filing's open-market purchases to the issuer's window and alert on a newly qualifying cluster.

    A cluster is min_insiders distinct insiders with purchases inside one window_days-long span of
    transaction dates (calendar days, both ends included: 7 days = Nov 1..Nov 7). Every window containing a
    new purchase is checked, so a late-filed purchase can complete a cluster too. A window alerts once per
    set of insiders: a 4th insider joining gives a new alert (new id); the same insiders buying again within
    an overlapping window do not. Purchases dated before the window of the newest purchase are ignored and
    pruned; so are those with no or implausible dates (a typo'd 2035 date would otherwise flush the window).
    A disabled rule still keeps the window, so enabling it later starts from real history.
    """
    rule = rules.cluster_buy
    # Shallow: every list below is replaced, never changed in place, so the caller's state stays as it was.
    state = state.model_copy() if state is not None else ClusterState()
    state.issuer_cik = _issuer_cik(records, state.issuer_cik)
    known = {t for p in state.purchases for t in p.txn_ids}
    new = [p for p in _purchases(records) if not known.intersection(p.txn_ids)]
    new = [p for p in new if (p.dollar_value or Decimal(0)) >= rule.min_value]
    if not new:
        return state, []
    span = timedelta(days=rule.window_days - 1)
    cutoff = max(p.transaction_date for p in [*state.purchases, *new]) - span
    new = [p for p in new if p.transaction_date >= cutoff]
    state.purchases = sorted(
        [p for p in [*state.purchases, *new] if p.transaction_date >= cutoff],
        key=lambda p: (p.transaction_date, p.accession_number or "", p.txn_ids),
    )
    state.purchases = state.purchases[-MAX_CLUSTER_PURCHASES:]
    state.emitted = [e for e in state.emitted if e.window_end >= cutoff][-MAX_EMITTED_CLUSTERS:]
    if not rule.enabled or not new:
        return state, []

    candidates: dict[tuple[str, ...], list[ClusterPurchase]] = {}
    for purchase in new:
        day = purchase.transaction_date
        ends = sorted(
            {p.transaction_date for p in state.purchases if day <= p.transaction_date <= day + span}
        )
        for end in ends:
            window = [p for p in state.purchases if end - span <= p.transaction_date <= end]
            if len(_insiders(window)) >= rule.min_insiders:
                candidates[tuple(sorted(t for p in window for t in p.txn_ids))] = window
    # Biggest clusters first, so a smaller window inside a bigger one is covered by the bigger alert.
    ordered = sorted(
        candidates.items(),
        key=lambda item: (-len(_insiders(item[1])), -len(item[0]), item[1][-1].transaction_date, item[0]),
    )
    issuer = records[-1].issuer
    alerts: list[Alert] = []
    for _, window in ordered:
        ciks = {c for p in window for c in p.owner_ciks}
        start, end = window[0].transaction_date, window[-1].transaction_date
        if any(
            ciks <= set(e.owner_ciks) and e.window_start <= end and e.window_end >= start
            for e in state.emitted
        ):
            continue
        alert = _cluster_alert(issuer, window, rule.window_days, rule.severity)
        state.emitted.append(
            EmittedCluster(
                alert_id=alert.alert_id, owner_ciks=sorted(ciks), window_start=start, window_end=end
            )
        )
        alerts.append(alert)
    return state, alerts


def first_purchase_step(
    state: FirstPurchaseState | None, records: list[TransactionRecord], rules: RulesConfig
) -> tuple[FirstPurchaseState, list[Alert]]:
    """Legacy (replaced by ``alert_step``'s history-based first purchase; delete once process.py calls it):
    alert on an owner group's first open-market purchase in the issuer seen by this system.

    "First" means first since the system started keeping this state (or since the history it was backfilled
    with), not first in the insider's life. A joint filing alerts when any of its owners is new; the sentence
    names the new ones. Amendments and derivative rows never count. Owners are remembered even when the rule
    is disabled or the purchase is under min_value, so "first" stays true to what was seen.
    """
    rule = rules.first_purchase
    state = state.model_copy() if state is not None else FirstPurchaseState()
    state.issuer_cik = _issuer_cik(records, state.issuer_cik)
    buyers = set(state.buyers)
    alerts: list[Alert] = []
    for group in filing_groups(records):
        purchases = [r for r in group if is_purchase(r) and not r.is_amendment]
        if not purchases:
            continue
        ciks = owner_ciks(group[0])
        new = [c for c in ciks if c not in buyers]
        buyers.update(ciks)
        agg = aggregate(purchases)
        if not new or not rule.enabled or (agg.dollar_value or Decimal(0)) < rule.min_value:
            continue
        owners = group[0].reporting_owners
        message = first_purchase_message(
            agg, owners, group[0].owner_roles, group[0].issuer, [o for o in owners if o.cik in new]
        )
        alerts.append(build_alert(FIRST_PURCHASE, rule.severity, group, agg, message))
    state.buyers = sorted(buyers)
    return state, alerts


def _issuer_cik(records: Sequence[TransactionRecord], current: str | None) -> str | None:
    """The state is per issuer: records of another issuer are a wiring bug, refused loudly."""
    ciks = {r.issuer.cik for r in records} | ({current} if current else set())
    if len(ciks) > 1:
        raise ValueError(f"records of issuers {sorted(ciks)} passed to one issuer's state")
    return next(iter(ciks), None)


def _purchases(records: Sequence[TransactionRecord]) -> list[ClusterPurchase]:
    """One ClusterPurchase per (filing, owner group, transaction date), from non-amendment open-market buys."""
    by_day: dict[tuple[str, str, date], list[TransactionRecord]] = {}
    for r in records:
        if is_purchase(r) and not r.is_amendment and r.transaction_date and r.derived.date_plausible:
            key = (r.accession_number or "", group_key(owner_ciks(r)), r.transaction_date)
            by_day.setdefault(key, []).append(r)
    out = []
    for (_, group, day), rows in by_day.items():
        agg = aggregate(rows)
        out.append(
            ClusterPurchase(
                group=group,
                owner_ciks=list(owner_ciks(rows[0])),
                owners=list(rows[0].reporting_owners),
                owner_roles=list(rows[0].owner_roles),
                transaction_date=day,
                txn_ids=agg.txn_ids,
                dollar_value=agg.dollar_value,
                shares=agg.shares,
                tenb51_plan=agg.tenb51_plan,
                accession_number=rows[0].accession_number,
                acceptance_datetime=agg.acceptance_datetime,
            )
        )
    return out


def _insiders(window: Sequence[ClusterPurchase]) -> list[list[ClusterPurchase]]:
    """The window's purchases per distinct insider: groups sharing an owner CIK are one insider."""
    parent: dict[str, str] = {}

    def find(cik: str) -> str:
        parent.setdefault(cik, cik)
        while parent[cik] != cik:
            parent[cik] = parent[parent[cik]]
            cik = parent[cik]
        return cik

    for p in window:
        for cik in p.owner_ciks[1:]:
            parent[find(cik)] = find(p.owner_ciks[0])
    components: dict[str, list[ClusterPurchase]] = {}
    for p in window:
        components.setdefault(find(p.owner_ciks[0]), []).append(p)
    return list(components.values())


def _cluster_alert(
    issuer: Issuer, window: Sequence[ClusterPurchase], window_days: int, severity: Severity
) -> Alert:
    txn_ids = sorted({t for p in window for t in p.txn_ids})
    start, end = window[0].transaction_date, window[-1].transaction_date
    owners: dict[str, OwnerRef] = {}
    for p in window:
        for o in p.owners:
            owners.setdefault(o.cik, o)
    insiders = []
    for purchases in _insiders(window):
        values = [p.dollar_value for p in purchases if p.dollar_value is not None]
        roles = {role for p in purchases for role in p.owner_roles}
        who = owner_phrase(purchases[0].owners, roles)
        insiders.append((who, sum(values, Decimal(0)) if values else None))
    values = [p.dollar_value for p in window if p.dollar_value is not None]
    total = sum(values, Decimal(0)) if values else None
    shares = [p.shares for p in window if p.shares is not None]
    accepted = [p.acceptance_datetime for p in window if p.acceptance_datetime is not None]
    return Alert(
        alert_id=alert_id(CLUSTER_BUY, issuer.cik, start, txn_ids),
        rule=CLUSTER_BUY,
        severity=severity,
        issuer=issuer,
        owners=list(owners.values()),
        txn_ids=txn_ids,
        accession_numbers=sorted({p.accession_number for p in window if p.accession_number}),
        tenb51_plan=combine_plans({p.tenb51_plan for p in window}),
        dollar_value=total,
        shares=sum(shares, Decimal(0)) if shares else None,
        window_start=start,
        window_end=end,
        acceptance_datetime=max(accepted) if accepted else None,
        message=cluster_message(issuer, insiders, window_days, start, end, total),
    )
