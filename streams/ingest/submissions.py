"""Fetching filings' full submissions and publishing them: the common back half of live and index ingestion.

Every item handed over ends one of two ways: published to form4.raw, or, when EDGAR keeps failing for it
(``max_rounds`` rounds of the client's own retries, spaced out up to minutes), a ``fetch_failed`` dead letter
on form4.dlq. Nothing is dropped silently; both outcomes are recorded in the ingest state.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import logging
import re
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from streams import __version__
from streams.ingest.edgar import EdgarClient, EdgarUnavailable, InvalidBody
from streams.ingest.metrics import INGEST
from streams.ingest.raw import RawPublisher
from streams.ingest.state import IngestState, Item
from streams.models import DeadLetter

log = logging.getLogger(__name__)

FETCH_FAILED = "fetch_failed"

_ACCESSION_IN_HEADER = re.compile(rb"ACCESSION NUMBER:\s*(\d{10}-\d{2}-\d{6})")

#: Called when an item is done: (item, "published" | "failed").
Outcome = Callable[[Item, str], None]


def check_submission(body: bytes, accession_number: str | None = None) -> None:
    """Refuse a 200 that is not a whole submission (cut short, an HTML error page, another filing)."""
    head = body[:512].lstrip().lower()
    if not body.strip():
        raise InvalidBody("empty body")
    if head.startswith((b"<!doctype html", b"<html")):
        raise InvalidBody("an HTML page instead of the submission text")
    tail = body[-256:].rstrip()
    if head.startswith(b"<sec-document>") and not tail.lower().endswith(b"</sec-document>"):
        raise InvalidBody("truncated: no closing </SEC-DOCUMENT>")
    if (
        head.startswith(b"-----begin privacy-enhanced message-----")
        and b"-----END PRIVACY-ENHANCED" not in tail
    ):
        raise InvalidBody("truncated: no closing PEM boundary")
    if accession_number is not None:
        m = _ACCESSION_IN_HEADER.search(body, 0, 4096)
        if m and m[1].decode() != accession_number:
            raise InvalidBody(f"the submission of {m[1].decode()} came back instead of {accession_number}")


class SubmissionFetcher:
    """A priority queue of items and a few workers that fetch and publish them.

    Lower ``Item.priority`` goes first; within a priority, older acceptance first (amendments after their
    originals, when both are waiting)."""

    def __init__(
        self,
        client: EdgarClient,
        state: IngestState,
        publisher: RawPublisher,
        *,
        concurrency: int = 4,
        max_rounds: int = 8,
        round_delay: float = 5.0,
        round_cap: float = 300.0,
        on_outcome: Outcome | None = None,
    ) -> None:
        self.client = client
        self.state = state
        self.publisher = publisher
        self.concurrency = concurrency
        self.max_rounds = max_rounds
        self.round_delay = round_delay
        self.round_cap = round_cap
        self._on_outcome = on_outcome
        self._queue: asyncio.PriorityQueue[tuple[int, float, int, Item]] = asyncio.PriorityQueue()
        self._seq = itertools.count()
        self._queued: set[str] = set()
        self._rounds: dict[str, int] = {}
        self._busy = 0
        self._later: dict[str, asyncio.TimerHandle] = {}
        self._idle = asyncio.Event()
        self._idle.set()

    def submit(self, items: Iterable[Item]) -> int:
        """Queue items (already recorded as pending in the state); returns how many were not queued yet."""
        queued = 0
        for item in items:
            if item.accession_number in self._queued or self.state.is_published(item.accession_number):
                continue
            self._put(item)
            queued += 1
        INGEST.filings.labels("found").inc(queued)
        return queued

    def _put(self, item: Item) -> None:
        self._queued.add(item.accession_number)
        self._idle.clear()
        self._enqueue(item)

    def _enqueue(self, item: Item) -> None:
        accepted = item.accepted_at.timestamp() if item.accepted_at else 0.0
        self._queue.put_nowait((item.priority, accepted, next(self._seq), item))

    async def wait_idle(self) -> None:
        """Until every submitted item is published or failed."""
        await self._idle.wait()

    async def run(self) -> None:
        """Fetch until cancelled."""
        workers = [asyncio.create_task(self._worker()) for _ in range(self.concurrency)]
        try:
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()
            for handle in self._later.values():
                handle.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _worker(self) -> None:
        while True:
            _, _, _, item = await self._queue.get()
            self._busy += 1
            try:
                await self._handle(item)
            finally:
                self._busy -= 1
                self._queue.task_done()
                self._check_idle()

    def _check_idle(self) -> None:
        if not self._queued:
            self._idle.set()

    async def _handle(self, item: Item) -> None:
        if self.state.is_published(item.accession_number):
            self._queued.discard(item.accession_number)
            return
        problem: str
        try:
            response = await self.client.get(
                item.url,
                priority=item.priority,
                validate=lambda body: check_submission(body, item.accession_number),
            )
        except EdgarUnavailable as exc:
            problem = str(exc)
        else:
            if response.status == 200:
                started = time.monotonic()
                try:
                    partition, offset = await self.publisher.publish(item, response.body)
                except Exception as exc:  # the broker, not EDGAR: keep the item and try again later
                    log.error(
                        "could not publish %s to %s: %s: %s",
                        item.accession_number,
                        self.publisher.raw_topic,
                        type(exc).__name__,
                        exc,
                        extra={"accession": item.accession_number},
                    )
                    loop = asyncio.get_running_loop()
                    self._later[item.accession_number] = loop.call_later(
                        self.round_delay, self._requeue, item
                    )
                    return
                acked = datetime.now(UTC)
                if (
                    item.source == "edgar_feed" and item.accepted_at is not None
                ):  # index catch-ups are days late
                    INGEST.acceptance_to_topic.observe(max(0.0, (acked - item.accepted_at).total_seconds()))
                self.state.mark_published(item, partition, offset, acked)
                self._done(item, "published")
                log.info(
                    "published %s %s from %s",
                    item.form_type or "filing",
                    item.accession_number,
                    item.source,
                    extra={
                        "accession": item.accession_number,
                        "form_type": item.form_type,
                        "source": item.source,
                        "partition": partition,
                        "offset": offset,
                        "publish_ms": round((time.monotonic() - started) * 1000, 1),
                    },
                )
                return
            problem = f"HTTP {response.status} for {item.url}"
        await self._retry_later(item, problem)

    async def _retry_later(self, item: Item, problem: str) -> None:
        rounds = self._rounds.get(item.accession_number, 0) + 1
        self._rounds[item.accession_number] = rounds
        if rounds >= self.max_rounds:
            await self._give_up(item, problem)
            return
        delay = min(self.round_cap, self.round_delay * 2 ** (rounds - 1))
        log.warning(
            "could not fetch %s (%s); trying again in %.0f s (round %d of %d)",
            item.accession_number,
            problem,
            delay,
            rounds + 1,
            self.max_rounds,
            extra={"accession": item.accession_number},
        )
        loop = asyncio.get_running_loop()
        self._later[item.accession_number] = loop.call_later(delay, self._requeue, item)

    def _requeue(self, item: Item) -> None:
        self._later.pop(item.accession_number, None)
        self._enqueue(item)

    async def _give_up(self, item: Item, problem: str) -> None:
        original = item.to_json().encode()
        record = DeadLetter(
            reason=FETCH_FAILED,
            message=f"EDGAR did not deliver the submission after {self.max_rounds} rounds of retries: {problem}"[
                :1024
            ],
            error_class="EdgarUnavailable",
            source_key=item.accession_number,
            header={
                k: v
                for k, v in {
                    "accession_number": item.accession_number,
                    "form_type": item.form_type,
                    "source": item.source,
                    "source_url": item.url,
                    "acceptance_datetime": item.accepted_at.isoformat() if item.accepted_at else None,
                }.items()
                if v
            },
            failed_at=datetime.now(UTC),
            parser_version=__version__,
            original_b64=base64.b64encode(original).decode(),
            original_size=len(original),
            original_sha256=hashlib.sha256(original).hexdigest(),
        )
        await self.publisher.dead_letter(record, item.accession_number)
        self.state.mark_failed(item, problem, datetime.now(UTC))
        log.error(
            "gave up on %s: %s (dead letter %s on %s)",
            item.accession_number,
            problem,
            FETCH_FAILED,
            self.publisher.dlq_topic,
            extra={"accession": item.accession_number, "reason": FETCH_FAILED},
        )
        self._done(item, "failed")

    def _done(self, item: Item, outcome: str) -> None:
        INGEST.filings.labels("published" if outcome == "published" else "given_up").inc()
        if outcome == "published" and item.source == "edgar_feed" and item.found_at is not None:
            INGEST.feed_to_topic.observe(max(0.0, (datetime.now(UTC) - item.found_at).total_seconds()))
        self._queued.discard(item.accession_number)
        self._rounds.pop(item.accession_number, None)
        if self._on_outcome is not None:
            self._on_outcome(item, outcome)
