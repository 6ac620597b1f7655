"""One alert per economic event: one insider's open-market trades in one issuer on one day, one direction.

An order is often reported over several filings (same-day sales split across Form 4s, pitfall 20), and one sale
used to raise one alert per rule. Here the event is the unit: every filing that adds to it updates its totals in
state (kind ``event``), the rules judge the totals, and the event has at most one alert, whose id comes from
the event alone (issuer, owner group, date, direction), never from rules or txn_ids. The first publication is
revision 0; a later filing that adds to an alerted event republishes it under the same id with ``revision``
n+1 and the new totals (the alerts topic is compacted by key, so the latest revision stands).

Key ``event|<issuer cik>|<owner group>|<trade date>|<buy|sell>``; value: the summed shares and dollars, the holding
lines' sold shares and balances, the filings and txn_ids counted (a filing seen again adds nothing), the rules
matched so far, the revision, and the trader pattern (with its gap years) and first-purchase verdict fixed when the event began.
Bounded: at most MAX_FILINGS filings (an event reported by more forgets its oldest ones), MAX_TXN_IDS txn_ids
(further rows still add to the totals, the alert lists the first ids) and MAX_LINES holding lines per event:
under 30 KB.
Amendments add nothing (they restate trades already counted).

An index ``event|<issuer cik>`` lists the issuer's events whose trade date lies within HORIZON_DAYS before the
newest filing date seen (at most MAX_INDEXED, oldest out first); an event leaving it is deleted, so the number
of event keys does not grow with history either. A filing reporting a trade older than that is judged on its
own rows and not remembered: processed again, it republishes the same alert (same id, revision 0). A trade
reported more than HORIZON_DAYS after it happened (judged on the filing alone, so every replay decides alike)
is never remembered, and its alert's id adds the filing's identity: two filings of the same old trade give two
alerts, and neither replaces the other on the compacted topic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from streams.alerts.aggregate import Aggregate, LineFraction, combine_plans, group_key, owner_ciks, row_value
from streams.alerts.flow import filing_date_of
from streams.alerts.history import Direction
from streams.alerts.ids import event_alert_id
from streams.alerts.rules import RulesConfig, Severity
from streams.alerts.text import event_message
from streams.models import Alert, Role, TraderPattern, TransactionRecord
from streams.state import State, key

LARGE_DISPOSITION = "large_disposition"
EXECUTIVE_SALE = "executive_sale"
INSIDER_PURCHASE = "insider_purchase"
FIRST_PURCHASE = "first_purchase"

MAX_FILINGS = 200
MAX_TXN_IDS = 500
MAX_LINES = 32
HORIZON_DAYS = 400  # a Form 5 reports trades of the past fiscal year
MAX_INDEXED = 500  # entries of ~30-110 bytes: under 56 KB
SEVERITY_RANK: dict[str, int] = {"info": 0, "low": 1, "medium": 2, "high": 3}
# Ties in severity: the more specific rule is the primary one.
RULE_ORDER = (EXECUTIVE_SALE, LARGE_DISPOSITION, INSIDER_PURCHASE, FIRST_PURCHASE)


def event_key(issuer_cik: str, group: str, day: date | None, direction: Direction) -> str:
    return key("event", issuer_cik, group, day.isoformat() if day else "undated", direction)


def filing_identity(rows: Sequence[TransactionRecord]) -> str:
    """The accession number, or for a bare document without one, its first txn_id (ids hash the identity)."""
    return rows[0].accession_number or min(r.txn_id for r in rows)


def line_key(row: TransactionRecord) -> str:
    return "|".join(
        (
            " ".join((row.security_title or "").upper().split()),
            (row.direct_indirect or "").upper(),
            " ".join((row.nature_of_ownership or "").upper().split()),
        )
    )


def add_rows(
    value: dict[str, Any] | None,
    rows: Sequence[TransactionRecord],
    *,
    pattern: TraderPattern | None,
    since: date | None,
    gaps: Sequence[int] = (),
    first_purchase: bool,
) -> dict[str, Any] | None:
    """The event's state with one filing's rows added, or None when that filing was already counted."""
    identity = filing_identity(rows)
    if value is not None and identity in value["filings"]:
        return None
    value = (
        dict(value)
        if value is not None
        else {
            "filings": [],
            "txn_ids": [],
            "txn_ids_truncated": False,
            "shares": "0",
            "dollars": None,
            "unpriced": False,
            "plans": [],
            "lines": {},
            "accepted": None,
            "pattern": pattern,
            "since": since.isoformat() if since else None,
            "gaps": list(gaps),
            "first_purchase": first_purchase,
            "rules": [],
            "revision": None,
        }
    )
    value["filings"] = [*value["filings"], identity][-MAX_FILINGS:]
    ids = [*value["txn_ids"], *sorted(r.txn_id for r in rows if r.txn_id not in value["txn_ids"])]
    value["txn_ids_truncated"] = value["txn_ids_truncated"] or len(ids) > MAX_TXN_IDS
    value["txn_ids"] = ids[:MAX_TXN_IDS]
    value["shares"] = str(Decimal(value["shares"]) + sum((r.shares or Decimal(0) for r in rows), Decimal(0)))
    priced = [v for v in (row_value(r) for r in rows) if v is not None]
    if priced:
        value["dollars"] = str(Decimal(value["dollars"] or 0) + sum(priced, Decimal(0)))
    value["unpriced"] = value["unpriced"] or len(priced) < len(rows)
    value["plans"] = sorted({*value["plans"], *(_plan(r.derived.tenb51_plan) for r in rows)})
    accepted = [r.acceptance_datetime.isoformat() for r in rows if r.acceptance_datetime]
    if accepted:
        value["accepted"] = max([*accepted, *([value["accepted"]] if value["accepted"] else [])])
    lines = {k: dict(v) for k, v in value["lines"].items()}
    for row in sorted(rows, key=lambda r: r.row_index):
        name = line_key(row)
        if name not in lines and len(lines) >= MAX_LINES:
            continue
        line = lines.setdefault(
            name,
            {
                "sold": "0",
                "after": None,
                "order": "",
                "title": row.security_title,
                "direct": row.direct_indirect,
                "nature": row.nature_of_ownership,
            },
        )
        line["sold"] = str(Decimal(line["sold"]) + (row.shares or Decimal(0)))
        order = f"{row.acceptance_datetime.isoformat() if row.acceptance_datetime else ''}|{identity}|{row.row_index:06d}"
        if order >= line["order"]:
            line["order"] = order
            line["after"] = (
                str(row.shares_owned_following) if row.shares_owned_following is not None else None
            )
    value["lines"] = lines
    return value


def _plan(flag: bool | None) -> str:
    return {True: "true", False: "false", None: "unknown"}[flag]


def aggregate_of(value: dict[str, Any], day: date | None) -> Aggregate:
    plans = {{"true": True, "false": False, "unknown": None}[p] for p in value["plans"]}
    return Aggregate(
        rows=(),
        shares=Decimal(value["shares"]),
        dollar_value=Decimal(value["dollars"]) if value["dollars"] is not None else None,
        unpriced=value["unpriced"],
        first_date=day,
        last_date=day,
        tenb51_plan=combine_plans(plans),
        plan_mixed=True in plans and len(plans) > 1,
        txn_ids=sorted(value["txn_ids"]),
        accession_numbers=sorted(f for f in value["filings"] if "-" in f),
        acceptance_datetime=datetime.fromisoformat(value["accepted"]) if value["accepted"] else None,
    )


def largest_fraction(value: dict[str, Any]) -> LineFraction | None:
    """The largest share of one holding line the event sold: sold / (balance after its last sale + sold)."""
    best: LineFraction | None = None
    for line in value["lines"].values():
        if line["after"] is None:
            continue
        sold, after = Decimal(line["sold"]), Decimal(line["after"])
        if sold <= 0 or after + sold <= 0:
            continue
        fraction = sold / (after + sold)
        if best is None or fraction > best.fraction:
            best = LineFraction(fraction, line["direct"], line["nature"], line["title"])
    return best


def matched_rules(
    direction: Direction, value: dict[str, Any], roles: Sequence[Role], rules: RulesConfig
) -> list[tuple[str, Severity]]:
    """The rules the event's totals meet, with their severities (before the routine-trader policy)."""
    have = set(roles)
    amount = Decimal(value["dollars"] or 0)
    out: list[tuple[str, Severity]] = []
    if direction == "sell":
        large, executive = rules.large_disposition, rules.executive_sale
        line = largest_fraction(value)
        if (
            large.enabled
            and have & set(large.roles)
            and (amount >= large.min_value or (line is not None and line.fraction >= large.min_fraction))
        ):
            out.append((LARGE_DISPOSITION, large.severity))
        if executive.enabled and have & set(executive.roles) and amount >= executive.min_value:
            out.append((EXECUTIVE_SALE, executive.severity))
    else:
        purchase, first = rules.insider_purchase, rules.first_purchase
        wanted = {*purchase.roles, *([Role.TEN_PERCENT_OWNER] if purchase.include_ten_percent_owners else [])}
        if purchase.enabled and have & wanted and amount >= purchase.min_value:
            out.append((INSIDER_PURCHASE, purchase.severity))
        if first.enabled and value["first_purchase"] and amount >= first.min_value:
            out.append((FIRST_PURCHASE, first.severity))
    return out


def event_step(
    state: State,
    direction: Direction,
    day: date | None,
    rows: Sequence[TransactionRecord],
    rules: RulesConfig,
    *,
    pattern: TraderPattern | None,
    since: date | None,
    gaps: Sequence[int] = (),
    first_purchase: bool,
    filed: date | None = None,
) -> Alert | None:
    """Add one filing's rows of one event; the event's alert (new or revised) when it has one to publish.

    ``filed``: the filing's date, which moves the issuer's event horizon (None leaves it where it is)."""
    issuer = rows[0].issuer
    group = group_key(owner_ciks(rows[0]))
    name = event_key(issuer.cik, group, day, direction)
    stored = state.get(name)
    value = add_rows(stored, rows, pattern=pattern, since=since, gaps=gaps, first_purchase=first_purchase)
    if value is None:
        return None  # this filing is already in the event: a redelivery
    # Reported over HORIZON_DAYS after the trade (a judgement on the filing alone, so a replay decides the same):
    # never remembered, and its alert has an id of its own filing.
    belated = filed is not None and day is not None and (filed - day).days > HORIZON_DAYS
    tracked = not belated and (
        stored is not None
        or _track(state, issuer.cik, [day.isoformat() if day else "", direction, group], filed)
    )
    severities = judged(direction, value, rows[0].owner_roles, rules)
    matched = ranked({*value["rules"], *severities}, severities, value, rules)
    if not matched:
        if tracked:
            state.put(name, value)
        return None
    value["rules"] = matched
    value["revision"] = 0 if value["revision"] is None else value["revision"] + 1
    if tracked:
        state.put(name, value)
    return render(
        value, severities, rows[0], day, direction, rules, filing_identity(rows) if belated else None
    )


def judged(
    direction: Direction, value: dict[str, Any], roles: Sequence[Role], rules: RulesConfig
) -> dict[str, Severity]:
    """The rules the event's totals meet now, at the severity the routine-trader policy leaves them."""
    severities = dict(matched_rules(direction, value, roles, rules))
    routine = value["pattern"] == "routine"
    policy = rules.trader_pattern.routine
    if routine and policy == "lowest":
        return dict.fromkeys(severities, "info")
    if routine and policy == "suppress":
        return {}
    return severities


def ranked(
    names: set[str], severities: dict[str, Severity], value: dict[str, Any], rules: RulesConfig
) -> list[str]:
    """``names`` by severity (a rule only an earlier filing matched counts at its configured one), then by
    RULE_ORDER."""
    routine, policy = value["pattern"] == "routine", rules.trader_pattern.routine
    return sorted(
        names,
        key=lambda r: (
            -SEVERITY_RANK[severities.get(r, _severity_of(r, rules, routine, policy))],
            RULE_ORDER.index(r),
        ),
    )


def render(
    value: dict[str, Any],
    severities: dict[str, Severity],
    row: TransactionRecord,
    day: date | None,
    direction: Direction,
    rules: RulesConfig,
    belated_filing: str | None = None,
) -> Alert:
    """The event's alert from its stored value (``value["rules"]`` and ``value["revision"]`` already set); ``row``
    is any row of the event (issuer, owners, roles)."""
    routine, policy = value["pattern"] == "routine", rules.trader_pattern.routine
    matched = value["rules"]
    issuer = row.issuer
    severity = max(
        (severities.get(r, _severity_of(r, rules, routine, policy)) for r in matched),
        key=SEVERITY_RANK.__getitem__,
    )
    agg = aggregate_of(value, day)
    known_since = date.fromisoformat(value["since"]) if value["since"] else None
    gap_years = list(value.get("gaps") or [])  # an event stored before gaps were kept has none
    return Alert(
        alert_id=event_alert_id(
            issuer.cik, group_key(owner_ciks(row)), day, direction, filing=belated_filing
        ),
        rule=matched[0],
        rules=matched,
        revision=value["revision"],
        is_revision=value["revision"] > 0,
        severity=severity,  # type: ignore[arg-type]
        issuer=issuer,
        owners=list(row.reporting_owners),
        txn_ids=agg.txn_ids,
        accession_numbers=agg.accession_numbers,
        tenb51_plan=agg.tenb51_plan,
        dollar_value=agg.dollar_value,
        shares=agg.shares,
        window_start=day,
        window_end=day,
        acceptance_datetime=agg.acceptance_datetime,
        trader_pattern=value["pattern"],
        history_known_since=known_since,
        history_gap_years=gap_years,
        message=event_message(
            direction,
            agg,
            row.reporting_owners,
            row.owner_roles,
            issuer,
            largest_fraction(value) if direction == "sell" else None,
            pattern=value["pattern"],
            since=known_since,
            gaps=gap_years,
            first_purchase_years=rules.first_purchase.min_history_years
            if FIRST_PURCHASE in matched
            else None,
            filings=len(value["filings"]),
        ),
    )


@dataclass(frozen=True, slots=True)
class Revised:
    """An event's alert after its history changed: ``alert`` to publish, or None when it matches no rule any
    more (``alert_id`` then gets a tombstone)."""

    alert_id: str
    alert: Alert | None


def revise_event(
    state: State,
    rows: Sequence[TransactionRecord],
    direction: Direction,
    rules: RulesConfig,
    *,
    pattern: TraderPattern | None,
    since: date | None,
    gaps: Sequence[int],
    first_purchase: bool,
) -> Revised | None:
    """The event of ``rows`` (one filing's rows of it) judged again with the verdicts its history now gives: a
    revision, a withdrawal, or None when nothing it says changes. A remembered event keeps its totals; one no
    longer remembered (older than HORIZON_DAYS, or reported belatedly) was judged on its filing alone, and is
    judged again the same way."""
    row = rows[0]
    day = row.transaction_date
    group = group_key(owner_ciks(row))
    name = event_key(row.issuer.cik, group, day, direction)
    stored = state.get(name)
    verdict = {
        "pattern": pattern,
        "since": since.isoformat() if since else None,
        "gaps": list(gaps),
        "first_purchase": first_purchase,
    }
    if stored is None:
        return _judged_alone(rows, direction, rules, verdict)
    if all(stored.get(k) == v for k, v in verdict.items()):
        return None
    value = {**stored, **verdict}
    severities = judged(direction, value, row.owner_roles, rules)
    suppressed = value["pattern"] == "routine" and rules.trader_pattern.routine == "suppress"
    kept = set() if suppressed else {r for r in stored["rules"] if r != FIRST_PURCHASE}
    matched = ranked({*kept, *severities}, severities, value, rules)
    alert_id = event_alert_id(row.issuer.cik, group, day, direction)
    value["rules"] = matched
    if not matched:
        state.put(name, value)
        return Revised(alert_id, None) if stored["rules"] else None
    value["revision"] = 0 if value["revision"] is None else value["revision"] + 1
    state.put(name, value)
    return Revised(alert_id, render(value, severities, row, day, direction, rules))


def _judged_alone(
    rows: Sequence[TransactionRecord], direction: Direction, rules: RulesConfig, verdict: dict[str, Any]
) -> Revised:
    """An event not remembered, judged on its filing's rows as ``event_step`` judged it (revision 0)."""
    row, day = rows[0], rows[0].transaction_date
    value = add_rows(None, rows, pattern=None, since=None, first_purchase=False)
    assert value is not None
    value.update(verdict)
    filed = filing_date_of(row)
    belated = filed is not None and day is not None and (filed - day).days > HORIZON_DAYS
    alert_id = event_alert_id(
        row.issuer.cik,
        group_key(owner_ciks(row)),
        day,
        direction,
        filing=filing_identity(rows) if belated else None,
    )
    severities = judged(direction, value, row.owner_roles, rules)
    value["rules"] = ranked(set(severities), severities, value, rules)
    if not value["rules"]:
        return Revised(alert_id, None)
    value["revision"] = 0
    return Revised(
        alert_id,
        render(value, severities, row, day, direction, rules, filing_identity(rows) if belated else None),
    )


def _severity_of(
    rule: str, rules: RulesConfig, routine: bool, policy: Literal["keep", "lowest", "suppress"]
) -> Severity:
    """A rule matched by an earlier filing of the event keeps counting at its configured severity."""
    if routine and policy != "keep":
        return "info"
    return getattr(rules, rule).severity  # type: ignore[no-any-return]


def _track(state: State, issuer_cik: str, entry: list[str], filed: date | None) -> bool:
    """Add a new event to the issuer's index and delete the events that fall out of it; False when the new event
    itself is outside the horizon (it is then judged on this filing alone and not remembered)."""
    name = key("event", issuer_cik)
    index = state.get(name) or {"events": [], "newest_filed": None}
    known = [d for d in (filed.isoformat() if filed else None, index["newest_filed"]) if d]
    newest = max(known) if known else None
    cutoff = (date.fromisoformat(newest) - timedelta(days=HORIZON_DAYS)).isoformat() if newest else ""
    entries = sorted([*index["events"], entry])
    keep = [e for e in entries if e[0] >= cutoff][-MAX_INDEXED:]
    for day, direction, group in (e for e in entries if e not in keep and e != entry):
        state.put(key("event", issuer_cik, group, day or "undated", direction), None)
    if keep != index["events"] or newest != index["newest_filed"]:
        state.put(name, {"events": keep, "newest_filed": newest})
    return entry in keep
