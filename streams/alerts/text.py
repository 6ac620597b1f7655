"""The one sentence a person reads: who did what, in which stock, for how much, and under a 10b5-1 plan or not.

Names are as filed (EDGAR's "LAST FIRST"), never reordered: reversing them is lossy (pitfall 11). Money is
rounded for reading ($4.2M, $950K, $12,345); the exact Decimal stays in the alert's dollar_value.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from streams.alerts.aggregate import Aggregate, LineFraction
from streams.models import Issuer, OwnerRef, Role, TraderPattern

# Most senior first: an owner who is CEO and director reads as "CEO".
ROLE_LABELS: dict[Role, str] = {
    Role.CEO: "CEO",
    Role.CFO: "CFO",
    Role.COO: "COO",
    Role.PRESIDENT: "President",
    Role.GENERAL_COUNSEL: "General Counsel",
    Role.CHAIR: "Chair",
    Role.OTHER_OFFICER: "Officer",
    Role.DIRECTOR: "Director",
    Role.TEN_PERCENT_OWNER: "10% owner",
}
NO_ROLE_LABEL = "Insider"
PLACEHOLDER_SYMBOLS = frozenset({"", "NONE", "N/A", "NA", "-"})


def _round(value: Decimal, unit: str) -> Decimal:
    return value.quantize(Decimal(unit), rounding=ROUND_HALF_UP)


def format_money(value: Decimal) -> str:
    """$1.2B, $4.2M, $950K, or exact dollars below $100K ($12,345)."""
    if value >= Decimal("999950000"):
        return f"${_round(value / Decimal(1_000_000_000), '0.1')}B"
    if value >= Decimal("999500"):
        return f"${_round(value / Decimal(1_000_000), '0.1')}M"
    if value >= Decimal(100_000):
        return f"${_round(value / Decimal(1000), '1')}K"
    return f"${_round(value, '1'):,}"


def format_shares(value: Decimal) -> str:
    """Thousands separators; fractional shares keep their filed decimals without trailing zeros."""
    if value == value.to_integral_value():
        return f"{int(value):,}"
    return f"{value.normalize():,f}"


def format_percent(fraction: Decimal) -> str:
    """Whole percent; a positive fraction that rounds to 0 reads 'less than 1%'."""
    percent = _round(fraction * 100, "1")
    if percent == 0 and fraction > 0:
        return "less than 1%"
    return f"{percent}%"


def role_label(roles: Iterable[Role]) -> str:
    """The most senior role's label (CEO before Director before 10% owner); 'Insider' when none applies."""
    present = set(roles)
    return next((label for role, label in ROLE_LABELS.items() if role in present), NO_ROLE_LABEL)


def owner_name(owner: OwnerRef) -> str:
    return owner.name or f"CIK {owner.cik}"


def owner_phrase(owners: Sequence[OwnerRef], roles: Iterable[Role] | None = None) -> str:
    """'CFO HOOD AMY', or for a joint filing the owner holding the top role: 'Director X and 2 joint filers'."""
    if not owners:
        return NO_ROLE_LABEL
    union = set(roles) if roles is not None else {r for o in owners for r in o.roles}
    label = role_label(union)
    top = next((role for role in ROLE_LABELS if role in union), None)
    lead = next((o for o in owners if top in o.roles), owners[0])
    text = f"{label} {owner_name(lead)}"
    others = len(owners) - 1
    if others:
        text += f" and {others} joint filer{'s' if others > 1 else ''}"
    return text


def issuer_label(issuer: Issuer) -> str:
    """The trading symbol as filed when there is a real one, else the issuer name, else its CIK."""
    symbol = (issuer.trading_symbol or "").strip()
    if symbol.upper() not in PLACEHOLDER_SYMBOLS:
        return symbol
    return (issuer.name or "").strip() or f"CIK {issuer.cik}"


def plan_phrase(plan: bool | None, mixed: bool = False) -> str:
    if mixed:
        return "partly under a 10b5-1 plan"
    if plan is True:
        return "under a 10b5-1 plan"
    if plan is False:
        return "not under a 10b5-1 plan"
    return "10b5-1 status not stated"


def date_phrase(first: date | None, last: date | None) -> str:
    """' on 2024-03-11' or ' from 2024-09-27 to 2024-10-01' (with its leading space), '' without dates."""
    if first is None or last is None:
        return ""
    if first == last:
        return f" on {first.isoformat()}"
    return f" from {first.isoformat()} to {last.isoformat()}"


def value_phrase(agg: Aggregate) -> str:
    """'($4.2M)'; 'at least' when some rows had no usable price; 'value not reported' when none had one."""
    if agg.dollar_value is None:
        return "(value not reported)"
    money = format_money(agg.dollar_value)
    return f"(at least {money})" if agg.unpriced else f"({money})"


def holding_phrase(line: LineFraction) -> str:
    """'the direct holding', or 'the indirect holding (by Trust)' unless the nature only points to a footnote."""
    if (line.direct_indirect or "").upper() == "D":
        return "the direct holding"
    nature = (line.nature_of_ownership or "").strip()
    if nature and not nature.lower().startswith("see"):
        return f"the indirect holding ({nature})"
    return "the indirect holding"


def sale_message(
    agg: Aggregate,
    owners: Sequence[OwnerRef],
    roles: Iterable[Role],
    issuer: Issuer,
    line: LineFraction | None,
) -> str:
    """'CFO HOOD AMY sold 38,000 MSFT shares ($16.2M) in open-market sales on 2024-03-11, 27% of the direct
    holding, under a 10b5-1 plan.'"""
    text = (
        f"{owner_phrase(owners, roles)} sold {format_shares(agg.shares)} {issuer_label(issuer)} shares "
        f"{value_phrase(agg)} in open-market sales{date_phrase(agg.first_date, agg.last_date)}"
    )
    if line is not None:
        text += f", {format_percent(line.fraction)} of {holding_phrase(line)}"
    return f"{text}, {plan_phrase(agg.tenb51_plan, agg.plan_mixed)}."


def purchase_message(
    agg: Aggregate, owners: Sequence[OwnerRef], roles: Iterable[Role], issuer: Issuer
) -> str:
    """'Director BOTHA ROELOF bought 540,646 SQ shares ($27.5M) in open-market purchases from ... to ..., ...'"""
    return (
        f"{owner_phrase(owners, roles)} bought {format_shares(agg.shares)} {issuer_label(issuer)} shares "
        f"{value_phrase(agg)} in open-market purchases{date_phrase(agg.first_date, agg.last_date)}, "
        f"{plan_phrase(agg.tenb51_plan, agg.plan_mixed)}."
    )


def late_message(
    owners: Sequence[OwnerRef],
    roles: Iterable[Role],
    issuer: Issuer,
    late_rows: int,
    max_lag: int | None,
    trade_date: date | None,
    filed: date | None,
) -> str:
    """'X reported 2 BETR transactions late: filed 2025-03-07, 58 business days after the 2024-12-09 trade
    (the deadline is 2 business days).'"""
    rows = f"{late_rows} {issuer_label(issuer)} transaction{'s' if late_rows != 1 else ''}"
    text = f"{owner_phrase(owners, roles)} reported {rows} late"
    details = []
    if filed is not None:
        details.append(f"filed {filed.isoformat()}")
    if max_lag is not None:
        trade = f"the {trade_date.isoformat()} trade" if trade_date else "the trade"
        details.append(f"{max_lag} business days after {trade}")
    if details:
        text += ": " + ", ".join(details)
    if max_lag is None:
        return text + " (marked late by the filer)."
    return text + " (the deadline is 2 business days)."


def cluster_message(
    issuer: Issuer,
    insiders: Sequence[tuple[str, Decimal | None]],
    window_days: int,
    first: date,
    last: date,
    total: Decimal | None,
) -> str:
    """'3 insiders bought ACME shares within 7 days (2024-11-01 to 2024-11-05): Director A ($1.2M), ...'"""
    parts = ", ".join(
        f"{who} ({format_money(value)})" if value is not None else f"{who} (value not reported)"
        for who, value in insiders
    )
    span = first.isoformat() if first == last else f"{first.isoformat()} to {last.isoformat()}"
    text = (
        f"{len(insiders)} insiders bought {issuer_label(issuer)} shares in open-market purchases within "
        f"{window_days} days ({span}): {parts}"
    )
    if total is not None:
        text += f"; {format_money(total)} in total"
    return text + "."


def first_purchase_message(
    agg: Aggregate,
    owners: Sequence[OwnerRef],
    roles: Iterable[Role],
    issuer: Issuer,
    new_owners: Sequence[OwnerRef],
) -> str:
    """'First open-market purchase of TSLA seen from CEO Musk Elon: 102,880 shares ($25.0M) on 2019-05-02.'"""
    text = (
        f"First open-market purchase of {issuer_label(issuer)} seen from {owner_phrase(owners, roles)}: "
        f"{format_shares(agg.shares)} shares {value_phrase(agg)}{date_phrase(agg.first_date, agg.last_date)}"
    )
    if len(new_owners) < len(owners):
        text += f" (first for {', '.join(owner_name(o) for o in new_owners)})"
    return text + "."


def pattern_phrase(
    pattern: TraderPattern | None, since: date | None, gaps: Sequence[int] = (), direction: str = "sell"
) -> str:
    """What the insider's history says about the trade (Cohen, Malloy and Pomorski 2012). Unclassified: the
    years of a long enough history without a trade in this direction ('no open-market sale seen in 2022'),
    else how short the history is."""
    if pattern == "routine":
        return "a routine trader (same month in each of the last 3 years)"
    if pattern == "opportunistic":
        return "an opportunistic trade (traded in each of the last 3 years, not in a recurring month)"
    if since is None:
        return "no earlier trades known"
    if gaps:
        kind = "sale" if direction == "sell" else "purchase"
        years = " or ".join(str(y) for y in sorted(gaps))
        return (
            f"no open-market {kind} seen in {years} (history since {since.isoformat()}), "
            "so neither routine nor opportunistic"
        )
    return f"history since {since.isoformat()} too short to classify"


def event_message(
    direction: str,
    agg: Aggregate,
    owners: Sequence[OwnerRef],
    roles: Iterable[Role],
    issuer: Issuer,
    line: LineFraction | None,
    *,
    pattern: TraderPattern | None,
    since: date | None,
    gaps: Sequence[int] = (),
    first_purchase_years: int | None,
    filings: int,
) -> str:
    """The sale or purchase sentence, then what the history says: 'CEO X sold ... under a 10b5-1 plan; an
    opportunistic trade (...); reported in 2 filings.'"""
    base = (
        sale_message(agg, owners, roles, issuer, line)
        if direction == "sell"
        else purchase_message(agg, owners, roles, issuer)
    )
    parts = [base.removesuffix(".")]
    if first_purchase_years is not None:
        parts.append(
            f"the first open-market purchase in at least {first_purchase_years} years of known history"
        )
    parts.append(pattern_phrase(pattern, since, gaps, direction))
    if filings > 1:
        parts.append(f"reported in {filings} filings")
    return "; ".join(parts) + "."
