"""Plain aiokafka producers and consumers for the command line tools (ingest, tail), outside Faust."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streams.topics import bootstrap_servers


async def publish(
    broker_url: str, topic: str, items: Iterable[tuple[bytes | None, bytes]], *, on_sent: Any = None
) -> int:
    """Send (key, value) pairs and wait until the broker has them all; returns how many were sent."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers(broker_url), linger_ms=5, max_request_size=16 * 1024 * 1024
    )
    await producer.start()
    sent = 0
    try:
        pending = []
        for key, value in items:
            pending.append(await producer.send(topic, value=value, key=key))
            sent += 1
            if on_sent:
                on_sent(1)
            if len(pending) >= 500:
                for fut in pending:
                    await fut
                pending.clear()
        for fut in pending:
            await fut
    finally:
        await producer.stop()
    return sent


def decode(value: bytes | None) -> Any:
    """JSON values as JSON, anything else as text when it decodes, else base64."""
    if value is None:
        return None
    try:
        return json.loads(value)
    except (ValueError, UnicodeDecodeError):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(value).decode()}


async def read_topic(
    broker_url: str, topic: str, *, from_beginning: bool, max_messages: int | None, idle_timeout: float
) -> AsyncIterator[dict[str, Any]]:
    """Every message of every partition (no consumer group), until max_messages or idle_timeout seconds pass
    with nothing new."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers(broker_url),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        waited = time.monotonic()
        while not partitions:  # the topic may not exist yet (a worker creates it on start)
            if time.monotonic() - waited > idle_timeout:
                return
            await consumer.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                await asyncio.sleep(0.2)
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        if from_beginning:
            await consumer.seek_to_beginning(*assigned)
        else:
            await consumer.seek_to_end(*assigned)
        count = 0
        last = time.monotonic()
        while max_messages is None or count < max_messages:
            batch = await consumer.getmany(timeout_ms=200)
            if not batch:
                if time.monotonic() - last > idle_timeout:
                    return
                continue
            last = time.monotonic()
            for tp, messages in batch.items():
                for m in messages:
                    yield {
                        "topic": tp.topic,
                        "partition": tp.partition,
                        "offset": m.offset,
                        "key": m.key.decode("utf-8", "replace") if m.key is not None else None,
                        "headers": {k: v.decode("utf-8", "replace") for k, v in (m.headers or [])},
                        "value": decode(m.value),
                    }
                    count += 1
                    if max_messages is not None and count >= max_messages:
                        return
    finally:
        await consumer.stop()
