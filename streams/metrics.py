"""Prometheus metrics of a worker, in its own registry (several apps can live in one test process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class PipelineMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.filings = Counter(
            "form4_filings_parsed", "Filings parsed, by form type", ["form_type"], registry=r
        )
        self.transactions = Counter(
            "form4_transactions_published", "Transaction records published (one per row)", registry=r
        )
        self.holdings = Counter("form4_holdings_updated", "Holding lines changed", registry=r)
        self.dead_letters = Counter(
            "form4_dead_letters", "Dead letters, by reason code", ["reason"], registry=r
        )
        self.alerts = Counter("form4_alerts", "Alerts raised, by rule", ["rule"], registry=r)
        self.duplicates = Counter("form4_duplicates_skipped", "Filings seen before and skipped", registry=r)
        self.latency = Histogram(
            "form4_processing_latency_seconds",
            "From the raw event reaching form4.raw to the filing's outputs being sent",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
            registry=r,
        )
        self.lag = Gauge(
            "form4_consumer_lag",
            "Messages not yet read, per assigned partition (end offset - next offset to read)",
            ["topic", "partition"],
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
