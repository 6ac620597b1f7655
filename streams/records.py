"""From one parsed filing to the records the pipeline publishes: one per transaction row, one holding
candidate per (owner, row that reports a balance). Pure functions over models.
"""

from __future__ import annotations

from typing import Any

from streams.models import Filing, HoldingKey, HoldingState, OwnerRef, Role, Row, TransactionRecord

OWNER_REF_FIELDS = set(OwnerRef.model_fields)


def owner_refs(filing: Filing) -> list[OwnerRef]:
    return [OwnerRef(**owner.model_dump(include=OWNER_REF_FIELDS)) for owner in filing.reporting_owners]


def joint_group(filing: Filing) -> list[str]:
    """The sorted owner CIKs of a joint filing (empty for a single owner), so sums over owners count it once."""
    return filing.derived.reporting_owner_ciks if filing.derived.joint_filer_count > 1 else []


def transaction_records(
    filing: Filing, *, amends_accession: str | None = None, amendment_link_method: str | None = None
) -> list[TransactionRecord]:
    owners = owner_refs(filing)
    roles = sorted({r for o in owners for r in o.roles}, key=list(Role).index)
    context: dict[str, Any] = {
        "accession_number": filing.accession_number,
        "document_type": filing.document_type,
        "is_amendment": filing.derived.is_amendment,
        "amends_accession": amends_accession,
        "amendment_link_method": amendment_link_method,
        "period_of_report": filing.period_of_report,
        "acceptance_datetime": filing.acceptance_datetime,
        "filed_date": filing.filed_date,
        "issuer": filing.issuer,
        "reporting_owners": owners,
        "owner_roles": roles,
        "joint_group": joint_group(filing),
        "aff10b5one": filing.aff10b5one,
    }
    return [
        # Already validated as parts of the Filing. Every field given: a field left to its default factory makes
        # pydantic inspect the factory's signature on each call (a fifth of the pure steps' time).
        TransactionRecord.model_construct(**dict(t), **context, **_UNCLASSIFIED, history_gap_years=[])
        for t in filing.transactions
    ]


#: What transaction_records leaves for the amendment and alert steps to fill.
_UNCLASSIFIED: dict[str, Any] = {
    "superseded_by": None,
    "supersede_match": None,
    "trader_pattern": None,
    "history_known_since": None,
}


def holding_key_string(key: HoldingKey) -> str:
    """The Kafka and table key of a holding line: stable, readable, and the same on every worker.

    ``owner CIK|issuer CIK|TITLE|D/I|NATURE|D or N`` (D: derivative, N: non-derivative), titles and natures
    upper-cased with single spaces, and ``%`` and ``|`` inside a field written ``%25`` and ``%7C``: the six
    fields can always be read back, so two different lines never share a key.
    """
    return "|".join(
        _escape(field)
        for field in (
            key.owner_cik,
            key.issuer_cik,
            normalize_security(key.security_title),
            key.direct_indirect or "",
            normalize_security(key.nature_of_ownership or ""),
            "D" if key.is_derivative else "N",
        )
    )


def split_holding_key(text: str) -> list[str]:
    """The six fields of a :func:`holding_key_string`, unescaped."""
    return [_unescape(field) for field in text.split("|")]


def _escape(field: str) -> str:
    return field.replace("%", "%25").replace("|", "%7C")


def _unescape(field: str) -> str:
    return field.replace("%7C", "|").replace("%25", "%")


def normalize_security(text: str) -> str:
    """Titles are free text filed in any case and spacing ("Common Stock" / "COMMON STOCK  ")."""
    return " ".join(text.upper().split())


def holding_key(owner_cik: str, issuer_cik: str, row: Row) -> HoldingKey:
    """The holding line a row's balance belongs to, for one of its owners."""
    return HoldingKey(
        owner_cik=owner_cik,
        issuer_cik=issuer_cik,
        security_title=normalize_security(row.security_title or ""),
        direct_indirect=row.direct_indirect,
        nature_of_ownership=row.nature_of_ownership,
        is_derivative=row.table == "derivative",
    )


def holding_candidates(filing: Filing) -> list[HoldingState]:
    """Every balance the filing reports, for each of its owners: post-transaction amounts and holding rows.

    The as-of date of a transaction row is its transaction date; of a holding row, the period of report.
    """
    issuer = filing.issuer
    group = joint_group(filing)
    amended = filing.derived.is_amendment
    out: list[HoldingState] = []
    sources = [
        (row, "transaction", row.txn_id, row.transaction_date or filing.period_of_report, n)
        for n, row in enumerate(filing.transactions)
    ] + [
        (row, "holding", row.holding_id, filing.period_of_report, len(filing.transactions) + n)
        for n, row in enumerate(filing.holdings)
    ]
    for row, kind, row_id, as_of, position in sources:
        if row.shares_owned_following is None and row.value_owned_following is None:
            continue
        for owner in filing.reporting_owners:
            out.append(
                HoldingState(
                    key=holding_key(owner.cik, issuer.cik, row),
                    shares_owned=row.shares_owned_following,
                    value_owned=row.value_owned_following,
                    as_of_date=as_of,
                    acceptance_datetime=filing.acceptance_datetime,
                    source_accession=filing.accession_number,
                    source_row_id=row_id,
                    source_kind=kind,  # type: ignore[arg-type]
                    source_row_index=position,
                    joint_group=group,
                    amended=amended,
                    issuer_name=issuer.name,
                    issuer_trading_symbol=issuer.trading_symbol,
                    owner_name=owner.name,
                )
            )
    return out
