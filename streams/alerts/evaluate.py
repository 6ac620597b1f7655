"""Per-filing rules: large dispositions, CEO/CFO sales, insider purchases, late filings.

The pipeline now calls ``streams.alerts.alert_step``, which raises one alert per economic event (see events.py)
and uses ``late_alerts`` from here; ``evaluate_filing`` stays as the stateless per-filing view (one alert per rule
and filing), for tools and tests that judge a single filing.

Each rule judges one filing's rows for one owner group as a whole: an order filled in many tranches (or split
by the 30-row cap) is one decision, so it is one alert with summed shares and dollars, never one per row.
A joint filing is one owner group, so its dollars are never multiplied by the number of owners.

Amendments (4/A) raise no sale or purchase alert: the original filing already did, and an amendment usually
restates it (e.g. for a split), so alerting again would double-report one trade. They can still be late when
the filer marks rows late. One order spread over several same-day Form 4s (pitfall 20) is not summed here:
that needs per-owner state like the cluster window, and is not done yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from streams.alerts.aggregate import (
    Aggregate,
    aggregate,
    filing_groups,
    is_purchase,
    is_sale,
    largest_line_fraction,
    roles_match,
)
from streams.alerts.ids import alert_id
from streams.alerts.rules import RulesConfig, Severity
from streams.alerts.text import late_message, purchase_message, sale_message
from streams.derive.calendar import edgar_filing_date
from streams.models import Alert, Role, TransactionRecord

LARGE_DISPOSITION = "large_disposition"
EXECUTIVE_SALE = "executive_sale"
INSIDER_PURCHASE = "insider_purchase"
LATE_FILING = "late_filing"


def evaluate_filing(records: list[TransactionRecord], rules: RulesConfig) -> list[Alert]:
    """The alerts one filing's records raise under the per-filing rules, in a stable order.

    Pure and deterministic: the same records give the same alerts with the same ids, so replays are harmless.
    """
    alerts: list[Alert] = []
    for group in filing_groups(records):
        if not group[0].is_amendment:
            alerts += _sale_alerts(group, rules)
            alerts += _purchase_alerts(group, rules)
        alerts += late_alerts(group, rules)
    return alerts


def _sale_alerts(group: Sequence[TransactionRecord], rules: RulesConfig) -> list[Alert]:
    sales = [r for r in group if is_sale(r)]
    if not sales:
        return []
    agg = aggregate(sales)
    line = largest_line_fraction(sales)
    value = agg.dollar_value or Decimal(0)
    message = sale_message(agg, group[0].reporting_owners, _roles(group), group[0].issuer, line)
    out = []
    large = rules.large_disposition
    if (
        large.enabled
        and roles_match(group[0], large.roles)
        and (value >= large.min_value or (line is not None and line.fraction >= large.min_fraction))
    ):
        out.append(build_alert(LARGE_DISPOSITION, large.severity, group, agg, message))
    executive = rules.executive_sale
    if executive.enabled and roles_match(group[0], executive.roles) and value >= executive.min_value:
        out.append(build_alert(EXECUTIVE_SALE, executive.severity, group, agg, message))
    return out


def _purchase_alerts(group: Sequence[TransactionRecord], rules: RulesConfig) -> list[Alert]:
    rule = rules.insider_purchase
    purchases = [r for r in group if is_purchase(r)]
    if not rule.enabled or not purchases:
        return []
    roles = [*rule.roles, *([Role.TEN_PERCENT_OWNER] if rule.include_ten_percent_owners else [])]
    agg = aggregate(purchases)
    if not roles_match(group[0], roles) or (agg.dollar_value or Decimal(0)) < rule.min_value:
        return []
    message = purchase_message(agg, group[0].reporting_owners, _roles(group), group[0].issuer)
    return [build_alert(INSIDER_PURCHASE, rule.severity, group, agg, message)]


def row_is_late(record: TransactionRecord, min_business_days: int) -> bool:
    """Late when the filer marked the row late, or a Form 4 row's lag reaches min_business_days.

    Lags on Forms 3 and 5 and on amendments follow other deadlines, so there only derived.is_late (the
    explicit markers) counts; a row without a known lag is never called late on a guess.
    """
    derived = record.derived
    if (record.transaction_timeliness or "").strip().upper() == "L":
        return True
    if record.document_type == "4" and record.transaction_form_type in (None, "4"):
        lag = derived.filing_lag_business_days
        return lag is not None and lag >= min_business_days
    return bool(derived.is_late)


def late_alerts(group: Sequence[TransactionRecord], rules: RulesConfig) -> list[Alert]:
    rule = rules.late_filing
    late = [r for r in group if row_is_late(r, rule.min_business_days)] if rule.enabled else []
    if not late:
        return []
    agg = aggregate(late)
    lags = [r for r in late if r.derived.filing_lag_business_days is not None]
    worst = max(lags, key=lambda r: r.derived.filing_lag_business_days or 0) if lags else None
    first = group[0]
    message = late_message(
        first.reporting_owners,
        _roles(group),
        first.issuer,
        len(late),
        worst.derived.filing_lag_business_days if worst else None,
        (worst.deemed_execution_date or worst.transaction_date) if worst else None,
        first.filed_date
        or (edgar_filing_date(first.acceptance_datetime) if first.acceptance_datetime else None),
    )
    return [build_alert(LATE_FILING, rule.severity, group, agg, message, amounts=False)]


def _roles(group: Sequence[TransactionRecord]) -> list[Role]:
    present = {role for r in group for role in r.owner_roles}
    return [role for role in Role if role in present]


def build_alert(
    rule: str,
    severity: Severity,
    group: Sequence[TransactionRecord],
    agg: Aggregate,
    message: str,
    *,
    amounts: bool = True,
) -> Alert:
    """An Alert for one owner group's aggregate; the id hashes rule, issuer, first trade date and txn_ids."""
    first = group[0]
    return Alert(
        alert_id=alert_id(rule, first.issuer.cik, agg.first_date, agg.txn_ids),
        rule=rule,
        severity=severity,
        issuer=first.issuer,
        owners=list(first.reporting_owners),
        txn_ids=agg.txn_ids,
        accession_numbers=agg.accession_numbers,
        tenb51_plan=agg.tenb51_plan,
        dollar_value=agg.dollar_value if amounts else None,
        shares=agg.shares if amounts else None,
        window_start=agg.first_date,
        window_end=agg.last_date,
        acceptance_datetime=agg.acceptance_datetime,
        message=message,
    )
