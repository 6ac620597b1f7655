"""What one raw event becomes: the pure steps the Faust agents run, testable without a broker.

1. ``read_event``: the bytes on form4.raw (a JSON envelope or the document itself) -> a Filing, or a
   DeadLetter saying why not.
2. ``process_filing``: a new filing and its issuer's state -> everything to publish (the filing, one record
   per transaction row, records an amendment supersedes, alerts, holding candidates) and the issuer's new state.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import BaseModel, Field, ValidationError

from streams import __version__
from streams.alerts import (
    ClusterState,
    FirstPurchaseState,
    RulesConfig,
    cluster_step,
    evaluate_filing,
    first_purchase_step,
)
from streams.amendments import RecentFiling, link, prune, remember, superseded
from streams.derive.enrich import filing_identity
from streams.models import Alert, DeadLetter, Filing, HoldingState, RawFilingEvent, TransactionRecord
from streams.parse import ParseError, parse_filing
from streams.records import holding_candidates, transaction_records

# A dead letter must fit in one Kafka message (1 MB by default): larger originals keep their first bytes,
# size and hash, and the source coordinates say where the whole input is.
DEAD_LETTER_MAX_ORIGINAL = 512 * 1024
MAX_RECENT_FILINGS = 100  # per issuer, for amendment linking; bounded so the state stays small


@dataclass(frozen=True, slots=True)
class Source:
    """Where a raw event came from, for dead letters."""

    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    key: bytes | None = None


def identity(filing: Filing) -> str:
    """The idempotency key of a filing: its accession number (content hash for a bare document)."""
    return filing_identity({"accession_number": filing.accession_number, "raw_sha256": filing.raw_sha256})


def dead_letter(value: bytes, reason: str, message: str, source: Source, **extra: object) -> DeadLetter:
    return DeadLetter(
        reason=reason,
        message=message[:1024],
        source_topic=source.topic,
        source_partition=source.partition,
        source_offset=source.offset,
        source_key=source.key.decode("utf-8", "replace") if source.key is not None else None,
        failed_at=datetime.now(UTC),
        parser_version=__version__,
        original_b64=base64.b64encode(value[:DEAD_LETTER_MAX_ORIGINAL]).decode(),
        original_size=len(value),
        original_sha256=hashlib.sha256(value).hexdigest(),
        original_truncated=len(value) > DEAD_LETTER_MAX_ORIGINAL,
        **extra,  # type: ignore[arg-type]
    )


def read_event(value: bytes | None, source: Source, max_bytes: int) -> Filing | DeadLetter:
    """Parse one form4.raw value. Never raises: every input ends as a Filing or a DeadLetter."""
    value = value or b""
    try:
        envelope = _envelope(value)
        document = _document(envelope) if envelope else value
        return parse_filing(
            document,
            max_bytes=max_bytes,
            accession_number=envelope.accession_number if envelope else None,
            acceptance_datetime=envelope.acceptance_datetime if envelope else None,
        )
    except ParseError as exc:
        header = {k: str(v) for k, v in exc.header.items() if not isinstance(v, list)}
        return dead_letter(value, str(exc.code), exc.message, source, error_class="ParseError", header=header)
    except _EnvelopeError as exc:
        return dead_letter(value, "invalid_envelope", str(exc), source, error_class="ValidationError")
    except Exception as exc:  # a bug: keep the input so it can be replayed once fixed
        return dead_letter(
            value, "internal_error", f"{type(exc).__name__}: {exc}", source, error_class=type(exc).__name__
        )


class _EnvelopeError(ValueError):
    pass


def _envelope(value: bytes) -> RawFilingEvent | None:
    """The JSON envelope, when the value is one; None for a bare document (XML or EDGAR text)."""
    if value.lstrip()[:1] != b"{":
        return None
    try:
        return RawFilingEvent.model_validate_json(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "value"
        raise _EnvelopeError(f"not a raw filing envelope: {where}: {first['msg']}") from None


def _document(envelope: RawFilingEvent) -> bytes:
    try:
        return envelope.document_bytes()
    except ValueError as exc:
        raise _EnvelopeError(f"not a raw filing envelope: {exc}") from None


class IssuerState(BaseModel):
    """Everything the pipeline remembers per issuer: recent filings (amendments), cluster and first-buy windows."""

    recent: list[RecentFiling] = Field(default_factory=list)
    cluster: ClusterState | None = None
    first_purchase: FirstPurchaseState | None = None


@dataclass
class Outputs:
    filing: Filing
    records: list[TransactionRecord]
    superseded: list[TransactionRecord] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    holdings: list[HoldingState] = field(default_factory=list)


def process_filing(
    filing: Filing,
    state: IssuerState | None,
    rules: RulesConfig,
    records_of: Mapping[str, list[TransactionRecord]] | None = None,
) -> tuple[IssuerState, Outputs]:
    """``records_of`` gives the published records of an earlier filing by accession (for an amendment's
    original); the pipeline backs it with a table, tests with a dict."""
    state = state or IssuerState()
    original, method = link(filing, state.recent)
    records = transaction_records(
        filing, amends_accession=original.accession_number if original else None, amendment_link_method=method
    )
    alerts = list(evaluate_filing(records, rules))
    cluster, more = cluster_step(state.cluster, records, rules)
    alerts += more
    first, more = first_purchase_step(state.first_purchase, records, rules)
    alerts += more

    recent = state.recent
    remembered = remember(filing)
    if remembered is not None:
        recent = [*recent, remembered]
    today = filing.filed_date or (filing.acceptance_datetime.date() if filing.acceptance_datetime else None)
    if today is not None:
        recent = prune(recent, today)
    new_state = IssuerState(recent=recent[-MAX_RECENT_FILINGS:], cluster=cluster, first_purchase=first)
    outputs = Outputs(
        filing=filing,
        records=records,
        superseded=superseded((records_of or {}).get(original.accession_number) or [], records)
        if original
        else [],
        alerts=alerts,
        holdings=holding_candidates(filing),
    )
    return new_state, outputs
