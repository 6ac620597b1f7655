"""What one raw event becomes: the pure steps the Faust agents run, testable without a broker.

1. ``read_event``: the bytes on form4.raw (a JSON envelope or the document itself) -> a Filing, a HistorySeed
   (``{"kind": "history_seed", ...}``, from ``form4 ingest datasets``), or a DeadLetter saying why not.
2. ``process_filing``: a new filing and its issuer's state (a ``State``: small values under fine-grained keys)
   -> everything to publish (the filing, one record per transaction row, records an amendment supersedes,
   alerts, holding candidates) while the state takes the writes the agent applies once the outputs are out.
3. ``process_seed``: a history seed and its issuer's state -> the insiders' ``hist`` values take the seeded
   months (a union), ``seen|seed:<id>`` marks it done, and records and alerts of theirs published before are
   revised where the new history changes them (``streams.alerts.revise``).
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import ValidationError

from streams import __version__
from streams.alerts import RulesConfig, alert_step
from streams.alerts.history import History, merge_history
from streams.alerts.revise import Revision, remember_published, revise
from streams.amendments import amended_holding_candidates, amendment_step, has_rows, store_rows
from streams.derive.enrich import identity
from streams.holdings import forget_previous, retract_line, update_line
from streams.models import (
    Alert,
    DeadLetter,
    Filing,
    HistorySeed,
    HoldingRetraction,
    HoldingState,
    RawFilingEvent,
    TransactionRecord,
)
from streams.parse import ParseError, parse_filing
from streams.state import State, key

# A dead letter must fit in one Kafka message (1 MB by default): larger originals keep their first bytes,
# size and hash, and the source coordinates say where the whole input is.
DEAD_LETTER_MAX_ORIGINAL = 512 * 1024


@dataclass(frozen=True, slots=True)
class Source:
    """Where a raw event came from, for dead letters."""

    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    key: bytes | None = None


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


def read_event(value: bytes | None, source: Source, max_bytes: int) -> Filing | HistorySeed | DeadLetter:
    """Parse one form4.raw value. Never raises: every input ends as a Filing, a HistorySeed or a DeadLetter."""
    value = value or b""
    try:
        if is_seed_value(value):
            return _seed(value)
        envelope = _envelope(value)
        if isinstance(envelope, HistorySeed):
            return envelope
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


#: A typed envelope starts with its kind (``HistorySeed`` serialises it first); filings never do.
_SEED_START = re.compile(rb'\A\s*\{\s*"kind"\s*:\s*"history_seed"')


def is_seed_value(value: bytes) -> bool:
    """A history seed, on form4.raw or the by-issuer topic (a Filing's JSON starts with another field)."""
    return _SEED_START.match(value) is not None


def _seed(value: bytes) -> HistorySeed:
    try:
        return HistorySeed.model_validate_json(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "value"
        raise _EnvelopeError(f"not a history seed: {where}: {first['msg']}") from None


def _envelope(value: bytes) -> RawFilingEvent | HistorySeed | None:
    """The JSON envelope, when the value is one; None for a bare document (XML or EDGAR text)."""
    if value.lstrip()[:1] != b"{":
        return None
    try:
        return RawFilingEvent.model_validate_json(value)
    except ValidationError as exc:
        if any(e["type"] == "extra_forbidden" and tuple(e["loc"]) == ("kind",) for e in exc.errors()):
            return _seed(value)  # a typed envelope whose "kind" is not its first key
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "value"
        raise _EnvelopeError(f"not a raw filing envelope: {where}: {first['msg']}") from None


def _document(envelope: RawFilingEvent) -> bytes:
    try:
        return envelope.document_bytes()
    except ValueError as exc:
        raise _EnvelopeError(f"not a raw filing envelope: {exc}") from None


@dataclass
class Outputs:
    """Everything one filing publishes. ``holdings`` are candidates and ``retract`` lines an amendment took
    away: the holdings agent decides what changes. ``superseded`` (earlier originals' rows an amendment restates)
    and ``relinked`` (an earlier amendment's rows, once its original arrived) are republished records."""

    filing: Filing
    records: list[TransactionRecord]
    superseded: list[TransactionRecord] = field(default_factory=list)
    relinked: list[TransactionRecord] = field(default_factory=list)
    retract: list[HoldingRetraction] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    holdings: list[HoldingState] = field(default_factory=list)
    revised: list[TransactionRecord] = field(default_factory=list)
    """Records of earlier filings whose history this filing changed (``streams.alerts.revise``): published last."""
    withdrawn: list[str] = field(default_factory=list)
    """Alert ids whose event matches no rule any more: a tombstone each."""

    def published_records(self) -> list[TransactionRecord]:
        """Every record to publish, each txn_id once, in its latest version."""
        return list(
            {r.txn_id: r for r in [*self.records, *self.superseded, *self.relinked, *self.revised]}.values()
        )


def seen_key(filing: Filing) -> str:
    return key("seen", identity(filing))


def is_duplicate(filing: Filing, state: State) -> bool:
    """A filing whose outputs were all acknowledged before (its state is written only after that): its stored
    rows (``rec|<id>``, kept for every filing with records) or, for a filing without them, its ``seen`` marker."""
    return state.get(seen_key(filing)) is not None or has_rows(state, identity(filing))


def process_filing(filing: Filing, state: State, rules: RulesConfig) -> Outputs:
    """One new filing of an issuer against that issuer's state: what to publish, and (through ``state``) what
    to remember. Reads and writes only small values under fine-grained keys, so the work is proportional to
    the filing, never to the issuer's history."""
    amended = amendment_step(filing, state, keep_own_rows=False)
    records, alerts, changes = alert_step(amended.records, state, rules)
    me = identity(filing)
    if records:
        store_rows(state, me, records)  # as published: with their classification
        remember_published(state, me, records)
    revision = revise(state, filing.issuer.cik, changes, rules, exclude=me)
    holdings = amended_holding_candidates(filing, amended)
    for retraction in amended.retract:
        retract_line(state, retraction)
        forget_previous(state, retraction)
    issuer_index = f"i|{filing.issuer.cik}"
    for candidate in holdings:  # the issuer side's lines (the owner side is the holdings agent's)
        update_line(state, issuer_index, candidate)
    _remember_profile(filing, state)
    if not has_rows(state, me):  # stored rows mark a filing processed; one write fewer per filing
        state.put(seen_key(filing), filing.raw_sha256)
    return Outputs(
        filing=filing,
        records=records,
        superseded=amended.superseded,
        relinked=amended.relinked,
        retract=amended.retract,
        alerts=alerts + revision.alerts,
        holdings=holdings,
        revised=revision.records,
        withdrawn=revision.withdrawn,
    )


@dataclass
class SeedOutcome:
    """What a history seed did: ``changed`` lists the owners whose ``hist`` value it changed, ``revision`` the
    records and alerts of theirs republished because of it."""

    seed: HistorySeed
    duplicate: bool = False
    changed: list[str] = field(default_factory=list)
    revision: Revision = field(default_factory=Revision)


def seed_seen_key(seed: HistorySeed) -> str:
    return key("seen", f"seed:{seed.seed_id}")


def process_seed(seed: HistorySeed, state: State, rules: RulesConfig) -> SeedOutcome:
    """Merge each seeded history into its owner's ``hist|<issuer>|<owner>`` value (the union ``History.merge``,
    pruned like a filing's trades), and revise the records and alerts of theirs published before that the new
    history changes. A seed already merged (``seen|seed:<id>``) is skipped, though merging it again would change
    nothing either."""
    marker = seed_seen_key(seed)
    if state.get(marker) is not None:
        return SeedOutcome(seed, duplicate=True)
    changes = [
        change
        for h in seed.histories
        if (change := merge_history(state, seed.issuer_cik, h.owner_cik, History.from_seeded(h))) is not None
    ]
    revision = revise(state, seed.issuer_cik, changes, rules)
    state.put(marker, seed.seed_id)
    return SeedOutcome(seed, changed=[c.owner_cik for c in changes], revision=revision)


def issuer_profile(filing: Filing) -> dict[str, str | None]:
    return {
        "issuer_cik": filing.issuer.cik,
        "issuer_name": filing.issuer.name,
        "ticker": (filing.issuer.trading_symbol or "").strip().upper() or None,
    }


def _remember_profile(filing: Filing, state: State) -> None:
    profile = issuer_profile(filing)
    profile_key = key("profile", filing.issuer.cik)
    if state.get(profile_key) != profile:
        state.put(profile_key, profile)
