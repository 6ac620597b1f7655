"""Metrics that tell the truth: lag only of the topics the worker consumes; the ingester's endpoint counts what
EDGAR answered."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from typing import NamedTuple

import pytest

from streams.broker import free_port
from streams.ingest.edgar import EdgarClient
from streams.ingest.metrics import INGEST, IngestMetrics, serve
from streams.metrics import Partition, source_lag
from tests.edgar_server import EdgarReplay, Status, fixture_submissions

USER_AGENT = "form4-streams tests test@form4-streams.invalid"
SUBMISSIONS = fixture_submissions()[:2]


class TP(NamedTuple):
    topic: str
    partition: int


def test_lag_counts_the_source_topics_not_the_changelogs() -> None:
    raw0, raw1, hop0, changelog = (
        TP("form4.raw", 0),
        TP("form4.raw", 1),
        TP("form4-by-issuer", 0),
        TP("form4-holdings-changelog", 0),
    )
    ends = {raw0: 10, raw1: 5, hop0: 7, changelog: 200}
    read = {raw0: 9, raw1: 2, changelog: None}  # changelog recovered, never read again
    lag = source_lag([raw0, raw1, hop0, changelog], ends.get, read, {"form4.raw", "form4-by-issuer"})
    assert lag == {
        Partition("form4.raw", 0): 0,
        Partition("form4.raw", 1): 2,
        Partition("form4-by-issuer", 0): 7,
    }


def test_an_idle_caught_up_worker_reports_no_lag() -> None:
    tps = [TP("form4.raw", p) for p in range(4)] + [TP("t-changelog", p) for p in range(4)]
    ends = {tp: 24 for tp in tps}
    read = {tp: 23 for tp in tps if tp.topic == "form4.raw"}
    assert sum(source_lag(tps, ends.get, read, {"form4.raw"}).values()) == 0


@pytest.fixture
def edgar() -> Iterator[EdgarReplay]:
    with EdgarReplay(SUBMISSIONS) as server:
        yield server


def sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or (line.startswith(name + "{") and line.split(" ")[0] == name):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return str(resp.read().decode())


async def test_the_ingest_endpoint_counts_statuses_retries_and_throttling(edgar: EdgarReplay) -> None:
    port = free_port()
    server = serve(port, "127.0.0.1")
    try:
        before = scrape(port)
        edgar.inject(r"\.txt", Status(429, retry_after="0"))
        edgar.inject(r"\.txt", Status(503))
        s = SUBMISSIONS[0]
        url = f"{edgar.base_url}/Archives/edgar/data/{int(s.filers[0].cik)}/{s.accession_number}.txt"
        async with EdgarClient(
            edgar.base_url, USER_AGENT, rate=10, backoff_base=0.05, backoff_cap=0.1, max_attempts=4
        ) as client:
            assert (await client.get(url)).status == 200
        after = scrape(port)
    finally:
        server.shutdown()
    for status in ("429", "503", "200"):
        name = f'form4_ingest_requests_total{{status="{status}"}}'
        assert sample(after, name) - sample(before, name) == 1, status
    assert sample(after, "form4_ingest_retries_total") - sample(before, "form4_ingest_retries_total") == 2
    waits = "form4_ingest_rate_limit_waits_total"
    assert sample(after, waits) - sample(before, waits) == 1
    assert "process_resident_memory_bytes" in after


def test_both_registries_carry_process_metrics() -> None:
    from prometheus_client import generate_latest

    from streams.metrics import PipelineMetrics

    for registry in (PipelineMetrics().registry, IngestMetrics().registry, INGEST.registry):
        assert b"process_cpu_seconds_total" in generate_latest(registry)
