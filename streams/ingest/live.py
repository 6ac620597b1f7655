"""Live ingestion from EDGAR's current-filings Atom feed (``browse-edgar?action=getcurrent``).

Every poll reads the feeds for types 4, 3 and 5 (EDGAR's ``type=`` is a prefix filter, so the exact forms are
picked here), newest first, paging back until the page reaches entries older than what the last poll covered
(minus an overlap for entries that show up late). Each filing is listed twice (Reporting and Issuer) and taken
once. New filings are recorded as pending before anything else happens, then fetched and published by the
:class:`SubmissionFetcher`; what each feed has covered is recorded after that, so a crash never skips one.

Completeness does not rest on the feed alone: every day the ingester covered is audited against EDGAR's daily
index once it is published. A downtime longer than the feed reaches back is filled from there, and so is a
filing whose feed entries no parser could read (the rest of the page is read; the entry is logged and counted
once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta

from streams.ingest.backfill import EASTERN, IndexBackfill, weekdays
from streams.ingest.edgar import EdgarClient, EdgarUnavailable, Priority
from streams.ingest.feed import (
    FEED_FORM_TYPES,
    MALFORMED,
    PAGE_SIZE,
    REPAIRED,
    FeedPage,
    feed_url,
    ownership_filings,
    parse_feed,
    submission_url,
)
from streams.ingest.metrics import INGEST
from streams.ingest.state import DAY_DUE, DAY_LISTED, IngestState, Item
from streams.ingest.submissions import SubmissionFetcher

log = logging.getLogger(__name__)

#: Entries accepted up to this long before the last poll's newest are read again (dedup makes it free).
OVERLAP = timedelta(minutes=2)
#: Bad feed entries remembered as reported (an entry stays in the feed for many polls).
REPORTED_MAX = 4096


def past_end_of_feed(status: int, headers: Mapping[str, str]) -> bool:
    """EDGAR answers a page beyond the end of the feed with a 503 and no Retry-After (reference §9.1)."""
    return status == 503 and "retry-after" not in headers


class LiveIngester:
    def __init__(
        self,
        client: EdgarClient,
        state: IngestState,
        fetcher: SubmissionFetcher,
        backfill: IndexBackfill,
        *,
        base_url: str,
        poll_interval: float,
        since: datetime | None = None,
        audit: bool = True,
        audit_interval: float = 600.0,
        feed_types: tuple[str, ...] = FEED_FORM_TYPES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.state = state
        self.fetcher = fetcher
        self.backfill = backfill
        self.base_url = base_url
        self.poll_interval = poll_interval
        self.since = since
        self.audit = audit
        self.audit_interval = audit_interval
        self.feed_types = feed_types
        self._clock = clock
        self._polled: set[str] = set()
        self._reported: OrderedDict[str, None] = OrderedDict()

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set."""
        fetching = asyncio.create_task(self.fetcher.run(), name="fetch")
        resumed = self.fetcher.submit(self.state.pending())
        if resumed:
            log.info("resuming %d filing(s) found before the last stop", resumed)
        auditing: asyncio.Task[None] | None = None
        try:
            while not stop.is_set():
                started = self._clock()
                await self.poll_once()
                if auditing is None and self.audit:  # after the first poll has dated the feed
                    auditing = asyncio.create_task(self._audit_loop(stop), name="audit")
                await _wait(stop, self.poll_interval - (self._clock() - started))
        finally:
            for task in (fetching, auditing):
                if task is not None:
                    task.cancel()
            await asyncio.gather(fetching, *([auditing] if auditing else []), return_exceptions=True)

    async def poll_once(self) -> int:
        """Read every feed once; returns how many new filings were queued."""
        queued = 0
        for form_type in self.feed_types:
            try:
                queued += await self.poll_feed(form_type)
                INGEST.last_poll.set_to_current_time()
            except EdgarUnavailable as exc:
                log.warning("feed type=%s unavailable: %s", form_type, exc)
        return queued

    async def poll_feed(self, form_type: str) -> int:
        covered = self.state.get_time(f"covered:{form_type}")
        # Catching up on a first start is backlog; anything found by a later poll is new and jumps the queue.
        first_run = covered is None and form_type not in self._polled
        self._polled.add(form_type)
        horizon = covered - OVERLAP if covered is not None else self.since
        items: list[Item] = []
        seen: set[str] = set()
        newest: datetime | None = None
        oldest: datetime | None = None
        reached_known = False
        start = 0
        while True:
            page = await self._page(form_type, start)
            if page is None or not page.listed:
                break
            # An unreadable entry's own <updated>, when seen, keeps its day in the audit's range.
            hinted = [p.accepted_at for p in page.problems if p.accepted_at is not None]
            if hinted:
                oldest = min(oldest, *hinted) if oldest else min(hinted)
            if not page.entries:  # all unreadable: the next page may still hold readable ones
                if page.listed < PAGE_SIZE:
                    break
                start += PAGE_SIZE
                continue
            newest = max(newest, page.entries[0].accepted_at) if newest else page.entries[0].accepted_at
            page_oldest = min(e.accepted_at for e in page.entries)
            oldest = min(oldest, page_oldest) if oldest else page_oldest
            for entry in ownership_filings(page.entries):
                if entry.accession_number in seen or (horizon is not None and entry.accepted_at < horizon):
                    continue
                seen.add(entry.accession_number)
                if self.state.is_known(entry.accession_number) or entry.cik is None:
                    if entry.cik is None:
                        log.warning("feed entry without a CIK: %s", entry.accession_number)
                    continue
                items.append(
                    Item(
                        accession_number=entry.accession_number,
                        url=submission_url(self.base_url, entry.cik, entry.accession_number),
                        form_type=entry.form_type,
                        source="edgar_feed",
                        accepted_at=entry.accepted_at,
                        priority=Priority.BACKLOG if first_run else Priority.NEW_FILING,
                        found_at=datetime.now(UTC),
                    )
                )
            if horizon is not None and page_oldest <= horizon:
                reached_known = True
                break
            if page.listed < PAGE_SIZE:
                break
            start += PAGE_SIZE
        added = self.state.add_pending(items)
        self.fetcher.submit(added)
        if newest is not None:
            self.state.set_meta(f"covered:{form_type}", max(newest, covered or newest).isoformat())
            self._note_feed_day(newest, oldest, first_run)
        if covered is not None and not reached_known and oldest is not None and oldest > covered:
            log.warning(
                "feed type=%s no longer reaches back to %s (its oldest entry is %s): filings accepted in between "
                "are taken from EDGAR's daily indexes when they are published",
                form_type,
                covered.isoformat(),
                oldest.isoformat(),
            )
        if added:
            log.info("feed type=%s: %d new filing(s)", form_type, len(added))
        return len(added)

    async def _page(self, form_type: str, start: int) -> FeedPage | None:
        parsed: list[FeedPage] = []

        def validate(body: bytes) -> None:
            parsed.append(parse_feed(body))

        response = await self.client.get(
            feed_url(self.base_url, form_type, start),
            priority=Priority.FEED,
            final=past_end_of_feed if start > 0 else None,
            validate=validate,
        )
        if response.status != 200:
            return None
        page = parsed[-1]
        self._report(page, form_type, start)
        return page

    def _report(self, page: FeedPage, form_type: str, start: int) -> None:
        """One line and one count per bad entry, not one per poll that lists it again."""
        for problem in page.problems:
            if problem.key in self._reported:
                continue
            self._reported[problem.key] = None
            if len(self._reported) > REPORTED_MAX:
                self._reported.popitem(last=False)
            INGEST.bad_feed_entries.labels(problem.reason).inc()
            if problem.reason == REPAIRED:
                what = "read after escaping a bare '&'"
            elif problem.reason == MALFORMED:
                what = (
                    "unreadable, skipped; its filing is taken from the daily index once published"
                    if self.audit
                    else "unreadable, skipped; the index audit is off: run form4 ingest index for its day"
                )
            else:
                what = "without an accession number or acceptance time, skipped"
            log.log(
                logging.INFO if problem.reason == REPAIRED else logging.WARNING,
                "feed entry %s in type=%s start=%d %s (%s)",
                problem.accession_number or "(accession unknown)",
                form_type,
                start,
                what,
                problem.detail,
                extra={
                    "accession": problem.accession_number,
                    "reason": f"feed_entry_{problem.reason}",
                    "accepted_at": problem.accepted_at.isoformat() if problem.accepted_at else None,
                },
            )

    def _note_feed_day(self, newest: datetime, oldest: datetime | None, first_run: bool) -> None:
        """The feed's own calendar: the audit covers days up to the newest entry's day (Eastern time), from the
        oldest day any feed's first poll reached (type=5 reaches back further than type=4)."""
        newest_day = newest.astimezone(EASTERN).date()
        known = self.state.get_meta("feed_day")
        if known is None or date.fromisoformat(known) < newest_day:
            self.state.set_meta("feed_day", newest_day.isoformat())
        first = (self.since or oldest or newest).astimezone(EASTERN).date()
        audit_from = self.state.get_meta("audit_from")
        if audit_from is None or (first_run and first < date.fromisoformat(audit_from)):
            self.state.set_meta("audit_from", first.isoformat())

    async def audit_once(self) -> None:
        """List every covered day's index that is not done yet (today's comes tomorrow)."""
        feed_day = self.state.get_meta("feed_day")
        audit_from = self.state.get_meta("audit_from")
        if feed_day is None or audit_from is None:
            return
        now = datetime.now(UTC)
        self.state.add_days(weekdays(date.fromisoformat(audit_from), date.fromisoformat(feed_day)), now)
        for day, status in self.state.days({DAY_DUE, DAY_LISTED}):
            if status == DAY_LISTED:
                self.backfill.settle(day)
                continue
            try:
                await self.backfill.list_day(day)
            except EdgarUnavailable as exc:
                log.warning("daily index %s unavailable: %s", day, exc)
                return

    async def _audit_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.audit_once()
            await _wait(stop, self.audit_interval)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    if seconds <= 0:
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
