"""The EDGAR client and the feed poller against the replay server, in process (no broker): retries, Retry-After,
the end of the feed, and paging back through the real recorded type=4 feed of 2025-12-12."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from streams.ingest.backfill import IndexBackfill
from streams.ingest.edgar import EdgarClient, EdgarUnavailable
from streams.ingest.feed import feed_url
from streams.ingest.live import OVERLAP, LiveIngester, past_end_of_feed
from streams.ingest.state import IngestState
from streams.ingest.submissions import SubmissionFetcher, check_submission
from tests.broker import wait_for
from tests.edgar_server import (
    EdgarReplay,
    Reset,
    Slow,
    Status,
    Truncate,
    fixture_submissions,
    recorded_type4_pages,
)

USER_AGENT = "form4-streams tests test@form4-streams.invalid"
SUBMISSIONS = fixture_submissions()
PAGES = recorded_type4_pages()


@pytest.fixture
def edgar() -> Iterator[EdgarReplay]:
    with EdgarReplay(SUBMISSIONS, recorded_pages=PAGES) as server:
        yield server


def client_for(edgar: EdgarReplay, **options: Any) -> EdgarClient:
    options = {"rate": 10, "backoff_base": 0.05, "backoff_cap": 0.2, "max_attempts": 4, **options}
    return EdgarClient(edgar.base_url, USER_AGENT, **options)


def txt_url(edgar: EdgarReplay, index: int = 0) -> str:
    s = SUBMISSIONS[index]
    return f"{edgar.base_url}/Archives/edgar/data/{int(s.filers[0].cik)}/{s.accession_number}.txt"


async def test_a_429_is_retried_after_its_retry_after(edgar: EdgarReplay) -> None:
    edgar.inject(r"\.txt", Status(429, retry_after="1"))
    async with client_for(edgar) as client:
        response = await client.get(txt_url(edgar))
    assert response.status == 200 and response.body == SUBMISSIONS[0].body
    first, second = edgar.requests
    assert first.status == 429 and second.status == 200
    assert second.t - first.t >= 1.0
    assert all("gzip" in (r.accept_encoding or "") for r in edgar.requests)
    assert {r.user_agent for r in edgar.requests} == {USER_AGENT}


async def test_network_errors_and_cut_bodies_are_retried_until_whole(edgar: EdgarReplay) -> None:
    s = SUBMISSIONS[1]
    edgar.inject(r"\.txt", Reset())
    edgar.inject(r"\.txt", Truncate())
    edgar.inject(r"\.txt", Status(503, retry_after="0"))
    edgar.inject(r"\.txt", Status(502))
    async with client_for(edgar, max_attempts=5) as client:
        response = await client.get(
            txt_url(edgar, 1), validate=lambda body: check_submission(body, s.accession_number)
        )
    assert response.body == s.body
    assert [r.fault for r in edgar.requests] == ["reset", "truncate", "status:503", "status:502", None]


async def test_a_slow_answer_past_the_timeout_is_abandoned_and_retried(edgar: EdgarReplay) -> None:
    edgar.inject(r"\.txt", Slow(1.5))
    async with client_for(edgar, timeout=0.5) as client:
        response = await client.get(txt_url(edgar))
    assert response.status == 200
    await wait_for(lambda: len(edgar.requests) == 2, timeout=5)  # the slow one is logged when it answers
    assert [r.fault for r in sorted(edgar.requests, key=lambda r: r.t)] == ["slow:1.5", None]


async def test_it_gives_up_after_every_attempt_failed(edgar: EdgarReplay) -> None:
    edgar.inject(r"\.txt", Status(500), times=10)
    async with client_for(edgar, max_attempts=3) as client:
        with pytest.raises(EdgarUnavailable, match="HTTP 500"):
            await client.get(txt_url(edgar))
    assert len(edgar.requests) == 3


async def test_a_404_is_an_answer_not_an_outage(edgar: EdgarReplay) -> None:
    async with client_for(edgar) as client:
        response = await client.get(f"{edgar.base_url}/Archives/edgar/data/1/0000000001-20-000001.txt")
    assert response.status == 404
    assert len(edgar.requests) == 1


async def test_a_403_holds_back_every_request(edgar: EdgarReplay) -> None:
    edgar.inject(r"\.txt", Status(403, retry_after="1"))
    async with client_for(edgar) as client:
        response = await client.get(txt_url(edgar))
    assert response.status == 200
    assert edgar.requests[1].t - edgar.requests[0].t >= 1.0


async def test_503_past_the_end_of_the_feed_is_the_end_but_503_with_retry_after_is_an_outage(
    edgar: EdgarReplay,
) -> None:
    async with client_for(edgar) as client:
        end = await client.get(feed_url(edgar.base_url, "4", 1100), final=past_end_of_feed)
        assert end.status == 503 and len(edgar.requests) == 1
        edgar.inject(r"start=100&", Status(503, retry_after="0"))
        page = await client.get(feed_url(edgar.base_url, "4", 100), final=past_end_of_feed)
    assert page.status == 200
    assert [r.status for r in edgar.requests] == [503, 503, 200]


def ownership_accessions(pages: list[bytes]) -> set[str]:
    """Independent of the parser: accession numbers of entries whose category term is exactly 3/4/5(/A)."""
    found = set()
    for page in pages:
        for entry in re.findall(rb"<entry>.*?</entry>", page, re.S):
            term = re.search(rb'term="([^"]+)"', entry)
            accession = re.search(rb"accession-number=(\d{10}-\d{2}-\d{6})", entry)
            if term and accession and term[1] in (b"3", b"4", b"5", b"3/A", b"4/A", b"5/A"):
                found.add(accession[1].decode())
    return found


def updated_times(page: bytes) -> list[datetime]:
    entries = re.findall(rb"<entry>.*?</entry>", page, re.S)
    return [datetime.fromisoformat(re.search(rb"<updated>([^<]+)</updated>", e)[1].decode()) for e in entries]  # type: ignore[index]


def poller(client: EdgarClient, state: IngestState, edgar: EdgarReplay) -> LiveIngester:
    fetcher = SubmissionFetcher(client, state, publisher=None)  # type: ignore[arg-type]  # never run here
    backfill = IndexBackfill(client, state, fetcher, edgar.base_url)
    return LiveIngester(
        client, state, fetcher, backfill, base_url=edgar.base_url, poll_interval=2.0, feed_types=("4",)
    )


async def test_the_first_poll_reads_the_whole_real_feed_and_takes_each_filing_once(
    edgar: EdgarReplay, tmp_path: Path
) -> None:
    state = IngestState(tmp_path / "s.sqlite3")
    pages = [PAGES[("4", start)] for start in range(0, 1100, 100)]
    async with client_for(edgar) as client:
        live = poller(client, state, edgar)
        queued = await live.poll_feed("4")
        feed_requests = [r for r in edgar.requests if "browse-edgar" in r.path]
        assert [r.status for r in feed_requests] == [200] * 11 + [503]  # to the end of the feed
        pending = [item.accession_number for item in state.pending()]
        assert queued == len(pending) == len(set(pending))
        assert set(pending) == ownership_accessions(pages)  # 424B2 and friends are not taken
        assert all(item.url.endswith(f"/{item.accession_number}.txt") for item in state.pending())
        assert state.get_time("covered:4") == updated_times(pages[0])[0]

        # The next poll stops at the first page: nothing on it is new.
        edgar.requests.clear()
        assert await live.poll_feed("4") == 0
        assert len([r for r in edgar.requests if "browse-edgar" in r.path]) == 1


async def test_a_restart_pages_back_only_to_what_it_had_covered(edgar: EdgarReplay, tmp_path: Path) -> None:
    pages = [PAGES[("4", start)] for start in range(0, 1100, 100)]
    covered = updated_times(pages[3])[50]  # the last poll before the restart saw up to here
    state = IngestState(tmp_path / "s.sqlite3")
    state.set_meta("covered:4", covered.isoformat())
    async with client_for(edgar) as client:
        await poller(client, state, edgar).poll_feed("4")
    horizon = covered - OVERLAP
    reached = next(i for i, page in enumerate(pages) if min(updated_times(page)) <= horizon)
    assert len([r for r in edgar.requests if "browse-edgar" in r.path]) == reached + 1
    newer = {
        a
        for page in pages[: reached + 1]
        for a, t in zip(
            re.findall(rb"accession-number=(\d{10}-\d{2}-\d{6})", page), updated_times(page), strict=True
        )
        if t >= horizon
    }
    expected = ownership_accessions(pages[: reached + 1]) & {a.decode() for a in newer}
    assert {item.accession_number for item in state.pending()} == expected
    assert covered - horizon == timedelta(minutes=2)
