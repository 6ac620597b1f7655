"""Faust's transport and table recovery, corrected where they trust the broker more than they should.

- The consumer's fetch wait comes from the settings. Faust fixes it at 1.5 s; Apache Kafka answers a fetch as
  soon as a record arrives, so there the wait only paces empty polls, but Tansu holds every fetch for the whole
  wait, which put up to 1.5 s on each hop of the pipeline (raw, by-issuer, by-owner).
- A changelog's end is the high watermark a Fetch reports (``offsets.py``), not Tansu's short ListOffsets
  answer: recovery and standbys read every changelog to its true end.
- A persisted offset past a changelog's end (the broker lost the topic, or an old store) no longer stops the
  worker with ``ConsistencyError`` on every start: that partition's local store is rebuilt from its changelog,
  logged once and counted in ``form4_state_rebuilds_total``.
"""

from __future__ import annotations

import gc
import logging
import shutil
from collections.abc import Mapping
from contextlib import suppress
from typing import Any, cast

import faust
from faust.tables import TableManager
from faust.tables.recovery import Recovery
from faust.transport.drivers import aiokafka as driver
from faust.types import TP

from streams import faults
from streams.app.liveness import CONSUMER_STOP_SECONDS, stop_within
from streams.app.offsets import fetched_high_watermarks

log = logging.getLogger("streams.app")


class _ConsumerThread(driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # Read by AIOKafkaConsumer.start() when it builds its Fetcher; no public way in through Faust.
        consumer._fetch_max_wait_ms = self.app.fetch_max_wait_ms  # type: ignore[attr-defined]
        return consumer

    async def _highwaters(self, partitions: list[TP]) -> Mapping[TP, int]:
        listed = await super()._highwaters(partitions)
        if self.consumer.in_transaction:
            return listed
        ends = await fetched_high_watermarks(self._ensure_consumer()._client, listed)
        return cast(Mapping[TP, int], ends)

    async def on_thread_stop(self) -> None:
        """Close the consumer in bounded time. With the broker gone, aiokafka's Fetcher.close() re-raised the
        CancelledError of a fetch it cancelled in its retry back-off: the thread died before telling the worker it
        had stopped, and the worker waited Faust's shutdown_timeout (60 s) before going on."""
        await stop_within(super().on_thread_stop(), CONSUMER_STOP_SECONDS, "the Kafka consumer")

    def on_crash(self, msg: str, *fmt: Any, **kwargs: Any) -> None:
        """One log record with the exception (mode prints it to stderr, which the worker logs line by line)."""
        log.error(msg.format(*fmt), exc_info=True)


class _Consumer(driver.Consumer):
    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(driver.Transport):
    Consumer = _Consumer


def reset_partition(store: Any, partition: int) -> bool:
    """Drop one partition's local RocksDB files so the next read opens an empty store; False where the store
    keeps nothing on disk (memory://: it is rebuilt from the changelog on every start anyway)."""
    if not hasattr(store, "partition_path"):
        return False
    db = store._dbs.pop(partition, None)
    if db is not None:
        with suppress(Exception):
            db.close()
        del db
        gc.collect()
    store._key_index = {k: p for k, p in store._key_index.items() if p != partition}
    shutil.rmtree(store.partition_path(partition), ignore_errors=True)
    return True


class _Recovery(Recovery):
    async def _build_highwaters(self, consumer: Any, tps: set[TP], destination: Any, title: str) -> None:
        """After the true ends are known: a partition whose persisted offset lies past its end is rebuilt."""
        await super()._build_highwaters(consumer, tps, destination, title)
        offsets = self.active_offsets if title == "active" else self.standby_offsets
        past = sorted(
            (tp for tp in tps if offsets.get(tp) is not None and offsets[tp] > destination.get(tp, -1)),
            key=lambda tp: (tp.topic, tp.partition),
        )
        if not past:
            return
        earliest = await consumer.earliest_offsets(*past)
        for tp in past:
            table = self.tp_to_table[tp]
            log.warning(
                "%s partition %d: the local store has offset %d but the changelog ends at %d; rebuilding the "
                "partition from its changelog",
                tp.topic,
                tp.partition,
                offsets[tp],
                destination.get(tp, -1),
                extra={"topic": tp.topic, "partition": tp.partition, "reason": "offset_past_end"},
            )
            reset_partition(cast(Any, table).data, tp.partition)
            start = earliest.get(tp)
            offsets[tp] = start - 1 if start else -1
            metrics = getattr(self.app, "form4", {}).get("metrics")
            if metrics is not None:
                metrics.state_rebuilds.labels(table.name, "offset_past_end").inc()

    async def _resume_streams(self, generation_id: int = 0) -> None:
        self._hold_fetched_records()
        await super()._resume_streams(generation_id)

    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        self._hold_fetched_records()
        await super().on_recovery_completed(generation_id)

    def _hold_fetched_records(self) -> None:
        """Stop delivering fetched records before Faust seeks the streams back to their committed offsets.

        Faust resumes the consumer's flow while it reads changelogs, so records of the source topics are fetched
        and queued meanwhile; it then seeks to the committed offsets and only afterwards clears the queues. What
        was fetched between the seek and the clear was dropped, and the consumer's position was already past
        it: those events were never processed (seen after a restart with changelogs to read: filings missing
        until the next restart). With the flow stopped first, nothing is delivered between the seek and the
        clear; Faust resumes the flow itself once the seek is done."""
        self.app.consumer.stop_flow()
        self.app.flow_control.clear()


class _Table(faust.Table):
    def apply_changelog_batch(self, batch: Any) -> None:
        faults.reach("recovery")
        super().apply_changelog_batch(batch)


class _TableManager(TableManager):
    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = _Recovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery


class App(faust.App):
    """faust.App whose workers' consumers wait at most ``fetch_max_wait_ms`` for a fetch to fill, and whose
    tables recover to their changelogs' true ends."""

    def __init__(self, *args: Any, fetch_max_wait_ms: int = 1500, **kwargs: Any) -> None:
        self.fetch_max_wait_ms = fetch_max_wait_ms
        kwargs.setdefault("TableManager", _TableManager)
        kwargs.setdefault("Table", _Table)
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)
