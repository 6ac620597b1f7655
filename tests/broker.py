"""Pytest plugin: a real Tansu broker for the test session, and helpers to wait, produce and consume.

Load it with ``pytest_plugins = ["tests.broker"]`` in the root conftest. Tests never sleep and hope: they wait
for a condition with a timeout (:func:`wait_for`), and :func:`consume_all` stops on an expected record count.

Tansu keeps everything in memory and its ``ListOffsets(latest)`` answer is wrong for multi-record batches
(streaming-notes §5.4), so nothing here relies on end offsets: a consumer is done when it has the expected
number of records, or (without an expected count) when no new record arrived for a quiet period.
"""

from __future__ import annotations

import asyncio
import inspect
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, NamedTuple

import pytest

from streams.broker import EmbeddedBroker
from streams.topics import bootstrap_servers

Headers = Sequence[tuple[str, bytes]]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "broker: needs the embedded Tansu broker (started once per session)")
    config.addinivalue_line("markers", "slow: takes several seconds (consumer-group joins on Tansu)")


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    """One Tansu broker for the whole session on a free loopback port; stopped (and reaped) at the end.

    All state is shared between tests in the session: use unique topic names (see :func:`unique_name`).
    """
    embedded = EmbeddedBroker()
    embedded.start()
    try:
        yield embedded
    finally:
        embedded.stop()


def unique_name(prefix: str = "test") -> str:
    """A topic/group name no other test uses (the session broker is shared)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def wait_for(
    predicate: Callable[[], Any] | Callable[[], Awaitable[Any]],
    timeout: float = 10.0,
    interval: float = 0.05,
    message: str | Callable[[], str] | None = None,
) -> Any:
    """Poll ``predicate`` (sync or async) until it returns something truthy, and return that value.

    Raises TimeoutError after ``timeout`` seconds, with ``message`` (a string, or a callable for a message
    describing the last state) and the last value seen.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = predicate()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            name = getattr(predicate, "__qualname__", repr(predicate))
            raise TimeoutError(
                f"{text or f'condition {name} not met'} within {timeout:g} s (last value: {last!r})"
            )
        await asyncio.sleep(interval)


class Record(NamedTuple):
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    partition: int
    offset: int
    timestamp_ms: int = 0  # the producer's create time


def _to_bytes(value: bytes | str | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


async def produce(
    bootstrap: str,
    topic: str,
    values: Sequence[bytes | str | None],
    keys: Sequence[bytes | str | None] | None = None,
    *,
    headers: Sequence[Headers | None] | None = None,
    partition: int | None = None,
    partitions: Sequence[int | None] | None = None,
    **producer_options: Any,
) -> list[Any]:
    """Send ``values`` (with ``keys``/``headers`` if given) to ``topic``; returns each record's RecordMetadata.
    ``partition`` sends every record there, ``partitions`` gives each its own (None: by key).

    Records are sent in order and all awaited, so per-key order on the broker is the order of ``values``.
    """
    from aiokafka import AIOKafkaProducer

    if keys is not None and len(keys) != len(values):
        raise ValueError(f"{len(keys)} keys for {len(values)} values")
    if headers is not None and len(headers) != len(values):
        raise ValueError(f"{len(headers)} header lists for {len(values)} values")
    if partitions is not None and (len(partitions) != len(values) or partition is not None):
        raise ValueError("partitions: one per value, and not with partition")
    producer_options.setdefault("linger_ms", 5)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers(bootstrap), **producer_options)
    await producer.start()
    try:
        futures = [
            await producer.send(
                topic,
                value=_to_bytes(value),
                key=_to_bytes(keys[i]) if keys is not None else None,
                headers=list(headers[i] or ()) if headers is not None else None,
                partition=partitions[i] if partitions is not None else partition,
            )
            for i, value in enumerate(values)
        ]
        return list(await asyncio.gather(*futures))
    finally:
        await producer.stop()


async def consume_all(
    bootstrap: str,
    topic: str,
    expected_count: int | None = None,
    timeout: float = 10.0,
    *,
    quiet: float = 1.0,
    extra_wait: float = 0.0,
    group_id: str | None = None,
    distinct_keys: bool = False,
) -> list[Record]:
    """Read ``topic`` from the earliest offset, without committing anything.

    - With ``expected_count``: return as soon as that many records arrived, then keep polling ``extra_wait``
      seconds to catch unexpected extra records (duplicates); raise TimeoutError if fewer arrived within
      ``timeout``. With ``distinct_keys``, the count is of distinct keys: a redelivery that republishes a key
      does not count twice.
    - Without: return once no new record arrived for ``quiet`` seconds (or at ``timeout``, whatever came).

    The consumer uses no group (all partitions, nothing committed) unless ``group_id`` is given. Records come
    back in arrival order: per partition, that is offset order.
    """
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap_servers(bootstrap),
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        metadata_max_age_ms=500,  # notice a topic created after we subscribed
    )
    records: list[Record] = []

    def arrived() -> int:
        return len({r.key for r in records}) if distinct_keys else len(records)

    await consumer.start()
    try:
        start = last_new = time.monotonic()
        deadline = start + timeout
        done_at: float | None = None
        while True:
            now = time.monotonic()
            if done_at is not None and now >= done_at:
                break
            if now >= deadline:
                if expected_count is not None and done_at is None:
                    raise TimeoutError(
                        f"{arrived()} of {expected_count} {'keys' if distinct_keys else 'records'} from {topic!r}"
                        f" within {timeout:g} s"
                    )
                break
            if not consumer.assignment():
                last_new = now  # the quiet period starts once partitions are assigned (a group join takes s)
            elif expected_count is None and now - last_new >= quiet:
                break
            batches = await consumer.getmany(timeout_ms=100, max_records=10_000)
            for tp, messages in batches.items():
                for m in messages:
                    records.append(
                        Record(
                            m.key,
                            m.value,
                            tuple((k, v) for k, v in m.headers),
                            tp.partition,
                            m.offset,
                            m.timestamp,
                        )
                    )
            if batches:
                last_new = time.monotonic()
            if expected_count is not None and done_at is None and arrived() >= expected_count:
                done_at = time.monotonic() + extra_wait
    finally:
        await consumer.stop()
    return records


def unique_group() -> str:
    return unique_name("group")
