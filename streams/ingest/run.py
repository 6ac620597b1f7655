"""Wiring for ``form4 ingest live`` and ``form4 ingest index``: settings in, one EDGAR client (one rate
limiter), the durable state, the producer; then the live loop or the backfill."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime

from streams.ingest.backfill import IndexBackfill, today_eastern, weekdays
from streams.ingest.edgar import EdgarClient
from streams.ingest.live import LiveIngester
from streams.ingest.raw import RawPublisher, reconcile
from streams.ingest.state import DAY_DONE, DAY_MISSING, IngestState, Item
from streams.ingest.submissions import Outcome, SubmissionFetcher
from streams.settings import Settings, kafka_client_kwargs
from streams.topics import ensure_pipeline_topics

log = logging.getLogger(__name__)


@dataclass
class Ingest:
    client: EdgarClient
    state: IngestState
    publisher: RawPublisher
    fetcher: SubmissionFetcher


@asynccontextmanager
async def open_ingest(settings: Settings, on_outcome: Outcome | None = None) -> AsyncIterator[Ingest]:
    """Everything an ingester needs, started; the state is reconciled with form4.raw first."""
    user_agent = settings.require_edgar_user_agent()
    await ensure_pipeline_topics(settings)
    state = IngestState(settings.ingest_state_path)
    publisher = RawPublisher(
        settings.broker_url, settings.topics.raw, settings.topics.dlq, kafka_client_kwargs(settings)
    )
    try:
        await reconcile(state, settings.broker_url, settings.topics.raw, kafka_client_kwargs(settings))
        await publisher.start()
        try:
            async with EdgarClient(
                settings.edgar_base_url,
                user_agent,
                rate=settings.edgar_rate_limit,
                timeout=settings.edgar_timeout,
            ) as client:
                fetcher = SubmissionFetcher(client, state, publisher, on_outcome=on_outcome)
                yield Ingest(client, state, publisher, fetcher)
        finally:
            await publisher.stop()
    finally:
        state.close()


async def run_live(settings: Settings, stop: asyncio.Event, *, since: datetime | None = None) -> None:
    """Poll EDGAR's feed until ``stop`` is set."""
    async with open_ingest(settings) as ingest:
        state = ingest.state

        def feed_today() -> date:
            day = state.get_meta("feed_day")
            return date.fromisoformat(day) if day else today_eastern()

        backfill = IndexBackfill(
            ingest.client, state, ingest.fetcher, settings.edgar_base_url, today=feed_today
        )
        live = LiveIngester(
            ingest.client,
            state,
            ingest.fetcher,
            backfill,
            base_url=settings.edgar_base_url,
            poll_interval=settings.poll_interval,
            since=since,
            audit=settings.index_audit_interval > 0,
            audit_interval=settings.index_audit_interval,
        )
        log.info(
            "polling EDGAR every %.1f s at most %.1f requests/s; %d filing(s) already published",
            settings.poll_interval,
            settings.edgar_rate_limit,
            state.published_count,
            extra={"base_url": settings.edgar_base_url, "topic": settings.topics.raw},
        )
        await live.run(stop)


@dataclass
class BackfillReport:
    days: int = 0
    days_missing: list[date] = field(default_factory=list)
    days_not_published: list[date] = field(default_factory=list)
    filings: int = 0
    published: int = 0
    failed: int = 0


#: Progress callbacks: days listed (day, filings queued or None), and filings done (item, outcome).
DayListed = Callable[[date, int | None], None]


async def run_index(
    settings: Settings,
    first: date,
    last: date,
    *,
    on_day: DayListed | None = None,
    on_outcome: Outcome | None = None,
    on_total: Callable[[int], None] | None = None,
) -> BackfillReport:
    """Backfill the weekdays from ``first`` to ``last``: list every day's index first (so the total is known),
    then fetch and publish. Interrupted, it resumes where it stopped."""
    report = BackfillReport()

    def outcome(item: Item, result: str) -> None:
        if result == "published":
            report.published += 1
        else:
            report.failed += 1
        if on_outcome is not None:
            on_outcome(item, result)

    async with open_ingest(settings, on_outcome=outcome) as ingest:
        backfill = IndexBackfill(ingest.client, ingest.state, ingest.fetcher, settings.edgar_base_url)
        fetching = asyncio.create_task(ingest.fetcher.run(), name="fetch")
        try:
            days = weekdays(first, last)
            report.days = len(days)
            for day in days:
                queued = await backfill.list_day(day)
                if queued is None:
                    status = ingest.state.day_status(day)
                    (report.days_missing if status == DAY_MISSING else report.days_not_published).append(day)
                else:
                    report.filings += queued
                    if on_total is not None:
                        on_total(report.filings)
                if on_day is not None:
                    on_day(day, queued)
            await ingest.fetcher.wait_idle()
            for day in days:
                backfill.settle(day)
        finally:
            fetching.cancel()
            await asyncio.gather(fetching, return_exceptions=True)
        done = sum(1 for d in days if ingest.state.day_status(d) in (DAY_DONE, DAY_MISSING))
        log.info("backfill %s..%s: %d of %d days done", first, last, done, len(days))
    return report
