"""``form4 ingest datasets``: seed the insiders' trading histories from the SEC's quarterly Form 3/4/5 data sets.

Each data set (a quarter's ZIP from sec.gov, any URL, or a local file) is downloaded with the EDGAR client
(the one rate limiter, the User-Agent, retries with backoff), read by ``streams.ingest.datasets`` into one
history per (issuer, owner), and published to form4.raw as ``HistorySeed`` messages keyed by issuer CIK. The
worker merges them into its ``hist`` state; nothing else changes.

Resumable: a data set whose seeds were all acknowledged is remembered in the ingest state (``meta`` keys
``dataset:<url>`` and ``dataset:sha256:<content hash>``) and skipped the next time, without a request. A
download is written to ``<ingest state dir>/datasets/`` only once it is whole and a readable ZIP (a cut or
garbled body is retried like an outage, and a leftover ``.part`` is overwritten), and kept until its seeds are
published, so a run interrupted while publishing reads the file again instead of downloading it. Seeds sent
twice are harmless: their ids are content hashes the worker remembers, and merging is a union.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import os
import re
import zipfile
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from streams.alerts.history import History
from streams.headers import output_headers
from streams.ingest.datasets import (
    NONDERIV_TRANS,
    REPORTINGOWNER,
    SUBMISSION,
    DatasetError,
    OnProgress,
    ReadReport,
    read_histories,
    seeds,
)
from streams.ingest.edgar import EdgarClient, EdgarUnavailable, InvalidBody, Priority
from streams.ingest.state import IngestState
from streams.models import HistorySeed

if TYPE_CHECKING:
    from aiokafka import AIOKafkaProducer

    from streams.settings import Settings

log = logging.getLogger(__name__)

#: Where sec.gov publishes the quarterly data sets (``2024q4_form345.zip``), under FORM4_EDGAR_BASE_URL.
DATASETS_PATH = "/files/structureddata/data/insider-transactions-data-sets"
QUARTER = re.compile(r"^(\d{4})[qQ]([1-4])$")
#: One data set is 10-20 MB: its request may take longer than a filing's (FORM4_EDGAR_TIMEOUT is the floor).
DOWNLOAD_TIMEOUT = 300.0
#: Seeds sent and not yet acknowledged, at most.
IN_FLIGHT = 500
SEED_HEADERS = [*output_headers(HistorySeed), ("source", b"datasets")]

Status = Literal["published", "already_seeded", "not_published", "failed"]


def parse_quarter(text: str) -> tuple[int, int]:
    """``2024q4`` -> (2024, 4); ValueError otherwise."""
    m = QUARTER.match(text.strip())
    if not m:
        raise ValueError(f"a quarter is written like 2024q4, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def quarter_range(first: tuple[int, int], last: tuple[int, int]) -> list[tuple[int, int]]:
    """Every quarter from ``first`` to ``last``, both included."""
    out = []
    year, quarter = first
    while (year, quarter) <= last:
        out.append((year, quarter))
        year, quarter = (year + 1, 1) if quarter == 4 else (year, quarter + 1)
    return out


def last_finished_quarter(today: date) -> tuple[int, int]:
    """The quarter before ``today``'s: the newest the SEC may have published."""
    quarter = (today.month - 1) // 3 + 1
    return (today.year - 1, 4) if quarter == 1 else (today.year, quarter - 1)


def quarter_url(base_url: str, year: int, quarter: int) -> str:
    return f"{base_url.rstrip('/')}{DATASETS_PATH}/{year}q{quarter}_form345.zip"


@dataclass(frozen=True)
class Source:
    """A data set to seed from: a URL (a quarter is its sec.gov URL) or a local ZIP."""

    label: str
    url: str | None = None
    path: Path | None = None


def source_of(argument: str, base_url: str) -> Source:
    """A command-line argument as a Source: a local file when it exists, else a quarter, else a URL; a path
    that does not exist is ValueError."""
    path = Path(argument)
    if path.exists():
        return Source(label=argument, path=path)
    if QUARTER.match(argument.strip()):
        year, quarter = parse_quarter(argument)
        return Source(label=f"{year}q{quarter}", url=quarter_url(base_url, year, quarter))
    if argument.startswith(("http://", "https://")):
        return Source(label=urlsplit(argument).path.rsplit("/", 1)[-1] or argument, url=argument)
    raise ValueError(f"no such file: {argument} (nor a quarter like 2024q4 or an http(s) URL)")


@dataclass
class Outcome:
    source: Source
    status: Status
    seeds: int = 0
    histories: int = 0
    message: str = ""
    report: ReadReport | None = None


@dataclass
class Callbacks:
    """Progress, for a terminal: a data set starts, its tables are read, seeds are built and acknowledged."""

    on_start: Callable[[Source], None] | None = None
    on_read: OnProgress | None = None
    on_seeds: Callable[[int], None] | None = None  # seeds to send for the current data set
    on_sent: Callable[[int], None] | None = None  # seeds acknowledged (a count since the last call)
    on_done: Callable[[Outcome], None] | None = None


def _state_keys(source: Source, digest: str | None) -> list[str]:
    keys = [f"dataset:{source.url}"] if source.url else []
    if digest:
        keys.append(f"dataset:sha256:{digest}")
    return keys


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_dataset_zip(body: bytes) -> None:
    """A download is usable when it is a whole ZIP with the tables a seed needs (InvalidBody: retried)."""
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as z:
            names = {n.rsplit("/", 1)[-1].upper() for n in z.namelist()}
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InvalidBody(f"not a whole ZIP file ({exc})") from None
    missing = [t for t in (SUBMISSION, REPORTINGOWNER, NONDERIV_TRANS) if t.upper() not in names]
    if missing:
        raise InvalidBody(f"a ZIP without {', '.join(missing)}: not a Form 3/4/5 data set")


def _usable(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        check_dataset_zip(path.read_bytes())
    except InvalidBody:
        return False
    return True


def cache_path(directory: Path, url: str) -> Path:
    name = urlsplit(url).path.rsplit("/", 1)[-1]
    if not re.fullmatch(r"[\w.-]{1,100}", name):
        name = "dataset.zip"
    return directory / f"{hashlib.sha256(url.encode()).hexdigest()[:8]}-{name}"


def _write_whole(path: Path, data: bytes) -> None:
    """Write, flush to disk, then rename: the file is there whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    with part.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(part, path)


def _serialised(histories: dict[tuple[str, str], History], label: str) -> list[tuple[bytes, bytes]]:
    """Every seed as (key, value): bytes are a fraction of the models' memory."""
    return [(seed.issuer_cik.encode(), seed.model_dump_json().encode()) for seed in seeds(histories, label)]


class Seeder:
    """Seeds one data set after another through one producer, one EDGAR client and the ingest state."""

    def __init__(
        self,
        state: IngestState,
        producer: AIOKafkaProducer,
        topic: str,
        client: EdgarClient | None,
        downloads: Path,
        callbacks: Callbacks | None = None,
        *,
        force: bool = False,
    ) -> None:
        self.state = state
        self.producer = producer
        self.topic = topic
        self.client = client
        self.downloads = downloads
        self.callbacks = callbacks or Callbacks()
        self.force = force

    def _seeded(self, keys: Sequence[str]) -> bool:
        return not self.force and any(self.state.get_meta(k) for k in keys)

    def _remember(self, keys: Sequence[str], outcome: Outcome, digest: str) -> None:
        value = json.dumps(
            {
                "source": outcome.source.url or outcome.source.label,
                "sha256": digest,
                "seeds": outcome.seeds,
                "histories": outcome.histories,
                "seeded_at": datetime.now(UTC).isoformat(),
            },
            sort_keys=True,
        )
        for k in keys:
            self.state.set_meta(k, value)

    async def seed(self, source: Source) -> Outcome:
        """One data set, start to end; failures come back as an Outcome (status failed, a one-line message)."""
        if self.callbacks.on_start:
            self.callbacks.on_start(source)
        try:
            outcome = await self._seed(source)
        except (DatasetError, EdgarUnavailable, OSError) as exc:
            outcome = Outcome(source, "failed", message=str(exc))
        log.info(
            "data set %s: %s%s",
            source.label,
            outcome.status,
            f", {outcome.seeds} seeds of {outcome.histories} histories" if outcome.seeds else "",
            extra={"source": source.url or str(source.path)},
        )
        if self.callbacks.on_done:
            self.callbacks.on_done(outcome)
        return outcome

    async def _seed(self, source: Source) -> Outcome:
        cached: Path | None = None
        if source.url is not None:
            if self._seeded(_state_keys(source, None)):
                return Outcome(source, "already_seeded")
            cached = cache_path(self.downloads, source.url)
            if not _usable(cached):
                if self.client is None:
                    raise EdgarUnavailable(f"{source.url}: no EDGAR client to download it")
                response = await self.client.get(
                    source.url, priority=Priority.INDEX, validate=check_dataset_zip
                )
                if response.status == 404:
                    return Outcome(source, "not_published", message=f"{source.url}: not published (HTTP 404)")
                _write_whole(cached, response.body)
            path = cached
        else:
            assert source.path is not None
            path = source.path
        digest = await asyncio.to_thread(file_sha256, path)
        keys = _state_keys(source, digest)
        if self._seeded(keys[-1:]):  # the same bytes were seeded before, from another URL or path
            self._remember(keys[:-1], Outcome(source, "already_seeded"), digest)
            if cached is not None:
                cached.unlink(missing_ok=True)
            return Outcome(source, "already_seeded")
        label = (source.url or path.name)[:2048]  # what the seeds say they came from
        try:
            histories, report = await asyncio.to_thread(read_histories, path, self.callbacks.on_read)
        except DatasetError as exc:
            if cached is not None:
                cached.unlink(missing_ok=True)  # read again from EDGAR next time
            raise DatasetError(f"{source.label}: {exc}") from None
        batch = await asyncio.to_thread(_serialised, histories, label)
        del histories  # the seeds hold what is sent
        if self.callbacks.on_seeds:
            self.callbacks.on_seeds(len(batch))
        sent = await self._publish(batch)
        outcome = Outcome(source, "published", seeds=sent, histories=report.histories, report=report)
        self._remember(keys, outcome, digest)
        if cached is not None:
            cached.unlink(missing_ok=True)
        return outcome

    async def _publish(self, batch: list[tuple[bytes, bytes]]) -> int:
        """Send every seed (keyed by issuer CIK) and wait until the broker has them all."""
        pending: deque[asyncio.Future[Any]] = deque()
        sent = 0
        for key, value in batch:
            pending.append(await self.producer.send(self.topic, value=value, key=key, headers=SEED_HEADERS))
            while len(pending) > IN_FLIGHT:
                await pending.popleft()
                sent += 1
                if self.callbacks.on_sent:
                    self.callbacks.on_sent(1)
        while pending:
            await pending.popleft()
            sent += 1
            if self.callbacks.on_sent:
                self.callbacks.on_sent(1)
        return sent


@asynccontextmanager
async def open_seeder(
    settings: Settings, *, download: bool, callbacks: Callbacks | None = None, force: bool = False
) -> AsyncIterator[Seeder]:
    """The topics made sure of, the ingest state, a producer, and an EDGAR client when something is downloaded."""
    from streams.kafka_io import open_producer
    from streams.settings import kafka_client_kwargs
    from streams.topics import ensure_pipeline_topics

    await ensure_pipeline_topics(settings)
    state = IngestState(settings.ingest_state_path)
    try:
        async with AsyncExitStack() as stack:
            producer = await stack.enter_async_context(
                open_producer(settings.broker_url, kafka_client_kwargs(settings))
            )
            client = None
            if download:
                client = await stack.enter_async_context(
                    EdgarClient(
                        settings.edgar_base_url,
                        settings.require_edgar_user_agent(),
                        rate=settings.edgar_rate_limit,
                        timeout=max(settings.edgar_timeout, DOWNLOAD_TIMEOUT),
                    )
                )
            yield Seeder(
                state,
                producer,
                settings.topics.raw,
                client,
                settings.ingest_state_path.parent / "datasets",
                callbacks,
                force=force,
            )
    finally:
        state.close()


@dataclass
class SeedReport:
    outcomes: list[Outcome] = field(default_factory=list)

    def of(self, status: Status) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == status]


async def run_datasets(
    settings: Settings, sources: Sequence[Source], *, callbacks: Callbacks | None = None, force: bool = False
) -> SeedReport:
    """Seed from every source in turn; one that fails does not stop the others."""
    report = SeedReport()
    download = any(s.url is not None for s in sources)
    async with open_seeder(settings, download=download, callbacks=callbacks, force=force) as seeder:
        for source in sources:
            report.outcomes.append(await seeder.seed(source))
    return report
