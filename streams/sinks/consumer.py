"""``form4 sink``: copy the output topics into the history store, exactly once into the database.

A plain aiokafka consumer (no Faust, no consumer group) is assigned every partition of ``filings``,
``transactions`` and ``alerts`` and starts each at the offset the database says comes next. Each batch (up to
``sink_batch_size`` messages or 200 ms) is written with its new offsets in one database transaction, so a kill
at any moment leaves the database equal to a prefix of every partition, and the restart carries on from there.

One sink per database: several sinks would each read every partition. To share the work, they would need a
consumer group, still keeping offsets in the database and seeking to them on every assignment.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import astuple, dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import CollectorRegistry, Counter, Gauge

from streams.settings import Settings
from streams.sinks.batch import Batch, Kind, Message, Skipped, build_batch
from streams.sinks.db import parse_database_url
from streams.sinks.store import Applied, HistoryStore
from streams.topics import bootstrap_servers, ensure_topics

log = logging.getLogger("streams.sink")

#: Seconds between progress lines in the log.
PROGRESS_EVERY = 10.0


class DatabaseUnavailable(RuntimeError):
    """The history database cannot be opened: the message names the URL (password masked) and the setting."""


class SinkMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.messages = Counter("form4_sink_messages", "Messages read, by topic", ["topic"], registry=r)
        self.malformed = Counter(
            "form4_sink_malformed",
            "Messages skipped as malformed, by topic and reason",
            ["topic", "reason"],
            registry=r,
        )
        self.rows = Counter("form4_sink_rows_written", "Rows upserted, by table", ["table"], registry=r)
        self.batches = Counter("form4_sink_batches", "Database transactions committed", registry=r)
        self.lag = Gauge(
            "form4_sink_lag",
            "Messages not yet in the database, per partition",
            ["topic", "partition"],
            registry=r,
        )


@dataclass
class Progress:
    messages: int = 0
    rows: int = 0
    skipped: int = 0
    since: float = 0.0


def topic_kinds(settings: Settings) -> dict[str, Kind]:
    topics = settings.topics
    return {topics.filings: "filings", topics.transactions: "transactions", topics.alerts: "alerts"}


async def run_sink(settings: Settings, stop: asyncio.Event, metrics: SinkMetrics | None = None) -> None:
    """Run until ``stop`` is set; a database or broker failure raises (the offsets in the database make a restart
    safe)."""
    metrics = metrics or SinkMetrics()
    kinds = topic_kinds(settings)
    try:
        store = await asyncio.to_thread(HistoryStore.open, settings.history_url)
    except Exception as exc:
        where = parse_database_url(settings.history_url).redacted()
        raise DatabaseUnavailable(
            f"cannot open the history database {where} (FORM4_DATABASE_URL): {exc}"
        ) from exc
    try:
        await ensure_topics(
            bootstrap_servers(settings.broker_url),
            settings.topics,
            settings.partitions,
            settings.replication_factor,
        )
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers(settings.broker_url),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",  # an offset the broker no longer has: the oldest it has
            max_partition_fetch_bytes=8 * 1024 * 1024,
            fetch_max_wait_ms=round(settings.consumer_fetch_max_wait * 1000),  # SSE latency on Tansu
        )
        await consumer.start()
        try:
            assigned = await _partitions(consumer, list(kinds))
            consumer.assign([TopicPartition(t, p) for t, p in assigned])
            stored = await asyncio.to_thread(store.offsets)
            fresh = []
            for topic, partition in assigned:
                tp = TopicPartition(topic, partition)
                if (topic, partition) in stored:
                    consumer.seek(tp, stored[(topic, partition)])
                else:
                    fresh.append(tp)
            if fresh:
                await consumer.seek_to_beginning(*fresh)
            log.info(
                "sink started: %d partitions of %s into %s, resuming at %d stored offsets",
                len(assigned),
                ", ".join(kinds),
                store.conn.url.redacted(),
                len(stored),
            )
            await _loop(consumer, store, kinds, settings.sink_batch_size, stop, metrics)
        finally:
            await consumer.stop()
    finally:
        await asyncio.to_thread(store.close)


async def _partitions(consumer: AIOKafkaConsumer, topics: list[str]) -> list[tuple[str, int]]:
    """Every (topic, partition) of ``topics``, once the metadata lists them (ensure_topics created them)."""
    deadline = time.monotonic() + 30.0
    while True:
        found = {t: consumer.partitions_for_topic(t) for t in topics}
        if all(found.values()):
            return [(t, p) for t in topics for p in sorted(found[t] or ())]
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics {', '.join(t for t, p in found.items() if not p)} have no partitions")
        await consumer.force_metadata_update()
        await asyncio.sleep(0.1)


async def _loop(
    consumer: AIOKafkaConsumer,
    store: HistoryStore,
    kinds: Mapping[str, Kind],
    batch_size: int,
    stop: asyncio.Event,
    metrics: SinkMetrics,
) -> None:
    progress = Progress(since=time.monotonic())
    while not stop.is_set():
        fetched = await consumer.getmany(timeout_ms=200, max_records=batch_size)
        if fetched:
            messages = [
                Message(tp.topic, tp.partition, m.offset, m.key, m.value)
                for tp, ms in fetched.items()
                for m in ms
            ]
            batch, applied = await asyncio.to_thread(write_messages, store, messages, kinds)
            for tp, ms in fetched.items():
                metrics.messages.labels(tp.topic).inc(len(ms))
            _account(batch, applied, metrics, progress)
        now = time.monotonic()
        if now - progress.since >= PROGRESS_EVERY:
            lag = await _lag(consumer, metrics)
            elapsed = now - progress.since
            log.info(
                "sink: %d messages (%.0f/s), %d rows (%.0f/s), %d malformed skipped, lag %s",
                progress.messages,
                progress.messages / elapsed,
                progress.rows,
                progress.rows / elapsed,
                progress.skipped,
                lag if lag is not None else "unknown",
            )
            progress = Progress(since=now)


def write_messages(
    store: HistoryStore, messages: list[Message], kinds: Mapping[str, Kind]
) -> tuple[Batch, Applied]:
    """Reduce and write one batch (in a worker thread: JSON decoding and SQL stay off the event loop).

    Should the database refuse the batch's data, the messages are written one by one, each with its offset, and
    the one it refuses is skipped as ``unstorable``: one message never stops the sink, nor makes it crash-loop.
    """
    batch = build_batch(messages, kinds)
    try:
        return batch, store.apply(batch)
    except Exception as exc:
        if not store.conn.refused(exc):
            raise
        log.warning(
            "the database refused a batch (%s): writing its %d messages one by one", exc, len(messages)
        )
    total = Batch(messages=len(messages))
    applied = Applied(0, 0, 0, 0)
    for message in messages:
        single = build_batch([message], kinds)
        try:
            done = store.apply(single)
        except Exception as exc:
            if not store.conn.refused(exc):
                raise
            where = (message.topic, message.partition)
            key = message.key.decode("utf-8", "replace") if message.key is not None else None
            single = Batch(offsets={where: message.offset + 1}, messages=1)
            single.skipped.append(
                Skipped(*where, message.offset, key, "unstorable", " ".join(str(exc).split())[:300])
            )
            done = store.apply(single)
        total.skipped += single.skipped
        total.offsets.update(single.offsets)
        applied = Applied(*(a + b for a, b in zip(astuple(applied), astuple(done), strict=True)))
    return total, applied


def _account(batch: Batch, applied: Applied, metrics: SinkMetrics, progress: Progress) -> None:
    for skipped in batch.skipped:
        log.warning(
            "skipped malformed message %s[%d]@%d key=%s: %s: %s",
            skipped.topic,
            skipped.partition,
            skipped.offset,
            skipped.key,
            skipped.reason,
            skipped.detail,
            extra={"topic": skipped.topic, "reason": skipped.reason},
        )
        metrics.malformed.labels(skipped.topic, skipped.reason).inc()
    metrics.batches.inc()
    metrics.rows.labels("filings").inc(applied.filings)
    metrics.rows.labels("transactions").inc(applied.transactions)
    metrics.rows.labels("alerts").inc(applied.alerts)
    progress.messages += batch.messages
    progress.rows += applied.filings + applied.transactions + applied.alerts
    progress.skipped += len(batch.skipped)


async def _lag(consumer: AIOKafkaConsumer, metrics: SinkMetrics) -> int | None:
    """Messages behind the broker's high watermark (known once a fetch answered for the partition; Tansu's
    ListOffsets(latest) is wrong, the Fetch high watermark is right)."""
    total = 0
    known = False
    for tp in consumer.assignment():
        high = consumer.highwater(tp)
        if high is None:
            continue
        behind = max(0, high - await consumer.position(tp))
        metrics.lag.labels(tp.topic, str(tp.partition)).set(behind)
        total += behind
        known = True
    return total if known else None
