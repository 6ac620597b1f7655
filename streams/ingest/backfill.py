"""Daily-index ingestion: read EDGAR's ``form.idx`` for a day, queue its Forms 3/4/5 (and amendments) that are
not on form4.raw yet, and mark the day done once every one of them is published or dead-lettered.

Used by ``form4 ingest index`` (a date range) and by the live ingester, which audits every day it covered
once EDGAR publishes that day's index: anything the feed did not show (downtime longer than the feed reaches
back, an entry that appeared late) is fetched then. A day without an index (weekend, holiday) is not an error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from streams.derive.calendar import is_business_day
from streams.ingest.edgar import EdgarClient, Priority
from streams.ingest.index import archive_url, daily_index_url, ownership_index_entries, parse_index
from streams.ingest.state import DAY_DONE, DAY_DUE, DAY_LISTED, DAY_MISSING, IngestState, Item
from streams.ingest.submissions import SubmissionFetcher

log = logging.getLogger(__name__)

EASTERN = ZoneInfo("America/New_York")
#: A day's index may still be missing this many days later without being final (EDGAR publishes it overnight).
PUBLICATION_GRACE_DAYS = 3


def today_eastern() -> date:
    return datetime.now(EASTERN).date()


def weekdays(first: date, last: date) -> list[date]:
    """Monday-to-Friday days from first to last: EDGAR publishes no index for weekends."""
    days = []
    day = first
    while day <= last:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


class IndexBackfill:
    def __init__(
        self,
        client: EdgarClient,
        state: IngestState,
        fetcher: SubmissionFetcher,
        base_url: str,
        *,
        today: Callable[[], date] = today_eastern,
        index_priority: int = Priority.FEED,
        filing_priority: int = Priority.BACKLOG,
    ) -> None:
        self.client = client
        self.state = state
        self.fetcher = fetcher
        self.base_url = base_url
        self.today = today
        self.index_priority = index_priority
        self.filing_priority = filing_priority

    async def list_day(self, day: date) -> int | None:
        """Queue the day's filings that still need publishing; returns how many, or None when EDGAR has no
        index for that day (yet)."""
        status = self.state.day_status(day)
        if status in (DAY_DONE, DAY_MISSING):
            return 0
        if status == DAY_LISTED:  # listed by an earlier run: resume its pending filings
            items = self.state.pending(index_day=day)
            self.fetcher.submit(items)
            self.settle(day)
            return len(items)
        url = daily_index_url(self.base_url, day)
        response = await self.client.get(url, priority=self.index_priority, validate=parse_index)
        now = datetime.now(UTC)
        if response.status != 200:
            if day <= self.today() - timedelta(days=PUBLICATION_GRACE_DAYS):
                self.state.set_day(day, DAY_MISSING, now, entries=0)
                # EDGAR closes on some other days too (national mourning), but say so: it could be a bad URL.
                if is_business_day(day):
                    log.warning(
                        "no daily index for %s, a business day: EDGAR may have been closed; if every day says "
                        "this, check FORM4_EDGAR_BASE_URL",
                        day,
                        extra={"url": url},
                    )
                else:
                    log.info("no daily index for %s (a holiday): nothing to do", day, extra={"url": url})
            else:
                self.state.set_day(day, DAY_DUE, now)
                log.info(
                    "the daily index for %s is not published yet; will try again", day, extra={"url": url}
                )
            return None
        listing = parse_index(response.body)
        entries = ownership_index_entries(listing.entries)
        if listing.skipped:
            log.warning("%d unreadable line(s) in %s", listing.skipped, url, extra={"url": url})
        items = [
            Item(
                accession_number=e.accession_number,
                url=archive_url(self.base_url, e.file_name),
                form_type=e.form_type,
                source="edgar_index",
                priority=self.filing_priority,
                index_day=day,
            )
            for e in entries
        ]
        added = self.state.add_pending(items)
        self.state.set_day(day, DAY_LISTED, now, entries=len(entries))
        self.fetcher.submit(added)
        log.info(
            "daily index %s: %d ownership filings, %d not on the topic yet",
            day,
            len(entries),
            len(added),
            extra={"url": url},
        )
        self.settle(day)
        return len(added)

    def settle(self, day: date) -> bool:
        """Mark a listed day done once none of its filings is pending; returns whether it is done."""
        if self.state.day_status(day) == DAY_LISTED and self.state.pending_count(index_day=day) == 0:
            self.state.set_day(day, DAY_DONE, datetime.now(UTC))
        return self.state.day_status(day) in (DAY_DONE, DAY_MISSING)
