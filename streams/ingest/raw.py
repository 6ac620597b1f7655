"""Writing EDGAR filings to form4.raw, and reading back what is already there.

Each filing is one :class:`~streams.models.RawFilingEvent` keyed by its accession number, sent alone and awaited
(acks=all) so its partition and offset can be recorded before the next one. :func:`reconcile` reads the topic
past the recorded offsets, so a filing acked just before a crash is not sent twice after the restart.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streams.ingest.state import IngestState, Item
from streams.kafka_io import start_client
from streams.models import DeadLetter, RawFilingEvent
from streams.placement import raw_partition
from streams.topics import bootstrap_servers

log = logging.getLogger(__name__)

ACCESSION = re.compile(rb"^\d{10}-\d{2}-\d{6}$")
#: Kafka's request limit for one raw filing (full submissions with exhibits can be several MB).
MAX_REQUEST_BYTES = 16 * 1024 * 1024


class RawPublisher:
    """A long-lived producer for form4.raw (and form4.dlq for filings that could not be fetched).

    Not idempotent (Tansu cannot give aiokafka one, streaming-notes §5.4); sends are awaited one at a time, and
    the pipeline dedups on the accession number anyway."""

    def __init__(
        self, broker_url: str, raw_topic: str, dlq_topic: str, client: Mapping[str, Any] | None = None
    ) -> None:
        self.broker_url = broker_url
        self.raw_topic = raw_topic
        self.dlq_topic = dlq_topic
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers(broker_url),
            acks="all",
            linger_ms=0,
            max_request_size=MAX_REQUEST_BYTES,
            **(client or {}),
        )

    async def start(self) -> None:
        await start_client(self._producer, self.broker_url)

    async def stop(self) -> None:
        await self._producer.stop()

    async def publish(self, item: Item, document: bytes) -> tuple[int, int]:
        """Send the filing to its issuer's partition (``streams.placement``), keyed by accession number; returns
        (partition, offset) once the broker has it."""
        event = RawFilingEvent.for_document(
            document,
            accession_number=item.accession_number,
            form_type=item.form_type,
            source=item.source,
            source_url=item.url,
            received_at=datetime.now(UTC),
            acceptance_datetime=item.accepted_at,
        )
        headers = [
            ("accession_number", item.accession_number.encode()),
            ("source", item.source.encode()),
        ]
        if item.form_type:
            headers.append(("form_type", item.form_type.encode()))
        partitions = await self._producer.partitions_for(self.raw_topic)
        meta = await self._producer.send_and_wait(
            self.raw_topic,
            value=event.model_dump_json(exclude_none=True).encode(),
            key=item.accession_number.encode(),
            partition=raw_partition(document, len(partitions)),
            headers=headers,
        )
        return meta.partition, meta.offset

    async def dead_letter(self, record: DeadLetter, key: str) -> None:
        headers = [("reason", record.reason.encode()), ("source", b"ingest")]
        await self._producer.send_and_wait(
            self.dlq_topic, value=record.model_dump_json().encode(), key=key.encode(), headers=headers
        )


async def topic_accessions(
    broker_url: str,
    topic: str,
    start_offsets: Mapping[int, int],
    *,
    idle: float = 1.0,
    timeout: float = 600.0,
    client: Mapping[str, Any] | None = None,
) -> list[tuple[str, int, int]]:
    """(accession, partition, offset) of every keyed record of ``topic`` after ``start_offsets`` (the next offset
    to read per partition; partitions not listed are read from the beginning)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers(broker_url),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=MAX_REQUEST_BYTES,
        fetch_max_bytes=4 * MAX_REQUEST_BYTES,
        **(client or {}),
    )
    await start_client(consumer, broker_url)
    found: list[tuple[str, int, int]] = []
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            return found
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        ends = await consumer.end_offsets(assigned)
        for tp in assigned:
            start = start_offsets.get(tp.partition)
            if start is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, start)
        began = time.monotonic()
        quiet_since = time.monotonic()
        while time.monotonic() - began < timeout:
            batch = await consumer.getmany(timeout_ms=200)
            for tp, messages in batch.items():
                for m in messages:
                    if m.key is not None and ACCESSION.match(m.key):
                        found.append((m.key.decode(), tp.partition, m.offset))
            if batch:
                quiet_since = time.monotonic()
                continue
            # Tansu's end offsets can be short for multi-record batches: also wait for a quiet spell.
            positions = {tp: await consumer.position(tp) for tp in assigned}
            if all(positions[tp] >= ends[tp] for tp in assigned) and time.monotonic() - quiet_since >= idle:
                break
            await asyncio.sleep(0)
    finally:
        await consumer.stop()
    return found


async def reconcile(
    state: IngestState, broker_url: str, topic: str, client: Mapping[str, Any] | None = None
) -> int:
    """Learn what reached ``topic`` after the last offsets the state recorded; returns how many filings that
    were new to the state."""
    recorded = state.topic_offsets()
    start = {partition: offset + 1 for partition, offset in recorded.items()}
    found = await topic_accessions(broker_url, topic, start, client=client)
    new = state.mark_seen_on_topic(found, datetime.now(UTC))
    if new:
        log.info(
            "%d filing(s) were already on %s but not in the ingest state: not sending them again", new, topic
        )
    return new
