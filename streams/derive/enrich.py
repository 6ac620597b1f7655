"""Derived values for a parsed filing, computed from its as-filed values and kept in ``derived`` objects.

Pure: the as-filed dict goes in, the same dict comes out with ids, ``derived`` blocks and owner roles added.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from hashlib import blake2b
from typing import Any

from streams.derive.calendar import business_days_between, edgar_filing_date
from streams.derive.codes import category, date_plausible, edgar_display_code, is_open_market
from streams.derive.plans import mentions_10b5_1, plan_adoption_date
from streams.derive.prices import choose_range, is_weighted_average_text, price_ranges
from streams.derive.roles import normalize_roles
from streams.models import PriceStatus

AMENDMENTS = frozenset({"3/A", "4/A", "5/A"})


def row_id(identity: str, table: str, kind: str, row_index: int) -> str:
    """Stable across replays and parser versions: never built from row content (tranches can be identical)."""
    return blake2b(f"{identity}|{table}|{kind}|{row_index}".encode(), digest_size=12).hexdigest()


def filing_identity(doc: dict[str, Any]) -> str:
    """The accession number, or for a bare document without one, its content hash."""
    return doc.get("accession_number") or f"sha256:{doc['raw_sha256']}"


@dataclass(frozen=True, slots=True)
class FootnoteFacts:
    """What a footnote says that rows care about; read once per filing, however many rows cite it."""

    text: str
    weighted_average: bool
    ranges: tuple[tuple[Decimal, Decimal], ...]
    mentions_plan: bool
    plan_adopted: date | None


def read_footnotes(footnotes: dict[str, str]) -> dict[str, FootnoteFacts]:
    facts = {}
    for fid, text in footnotes.items():
        weighted = is_weighted_average_text(text)
        mentions = mentions_10b5_1(text)
        facts[fid] = FootnoteFacts(
            text=text,
            weighted_average=weighted,
            ranges=tuple(price_ranges(text)) if weighted else (),
            mentions_plan=mentions,
            plan_adopted=plan_adoption_date(text) if mentions else None,
        )
    return facts


def enrich(doc: dict[str, Any]) -> dict[str, Any]:
    footnotes = read_footnotes(doc["footnotes"])
    remarks = doc.get("remarks")
    document_type = doc["document_type"]
    checkbox = doc.get("aff10b5one")
    filed = _filing_date(doc)
    identity = filing_identity(doc)

    for owner in doc["reporting_owners"]:
        owner["roles"] = normalize_roles(
            is_director=owner.get("is_director", False),
            is_officer=owner.get("is_officer", False),
            is_ten_percent_owner=owner.get("is_ten_percent_owner", False),
            is_other=owner.get("is_other", False),
            officer_title=owner.get("officer_title"),
            other_text=owner.get("other_text"),
            remarks=remarks,
        )

    remarks_mention = mentions_10b5_1(remarks)
    filing_mention = remarks_mention or any(f.mentions_plan for f in footnotes.values())
    filing_adoption = next((f.plan_adopted for f in footnotes.values() if f.plan_adopted), None) or (
        plan_adoption_date(remarks) if remarks_mention else None
    )

    for row in doc["transactions"]:
        row["txn_id"] = row_id(identity, row["table"], "transaction", row["row_index"])
        row["derived"] = _derive_transaction(row, footnotes, document_type, checkbox, filed, doc)
    for row in doc["holdings"]:
        row["holding_id"] = row_id(identity, row["table"], "holding", row["row_index"])

    owner_ciks = sorted({o["cik"] for o in doc["reporting_owners"]})
    period = doc.get("period_of_report")
    doc["derived"] = {
        "is_amendment": document_type in AMENDMENTS,
        "tenb51_footnote_mention": filing_mention,
        "tenb51_plan_adoption_date": filing_adoption,
        "tenb51_plan": _plan_flag(checkbox, filing_mention),
        "reporting_owner_ciks": owner_ciks,
        "joint_filer_count": len(owner_ciks),
        "filing_lag_business_days": business_days_between(period, filed) if period and filed else None,
    }
    return doc


def _filing_date(doc: dict[str, Any]) -> date | None:
    """EDGAR's filing date when the wrapper gave one, else the one EDGAR gives that acceptance time (10 pm cutoff)."""
    if doc.get("filed_date"):
        return doc["filed_date"]
    accepted = doc.get("acceptance_datetime")
    return edgar_filing_date(accepted) if accepted else None


def _plan_flag(checkbox: bool | None, mention: bool) -> bool | None:
    if checkbox or mention:
        return True
    return False if checkbox is False else None


def _derive_transaction(
    row: dict[str, Any],
    footnotes: dict[str, FootnoteFacts],
    document_type: str,
    checkbox: bool | None,
    filed: date | None,
    doc: dict[str, Any],
) -> dict[str, Any]:
    cited = row["footnote_ids"]
    row_notes = [
        footnotes[i] for i in dict.fromkeys(i for ids in cited.values() for i in ids) if i in footnotes
    ]
    price_notes = [footnotes[i] for i in cited.get("price_per_share", ()) if i in footnotes]

    price: Decimal | None = row.get("price_per_share")
    shares: Decimal | None = row.get("shares")
    if price is not None:
        status = PriceStatus.ZERO if price == 0 else PriceStatus.REPORTED
    else:
        status = PriceStatus.FOOTNOTE_ONLY if cited.get("price_per_share") else PriceStatus.MISSING

    weighted = [n for n in price_notes if n.weighted_average] or [n for n in row_notes if n.weighted_average]
    price_range = choose_range([r for n in weighted for r in n.ranges], price)

    code = row.get("transaction_code")
    ad = row.get("acquired_disposed")
    timeliness = row.get("transaction_timeliness")
    event_date = row.get("deemed_execution_date") or row.get("transaction_date")
    lag = business_days_between(event_date, filed) if event_date and filed else None
    mention = any(n.mentions_plan for n in row_notes)

    return {
        "price_status": status,
        "price_low": price_range[0] if price_range else None,
        "price_high": price_range[1] if price_range else None,
        "is_weighted_average": bool(weighted),
        "dollar_value": shares * price if price and shares is not None else None,  # price reported and > 0
        "signed_shares": None
        if shares is None or ad not in ("A", "D")
        else (shares if ad == "A" else -shares),
        "category": category(code),
        "is_open_market": is_open_market(code),
        "edgar_display_code": edgar_display_code(
            code, equity_swap_involved=row.get("equity_swap_involved"), timeliness=timeliness
        ),
        "coding_missing": row.pop("coding_missing", False),
        "tenb51_checkbox": checkbox,
        "tenb51_footnote_mention": mention,
        "tenb51_plan_adoption_date": next((n.plan_adopted for n in row_notes if n.plan_adopted), None),
        "tenb51_plan": _plan_flag(checkbox, mention),
        "filing_lag_business_days": lag,
        "is_late": _is_late(lag, timeliness, document_type, row.get("transaction_form_type")),
        "date_plausible": date_plausible(
            row.get("transaction_date"), period_of_report=doc.get("period_of_report"), filed=filed
        ),
        "value_flags": _value_flags(row, price),
        "footnote_texts": [n.text for n in row_notes],
    }


# Above any listed share's price (Berkshire A trades under $1M); filers sometimes type a total into the price.
IMPLAUSIBLE_PRICE = Decimal(1_000_000)


def _value_flags(row: dict[str, Any], price: Decimal | None) -> list[str]:
    """Flags, never corrections: the as-filed values stay as filed."""
    flags = []
    total = row.get("total_value")
    if price is not None and total is not None and price == total and price != 0:
        flags.append("price_equals_total_value")
    elif price is not None and price >= IMPLAUSIBLE_PRICE:
        flags.append("price_implausible")
    return flags


def _is_late(
    lag: int | None, timeliness: str | None, document_type: str, row_form_type: str | None
) -> bool | None:
    """Late per Section 16(a): a Form 4 row filed more than 2 business days after the trade, or marked L.

    A 4 row on a Form 5 should have been on a Form 4. Lags on 3, 5 and amendments follow other deadlines
    (or none), so only the explicit markers count there.
    """
    if timeliness == "L":
        return True
    if document_type.startswith("5") and row_form_type == "4":
        return True
    if document_type == "4" and row_form_type in (None, "4"):
        return None if lag is None else lag > 2
    return False
