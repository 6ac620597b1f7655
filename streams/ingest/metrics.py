"""Prometheus metrics of the EDGAR ingesters (`form4 ingest live` / `index`), served on
FORM4_INGEST_METRICS_PORT. One ingester per process, so one registry per process: :data:`INGEST`."""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    start_http_server,
)


class IngestMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)
        self.requests = Counter(
            "form4_ingest_requests",
            "EDGAR responses by HTTP status (error: no response)",
            ["status"],
            registry=r,
        )
        self.retries = Counter("form4_ingest_retries", "EDGAR requests retried after a failure", registry=r)
        self.rate_limit_waits = Counter(
            "form4_ingest_rate_limit_waits",
            "Times EDGAR throttled the client (HTTP 429/403) and every request was held back",
            registry=r,
        )
        self.rate_limit_wait_seconds = Counter(
            "form4_ingest_rate_limit_wait_seconds",
            "Seconds every request was held back after throttling",
            registry=r,
        )
        self.filings = Counter(
            "form4_ingest_filings",
            "Filings by outcome: found (new in the feed or an index), published (on form4.raw), given_up "
            "(dead letter fetch_failed)",
            ["outcome"],
            registry=r,
        )
        self.feed_to_topic = Histogram(
            "form4_ingest_feed_to_topic_seconds",
            "From a feed poll first listing a filing to form4.raw acknowledging it: our share of the lag (the fetch, "
            "retries, the rate limiter, the broker); filings from the live feed only",
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600),
            registry=r,
        )
        # Seconds to minutes: EDGAR's public site trails acceptance by ~40 s, the feed a few seconds more, then
        # up to one poll interval; index catch-ups (hours, days) are not observed here.
        self.acceptance_to_topic = Histogram(
            "form4_ingest_acceptance_to_topic_seconds",
            "From EDGAR's acceptance time (the feed entry's <updated>) to form4.raw acknowledging the record, "
            "filings from the live feed only",
            buckets=(1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600),
            registry=r,
        )
        self.bad_feed_entries = Counter(
            "form4_ingest_bad_feed_entries",
            "Feed entries that were not well-formed, once per entry: repaired (read after escaping a bare &), "
            "malformed (unreadable: its filing comes from the daily index), incomplete (no accession or time)",
            ["reason"],
            registry=r,
        )
        self.last_poll = Gauge(
            "form4_ingest_last_successful_poll_timestamp_seconds",
            "Unix time of the last feed poll that EDGAR answered",
            registry=r,
        )


INGEST = IngestMetrics()


def serve(port: int, bind: str, metrics: IngestMetrics = INGEST) -> Any:
    """Serve /metrics on bind:port in a background thread; returns the server (``.shutdown()`` stops it)."""
    server, _thread = start_http_server(port, addr=bind, registry=metrics.registry)
    return server
