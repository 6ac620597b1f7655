"""Linking an amendment (3/A, 4/A, 5/A) to the filing it restates.

An amendment names its original only by ``dateOfOriginalSubmission``, never by accession number, so the link
is inferred: same issuer, same set of reporting owners, and the original's filing date equal to that date
(or its acceptance date, for filings accepted after hours). Only a unique match links; otherwise the records
say why not (``no_original_found`` or ``ambiguous``) — a conservative link over a wrong one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from pydantic import BaseModel

from streams.models import Filing, TransactionRecord
from streams.records import normalize_security, transaction_records
from streams.state import State, key

LINK_METHOD = "issuer+owners+original_date"
NO_ORIGINAL = "no_original_found"
AMBIGUOUS = "ambiguous"
KEEP_DAYS = 400  # amendments come weeks to months later; a year and a bit of history per issuer is enough


class RecentFiling(BaseModel):
    """What the amendment linker remembers of a non-amendment filing, per issuer: a few facts, not its rows
    (those are kept once per accession elsewhere, so the per-issuer state stays small)."""

    accession_number: str
    owner_ciks: list[str]
    filed_date: date | None = None
    accepted_date: date | None = None


def remember(filing: Filing) -> RecentFiling | None:
    if filing.derived.is_amendment or filing.accession_number is None:
        return None
    accepted = filing.acceptance_datetime.date() if filing.acceptance_datetime else None
    return RecentFiling(
        accession_number=filing.accession_number,
        owner_ciks=filing.derived.reporting_owner_ciks,
        filed_date=filing.filed_date or accepted,
        accepted_date=accepted,
    )


def prune(recent: list[RecentFiling], today: date) -> list[RecentFiling]:
    horizon = today - timedelta(days=KEEP_DAYS)
    return [r for r in recent if (r.filed_date or today) >= horizon]


def link(filing: Filing, recent: list[RecentFiling]) -> tuple[RecentFiling | None, str | None]:
    """(the original, method) for an amendment; (None, reason) when no unique original; (None, None) otherwise."""
    if not filing.derived.is_amendment:
        return None, None
    original_date = filing.date_of_original_submission
    owners = filing.derived.reporting_owner_ciks
    matches = [
        r
        for r in recent
        if r.owner_ciks == owners
        and original_date is not None
        and original_date in (r.filed_date, r.accepted_date)
        and r.accession_number != filing.accession_number
    ]
    if len(matches) == 1:
        return matches[0], LINK_METHOD
    return None, (AMBIGUOUS if matches else NO_ORIGINAL)


def _signature(record: TransactionRecord) -> tuple[object, ...]:
    return (
        record.table,
        normalize_security(record.security_title or ""),
        record.transaction_date,
        record.transaction_code,
        record.acquired_disposed,
    )


def superseded(
    original_records: list[TransactionRecord], amendment_records: list[TransactionRecord]
) -> list[TransactionRecord]:
    """The original's rows the amendment restates — same table, security, date, code and direction — marked
    ``superseded_by``. Rows it does not restate stay as they are: a holdings-only amendment supersedes no
    transaction (the scoping bug other tools have had)."""
    restated = {_signature(r) for r in amendment_records}
    accession = amendment_records[0].accession_number if amendment_records else None
    return [
        r.model_copy(update={"superseded_by": accession})
        for r in original_records
        if _signature(r) in restated and accession is not None
    ]


MAX_ORIGINALS_PER_KEY = 8  # more than one is already ambiguous; the bound keeps the value small


@dataclass
class AmendmentOutcome:
    records: list[TransactionRecord]
    superseded: list[TransactionRecord] = field(default_factory=list)


def _orig_key(issuer_cik: str, owner_ciks: list[str], day: date) -> str:
    return key("orig", issuer_cik, ",".join(owner_ciks), day.isoformat())


def amendment_step(filing: Filing, state: State) -> AmendmentOutcome:
    """Link an amendment to its original through ``state``; remember an original's rows for later amendments."""
    original: str | None = None
    method: str | None = None
    owners = filing.derived.reporting_owner_ciks
    if filing.derived.is_amendment:
        day = filing.date_of_original_submission
        found = state.get(_orig_key(filing.issuer.cik, owners, day)) if day else None
        candidates = [a for a in found or [] if a != filing.accession_number]
        if len(candidates) == 1:
            original, method = candidates[0], LINK_METHOD
        else:
            method = AMBIGUOUS if candidates else NO_ORIGINAL
    records = transaction_records(filing, amends_accession=original, amendment_link_method=method)
    restated: list[TransactionRecord] = []
    if original is not None:
        count = int(state.get(key("rec", original)) or 0)
        stored = (state.get(key("rec", original, str(n))) for n in range(count))
        restated = superseded([TransactionRecord.model_validate(s) for s in stored if s is not None], records)
    remembered = remember(filing)
    if remembered is not None and records:
        for day in {remembered.filed_date, remembered.accepted_date} - {None}:
            k = _orig_key(filing.issuer.cik, owners, day)  # type: ignore[arg-type]
            known = list(state.get(k) or [])
            if remembered.accession_number not in known:
                state.put(k, [*known, remembered.accession_number][-MAX_ORIGINALS_PER_KEY:])
        state.put(key("rec", remembered.accession_number), len(records))
        for n, record in enumerate(records):
            state.put(key("rec", remembered.accession_number, str(n)), record.model_dump(mode="json"))
    return AmendmentOutcome(records=records, superseded=restated)
