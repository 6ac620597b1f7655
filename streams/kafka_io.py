"""Plain aiokafka producers and consumers for the command line tools (ingest, tail, verify), outside Faust."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any, NamedTuple, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError

# Re-exported: callers import BrokerUnreachable (and its message) from here.
from streams.kafka_errors import BrokerUnreachable as BrokerUnreachable
from streams.kafka_errors import quiet_bootstrap as quiet_bootstrap
from streams.kafka_errors import unreachable_message as unreachable_message
from streams.topics import bootstrap_servers


class _Client(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


async def start_client(client: _Client, broker_url: str) -> None:
    """Start an aiokafka client; when no broker answers, close it (no "Unclosed" warning) and raise
    :class:`BrokerUnreachable`."""
    try:
        with quiet_bootstrap():
            await client.start()
    except (KafkaConnectionError, OSError) as exc:
        await client.stop()
        raise BrokerUnreachable(broker_url) from exc
    except BaseException:
        await client.stop()
        raise


@contextlib.asynccontextmanager
async def open_producer(
    broker_url: str, client: Mapping[str, Any] | None = None
) -> AsyncIterator[AIOKafkaProducer]:
    """A started producer (BrokerUnreachable when no broker answers), stopped on the way out.
    ``client``: security keyword arguments (settings.kafka_client_kwargs)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers(broker_url),
        linger_ms=5,
        max_request_size=16 * 1024 * 1024,
        **(client or {}),
    )
    await start_client(producer, broker_url)
    try:
        yield producer
    finally:
        await producer.stop()


async def send_all(
    producer: AIOKafkaProducer,
    topic: str,
    items: Iterable[tuple[bytes | None, bytes]],
    *,
    on_sent: Any = None,
) -> int:
    """Send (key, value) pairs and wait until the broker has them all; returns how many were sent."""
    sent = 0
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
    return sent


async def publish(
    broker_url: str,
    topic: str,
    items: Iterable[tuple[bytes | None, bytes]],
    *,
    on_sent: Any = None,
    client: Mapping[str, Any] | None = None,
) -> int:
    """Send (key, value) pairs and wait until the broker has them all; returns how many were sent."""
    async with open_producer(broker_url, client) as producer:
        return await send_all(producer, topic, items, on_sent=on_sent)


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
    broker_url: str,
    topic: str,
    *,
    from_beginning: bool,
    max_messages: int | None,
    idle_timeout: float,
    client: Mapping[str, Any] | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Every message of every partition (no consumer group), until max_messages or idle_timeout seconds pass
    with nothing new."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers(broker_url),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **(client or {}),
    )
    await start_client(consumer, broker_url)
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


class TopicNotFound(LookupError):
    """The topic does not exist on the broker (yet)."""


class ReadStalled(TimeoutError):
    """Reading a topic to its end made no progress for too long."""


class TopicRecord(NamedTuple):
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


async def read_to_end(
    broker_url: str,
    topic: str,
    *,
    idle_timeout: float = 30.0,
    max_message_bytes: int = 1 << 20,
    on_progress: Callable[[int, int], None] | None = None,
    client: Mapping[str, Any] | None = None,
) -> AsyncIterator[TopicRecord]:
    """Every record of ``topic`` from the beginning to its end (in offset order within each partition).

    The end of a partition is the high watermark a Fetch reports, reached by the consumer's position; the
    partition is then paused, so a busy topic still ends. Not ``end_offsets``: the embedded Tansu broker answers
    ListOffsets with the newest batch's base offset + 1, short of the end with multi-record batches
    (streaming-notes §5.4). ``on_progress(read, total)`` follows the read; :class:`TopicNotFound` when the topic
    does not exist, :class:`ReadStalled` after ``idle_timeout`` seconds without a record or a new high watermark.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers(broker_url),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=100,
        max_partition_fetch_bytes=max(1 << 20, max_message_bytes),
        fetch_max_bytes=max(50 << 20, max_message_bytes),
        **(client or {}),
    )
    await start_client(consumer, broker_url)
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions and topic in await consumer.topics():  # a fresh look at the cluster's topics
            partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise TopicNotFound(topic)
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        begin = {tp: await consumer.position(tp) for tp in assigned}
        open_ = set(assigned)
        seen: tuple[Any, ...] = ()
        moved = time.monotonic()
        while open_:
            batch = await consumer.getmany(*open_, timeout_ms=200, max_records=2000)
            for tp, messages in batch.items():
                for m in messages:
                    yield TopicRecord(tp.partition, m.offset, m.key, m.value)
            ends = {tp: consumer.highwater(tp) for tp in assigned}
            positions = {tp: await consumer.position(tp) for tp in assigned}
            for tp in list(open_):
                end = ends[tp]
                if end is not None and positions[tp] >= end:
                    consumer.pause(tp)
                    open_.discard(tp)
            if on_progress is not None:
                read = sum(positions[tp] - begin[tp] for tp in assigned)
                total = sum(max(ends[tp] or 0, positions[tp]) - begin[tp] for tp in assigned)
                on_progress(read, total)
            state = (tuple(positions.values()), tuple(ends.values()))
            if batch or state != seen:
                seen, moved = state, time.monotonic()
            elif time.monotonic() - moved > idle_timeout:
                where = ", ".join(
                    f"partition {tp.partition} at offset {positions[tp]} of {ends[tp]}"
                    for tp in sorted(open_, key=lambda t: t.partition)
                )
                raise ReadStalled(f"reading {topic} made no progress for {idle_timeout:g} s: {where}")
    finally:
        await consumer.stop()
