"""The pure and local parts of EDGAR ingestion: the rate limiter, Retry-After, submission checks, the state file."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from streams.ingest.edgar import InvalidBody, Priority, RateLimiter, backoff, retry_after_seconds
from streams.ingest.state import DAY_DONE, DAY_DUE, IngestState, Item
from streams.ingest.submissions import check_submission
from streams.models import RawFilingEvent
from streams.process import Source, read_event
from tests.edgar_server import max_in_window
from tests.fixtures_index import fixture_bytes


async def test_limiter_spaces_requests_and_caps_every_second() -> None:
    limiter = RateLimiter(10)
    granted: list[float] = []

    async def one() -> None:
        await limiter.acquire()
        granted.append(time.monotonic())

    await asyncio.gather(*(one() for _ in range(25)))
    gaps = [b - a for a, b in itertools.pairwise(granted)]
    assert min(gaps) >= 0.1 - 0.005
    assert max_in_window(granted) <= 10
    assert granted[-1] - granted[0] >= 2.0  # 25 requests at 10/s take more than two seconds


async def test_limiter_serves_the_most_urgent_first() -> None:
    limiter = RateLimiter(5)
    limiter.pause_until(time.monotonic() + 0.3)
    order: list[str] = []

    async def one(name: str, priority: Priority) -> None:
        await limiter.acquire(priority)
        order.append(name)

    tasks = [asyncio.create_task(one(f"index{i}", Priority.INDEX)) for i in range(3)]
    await asyncio.sleep(0.05)
    tasks.append(asyncio.create_task(one("filing", Priority.NEW_FILING)))
    tasks.append(asyncio.create_task(one("feed", Priority.FEED)))
    await asyncio.gather(*tasks)
    assert order == ["filing", "feed", "index0", "index1", "index2"]


async def test_limiter_pause_holds_everyone() -> None:
    limiter = RateLimiter(10)
    await limiter.acquire()
    paused_at = time.monotonic()
    limiter.pause_until(paused_at + 0.5)
    await limiter.acquire()
    assert time.monotonic() - paused_at >= 0.49


async def test_a_cancelled_waiter_does_not_block_the_queue() -> None:
    limiter = RateLimiter(2)
    await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0.01)
    waiter.cancel()
    started = time.monotonic()
    await asyncio.wait_for(limiter.acquire(), 2)
    assert time.monotonic() - started < 1.0


def test_retry_after_in_seconds_and_as_a_date() -> None:
    now = datetime(2025, 12, 12, 18, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(" 0 ") == 0.0
    assert retry_after_seconds("Fri, 12 Dec 2025 18:00:07 GMT", now) == 7.0
    assert retry_after_seconds("Fri, 12 Dec 2025 17:59:00 GMT", now) == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_backoff_grows_and_is_capped() -> None:
    for attempt in range(10):
        delay = backoff(attempt, 0.5, 30.0)
        assert 0.25 <= delay <= min(30.0, 0.5 * 2**attempt)


def test_a_whole_submission_passes_and_a_cut_one_does_not() -> None:
    body = fixture_bytes("txt/71b9ada5bb7b.txt")
    check_submission(body, "0000899243-22-035394")
    with pytest.raises(InvalidBody, match="truncated"):
        check_submission(body[: len(body) // 2])
    with pytest.raises(InvalidBody, match="instead of"):
        check_submission(body, "0000000000-22-000001")
    with pytest.raises(InvalidBody, match="HTML"):
        check_submission(b"<!DOCTYPE html><html><body>Request Rate Threshold Exceeded</body></html>")
    with pytest.raises(InvalidBody):
        check_submission(b"   ")


def test_non_utf8_documents_travel_as_exact_bytes() -> None:
    original = fixture_bytes("txt/71b9ada5bb7b.txt")
    body = original.replace(b"Musk Elon", b"M\xfcsk Elon", 1)  # Latin-1 in the SGML header, outside the XML
    assert body != original
    event = RawFilingEvent.for_document(body, received_at=datetime.now(UTC))
    assert event.document is None and event.document_base64
    wire = event.model_dump_json(exclude_none=True).encode()
    assert RawFilingEvent.model_validate_json(wire).document_bytes() == body
    source = Source(topic="form4.raw", partition=0, offset=0, key=None)
    filing = read_event(wire, source, 5_000_000).model_dump()
    expected = read_event(original, source, 5_000_000).model_dump()
    assert filing.pop("raw_sha256") == hashlib.sha256(body).hexdigest()  # the parser saw the exact bytes
    expected.pop("raw_sha256")
    assert filing == expected
    text_event = RawFilingEvent.for_document(
        fixture_bytes("txt/71b9ada5bb7b.txt"), received_at=datetime.now(UTC)
    )
    assert text_event.document is not None and text_event.document_base64 is None


def test_an_envelope_needs_exactly_one_document() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        RawFilingEvent(received_at=datetime.now(UTC))
    with pytest.raises(ValueError, match="exactly one"):
        RawFilingEvent(received_at=datetime.now(UTC), document="x", document_base64="eA==")
    bad = b'{"received_at": "2025-01-01T00:00:00Z", "document_base64": "not base64!"}'
    dead = read_event(bad, Source(topic="form4.raw", partition=0, offset=0, key=None), 5_000_000)
    assert getattr(dead, "reason", None) == "invalid_envelope"


def _item(accession: str, day: date | None = None) -> Item:
    return Item(
        accession_number=accession,
        url=f"http://edgar/{accession}.txt",
        form_type="4",
        source="edgar_index" if day else "edgar_feed",
        accepted_at=None if day else datetime(2025, 12, 12, 18, 2, 43, tzinfo=UTC),
        index_day=day,
    )


def test_state_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    now = datetime.now(UTC)
    day = date(2020, 2, 3)
    state = IngestState(path)
    added = state.add_pending([_item("0000000001-20-000001"), _item("0000000001-20-000002", day)])
    assert len(added) == 2
    assert state.add_pending([_item("0000000001-20-000001")]) == []  # already pending
    state.mark_published(added[0], 3, 41, now)
    state.set_day(day, DAY_DUE, now)
    state.set_meta("covered:4", "2025-12-12T18:02:43-05:00")
    state.close()

    again = IngestState(path)
    assert again.is_published("0000000001-20-000001")
    assert not again.is_published("0000000001-20-000002")
    assert again.is_known("0000000001-20-000002")
    assert [i.accession_number for i in again.pending(index_day=day)] == ["0000000001-20-000002"]
    assert again.pending()[0].index_day == day
    assert again.topic_offsets() == {3: 41}
    assert again.get_time("covered:4") == datetime(2025, 12, 12, 18, 2, 43, tzinfo=UTC) - timedelta(hours=-5)
    assert again.day_status(day) == DAY_DUE
    assert again.add_pending([_item("0000000001-20-000001")]) == []  # published: never again
    again.set_day(day, DAY_DONE, now, entries=7)
    assert again.days() == [(day, DAY_DONE)]
    again.close()


def test_filings_found_on_the_topic_count_as_published(tmp_path: Path) -> None:
    state = IngestState(tmp_path / "s.sqlite3")
    state.add_pending([_item("0000000001-20-000003")])
    new = state.mark_seen_on_topic(
        [("0000000001-20-000003", 0, 9), ("0000000001-20-000004", 1, 2)], datetime.now(UTC)
    )
    assert new == 2
    assert state.pending() == []
    assert state.topic_offsets() == {0: 9, 1: 2}
    assert state.mark_seen_on_topic([("0000000001-20-000003", 0, 9)], datetime.now(UTC)) == 0
