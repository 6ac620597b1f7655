"""Changelog ends on the broker we ship: Tansu's ListOffsets answer is short with multi-record batches
(streaming-notes §5.4); the worker reads ends from a Fetch's high watermark, and a store whose persisted offset
lies past a changelog's end (the broker lost its topics) is rebuilt instead of crash-looping the worker."""

from __future__ import annotations

import asyncio
import signal
import urllib.request
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from streams.app.offsets import fetched_high_watermarks
from streams.broker import EmbeddedBroker
from tests.broker import consume_all, unique_name, wait_for
from tests.test_pipeline import documents, expected_lines, expected_outputs, publish, table_equals

pytestmark = [pytest.mark.broker]


async def test_the_high_watermark_is_the_end_where_list_offsets_is_short(broker: EmbeddedBroker) -> None:
    """Batches of 10, 1 and 5 records: ListOffsets says 12 (the defect the worker works around; should Tansu
    fix it, this assertion says the workaround can go), the fetched high watermark says 16."""
    topic = unique_name("ends")
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=50)
    await producer.start()
    try:
        for size in (10, 1, 5):
            futures = [await producer.send(topic, b"x", partition=0) for _ in range(size)]
            await asyncio.gather(*futures)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        listed = await consumer.end_offsets([tp])
        assert listed[tp] == 12  # the newest batch's base offset + 1
        assert await fetched_high_watermarks(consumer._client, listed) == {tp: 16}
    finally:
        await consumer.stop()


def _metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


@pytest.mark.slow
async def test_a_store_ahead_of_a_broker_that_lost_its_topics_is_rebuilt_not_crash_looped(
    broker: EmbeddedBroker, workers: Any
) -> None:
    """A RocksDB worker stops cleanly, its broker is replaced by an empty one (the embedded broker keeps
    everything in memory), and the worker starts again on the same files: every persisted offset now lies past
    its changelog's end. The worker rebuilds those partitions (counted in form4_state_rebuilds_total), becomes
    ready, and the same filings sent again come out exactly as computed: nothing of the lost broker's state is
    served as if it were current."""
    prefix = unique_name("lost")
    worker = workers(prefix, store="rocksdb://")
    await worker.ready()
    docs = documents()
    want = expected_outputs(docs)
    await publish(broker, prefix, docs)
    await consume_all(broker.bootstrap, f"{prefix}.filings", len(want["filings"]), timeout=120)
    await table_equals(worker, expected_lines(want))
    worker.stop(signal.SIGTERM)

    fresh = EmbeddedBroker()
    fresh.start()
    try:
        worker.env["FORM4_BROKER_URL"] = fresh.url
        worker.start()
        await worker.ready()
        rebuilt = await wait_for(
            lambda: _metric(worker.web_port, 'form4_state_rebuilds_total{reason="offset_past_end"'),
            timeout=10,
            message=worker.log_tail,
        )
        assert rebuilt >= 1
        log = worker.log_path.read_text(errors="replace")
        assert log.count("rebuilding the partition from its changelog") == rebuilt  # once each
        assert "ConsistencyError" not in log
        await publish(fresh, prefix, docs)
        await consume_all(fresh.bootstrap, f"{prefix}.filings", len(want["filings"]), timeout=120)
        await table_equals(worker, expected_lines(want))
    finally:
        worker.stop(signal.SIGKILL)
        fresh.stop()
