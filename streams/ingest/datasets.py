"""The SEC's Form 3/4/5 data sets -> the trading histories the pattern rules read (pure: bytes in, seeds out).

The SEC publishes every Form 3/4/5 row once a quarter as a ZIP of tab-separated tables (``YYYYqN_form345.zip``,
readme and column list in ``FORM_345_readme`` / ``FORM_345_metadata.json``). Of those, the ``hist`` state
(``streams.alerts.history``) needs per issuer and reporting owner the months with open-market purchases and
sales, each month's first and last trade day, and the earliest trade date of any of their rows. They come from
four tables joined on ``ACCESSION_NUMBER``:

- ``SUBMISSION``: ``ISSUERCIK``, ``DOCUMENT_TYPE`` (amendments are left out, as the live path leaves them out),
  ``FILING_DATE`` and ``PERIOD_OF_REPORT`` (what ``date_plausible`` judges a trade date by);
- ``REPORTINGOWNER``: ``RPTOWNERCIK`` (every owner of a joint filing gets the filing's trades, as live);
- ``NONDERIV_TRANS`` and ``DERIV_TRANS``: ``TRANS_DATE`` and ``TRANS_CODE``.

Which rows count is decided by the live path's own functions on the same inputs: each row becomes a
``TransactionRecord`` with its table, trade date and ``derived`` category and date plausibility computed by
``streams.derive.codes`` (as the parser's ``enrich`` does), and ``direction_of`` (``is_purchase`` /
``is_sale``) gives its side. So a seed holds what processing the same filings would (``tests/test_datasets.py``
checks it on the corpus). Not read because the history does not keep them: prices, shares, the 10b5-1 flag
(``AFF10B5ONE``, recent quarters only) and footnotes; the pattern rules classify plan and non-plan trades alike.

Approximation: live, an original that arrives *after* an amendment restating it contributes only the rows the
amendment did not restate; a data set has no arrival order, so every row of every original counts (what the
usual order, original first, gives).

Memory: the tables are streamed line by line; what is kept is one small tuple per original filing (issuer,
dates), its owners' CIKs, and one ``History`` per (issuer, owner) of the quarter (about 1 KB each): tens of MB
for a real quarter (~100 MB unzipped), never the tables. Each history is pruned like the state prunes
(``HISTORY_YEARS`` calendar years down from the insider's newest trade), and seeds are cut per issuer under
``SEED_MAX_BYTES`` and ``MAX_SEED_HISTORIES``.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any

from streams.alerts.history import Direction, History, direction_of
from streams.derive.codes import category, date_plausible, is_open_market
from streams.derive.enrich import AMENDMENTS
from streams.models import (
    MAX_SEED_HISTORIES,
    HistorySeed,
    Issuer,
    PriceStatus,
    SeededHistory,
    Table,
    TransactionDerived,
    TransactionRecord,
)

SUBMISSION = "SUBMISSION.tsv"
REPORTINGOWNER = "REPORTINGOWNER.tsv"
NONDERIV_TRANS = "NONDERIV_TRANS.tsv"
DERIV_TRANS = "DERIV_TRANS.tsv"
#: The tables a seed needs, and the columns it reads of each (found by name: the SEC's headers drift).
COLUMNS: dict[str, tuple[str, ...]] = {
    SUBMISSION: ("ACCESSION_NUMBER", "FILING_DATE", "PERIOD_OF_REPORT", "DOCUMENT_TYPE", "ISSUERCIK"),
    REPORTINGOWNER: ("ACCESSION_NUMBER", "RPTOWNERCIK"),
    NONDERIV_TRANS: ("ACCESSION_NUMBER", "TRANS_DATE", "TRANS_CODE"),
    DERIV_TRANS: ("ACCESSION_NUMBER", "TRANS_DATE", "TRANS_CODE"),
}
TABLES = tuple(COLUMNS)
#: One seed message, serialised, stays under this (Kafka's default message limit is 1 MB).
SEED_MAX_BYTES = 256 * 1024
#: Progress is reported every this many uncompressed bytes read.
PROGRESS_STEP = 1 << 20

_MONTHS = {
    m: i
    for i, m in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1
    )
}
_SEC_DATE = re.compile(r"^(\d{1,2})-([A-Za-z]{3})-(\d{4})$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")
_ACCESSION = re.compile(r"^\d{10}-\d{2}-\d{6}$")
_CIK = re.compile(r"^\d{1,10}$")

#: Called with (table, bytes read of it so far, its uncompressed size).
OnProgress = Callable[[str, int, int], None]


class DatasetError(ValueError):
    """The file is not a Form 3/4/5 data set (not a ZIP, a table or a column missing): one line saying which."""


@dataclass
class ReadReport:
    """What reading one data set found."""

    submissions: int = 0  # filings (SUBMISSION rows) read
    amendments: int = 0  # of which amendments (their rows add nothing to histories, as live)
    rows: int = 0  # transaction rows read (both tables)
    rows_counted: int = 0  # rows with a plausible trade date of an original filing: they reach a history
    malformed: int = 0  # lines too short, or without a readable accession, CIK or date where one is needed
    histories: int = 0  # (issuer, owner) histories built
    table_bytes: dict[str, int] = field(default_factory=dict)  # uncompressed size of each table read


@dataclass(frozen=True, slots=True)
class _Filing:
    issuer_cik: str
    filed: date | None
    period: date | None


def parse_date(text: str) -> date | None:
    """The data sets' ``DD-MON-YYYY`` (``27-MAR-2025``), or ISO ``YYYY-MM-DD``; None when empty or unreadable."""
    text = text.strip()
    if not text:
        return None
    try:
        m = _SEC_DATE.match(text)
        if m:
            month = _MONTHS.get(m.group(2).upper())
            return date(int(m.group(3)), month, int(m.group(1))) if month else None
        m = _ISO_DATE.match(text)
        if m:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:  # 31-FEB-2024
        return None
    return None


def _cik(text: str) -> str | None:
    text = text.strip()
    return text.zfill(10) if _CIK.match(text) else None


class _Counting(io.RawIOBase):
    """A zip member's bytes, counted as they are read (for progress)."""

    def __init__(self, raw: IO[bytes], on_read: Callable[[int], None]) -> None:
        self._raw = raw
        self._on_read = on_read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self._on_read(n)
        return n


class DatasetReader:
    """One data set ZIP read table by table; ``histories()`` streams the join and aggregates it."""

    def __init__(self, source: Path | IO[bytes], on_progress: OnProgress | None = None) -> None:
        try:
            self._zip = zipfile.ZipFile(source)
        except (zipfile.BadZipFile, OSError) as exc:
            raise DatasetError(f"not a ZIP file ({exc})") from None
        self._members: dict[str, zipfile.ZipInfo] = {}
        for info in self._zip.infolist():
            name = info.filename.rsplit("/", 1)[-1].upper()
            if name.endswith(".TSV") and not info.is_dir():
                self._members.setdefault(name, info)
        missing = [t for t in (SUBMISSION, REPORTINGOWNER, NONDERIV_TRANS) if t.upper() not in self._members]
        if missing:
            raise DatasetError(f"not a Form 3/4/5 data set: no {', '.join(missing)} in the ZIP")
        self._on_progress = on_progress
        self.report = ReadReport()
        self.report.table_bytes = {
            t: self._members[t.upper()].file_size for t in TABLES if t.upper() in self._members
        }
        self._directions: dict[tuple[Table, str | None], Direction | None] = {}

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> DatasetReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- tables ----------------------------------------------------------------------------------------------

    def _rows(self, table: str) -> Iterator[list[str]]:
        """The table's lines as lists of the wanted columns' values (short lines are counted as malformed)."""
        info = self._members.get(table.upper())
        if info is None:
            return
        total = info.file_size
        read = 0
        reported = 0

        def on_read(n: int) -> None:
            nonlocal read, reported
            read += n
            if self._on_progress is not None and (read - reported >= PROGRESS_STEP or read >= total):
                reported = read
                self._on_progress(table, read, total)

        try:
            with self._zip.open(info) as member:
                raw = io.BufferedReader(_Counting(member, on_read), buffer_size=1 << 16)
                text = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="\n")
                header = text.readline().lstrip("\ufeff").rstrip("\r\n").split("\t")
                names = {name.strip().upper(): i for i, name in enumerate(header)}
                wanted = COLUMNS[table]
                absent = [c for c in wanted if c not in names]
                if absent:
                    raise DatasetError(
                        f"not a Form 3/4/5 data set: {table} has no {', '.join(absent)} column"
                    )
                index = [names[c] for c in wanted]
                needed = max(index) + 1
                for line in text:
                    fields = line.rstrip("\r\n").split("\t")
                    if len(fields) < needed:
                        if line.strip():
                            self.report.malformed += 1
                        continue
                    yield [fields[i] for i in index]
        except (zipfile.BadZipFile, EOFError, OSError) as exc:  # a corrupt member (CRC, truncated)
            raise DatasetError(f"{table} cannot be read: {exc}") from None

    def _originals(self) -> dict[str, _Filing]:
        """Accession -> issuer and dates, for the original filings (amendments add nothing to a history)."""
        originals: dict[str, _Filing] = {}
        for accession, filed, period, document_type, issuer in self._rows(SUBMISSION):
            accession = accession.strip()
            issuer_cik = _cik(issuer)
            if not _ACCESSION.match(accession) or issuer_cik is None:
                self.report.malformed += 1
                continue
            self.report.submissions += 1
            if document_type.strip().upper() in AMENDMENTS:
                self.report.amendments += 1
                continue
            originals[accession] = _Filing(issuer_cik, parse_date(filed), parse_date(period))
        return originals

    def _owners(self, originals: dict[str, _Filing]) -> dict[str, tuple[str, ...]]:
        owners: dict[str, tuple[str, ...]] = {}
        for accession, owner in self._rows(REPORTINGOWNER):
            accession = accession.strip()
            if accession not in originals:
                continue
            cik = _cik(owner)
            if cik is None:
                self.report.malformed += 1
                continue
            if cik not in owners.get(accession, ()):
                owners[accession] = (*owners.get(accession, ()), cik)
        return owners

    def _direction(self, table: Table, code: str | None) -> Direction | None:
        """``direction_of`` a record of the row, its ``derived`` computed as the parser's ``enrich`` does
        (``streams.derive.codes``). The predicate reads the table and the code's category only, so it is asked
        once per (table, code); the trade date is judged per row (``date_plausible``)."""
        memo = (table, code)
        if memo not in self._directions:
            record = TransactionRecord(
                txn_id=f"dataset:{table}:{code}",
                table=table,
                row_index=0,
                transaction_code=code,
                document_type="4",
                issuer=Issuer(cik="0" * 10),
                reporting_owners=[],
                derived=TransactionDerived(
                    price_status=PriceStatus.MISSING,
                    category=category(code),
                    is_open_market=is_open_market(code),
                ),
            )
            self._directions[memo] = direction_of(record)
        return self._directions[memo]

    # -- the join ---------------------------------------------------------------------------------------------

    def histories(self) -> dict[tuple[str, str], History]:
        """(issuer CIK, owner CIK) -> the history processing this data set's original filings would build."""
        originals = self._originals()
        owners = self._owners(originals)
        histories: dict[tuple[str, str], History] = {}
        tables: tuple[tuple[str, Table], ...] = (
            (NONDERIV_TRANS, "non_derivative"),
            (DERIV_TRANS, "derivative"),
        )
        for table, kind in tables:
            for accession, trans_date, code in self._rows(table):
                self.report.rows += 1
                filing = originals.get(accession.strip())
                if filing is None:
                    continue  # an amendment's row, or one whose filing is not in SUBMISSION
                day = parse_date(trans_date)
                if day is None:
                    if trans_date.strip():
                        self.report.malformed += 1
                    continue  # live: a row without a transaction date adds nothing
                if not date_plausible(day, period_of_report=filing.period, filed=filing.filed):
                    continue
                direction = self._direction(kind, code.strip().upper() or None)
                self.report.rows_counted += 1
                for owner in owners.get(accession.strip(), ()):
                    history = histories.get((filing.issuer_cik, owner))
                    if history is None:
                        history = histories[(filing.issuer_cik, owner)] = History()
                    history.add(day, direction)
        for history in histories.values():
            history.prune()
        self.report.histories = len(histories)
        return histories


def read_histories(
    source: Path | IO[bytes], on_progress: OnProgress | None = None
) -> tuple[dict[tuple[str, str], History], ReadReport]:
    """The histories of one data set ZIP (a path or a binary file), and what was read."""
    with DatasetReader(source, on_progress) as reader:
        return reader.histories(), reader.report


def seeds(histories: dict[tuple[str, str], History], source: str | None = None) -> Iterator[HistorySeed]:
    """The histories as seed messages: one issuer each, owners in CIK order, each message under
    ``SEED_MAX_BYTES`` serialised and ``MAX_SEED_HISTORIES`` histories. Deterministic: the same histories give
    the same seeds, with the same ids."""
    by_issuer: dict[str, list[tuple[str, History]]] = {}
    for (issuer, owner), history in histories.items():
        by_issuer.setdefault(issuer, []).append((owner, history))
    overhead = len(HistorySeed.build("0" * 10, [SeededHistory(owner_cik="0" * 10)], source).model_dump_json())
    for issuer in sorted(by_issuer):
        batch: list[SeededHistory] = []
        size = overhead
        for owner, history in sorted(by_issuer[issuer], key=lambda item: item[0]):
            seeded = history.to_seeded(owner)
            length = len(seeded.model_dump_json()) + 1
            if batch and (size + length > SEED_MAX_BYTES or len(batch) >= MAX_SEED_HISTORIES):
                yield HistorySeed.build(issuer, batch, source)
                batch, size = [], overhead
            batch.append(seeded)
            size += length
        if batch:
            yield HistorySeed.build(issuer, batch, source)
