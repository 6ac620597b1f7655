"""`form4 ingest live` and `form4 ingest index` against a local server replaying real EDGAR responses, publishing
to the embedded broker. Each test runs the real command as a subprocess, as a user would.

What must hold whatever the server does (429/503 bursts with Retry-After, slow, cut and reset responses,
duplicate entries, restarts): every filing reaches form4.raw exactly once, the server never sees more requests
in a second than the rate limit, and every request carries the User-Agent.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from streams.broker import EmbeddedBroker
from streams.models import Filing
from streams.placement import partition_for_key
from streams.process import Source, read_event
from tests.broker import Record, consume_all, unique_name, wait_for
from tests.edgar_server import (
    USER_AGENT,
    EdgarReplay,
    Garbage,
    Ingester,
    Reset,
    Slow,
    Status,
    Submission,
    Truncate,
    fixture_submissions,
)

pytestmark = [pytest.mark.broker, pytest.mark.slow]

SUBMISSIONS = fixture_submissions()


@pytest.fixture
def prefix() -> str:
    return unique_name("ingest")


@pytest.fixture
def edgar() -> Iterator[EdgarReplay]:
    with EdgarReplay(SUBMISSIONS, feed_depth=60, index_follows_reveals=True) as server:
        yield server


async def raw_records(broker: EmbeddedBroker, prefix: str, expected: int, timeout: float) -> list[Record]:
    """form4.raw once it holds ``expected`` records, plus a quiet spell to catch duplicates."""
    return await consume_all(broker.bootstrap, f"{prefix}.raw", expected, timeout, extra_wait=1.5)


def accessions_of(records: list[Record]) -> Counter[str]:
    return Counter(r.key.decode() for r in records if r.key is not None)


def assert_fair(edgar: EdgarReplay, rate: float) -> None:
    assert edgar.requests, "no request reached the server"
    agents = {r.user_agent for r in edgar.requests}
    assert agents == {USER_AGENT}, agents
    assert edgar.max_in_window(1.0) <= rate, f"{edgar.max_in_window(1.0)} requests in one second"


async def reveal_over_time(edgar: EdgarReplay, count: int, gap: float) -> list[Submission]:
    revealed: list[Submission] = []
    for _ in range(count):
        revealed += edgar.reveal(1)
        await asyncio.sleep(gap)
    return revealed


def assert_placed(records: list[Record]) -> None:
    """Each filing on its issuer's partition of form4.raw (4 partitions), where the worker processes it in
    place; the key stays the accession number."""
    placed = []
    for r in records:
        outcome = read_event(r.value or b"", Source(), 5 * 1024 * 1024)
        if isinstance(outcome, Filing):
            assert r.partition == partition_for_key(outcome.issuer.cik.encode(), 4), r.key
            placed.append(r.partition)
    assert len(placed) > len(records) / 2 and len(set(placed)) > 1, placed


def envelope(record: Record) -> dict[str, object]:
    assert record.value is not None
    value: dict[str, object] = json.loads(record.value)
    return value


async def test_live_feed_reaches_the_topic_within_the_poll_interval(
    broker: EmbeddedBroker, prefix: str, edgar: EdgarReplay, tmp_path: Path
) -> None:
    """Default settings (5 requests/s, 2 s polls): each filing is on form4.raw within poll interval + 1 s."""
    edgar.reveal(4)  # already in the feed when the ingester starts
    ingester = Ingester(broker, prefix, edgar, tmp_path).start("live")
    try:
        await wait_for(lambda: len(edgar.requests) > 3, timeout=30, message=ingester.log_tail)
        revealed = [s for s in SUBMISSIONS[:4]] + await reveal_over_time(edgar, 12, 1.3)
        records = await raw_records(broker, prefix, len(revealed), timeout=60)
    finally:
        assert ingester.stop() == 0, ingester.log_tail()
    counts = accessions_of(records)
    assert counts == Counter(s.accession_number for s in revealed)
    by_key = {r.key.decode(): r for r in records if r.key}
    latencies = sorted(
        by_key[s.accession_number].timestamp_ms / 1000 - edgar.revealed_at[s.accession_number]
        for s in revealed[4:]
    )
    assert latencies[-1] <= 2.0 + 1.0, latencies
    for s in revealed:
        event = envelope(by_key[s.accession_number])
        assert event["source"] == "edgar_feed"
        assert event["form_type"] == s.form_type
        assert event["accession_number"] == s.accession_number
        assert str(event["source_url"]).endswith(f"{s.accession_number}.txt")
        assert event["acceptance_datetime"]
        body = event.get("document")
        assert isinstance(body, str) and body.encode() == s.body
    assert_placed(records)
    assert_fair(edgar, 5)
    print(f"feed-to-topic latency (s): p50={latencies[len(latencies) // 2]:.2f} max={latencies[-1]:.2f}")


async def test_live_rides_out_faults_without_losing_or_doubling(
    broker: EmbeddedBroker, prefix: str, edgar: EdgarReplay, tmp_path: Path
) -> None:
    feed = r"/cgi-bin/browse-edgar"
    archive = r"/Archives/edgar/data/"
    edgar.inject(feed, Status(429, retry_after="1"), times=3)
    edgar.inject(feed, Reset())
    edgar.inject(archive, Status(503, retry_after="1"), times=2)
    edgar.inject(archive, Truncate())
    edgar.inject(archive, Slow(1.5))
    edgar.inject(archive, Status(500))
    edgar.inject(archive, Reset())
    edgar.reveal(10)
    for s in SUBMISSIONS[:3]:
        edgar.duplicate(s.accession_number, copies=2)
    ingester = Ingester(
        broker, prefix, edgar, tmp_path, FORM4_EDGAR_RATE_LIMIT="10", FORM4_POLL_INTERVAL="0.5"
    ).start("live")
    try:
        await asyncio.sleep(2)
        edgar.inject(feed, Status(503, retry_after="1"), times=2)
        revealed = SUBMISSIONS[:10] + await reveal_over_time(edgar, 15, 0.2)
        records = await raw_records(broker, prefix, len(revealed), timeout=60)
        metrics = ingester.metrics()
    finally:
        assert ingester.stop() == 0, ingester.log_tail()
    # The metrics endpoint saw what happened: every filing published, EDGAR's statuses and the throttling.
    assert f'form4_ingest_filings_total{{outcome="published"}} {float(len(revealed))}' in metrics
    assert 'form4_ingest_requests_total{status="429"} 3.0' in metrics
    assert 'form4_ingest_requests_total{status="500"}' in metrics
    assert "form4_ingest_rate_limit_waits_total 3.0" in metrics
    assert "form4_ingest_feed_to_topic_seconds_count" in metrics
    assert "form4_ingest_last_successful_poll_timestamp_seconds 0.0" not in metrics
    assert accessions_of(records) == Counter(s.accession_number for s in revealed)
    assert {r.fault.split(":")[0] for r in edgar.requests if r.fault} >= {
        "status",
        "reset",
        "truncate",
        "slow",
    }
    for record in records:
        s = next(x for x in revealed if x.accession_number == record.key.decode())  # type: ignore[union-attr]
        assert envelope(record)["document"] == s.body.decode()  # never a truncated body
    assert_fair(edgar, 10)


async def test_restart_neither_refloods_nor_loses_and_fills_a_long_gap_from_the_index(
    broker: EmbeddedBroker, prefix: str, edgar: EdgarReplay, tmp_path: Path
) -> None:
    """Stopped mid-stream and killed outright; while it is down more filings arrive than the feed holds."""
    env = {"FORM4_EDGAR_RATE_LIMIT": "10", "FORM4_POLL_INTERVAL": "0.5", "FORM4_INDEX_AUDIT_INTERVAL": "1"}
    ingester = Ingester(broker, prefix, edgar, tmp_path, **env)
    first_day = SUBMISSIONS[0].accepted_at.date()

    def fetched() -> int:
        return sum(1 for r in edgar.requests if r.path.endswith(".txt"))

    edgar.reveal(8)
    ingester.start("live")
    await wait_for(lambda: fetched() >= 4, timeout=30, message=ingester.log_tail)
    await reveal_over_time(edgar, 6, 0.1)
    assert ingester.stop(signal.SIGTERM) == 0, ingester.log_tail()  # mid-stream: some may not be fetched yet

    before = fetched()
    ingester.start("live")
    await reveal_over_time(edgar, 6, 0.1)
    await wait_for(lambda: fetched() >= before + 3, timeout=30, message=ingester.log_tail)
    ingester.stop(signal.SIGKILL)

    # Down for long: more filings arrive than the feed lists (feed_depth entries, two per filing).
    edgar.reveal(45)
    revealed = [s for s in SUBMISSIONS if s.accession_number in edgar.revealed_at]
    in_feed = set().union(*(edgar.feed_accessions(t) for t in ("4", "3", "5")))
    dropped = [s for s in revealed if s.accession_number not in in_feed]
    assert dropped, "the test must make filings drop off the feed"
    ingester.start("live")
    try:
        records = await raw_records(broker, prefix, len(revealed), timeout=90)
    finally:
        assert ingester.stop() == 0, ingester.log_tail()
    assert accessions_of(records) == Counter(s.accession_number for s in revealed)
    sources = {r.key.decode(): envelope(r)["source"] for r in records if r.key}
    last_day = max(s.accepted_at for s in revealed).date()
    from_index = [s for s in dropped if sources[s.accession_number] == "edgar_index"]
    assert from_index, sources
    assert all(s.accepted_at.date() < last_day for s in from_index)
    assert first_day <= min(s.accepted_at.date() for s in from_index)
    assert_fair(edgar, 10)


async def test_a_malformed_feed_entry_loses_nothing(
    broker: EmbeddedBroker, prefix: str, tmp_path: Path
) -> None:
    """One filing's entries carry an unescaped '&' (escaped, read from the feed); two others' no parser can read
    (the rest of each page is read; each filing comes from its day's daily index: one already published, one
    once EDGAR publishes it). Under 429/503, an HTML page and a cut download in place of the feed, which are
    still refused and retried."""
    feed, archive = r"/cgi-bin/browse-edgar", r"/Archives/edgar/data/"
    timeline = SUBMISSIONS[:13]
    published_day, later_day, repaired = timeline[2], timeline[9], timeline[6]
    # The type=3 feed (polled before type=5) reaches back only to 2020-02-05: the audit must still cover 02-04.
    assert published_day.index_day < min(s.accepted_at.date() for s in timeline[:10] if s.form_type == "3")
    assert later_day.index_day == max(s.index_day for s in timeline[:10]) < timeline[-1].index_day
    with EdgarReplay(SUBMISSIONS, index_follows_reveals=True) as edgar:
        for bad in (published_day, later_day):
            edgar.malform(bad.accession_number, "tag")
        edgar.malform(repaired.accession_number, "ampersand")
        edgar.inject(feed, Status(429, retry_after="1"), times=2)
        edgar.inject(feed, Garbage())
        edgar.inject(feed, Truncate())
        edgar.inject(feed, Status(503, retry_after="1"))
        edgar.inject(archive, Status(503, retry_after="1"), times=2)
        edgar.reveal(10)  # the index of later_day's day is not published yet
        env = {
            "FORM4_EDGAR_RATE_LIMIT": "10",
            "FORM4_POLL_INTERVAL": "0.5",
            "FORM4_INDEX_AUDIT_INTERVAL": "1",
        }
        ingester = Ingester(broker, prefix, edgar, tmp_path, **env).start("live")
        try:
            early = await raw_records(broker, prefix, 9, timeout=60)
            assert published_day.accession_number in accessions_of(early)
            assert later_day.accession_number not in accessions_of(early)
            edgar.reveal(len(timeline) - 10)  # the day goes by: EDGAR publishes its index
            records = await raw_records(broker, prefix, len(timeline), timeout=90)
            metrics = ingester.metrics()
        finally:
            assert ingester.stop() == 0, ingester.log_tail()
        faults = {r.fault for r in edgar.requests if r.fault and "browse-edgar" in r.path}
    assert accessions_of(records) == Counter(s.accession_number for s in timeline)
    sources = {r.key.decode(): envelope(r)["source"] for r in records if r.key}
    assert [sources.pop(s.accession_number) for s in (published_day, later_day)] == ["edgar_index"] * 2
    assert set(sources.values()) == {"edgar_feed"}
    assert faults >= {"garbage", "truncate", "status:429", "status:503"}
    # Each bad entry counted and logged once, however many polls listed it (its twin entry included).
    assert 'form4_ingest_bad_feed_entries_total{reason="malformed"} 2.0' in metrics
    assert 'form4_ingest_bad_feed_entries_total{reason="repaired"} 1.0' in metrics
    log = ingester.log_tail(100_000).splitlines()
    for bad, reason in ((published_day, "malformed"), (later_day, "malformed"), (repaired, "repaired")):
        lines = [x for x in log if f"feed_entry_{reason}" in x and bad.accession_number in x]
        assert len(lines) == 1, lines
    # Acceptance to form4.raw, observed for the feed's filings only (index catch-ups are hours or days late).
    assert f"form4_ingest_acceptance_to_topic_seconds_count {float(len(timeline) - 2)}" in metrics
    assert 'form4_ingest_acceptance_to_topic_seconds_bucket{le="60.0"}' in metrics


def test_live_refuses_to_start_without_a_user_agent(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORM4_")}
    env["FORM4_EDGAR_BASE_URL"] = "http://127.0.0.1:9"
    env["FORM4_INGEST_STATE"] = str(tmp_path / "s.sqlite3")
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "ingest", "live"], env=env, capture_output=True, timeout=60
    )
    assert done.returncode == 2
    assert b"FORM4_EDGAR_USER_AGENT" in done.stderr and b"e-mail" in done.stderr
    env["FORM4_EDGAR_USER_AGENT"] = "no contact here"
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "ingest", "index", "--from", "2020-02-03"],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert b"FORM4_EDGAR_USER_AGENT" in done.stderr


def _in_range(first: date, last: date) -> list[Submission]:
    """Submissions whose daily index falls in [first, last] (after 17:30 they move to the next weekday)."""
    return [s for s in SUBMISSIONS if first <= s.index_day <= last]


@pytest.fixture
def archive() -> Iterator[EdgarReplay]:
    """EDGAR after the fact: every daily index is published."""
    with EdgarReplay(SUBMISSIONS) as server:
        yield server


async def test_index_backfill_publishes_a_range_once_and_resumes(
    broker: EmbeddedBroker, prefix: str, archive: EdgarReplay, tmp_path: Path
) -> None:
    edgar = archive
    first, last = date(2020, 2, 3), date(2020, 2, 14)
    expected = _in_range(first, last)
    assert len(expected) > 30
    holiday = date(2020, 2, 10)  # pretend EDGAR was closed: no index that day
    edgar.unpublish_index(holiday)
    expected = [s for s in expected if s.index_day != holiday]
    env = {"FORM4_EDGAR_RATE_LIMIT": "10"}
    ingester = Ingester(broker, prefix, edgar, tmp_path, **env)
    args = ("index", "--from", first.isoformat(), "--to", last.isoformat())

    # Interrupted part-way: the first run is killed once some filings are out.
    ingester.start(*args)
    await wait_for(
        lambda: sum(1 for r in edgar.requests if r.path.endswith(".txt")) >= 10,
        timeout=60,
        message=ingester.log_tail,
    )
    ingester.stop(signal.SIGKILL)
    fetched_before = sum(1 for r in edgar.requests if r.path.endswith(".txt"))

    started = time.monotonic()
    ingester.start(*args)
    assert ingester.wait(timeout=120) == 0, ingester.log_tail()
    records = await raw_records(broker, prefix, len(expected), timeout=30)
    assert accessions_of(records) == Counter(s.accession_number for s in expected)
    assert all(envelope(r)["source"] == "edgar_index" for r in records)
    fetched = sum(1 for r in edgar.requests if r.path.endswith(".txt"))
    assert fetched - fetched_before <= len(expected) - 9  # the resumed run skipped what was already out
    index_paths = [r.path for r in edgar.requests if r.path.endswith(".idx")]
    assert not any(date(2020, 2, 8).strftime("%Y%m%d") in p for p in index_paths)  # no request for a Saturday
    log = ingester.log_tail(400)
    assert "filings" in log and "without an index" in log
    assert_fair(edgar, 10)
    print(f"backfill resumed and finished in {time.monotonic() - started:.1f} s")

    # Running it again publishes nothing new.
    ingester.start(*args)
    assert ingester.wait(timeout=60) == 0, ingester.log_tail()
    again = await raw_records(broker, prefix, len(expected), timeout=30)
    assert len(again) == len(expected)
