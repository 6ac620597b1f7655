"""A filing laid out the way a person reads a Form 4: who, which company, then Table I and Table II."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from streams.models import Filing, Holding, Transaction

_CATEGORY_STYLE = {"open_market_purchase": "bold green", "open_market_sale": "bold red"}


def _num(value: Decimal | None) -> str:
    if value is None:
        return ""
    return f"{value:,f}" if value != value.to_integral_value() else f"{value:,.0f}"


def _money(value: Decimal | None) -> str:
    return "" if value is None else f"${value:,.2f}"


def _refs(ids: dict[str, list[str]], *fields: str) -> str:
    found = [i for f in fields for i in ids.get(f, [])]
    return f" ({','.join(dict.fromkeys(found))})" if found else ""


def _price(t: Transaction) -> str:
    d = t.derived
    if t.price_per_share is None:
        text = "see footnote" if d.price_status == "footnote_only" else "—"
    else:
        text = f"${t.price_per_share:,f}"
    if d.price_low is not None:
        text += f" [{d.price_low}–{d.price_high}]"
    return text + _refs(t.footnote_ids, "price_per_share")


def _owned_after(row: Transaction | Holding) -> str:
    if row.value_owned_following is not None:
        return _money(row.value_owned_following) + " (value)"
    return _num(row.shares_owned_following) + _refs(row.footnote_ids, "shares_owned_following")


def _ownership(row: Transaction | Holding) -> str:
    nature = f" {row.nature_of_ownership}" if row.nature_of_ownership else ""
    return f"{row.direct_indirect or ''}{nature}"


#: Below this many columns the tables are laid out one transaction per block: a wide table squeezed into a
#: narrow terminal splits numbers mid-digit.
WIDE = 150
_NUMERIC = frozenset({"#", "Shares", "A/D", "Price", "Value", "Owned after", "Code"})
_COLUMNS = ("#", "Security", "Date", "Code", "What", "Shares", "A/D", "Price", "Value", "Owned after", "D/I")
_DERIVATIVE_COLUMN = "Exercise / expiry / underlying"


def _transaction_cells(t: Transaction, derivative: bool) -> list[str | Text]:
    d = t.derived
    code = (d.edgar_display_code or "?") + _refs(t.footnote_ids, "transaction_code")
    amount = _num(t.shares) if t.total_value is None else _money(t.total_value) + " total"
    cells: list[str | Text] = [
        str(t.row_index + 1),
        (t.security_title or "") + _refs(t.footnote_ids, "security_title"),
        str(t.transaction_date or "") + ("  late" if d.is_late else ""),
        code,
        Text(d.category.replace("_", " "), style=_CATEGORY_STYLE.get(d.category, "")),
        amount + _refs(t.footnote_ids, "shares"),
        t.acquired_disposed or "",
        _price(t),
        _money(d.dollar_value),
        _owned_after(t),
        _ownership(t),
    ]
    if derivative:
        under = _num(t.underlying_shares) or _money(t.underlying_value)
        cells.append(
            f"@{_num(t.conversion_or_exercise_price)} {t.exercise_date or '…'} → {t.expiration_date or '…'}"
            f"; {under} {t.underlying_security_title or ''}"
        )
    return cells


def _transaction_blocks(title: str, rows: list[Transaction], derivative: bool) -> Group:
    """One block per transaction, label and value: readable at any width, numbers never split."""
    names = (*_COLUMNS, _DERIVATIVE_COLUMN) if derivative else _COLUMNS
    blocks: list[Any] = [Text(title, style="bold")]
    for t in rows:
        block = Table.grid(padding=(0, 2))
        block.add_column(style="dim", no_wrap=True)
        block.add_column(overflow="fold")
        for name, cell in zip(names[1:], _transaction_cells(t, derivative)[1:], strict=True):
            if str(cell):
                block.add_row(name, cell)
        blocks.append(Text(f"row {t.row_index + 1}", style="bold"))
        blocks.append(block)
    return Group(*blocks)


def _transactions_table(title: str, rows: list[Transaction], derivative: bool) -> Table:
    table = Table(title=title, title_justify="left", expand=True, show_lines=False)
    for col in _COLUMNS:
        numeric = col in _NUMERIC
        table.add_column(col, no_wrap=numeric, justify="right" if numeric else "left", overflow="fold")
    if derivative:
        table.add_column(_DERIVATIVE_COLUMN, overflow="fold")
    for t in rows:
        table.add_row(*_transaction_cells(t, derivative))
    return table


def _holdings_table(rows: list[Holding]) -> Table:
    table = Table(title="Holdings", title_justify="left", expand=True)
    for col in ("Table", "Security", "Owned", "D/I", "Underlying"):
        table.add_column(col, overflow="fold", no_wrap=col == "Owned")
    for h in rows:
        under = ""
        if h.table == "derivative":
            under = f"{_num(h.underlying_shares) or _money(h.underlying_value)} {h.underlying_security_title or ''}"
        table.add_row(
            h.table.replace("_", "-"), h.security_title or "", _owned_after(h), _ownership(h), under
        )
    return table


def render_filing(filing: Filing, source: str | None = None, width: int = WIDE) -> Panel:
    """The filing as a panel; under :data:`WIDE` columns each transaction is a block instead of a table row."""
    issuer = filing.issuer
    head = Text()
    head.append(f"Form {filing.document_type}", style="bold")
    head.append(f"  {issuer.name or ''} ({issuer.trading_symbol or '—'})  CIK {issuer.cik}\n")
    head.append(f"accession {filing.accession_number or '—'}  period {filing.period_of_report or '—'}")
    head.append(f"  accepted {filing.acceptance_datetime or '—'}  filed {filing.filed_date or '—'}\n")
    if filing.date_of_original_submission:
        head.append(f"amends the filing of {filing.date_of_original_submission}\n", style="yellow")
    plan = {True: "yes", False: "no", None: "not stated"}[filing.derived.tenb51_plan]
    head.append(f"10b5-1 plan: {plan}")
    if filing.not_subject_to_section16:
        head.append("   no longer subject to Section 16", style="yellow")
    for owner in filing.reporting_owners:
        roles = ", ".join(r.value.replace("_", " ") for r in owner.roles)
        title = f" — {owner.officer_title}" if owner.officer_title else ""
        head.append(f"\n  {owner.name} (CIK {owner.cik}): {roles}{title}")

    parts: list = [head]
    for table_name, label in (
        ("non_derivative", "Table I — non-derivative"),
        ("derivative", "Table II — derivative"),
    ):
        rows = [t for t in filing.transactions if t.table == table_name]
        if rows:
            layout = _transactions_table if width >= WIDE else _transaction_blocks
            parts.append(layout(label, rows, derivative=table_name == "derivative"))
    if filing.holdings:
        parts.append(_holdings_table(filing.holdings))
    if filing.footnotes:
        notes = Text("Explanation of responses\n", style="bold")
        for fid, text in filing.footnotes.items():
            notes.append(f"{fid}: ", style="bold")
            notes.append(text + "\n")
        parts.append(notes)
    if filing.remarks:
        parts.append(Text(f"Remarks: {filing.remarks}"))
    if filing.signatures:
        parts.append(Text("Signed: " + "; ".join(f"{s.name} {s.date or ''}" for s in filing.signatures)))
    for warning in filing.warnings:
        parts.append(Text(f"warning: {warning}", style="yellow"))
    return Panel(Group(*parts), title=source, title_align="left")
