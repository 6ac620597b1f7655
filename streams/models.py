"""The public data contract: what the parser produces and what travels on every topic.

Field names here are fixed — downstream services depend on them. As-filed values are kept exactly as EDGAR
disseminated them (Decimal numbers, ISO dates, the raw strings); everything we compute lives in a separate
``derived`` object so a consumer can always tell what the filer said from what we concluded.
Decimals serialise as JSON strings, CIKs as 10-digit zero-padded strings.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema, model_validator

#: A Decimal as its JSON string (str(Decimal)): sign, digits, optional fraction and exponent.
DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?([Ee][+-]?[0-9]+)?$"
# Decimal on the wire is a string: JSON numbers would lose exactness in most consumers.
Dec = Annotated[
    Decimal,
    PlainSerializer(lambda d: str(d), return_type=str, when_used="json"),
    WithJsonSchema(
        {"type": "string", "pattern": DECIMAL_PATTERN, "description": "exact decimal number as a string"},
        mode="serialization",
    ),
]
# ASCII digits: a regex \d also matches other scripts' digits.
Cik = Annotated[str, Field(pattern=r"^[0-9]{10}$", description="10-digit zero-padded CIK")]
ACCESSION_PATTERN = r"^[0-9]{10}-[0-9]{2}-[0-9]{6}$"
BASE64_PATTERN = r"^[A-Za-z0-9+/]*={0,2}$"

Table = Literal["non_derivative", "derivative"]
TraderPattern = Literal["routine", "opportunistic", "insufficient"]
FootnoteIds = dict[str, list[str]]


class Contract(BaseModel):
    """Base for every message: strict field names, no silent extras."""

    model_config = ConfigDict(extra="forbid", frozen=False, ser_json_inf_nan="strings")


class PriceStatus(StrEnum):
    REPORTED = "reported"
    ZERO = "zero"
    FOOTNOTE_ONLY = "footnote_only"
    MISSING = "missing"


class Category(StrEnum):
    OPEN_MARKET_PURCHASE = "open_market_purchase"
    OPEN_MARKET_SALE = "open_market_sale"
    GRANT_AWARD = "grant_award"
    TAX_WITHHOLDING = "tax_withholding"
    OPTION_EXERCISE = "option_exercise"
    CONVERSION = "conversion"
    GIFT = "gift"
    DISPOSITION_TO_ISSUER = "disposition_to_issuer"
    OTHER = "other"


class Role(StrEnum):
    CEO = "ceo"
    CFO = "cfo"
    COO = "coo"
    PRESIDENT = "president"
    GENERAL_COUNSEL = "general_counsel"
    CHAIR = "chair"
    OTHER_OFFICER = "other_officer"
    DIRECTOR = "director"
    TEN_PERCENT_OWNER = "ten_percent_owner"
    OTHER = "other"


# --------------------------------------------------------------------------------------------------- filing parts


class Issuer(Contract):
    cik: Cik
    name: str | None = None
    trading_symbol: str | None = None
    foreign_trading_symbol: str | None = None
    # From the SGML header only (the XML has neither).
    sic: str | None = None
    state_of_incorporation: str | None = None


class Address(Contract):
    street1: str | None = None
    street2: str | None = None
    city: str | None = None
    state: str | None = None
    zip_code: str | None = None
    state_description: str | None = None
    country: str | None = None
    good_address: bool | None = None
    non_us_address: bool | None = None


class ReportingOwner(Contract):
    cik: Cik
    name: str | None = Field(None, description="rptOwnerName as filed (EDGAR-conformed, usually LAST FIRST)")
    address: Address = Field(default_factory=Address)
    is_director: bool = False
    is_officer: bool = False
    is_ten_percent_owner: bool = False
    is_other: bool = False
    officer_title: str | None = None
    other_text: str | None = None
    roles: list[Role] = Field(
        default_factory=list,
        description="derived: normalized roles from the flags, the raw title and remarks",
    )


class Signature(Contract):
    name: str | None = None
    date: dt.date | None = None


class TransactionDerived(Contract):
    price_status: PriceStatus
    price_low: Dec | None = Field(
        None,
        description="low end of the price range a footnote of this row states ('prices ranging from $X to $Y', "
        "'ranged from', 'between', 'the lowest price ... was $X and the highest price was $Y', 'a low of $X "
        "and a high of $Y'), weighted average or not; the range containing the price when a footnote lists "
        "several (a price written to fewer places counts as inside when it rounds from a value inside); "
        "else the range the price lies just outside, at most 10% off, flagged price_outside_range. Always US "
        "dollars: when a range the row's footnotes state is in another currency (C$, CAD, €, EUR, £, GBP, NIS, "
        "... or a bare '$' in a footnote naming another currency) no range is given and the row is flagged "
        "price_range_not_usd",
    )
    price_high: Dec | None = Field(None, description="high end of that range, US dollars")
    is_weighted_average: bool = Field(
        False,
        description="a footnote of this row says the price is a weighted average ('weighted average', "
        "'weighted-average', 'average weighted price'), whether or not it states a range",
    )
    dollar_value: Dec | None = Field(None, description="shares x price, only when price_status is 'reported'")
    signed_shares: Dec | None = Field(None, description="shares, negative when disposed")
    category: Category
    is_open_market: bool = False
    edgar_display_code: str | None = Field(None, description="code with EDGAR's K (equity swap) / V suffixes")
    coding_missing: bool = Field(False, description="the row had no transactionCoding element")
    tenb51_checkbox: bool | None = Field(None, description="copy of the filing's aff10b5One")
    tenb51_footnote_mention: bool = Field(False, description="a footnote of this row mentions a 10b5-1 plan")
    tenb51_plan_adoption_date: date | None = None
    tenb51_plan: bool | None = Field(
        None,
        description="a plan trade: a footnote of this row mentions a 10b5-1 plan, or the filing's checkbox is "
        "checked and the row is a trade a plan governs (codes P, S, M, X, C); false for other codes (grants A, "
        "tax withholding F, gifts G, ...) without such a footnote and when the checkbox says no; null when "
        "nothing says (no checkbox element, or no code)",
    )
    filing_lag_business_days: int | None = Field(
        None, description="US business days from transaction (or deemed execution) date to the filing date"
    )
    is_late: bool | None = None
    date_plausible: bool = True
    value_flags: list[str] = Field(
        default_factory=list,
        description="as-filed values that look wrong, never corrected: price_equals_total_value, "
        "price_implausible (>= $1M a share), price_outside_range (the price lies outside every range stated: "
        "just outside, at most 10%, with that range kept in price_low/price_high; or farther off every range "
        "the price's own footnotes state, with no range given), price_range_not_usd (a range the row's "
        "footnotes state is in another currency than the US dollar: no range is given, and the price may be "
        "in that currency too), price_outlier (10x above or below the median open-market price of the "
        "filing's rows of the same security, 3 or more rows), value_implausible (shares x price or total "
        "value over $100B), footnote_not_read (the row cites a footnote past the filing's 262,144 characters "
        "of footnotes read for derivation: its ranges, average and plan facts were not derived)",
    )
    footnote_texts: list[str] = Field(
        default_factory=list,
        description="texts of the footnotes this row cites, in order; bounded so a record stays small: each "
        "cut to 8,192 characters and 32,768 in all (real rows are never cut; footnote_ids and the filing's "
        "footnotes have everything)",
    )


class Row(Contract):
    """What transaction and holding rows share: the security, the balance after, the ownership nature."""

    table: Table
    row_index: int = Field(ge=0, description="0-based among rows of the same table and kind, document order")
    security_title: str | None = None
    transaction_form_type: str | None = Field(
        None, description="4 or 5; on a holding, e.g. 3 for a late Form 3 line"
    )
    shares_owned_following: Dec | None = None
    value_owned_following: Dec | None = None
    direct_indirect: str | None = None
    nature_of_ownership: str | None = None
    # Derivative table only.
    conversion_or_exercise_price: Dec | None = None
    exercise_date: date | None = None
    expiration_date: date | None = None
    underlying_security_title: str | None = None
    underlying_shares: Dec | None = None
    underlying_value: Dec | None = None
    footnote_ids: FootnoteIds = Field(
        default_factory=dict, description="field name -> footnote ids cited by that field, as filed"
    )


class Transaction(Row):
    txn_id: str = Field(description="derived: stable hash of accession, table and row index")
    transaction_date: date | None = None
    deemed_execution_date: date | None = None
    transaction_code: str | None = None
    equity_swap_involved: bool | None = None
    transaction_timeliness: str | None = None
    shares: Dec | None = None
    total_value: Dec | None = None
    price_per_share: Dec | None = None
    acquired_disposed: str | None = None
    derived: TransactionDerived


class Holding(Row):
    holding_id: str = Field(description="derived: stable hash of accession, table and row index")


class FilingDerived(Contract):
    is_amendment: bool
    tenb51_footnote_mention: bool = Field(
        False, description="any footnote or the remarks mention a 10b5-1 plan"
    )
    tenb51_plan_adoption_date: date | None = None
    tenb51_plan: bool | None = None
    reporting_owner_ciks: list[Cik] = Field(default_factory=list, description="sorted, the joint-filer group")
    joint_filer_count: int = 1
    filing_lag_business_days: int | None = Field(None, description="from period of report to the filing date")


class Filing(Contract):
    accession_number: str | None = Field(None, pattern=ACCESSION_PATTERN)
    form_type: str | None = Field(
        None, description="submission type from the EDGAR header, else documentType"
    )
    document_type: str
    schema_version: str | None = None
    period_of_report: date | None = None
    date_of_original_submission: date | None = None
    no_securities_owned: bool | None = None
    not_subject_to_section16: bool | None = None
    form3_holdings_reported: bool | None = None
    form4_transactions_reported: bool | None = None
    acceptance_datetime: datetime | None = Field(
        None,
        description="EDGAR acceptance time, always tz-aware: a value given without a UTC offset (in the EDGAR "
        "header or the raw envelope) is read as US Eastern (America/New_York), EDGAR's clock",
    )
    filed_date: date | None = Field(
        None,
        description="EDGAR's filing date: FILED AS OF DATE from the EDGAR header, or the date given with the "
        "document; else, when the acceptance time is known (e.g. from a raw envelope), the date EDGAR gives it: "
        "that day when accepted by 10 pm Eastern on a business day (Regulation S-T 13(a)(4) for Forms 3, 4 "
        "and 5), else the next business day",
    )
    issuer: Issuer
    reporting_owners: list[ReportingOwner]
    aff10b5one: bool | None = Field(None, description="the 10b5-1 checkbox; null when the element is absent")
    footnotes: dict[str, str] = Field(default_factory=dict)
    footnote_ids: FootnoteIds = Field(
        default_factory=dict, description="footnotes cited outside the tables (rare), element name -> ids"
    )
    remarks: str | None = None
    signatures: list[Signature] = Field(default_factory=list)
    transactions: list[Transaction] = Field(default_factory=list)
    holdings: list[Holding] = Field(default_factory=list)
    derived: FilingDerived
    source_format: Literal["xml", "sgml", "nc", "pem"] = "xml"
    raw_sha256: str
    parser_version: str
    warnings: list[str] = Field(
        default_factory=list, description="what the parser had to repair, e.g. recovered malformed XML"
    )


# --------------------------------------------------------------------------------------------- topic messages


class RawFilingEvent(Contract):
    """Envelope on form4.raw; producers may also send the bare XML or .txt bytes instead."""

    # The schema says what _one_document checks: exactly one of document and document_base64, as a string.
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": ["document"], "properties": {"document": {"type": "string"}}},
                {"required": ["document_base64"], "properties": {"document_base64": {"type": "string"}}},
            ]
        }
    )

    accession_number: str | None = Field(None, pattern=ACCESSION_PATTERN)
    form_type: str | None = None
    source: Literal["edgar_feed", "edgar_index", "files", "replay", "other"] = "other"
    source_url: str | None = None
    received_at: datetime
    acceptance_datetime: datetime | None = None
    document: str | None = Field(
        None, description="the ownership XML or the full EDGAR submission text, when it is valid UTF-8"
    )
    document_base64: str | None = Field(
        None,
        pattern=BASE64_PATTERN,
        description="the document's exact bytes, base64; used instead of `document` when they are not UTF-8 "
        "(e.g. Latin-1 submissions), so the parser sees what EDGAR served",
    )

    @model_validator(mode="after")
    def _one_document(self) -> RawFilingEvent:
        if (self.document is None) == (self.document_base64 is None):
            raise ValueError("exactly one of document and document_base64 must be set")
        return self

    def document_bytes(self) -> bytes:
        """The document as the producer had it."""
        if self.document is not None:
            return self.document.encode("utf-8")
        try:
            return base64.b64decode(self.document_base64 or "", validate=True)
        except binascii.Error as exc:
            raise ValueError(f"document_base64 is not valid base64: {exc}") from None

    @classmethod
    def for_document(cls, data: bytes, **fields: object) -> RawFilingEvent:
        """An envelope carrying ``data`` exactly: as text when it is UTF-8, else as base64."""
        try:
            return cls(document=data.decode("utf-8"), **fields)  # type: ignore[arg-type]
        except UnicodeDecodeError:
            return cls(document_base64=base64.b64encode(data).decode("ascii"), **fields)  # type: ignore[arg-type]


#: ``YYYY-MM``: a calendar month of a seeded history.
Month = Annotated[str, Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")]
#: The most insider histories one seed message carries (``streams.ingest.datasets`` also keeps each message
#: under 256 KiB): the work one seed asks of the worker is bounded like a filing's.
MAX_SEED_HISTORIES = 500
#: Months per direction in one seeded history (the state keeps 48 after pruning; a seed may carry more years).
MAX_SEED_MONTHS = 600


class SeededHistory(Contract):
    """One insider's trading history in one issuer, as the ``hist`` state holds it (``streams.alerts.history``):
    the months with open-market purchases (``buy``) and sales (``sell``), each month's first and last trade day,
    and ``since``, the earliest plausible trade date of any of their rows."""

    owner_cik: Cik
    since: date | None = None
    buy: dict[Month, tuple[date, date]] = Field(default_factory=dict, max_length=MAX_SEED_MONTHS)
    sell: dict[Month, tuple[date, date]] = Field(default_factory=dict, max_length=MAX_SEED_MONTHS)


class HistorySeed(Contract):
    """On form4.raw, keyed by the issuer CIK: trading histories of insiders of one issuer taken from the SEC's
    Form 3/4/5 data sets (``form4 ingest datasets``). The worker merges each into the insider's ``hist`` state
    (a set union: idempotent, in any order) and publishes nothing: a seed is never a filing, a record, an alert
    or a holding. ``seed_id`` is the hash of the content (``seed_identity``), so the same seed sent twice is
    recognised (``seen|seed:<id>``)."""

    kind: Literal["history_seed"]
    seed_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="sha256 of issuer_cik and histories, 32 hex")
    issuer_cik: Cik
    source: str | None = Field(None, max_length=2048, description="the data set it came from (URL or file)")
    histories: list[SeededHistory] = Field(min_length=1, max_length=MAX_SEED_HISTORIES)

    @model_validator(mode="after")
    def _identity(self) -> HistorySeed:
        if self.seed_id != seed_identity(self.issuer_cik, self.histories):
            raise ValueError("seed_id is not the hash of the seed's issuer_cik and histories")
        return self

    @classmethod
    def build(cls, issuer_cik: str, histories: list[SeededHistory], source: str | None = None) -> HistorySeed:
        return cls(
            kind="history_seed",
            seed_id=seed_identity(issuer_cik, histories),
            issuer_cik=issuer_cik,
            source=source,
            histories=histories,
        )


def seed_identity(issuer_cik: str, histories: list[SeededHistory]) -> str:
    """The content hash that identifies a seed: the same histories of the same issuer, the same id."""
    content = {"issuer_cik": issuer_cik, "histories": [h.model_dump(mode="json") for h in histories]}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class OwnerRef(Contract):
    """A reporting owner as denormalized onto each transaction record."""

    cik: Cik
    name: str | None = None
    is_director: bool = False
    is_officer: bool = False
    is_ten_percent_owner: bool = False
    is_other: bool = False
    officer_title: str | None = None
    other_text: str | None = None
    roles: list[Role] = Field(default_factory=list)


class TransactionRecord(Transaction):
    """One transaction row on form4.transactions, with the filing's context so consumers need no join."""

    accession_number: str | None = None
    document_type: str
    is_amendment: bool = False
    amends_accession: str | None = Field(
        None,
        description="derived: the original an amendment restates, when found: its accession number, or "
        "sha256:<hash> of a bare document",
    )
    amendment_link_method: str | None = Field(
        None,
        description="how the original was found: issuer+owners+original_date, issuer+owners+content; or why "
        "not: no_original_found, ambiguous",
    )
    superseded_by: str | None = Field(
        None, description="a later amendment restating this row: its accession number, or sha256:<hash>"
    )
    supersede_match: Literal["same_signature", "similar_signature", "same_position"] | None = Field(
        None,
        description="how the amendment's restating row was matched to this one, within a table: every key "
        "equal; the most similar row, at most 2 of transaction date, code, acquired/disposed, shares, title, "
        "price, ownership, balance after differing; or the rest in document order, when the table has as many "
        "rows in both",
    )
    period_of_report: date | None = None
    acceptance_datetime: datetime | None = None
    filed_date: date | None = Field(None, description="the filing's filed_date (see filing)")
    issuer: Issuer
    reporting_owners: list[OwnerRef]
    owner_roles: list[Role] = Field(default_factory=list, description="union of the owners' roles")
    joint_group: list[Cik] = Field(default_factory=list, description="sorted owner CIKs of a joint filing")
    aff10b5one: bool | None = None
    trader_pattern: TraderPattern | None = Field(
        None,
        description="derived, on open-market purchases and sales (Cohen, Malloy and Pomorski 2012): 'routine' "
        "when this insider (joint filers as one) traded this issuer on the open market, same direction, in one "
        "calendar month in each of the 3 calendar years before the trade's; 'opportunistic' when they traded in "
        "each of those years but in no common month; else 'insufficient' (from the history this system has seen)",
    )
    history_known_since: date | None = Field(
        None,
        description="derived, with trader_pattern: the earliest trade date of this insider in this issuer seen by "
        "this system (its history starts there; backfills move it back)",
    )
    history_gap_years: list[int] = Field(
        default_factory=list,
        description="derived, with trader_pattern 'insufficient': the calendar years among the 3 before the "
        "trade's in which this insider made no open-market trade in the trade's direction although the history "
        "this system holds covers them whole (history_known_since is before the year), so the trade is neither "
        "routine nor opportunistic; empty when the history starts too late to tell (too short) or the trade is "
        "classified",
    )


class HoldingKey(Contract):
    owner_cik: Cik
    issuer_cik: Cik
    security_title: str
    direct_indirect: str | None = None
    nature_of_ownership: str | None = None
    is_derivative: bool = False


class HoldingRetraction(Contract):
    """An amendment superseded the rows this holding line's balance may come from and restates them elsewhere
    (another title, ownership or table, or an earlier as-of date): the line is dropped when its current balance
    comes from one of them (``streams.holdings.retracts``). Travels with the owner's holding candidates."""

    key: HoldingKey
    source_row_ids: list[str] = Field(description="txn_ids of the superseded rows")
    superseded_by: str = Field(description="the amendment: accession number, or sha256:<hash>")


class PreviousBalance(Contract):
    """The balance a holding line reported before its current one."""

    shares_owned: Dec | None = None
    as_of_date: date | None = None
    acceptance_datetime: datetime | None = None
    source_row_id: str
    source_row_index: int = 0


class HoldingState(Contract):
    """The last reported balance of one holding line, on form4.holdings and in the holdings table."""

    key: HoldingKey
    shares_owned: Dec | None = None
    value_owned: Dec | None = None
    as_of_date: date | None = None
    acceptance_datetime: datetime | None = None
    source_accession: str | None = None
    source_row_id: str
    source_kind: Literal["transaction", "holding"]
    source_row_index: int = 0
    joint_group: list[Cik] = Field(default_factory=list)
    amended: bool = False
    previous_shares_owned: Dec | None = Field(
        None, description="derived: previous.shares_owned (the line's balance before the current one)"
    )
    previous: PreviousBalance | None = Field(
        None,
        description="derived: the row ordered just before the current one (as-of date, acceptance time, position, "
        "row id) among the line's rows seen, superseded rows left out: the same in any arrival order",
    )
    restates_row_ids: list[str] = Field(
        default_factory=list,
        description="on a candidate from an amendment only (empty on a line): the rows of the filing it amends "
        "that this row restates",
    )
    issuer_name: str | None = None
    issuer_trading_symbol: str | None = None
    owner_name: str | None = None


class Alert(Contract):
    alert_id: str = Field(
        description="deterministic: for a purchase or sale event, hash of issuer, owner group, trade date and "
        "direction (revisions keep it); for other rules, hash of rule, issuer, window start and txn_ids"
    )
    rule: str = Field(description="the primary rule: the highest-severity one of `rules`")
    rules: list[str] = Field(default_factory=list, description="every rule the event matched, primary first")
    revision: int = Field(
        0, ge=0, description="0 for a new alert; 1, 2, ... when later filings added to the same event"
    )
    is_revision: bool = Field(
        False, description="true when this replaces an earlier alert of the same alert_id (revision > 0)"
    )
    severity: Literal["info", "low", "medium", "high"]
    issuer: Issuer
    owners: list[OwnerRef]
    txn_ids: list[str]
    accession_numbers: list[str] = Field(default_factory=list)
    tenb51_plan: bool | None = None
    dollar_value: Dec | None = None
    shares: Dec | None = None
    window_start: date | None = None
    window_end: date | None = None
    acceptance_datetime: datetime | None = None
    trader_pattern: TraderPattern | None = Field(None, description="the trades' trader_pattern (see records)")
    history_known_since: date | None = None
    history_gap_years: list[int] = Field(
        default_factory=list, description="the trades' history_gap_years (see records)"
    )
    message: str = Field(description="one sentence a person can read")

    @model_validator(mode="after")
    def _rules_name_the_primary(self) -> Alert:
        if not self.rules:
            self.rules = [self.rule]
        return self


class DeadLetter(Contract):
    """form4.dlq: why an input was refused, with the original bytes (base64) to replay it."""

    reason: str = Field(description="stable reason code, e.g. malformed_xml, hostile_xml, too_large")
    message: str
    error_class: str | None = None
    source_topic: str | None = None
    source_partition: int | None = None
    source_offset: int | None = None
    source_key: str | None = None
    header: dict[str, str] = Field(
        default_factory=dict, description="what the EDGAR wrapper said, if anything"
    )
    failed_at: datetime
    parser_version: str
    original_b64: str = Field(
        description="the original message value, base64 (its first bytes when truncated)"
    )
    original_size: int
    original_sha256: str | None = Field(
        None,
        description="sha256 of the whole original; absent when it was never read whole (an input refused "
        "over the size cap before or while reading it)",
    )
    original_truncated: bool = Field(
        False, description="the original was larger than a dead letter may carry; replay it from the source"
    )


# Every message type that travels on a topic, by schema file name.
TOPIC_MESSAGES: dict[str, type[BaseModel]] = {
    "raw_filing_event": RawFilingEvent,
    "history_seed": HistorySeed,
    "filing": Filing,
    "transaction_record": TransactionRecord,
    "holding": HoldingState,
    "alert": Alert,
    "dead_letter": DeadLetter,
}
