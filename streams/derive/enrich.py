"""Derived values for a parsed filing, computed from its as-filed values and kept in ``derived`` objects.

Pure: the as-filed dict goes in, the same dict comes out with ids, ``derived`` blocks and owner roles added.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from hashlib import blake2b
from typing import Any

from streams.bounds import FOOTNOTE_TEXT_BUDGET, FREE_TEXT_CAP
from streams.derive.calendar import business_days_between
from streams.derive.codes import category, date_plausible, edgar_display_code, is_open_market
from streams.derive.plans import mentions_10b5_1, plan_adoption_date
from streams.derive.prices import (
    USD,
    StatedRange,
    choose_range,
    is_weighted_average_text,
    nearest_range,
    stated_ranges,
)
from streams.derive.roles import normalize_roles
from streams.models import Filing, PriceStatus

AMENDMENTS = frozenset({"3/A", "4/A", "5/A"})


def row_id(identity: str, table: str, kind: str, row_index: int) -> str:
    """Stable across replays and parser versions: never built from row content (tranches can be identical)."""
    return blake2b(f"{identity}|{table}|{kind}|{row_index}".encode(), digest_size=12).hexdigest()


def filing_identity(doc: dict[str, Any]) -> str:
    """The accession number, or for a bare document without one, its content hash."""
    return doc.get("accession_number") or f"sha256:{doc['raw_sha256']}"


def identity(filing: Filing) -> str:
    """The idempotency key of a parsed filing (the filings topic's key)."""
    return filing_identity({"accession_number": filing.accession_number, "raw_sha256": filing.raw_sha256})


@dataclass(frozen=True, slots=True)
class FootnoteFacts:
    """What a footnote says that rows care about; read once per filing, however many rows cite it."""

    text: str
    weighted_average: bool
    ranges: tuple[StatedRange, ...]  # with their currencies
    mentions_plan: bool
    plan_adopted: date | None
    read: bool = True  # False past FOOTNOTE_TEXT_BUDGET: nothing was derived from the text


def read_footnotes(footnotes: dict[str, str]) -> dict[str, FootnoteFacts]:
    """Each footnote's facts, from its first FREE_TEXT_CAP characters (see streams.derive), until
    FOOTNOTE_TEXT_BUDGET characters have been read; the footnotes after that are marked unread."""
    facts = {}
    budget = FOOTNOTE_TEXT_BUDGET
    for fid, text in footnotes.items():
        budget -= min(len(text), FREE_TEXT_CAP)
        if budget < 0:
            facts[fid] = FootnoteFacts(text, False, (), False, None, read=False)
            continue
        mentions = mentions_10b5_1(text)
        facts[fid] = FootnoteFacts(
            text=text,
            weighted_average=is_weighted_average_text(text),
            ranges=tuple(stated_ranges(text)),
            mentions_plan=mentions,
            plan_adopted=plan_adoption_date(text) if mentions else None,
        )
    return facts


def enrich(doc: dict[str, Any]) -> dict[str, Any]:
    footnotes = read_footnotes(doc["footnotes"])
    remarks = doc.get("remarks")
    document_type = doc["document_type"]
    checkbox = doc.get("aff10b5one")
    filed: date | None = doc.get("filed_date")  # the parser derives it from the acceptance time when need be
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
    flag_price_outliers(doc["transactions"])
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


def _plan_flag(checkbox: bool | None, mention: bool) -> bool | None:
    if checkbox or mention:
        return True
    return False if checkbox is False else None


# A transaction record is one Kafka message: the footnote texts it carries are bounded whatever the filing
# cites (each text to FREE_TEXT_CAP characters, all of them to FOOTNOTE_TEXTS_CAP). Real rows cite a few
# footnotes of under 2,000 characters and are never cut; the whole texts stay in the filing's ``footnotes``.
FOOTNOTE_TEXTS_CAP = 4 * FREE_TEXT_CAP


def bounded_texts(texts: list[str]) -> list[str]:
    """The texts in order, each cut to FREE_TEXT_CAP characters, stopping once FOOTNOTE_TEXTS_CAP is used."""
    out: list[str] = []
    room = FOOTNOTE_TEXTS_CAP
    for text in texts:
        if room <= 0:
            break
        kept = text[: min(FREE_TEXT_CAP, room)]
        out.append(kept)
        room -= len(kept)
    return out


# Trades a 10b5-1 plan governs: open-market purchases and sales, and the exercises and conversions (and the
# sales) done to carry them out. Grants (A), tax withholding (F), gifts (G) and the rest are not plan trades
# unless their own footnote says so.
PLAN_CODES = frozenset({"P", "S", "M", "X", "C"})


def row_plan_flag(checkbox: bool | None, footnote_mention: bool, code: str | None) -> bool | None:
    """A row is a plan trade when its own footnote says so, or when the filing's checkbox is checked and the
    row is a kind of trade a plan governs (PLAN_CODES). Unknown (None) when nothing says either way."""
    if footnote_mention:
        return True
    if checkbox:
        return None if code is None else code.strip().upper() in PLAN_CODES
    return False if checkbox is False else None


# Footnotes cited by these fields describe the trade's price or amounts, so a range they state is the row's
# price range; a footnote on the exercise price or the underlying describes another price.
_PRICE_RANGE_FIELDS = ("price_per_share", "shares", "transaction_amounts", "total_value", "transaction_code")
MAX_ROW_RANGES = 256  # ranges a row chooses among, however many footnotes it cites


def _stated_ranges(price_notes: list[FootnoteFacts], trade_notes: list[FootnoteFacts]) -> list[StatedRange]:
    """The ranges the price's own footnotes state, else those of the row's other trade footnotes (and of any
    weighted-average footnote the row cites)."""
    for notes in (price_notes, trade_notes):
        ranges = [r for n in notes for r in n.ranges]
        if ranges:
            return ranges[:MAX_ROW_RANGES]
    return []


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
    price_notes = [footnotes[i] for i in dict.fromkeys(cited.get("price_per_share", ())) if i in footnotes]
    trade_notes = [
        footnotes[i]
        for i in dict.fromkeys(i for field in _PRICE_RANGE_FIELDS for i in cited.get(field, ()))
        if i in footnotes
    ]

    price: Decimal | None = row.get("price_per_share")
    shares: Decimal | None = row.get("shares")
    if price is not None:
        status = PriceStatus.ZERO if price == 0 else PriceStatus.REPORTED
    else:
        status = PriceStatus.FOOTNOTE_ONLY if cited.get("price_per_share") else PriceStatus.MISSING

    weighted = any(n.weighted_average for n in price_notes) or any(n.weighted_average for n in row_notes)
    in_trade = {id(n) for n in trade_notes}  # by identity: one FootnoteFacts per footnote, compared in O(1)
    trade_notes += [n for n in row_notes if n.weighted_average and id(n) not in in_trade]
    stated = _stated_ranges(price_notes, trade_notes)
    # Ranges in another currency than the dollar: none is given, and the price is compared with none.
    other_currency = any(r.currency != USD for r in stated)
    dollar_ranges = [] if other_currency else [(r.low, r.high) for r in stated]
    price_range = choose_range(dollar_ranges, price)
    outside = False
    if price_range is None and price and dollar_ranges:
        price_range = nearest_range(dollar_ranges, price, RANGE_SLACK)
        # Just outside a range (kept): flagged. Farther outside every range: flagged when the price's own
        # footnotes state them (a trade footnote's ranges may describe something else).
        outside = price_range is not None or any(n.ranges for n in price_notes)

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
        "is_weighted_average": weighted,
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
        "tenb51_plan": row_plan_flag(checkbox, mention, code),
        "filing_lag_business_days": lag,
        "is_late": _is_late(lag, timeliness, document_type, row.get("transaction_form_type")),
        "date_plausible": date_plausible(
            row.get("transaction_date"), period_of_report=doc.get("period_of_report"), filed=filed
        ),
        "value_flags": _value_flags(row, price, outside=outside, other_currency=other_currency)
        + (["footnote_not_read"] if any(not n.read for n in row_notes) else []),
        "footnote_texts": bounded_texts([n.text for n in row_notes]),
    }


# Above any listed share's price (Berkshire A trades under $1M); filers sometimes type a total into the price.
IMPLAUSIBLE_PRICE = Decimal(1_000_000)
# Above any real single trade (the largest insider and 10% owner trades are a few $10B).
IMPLAUSIBLE_VALUE = Decimal(100_000_000_000)
# A price outside every range its footnotes state but at most this fraction from one keeps that range as the
# row's (a typo in the footnote's range or the price: GOOG 0001127602-15-028697 states $663.91-$664.90 beside a
# $634.4608 average, TSLA 0000899243-21-047607 $1,005.600-$1,006.390 beside $1,005.129) and is flagged
# price_outside_range; farther off, no range is the row's. A weighted average lies inside its range.
RANGE_SLACK = Decimal("0.10")
# An open-market price this many times above (or below) the median of the filing's other open-market prices
# for the same security, with at least OUTLIER_MIN_PEERS others to compare with.
OUTLIER_FACTOR = Decimal(10)
OUTLIER_MIN_PEERS = 2  # other rows beside the one judged


def _value_flags(
    row: dict[str, Any], price: Decimal | None, *, outside: bool, other_currency: bool
) -> list[str]:
    """Flags, never corrections: the as-filed values stay as filed. Each flag is a reason code:
    ``price_equals_total_value``, ``price_implausible`` (>= $1M a share), ``price_outside_range`` (outside every
    range stated: just outside the range kept as the row's, or farther off every range the price's own
    footnotes state), ``price_range_not_usd`` (a range the row's footnotes state is in another currency),
    ``value_implausible`` (shares x price or the total value over $100B); ``price_outlier`` is added per filing
    (``flag_price_outliers``), ``footnote_not_read`` per row."""
    flags = []
    total = row.get("total_value")
    shares = row.get("shares")
    if price is not None and total is not None and price == total and price != 0:
        flags.append("price_equals_total_value")
    elif price is not None and price >= IMPLAUSIBLE_PRICE:
        flags.append("price_implausible")
    if outside:
        flags.append("price_outside_range")
    if other_currency:
        flags.append("price_range_not_usd")
    values = [abs(total) if total is not None else None, abs(shares * price) if price and shares else None]
    if any(v is not None and v > IMPLAUSIBLE_VALUE for v in values):
        flags.append("value_implausible")
    return flags


def flag_price_outliers(transactions: list[dict[str, Any]]) -> None:
    """Add ``price_outlier`` to open-market rows whose price is OUTLIER_FACTOR times above or below the
    median open-market price of the filing's rows of the same table and security (at least 3 rows)."""
    groups: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
    for row in transactions:
        if row["derived"]["is_open_market"] and row.get("price_per_share"):
            groups.setdefault((row["table"], row.get("security_title")), []).append(row)
    for rows in groups.values():
        if len(rows) <= OUTLIER_MIN_PEERS:
            continue
        prices = sorted(row["price_per_share"] for row in rows)
        median = prices[len(prices) // 2]  # with 3 or more rows, one wild price cannot move it far
        for row in rows:
            price = row["price_per_share"]
            if median > 0 and (price > median * OUTLIER_FACTOR or price * OUTLIER_FACTOR < median):
                row["derived"]["value_flags"].append("price_outlier")


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
