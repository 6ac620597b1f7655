"""Which rows count, and how rows add up: the arithmetic every alert rule shares.

One order is often filed as many rows (weighted-average tranches, the 30-row cap), so rules judge sums over a
filing's rows, never single rows. Only non-derivative rows count as buying or selling stock: a derivative row's
price is the derivative's, and F (tax withholding) is its own category, never a sale.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from streams.models import Category, Role, TransactionRecord


def is_sale(record: TransactionRecord) -> bool:
    """An open-market sale (S) of stock: the only disposition the sale rules look at."""
    return record.table == "non_derivative" and record.derived.category == Category.OPEN_MARKET_SALE


def is_purchase(record: TransactionRecord) -> bool:
    """An open-market purchase (P) of stock (a derivative P, e.g. convertible notes, is not one)."""
    return record.table == "non_derivative" and record.derived.category == Category.OPEN_MARKET_PURCHASE


def row_value(record: TransactionRecord) -> Decimal | None:
    """The row's dollar value, or None when it has none we trust.

    derived.dollar_value exists only for a reported, non-zero price; rows whose values look wrong (a total
    typed into the price field) count as unpriced rather than inventing a phantom billion-dollar trade. A price
    just outside the range its footnote states (flagged price_outside_range, the range kept beside it) is still
    that trade's average, give or take a typo in the footnote, so it counts; one far from every range does not.
    """
    flags = set(record.derived.value_flags)
    if record.derived.price_low is not None:
        flags.discard("price_outside_range")
    if flags:
        return None
    return record.derived.dollar_value


def owner_ciks(record: TransactionRecord) -> tuple[str, ...]:
    """The owners behind a row: the joint group, or the single filer. Rows are never split per owner."""
    if record.joint_group:
        return tuple(sorted(record.joint_group))
    return tuple(sorted({o.cik for o in record.reporting_owners}))


def group_key(ciks: Iterable[str]) -> str:
    """A joint group as one string key: sorted CIKs joined by commas (a single CIK for a lone filer)."""
    return ",".join(sorted(ciks))


def roles_match(record: TransactionRecord, roles: Iterable[Role]) -> bool:
    """Whether any owner of the filing holds one of the roles (record.owner_roles is their union)."""
    wanted = set(roles)
    return any(role in wanted for role in record.owner_roles)


def filing_groups(records: Iterable[TransactionRecord]) -> list[list[TransactionRecord]]:
    """Rows split by filing and owner group, in first-seen order (one group for one filing's records)."""
    groups: dict[tuple[str, str, tuple[str, ...]], list[TransactionRecord]] = {}
    for record in records:
        key = (record.accession_number or "", record.issuer.cik, owner_ciks(record))
        groups.setdefault(key, []).append(record)
    return list(groups.values())


@dataclass(frozen=True, slots=True)
class Aggregate:
    """The sum of some rows of one owner group: what one alert reports."""

    rows: tuple[TransactionRecord, ...]
    shares: Decimal
    dollar_value: Decimal | None
    unpriced: bool
    first_date: date | None
    last_date: date | None
    tenb51_plan: bool | None
    plan_mixed: bool
    txn_ids: list[str]
    accession_numbers: list[str]
    acceptance_datetime: datetime | None


def aggregate(rows: Sequence[TransactionRecord]) -> Aggregate:
    """Shares and dollars summed; dollar_value None when no row has a trusted price, unpriced when some lack one."""
    values = [row_value(r) for r in rows]
    priced = [v for v in values if v is not None]
    dates = [r.transaction_date for r in rows if r.transaction_date is not None]
    plans = {r.derived.tenb51_plan for r in rows}
    accepted = [r.acceptance_datetime for r in rows if r.acceptance_datetime is not None]
    return Aggregate(
        rows=tuple(rows),
        shares=sum((r.shares for r in rows if r.shares is not None), Decimal(0)),
        dollar_value=sum(priced, Decimal(0)) if priced else None,
        unpriced=len(priced) < len(values),
        first_date=min(dates) if dates else None,
        last_date=max(dates) if dates else None,
        tenb51_plan=combine_plans(plans),
        plan_mixed=True in plans and len(plans) > 1,
        txn_ids=sorted({r.txn_id for r in rows}),
        accession_numbers=sorted({r.accession_number for r in rows if r.accession_number}),
        acceptance_datetime=max(accepted) if accepted else None,
    )


def combine_plans(plans: set[bool | None]) -> bool | None:
    """True only when every row was under a 10b5-1 plan, False only when every row says not; else unknown."""
    if plans == {True}:
        return True
    if plans == {False}:
        return False
    return None


@dataclass(frozen=True, slots=True)
class LineFraction:
    """How much of one holding line (security x direct/indirect x nature) a filing's sales took."""

    fraction: Decimal
    direct_indirect: str | None
    nature_of_ownership: str | None
    security_title: str | None


def largest_line_fraction(sales: Sequence[TransactionRecord]) -> LineFraction | None:
    """The largest share of a holding line sold, per line: sold / (balance after the line's last sale + sold).

    Balances are per line, not per insider (pitfall 17), so the fraction is too. Lines whose balance is given
    as a value (or not at all) have no fraction.
    """
    lines: dict[tuple[str, str, str], list[TransactionRecord]] = {}
    for row in sales:
        key = (
            " ".join((row.security_title or "").upper().split()),
            (row.direct_indirect or "").upper(),
            " ".join((row.nature_of_ownership or "").upper().split()),
        )
        lines.setdefault(key, []).append(row)
    best: LineFraction | None = None
    for rows in lines.values():
        rows = sorted(rows, key=lambda r: r.row_index)
        after = rows[-1].shares_owned_following
        sold = sum((r.shares for r in rows if r.shares is not None), Decimal(0))
        if after is None or sold <= 0 or after + sold <= 0:
            continue
        fraction = sold / (after + sold)
        if best is None or fraction > best.fraction:
            last = rows[-1]
            best = LineFraction(fraction, last.direct_indirect, last.nature_of_ownership, last.security_title)
    return best
