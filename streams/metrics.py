"""Prometheus metrics of a worker, in its own registry (several apps can live in one test process)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Partition(NamedTuple):
    topic: str
    partition: int


def source_lag(
    assigned: Iterable[Any],
    highwater: Callable[[Any], int | None],
    read_offsets: Mapping[Any, int | None],
    source_topics: Collection[str],
) -> dict[Partition, int]:
    """Messages not yet read, per assigned partition of the topics the worker's agents consume.

    Changelog partitions are assigned too (for recovery and standbys) but never read again once recovered:
    counting them reports lag forever on an idle worker. ``assigned``: topic partitions (``.topic``,
    ``.partition``); ``highwater(tp)``: the end offset; ``read_offsets[tp]``: the last offset read.
    """
    lag: dict[Partition, int] = {}
    for tp in assigned:
        if tp.topic not in source_topics:
            continue
        end = highwater(tp)
        if end is None:
            continue
        last = read_offsets.get(tp)
        next_offset = last + 1 if last is not None else 0
        lag[Partition(tp.topic, tp.partition)] = max(0, end - next_offset)
    return lag


class PipelineMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)
        self.filings = Counter(
            "form4_filings_parsed", "Filings parsed, by form type", ["form_type"], registry=r
        )
        self.transactions = Counter(
            "form4_transactions_published", "Transaction records published (one per row)", registry=r
        )
        self.placement = Counter(
            "form4_raw_placement",
            "Filings parsed from form4.raw: processed in place (on their issuer's partition, as our ingesters "
            "send them) or sent on through the by-issuer topic (another producer's partitioning)",
            ["path"],
            registry=r,
        )
        self.holdings = Counter("form4_holdings_updated", "Holding lines changed", registry=r)
        self.dead_letters = Counter(
            "form4_dead_letters", "Dead letters, by reason code", ["reason"], registry=r
        )
        self.alerts = Counter("form4_alerts", "Alerts raised, by rule", ["rule"], registry=r)
        self.duplicates = Counter("form4_duplicates_skipped", "Filings seen before and skipped", registry=r)
        self.revised = Counter(
            "form4_records_revised",
            "Records republished because history that arrived later changed their classification",
            registry=r,
        )
        self.seeds = Counter(
            "form4_history_seeds",
            "History seeds (form4 ingest datasets) merged into the insiders' histories, or seen before",
            ["outcome"],
            registry=r,
        )
        self.state_rebuilds = Counter(
            "form4_state_rebuilds",
            "Local table stores rebuilt from their changelogs: reason offset_past_end (a persisted offset past "
            "the changelog's end) or unclean_stop (the last run did not stop cleanly)",
            ["table", "reason"],
            registry=r,
        )
        self.journal_replays = Counter(
            "form4_journal_replays",
            "Events whose state writes were replayed from the journal after a restart or a rebalance",
            ["table"],
            registry=r,
        )
        self.latency = Histogram(
            "form4_processing_latency_seconds",
            "From the raw event reaching form4.raw to the filing's outputs being sent",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
            registry=r,
        )
        self.broker_reachable = Gauge(
            "form4_broker_reachable",
            "1 while the broker answers the worker's probe (ApiVersions within 2 s), 0 after 2 failed probes in a "
            "row (0 until the first answer)",
            registry=r,
        )
        self.lag = Gauge(
            "form4_consumer_lag_messages",
            "Messages not yet read, per assigned partition of a topic the agents consume (end offset - next "
            "offset to read); changelogs are not counted",
            ["topic", "partition"],
            registry=r,
        )

    def update_lag(self, consumer: Any, source_topics: Collection[str]) -> None:
        """Set the lag gauge from a Faust consumer, for the partitions of ``source_topics`` only."""
        lag = source_lag(
            consumer.assignment(), consumer.highwater, getattr(consumer, "_read_offset", {}), source_topics
        )
        self.lag.clear()
        for (topic, partition), messages in lag.items():
            self.lag.labels(topic, str(partition)).set(messages)

    def render(self) -> bytes:
        return generate_latest(self.registry)
