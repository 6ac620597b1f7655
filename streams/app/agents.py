"""The agents: thin loops that move data between topics and tables; the work is in ``streams.process``.

    form4.raw ──parse──┬─(on its issuer's partition: in place)──────┐
        │              └─▶ (by issuer) ──process──┬─────────────────┴─▶ form4.filings, form4.transactions,
        │                                         │                     form4.alerts
        │                                         └──▶ (by owner) ──holdings──▶ owner-state, form4.holdings
        └──────────────▶ form4.dlq

A filing on the raw partition of its issuer (where our ingesters send it: ``streams.placement``) is processed by
the parse agent itself, against the issuer table; any other is sent on the by-issuer hop, deflated. The two
agents' batches that use the issuer table run one at a time. The by-owner hop carries a batch's holding
candidates as one deflated message per owner partition (each item names its owner).

Every event ends as its outputs or as exactly one dead letter. Events are taken in small batches: each event's
state writes are staged — later events of the batch read through them — then every output of the batch is
sent and acknowledged by the broker, and only then are the writes applied to the table: per partition, one
journal for the batch and each key once with its last value, in the context of the partition's last event (the
changelog partition), their changelog records sent by us (``TableState``). A kill -9 at any moment leaves
either no writes (the events come back and are processed afresh) or outputs without their state (the events
come back and republish the same keys): never a "done" marker without its outputs (streaming-notes §9).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
import weakref
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import faust
from faust.streams import Stream, _current_event

from streams import faults
from streams.alerts import RulesConfig
from streams.app.outputs import Message, OutputError, Publisher
from streams.app.tables import Tables, TableState
from streams.headers import output_headers
from streams.holdings import forget_previous, retract_line, update_line
from streams.metrics import PipelineMetrics
from streams.models import (
    Alert,
    DeadLetter,
    Filing,
    HistorySeed,
    HoldingRetraction,
    HoldingState,
    TransactionRecord,
)
from streams.placement import partition_for_key
from streams.process import (
    Outputs,
    SeedOutcome,
    Source,
    dead_letter,
    identity,
    is_duplicate,
    is_seed_value,
    process_filing,
    process_seed,
    read_event,
)
from streams.records import holding_key_string
from streams.settings import Settings
from streams.state import Staged, journal

log = logging.getLogger("streams.app")

#: Uncompressed bytes of holding candidates per by-owner message (deflated, a fifth of it): a batch's items for
#: one partition go in one message, a filing with thousands of rows in several, never one huge message.
HOP_MESSAGE_BYTES = 256 * 1024
#: Events per batch, and how long a batch waits to fill: one broker round trip serves the whole batch.
BATCH_EVENTS = 50
BATCH_WAIT_SECONDS = 0.02
#: A batch holding a value larger than this (bytes as received) is prepared in a worker thread, not on the loop.
INLINE_MAX_BYTES = 64 * 1024
#: How long events are prepared on the loop before it is given back to the other tasks (heartbeats, fetches,
#: the web server); a yield per event cost more than the work between.
INLINE_SLICE_SECONDS = 0.01


FILING_HEADERS = output_headers(Filing)
RECORD_HEADERS = output_headers(TransactionRecord)
ALERT_HEADERS = output_headers(Alert)
HOLDING_HEADERS = output_headers(HoldingState)
SEED_HEADERS = output_headers(HistorySeed)
#: The header of a by-issuer message whose value is deflated: a parsed filing is ~10 KB of JSON and ~2 KB
#: deflated, and this hop carried as many bytes as form4.filings itself.
DEFLATED = ("form4.encoding", b"deflate")
#: A by-owner message inflated may be at most this large (``HOP_MESSAGE_BYTES`` and one item).
HOP_INFLATED_MAX = 1024 * 1024


@dataclass(frozen=True)
class Channels:
    raw: Any
    by_issuer: Any
    by_owner: Any
    filings: str
    transactions: str
    holdings: str
    alerts: str


@dataclass
class Step:
    """One event's work: its messages and the state to apply once they are acknowledged — or its refusal."""

    event: Any
    messages: list[Message] = field(default_factory=list)
    staged: Staged | None = None
    refusal: DeadLetter | None = None
    done: Callable[[], None] | None = None
    hop: list[tuple[str, bytes]] = field(default_factory=list)
    """Items for the by-owner hop, (owner CIK, JSON): sent with the batch's, one message per partition."""


def _header(event: Any, name: str) -> str | None:
    headers = event.headers
    items = headers.items() if isinstance(headers, Mapping) else (headers or [])
    for k, v in items:
        if k == name:
            return v.decode() if isinstance(v, bytes) else str(v)
    return None


def _inflated(event: Any, limit: int) -> bytes:
    """A by-issuer value as the parse stage made it: deflated (``DEFLATED``) or, from an older worker, plain."""
    if _header(event, DEFLATED[0]) != DEFLATED[1].decode():
        return cast(bytes, event.value)
    inflater = zlib.decompressobj()
    value = inflater.decompress(event.value, limit + 1)
    if len(value) > limit or not inflater.eof:
        raise ValueError(f"a deflated filing of over {limit} bytes, or cut short")
    return value


def _source(event: Any) -> Source:
    m = event.message
    return Source(m.topic, m.partition, m.offset, event.key)


def _refusal(event: Any, reason: str, message: str, error_class: str | None) -> DeadLetter:
    return dead_letter(event.value or b"", reason, message, _source(event), error_class=error_class)


class Pipeline:
    """What the agents do with a batch of events; owns nothing but references to the app's parts."""

    def __init__(
        self,
        settings: Settings,
        rules: RulesConfig,
        channels: Channels,
        tables: Tables,
        publisher: Publisher,
        metrics: PipelineMetrics,
    ) -> None:
        self.settings = settings
        self.rules = rules
        self.channels = channels
        self.issuer_state = TableState(tables.issuer_state)
        self.owner_state = TableState(tables.owner_state)
        self.publisher = publisher
        self.metrics = metrics
        self.small = settings.message_max_bytes
        self.large = settings.filing_message_max_bytes
        self._journal_generation: int | None = None
        self._journals_replayed: set[tuple[str, int]] = set()
        self._issuer_lock = asyncio.Lock()
        self._in_place: frozenset[int] = frozenset()  # raw partitions whose filings are processed in place

    async def run(
        self, events: Sequence[Any], prepare: Callable[[Any, Staged], Step], table: TableState | None
    ) -> None:
        """Prepare every event, send and await all outputs, dead-letter refusals, apply state. Batches that use
        the issuer table run one at a time: the raw stage's (filings processed in place) and the by-issuer
        stage's read and write the same keys."""
        if table is self.issuer_state:
            async with self._issuer_lock:
                await self._run(events, prepare, table)
        else:
            await self._run(events, prepare, table)

    def in_place_table(self) -> TableState | None:
        """The issuer table when this worker holds partitions of both form4.raw and the by-issuer topic: a raw
        event on partition N whose issuer's by-issuer partition is N too, held here, is processed in place
        (``_in_place_for``), writing the table partition this worker is active for. Faust's assignor gives
        partition N of topics with one partition count to one worker, so with as many raw partitions as
        by-issuer ones (and filings placed by issuer) every filing is processed in place; with other counts
        only those whose partitions happen to agree. Read per batch, so a rebalance is seen before the next."""
        assigned = self.publisher.app.consumer.assignment()
        raw = self.channels.raw.get_topic_name()
        by_issuer = self.channels.by_issuer.get_topic_name()
        self._in_place = frozenset(tp.partition for tp in assigned if tp.topic == raw) & frozenset(
            tp.partition for tp in assigned if tp.topic == by_issuer
        )
        return self.issuer_state if self._in_place else None

    async def _run(
        self, events: Sequence[Any], prepare: Callable[[Any, Staged], Step], table: TableState | None
    ) -> None:
        if table is not None:
            self._replay_journals(events, table)
            await asyncio.shield(self._send_changelog(table))
        steps = await self._prepare_all(events, prepare, table)
        sent = [
            (step, [await self.publisher.send(m) for m in step.messages])
            for step in steps
            if not step.refusal
        ]
        futures_of = {id(step): futures for step, futures in sent}
        for message, senders in self._hop_messages([step for step, _ in sent]):
            future = await self.publisher.send(message)
            for step in senders:
                futures_of[id(step)].append(future)
        if any(futures for _, futures in sent):
            faults.reach("outputs_sent")
        for step, futures in sent:
            failed = [
                r
                for r in await asyncio.gather(*futures, return_exceptions=True)
                if isinstance(r, BaseException)
            ]
            if failed:
                step.refusal = _refusal(
                    step.event,
                    "output_rejected",
                    f"the broker refused an output: {failed[0]!r}",
                    "OutputError",
                )
        if sent:
            faults.reach("outputs_acked")
        for step in steps:
            if step.refusal is not None:
                await self.publisher.dead_letter(step.refusal, step.event.key)
        if table is not None:
            for group in _by_partition(step for step in steps if step.staged is not None):
                token = _current_event.set(weakref.ref(group[-1].event))  # the writes' changelog partition
                try:
                    _apply(group, table)
                finally:
                    _current_event.reset(token)
            await asyncio.shield(self._send_changelog(table))
        for step in steps:
            if step.refusal is None and step.done is not None:
                step.done()
        if table is not None and any(step.staged is not None for step in steps):
            faults.reach("state_applied")

    async def _send_changelog(self, table: TableState) -> None:
        """The table's queued changelog records, in order (the journal before the writes it covers), without
        waiting for the broker: as Faust's own table writes, a commit flushes the producer first. Shielded
        from cancellation, so a stop never leaves the store ahead of a changelog cut in the middle."""
        last: dict[int, Any] = {}
        for partition, key, value in table.take_changelog():
            message = Message(table.changelog_topic, key, value, self.small, [], partition)
            last[partition] = await self.publisher.send(message)
        for partition, future in last.items():
            future.add_done_callback(functools.partial(self._changelog_sent, table, partition))

    @staticmethod
    def _changelog_sent(table: TableState, partition: int, future: asyncio.Future[Any]) -> None:
        if future.cancelled():
            return
        if (exc := future.exception()) is not None:
            log.error(
                "%s partition %d: the broker refused a changelog write (%r): this worker's store has it, the "
                "changelog does not, so a standby or a restart would rebuild the table without it; check the "
                "broker's logs and the topic's limits",
                table.name,
                partition,
                exc,
                extra={"table": table.name, "partition": partition},
            )
            return
        table.persisted(partition, future.result().offset)

    def _hop_messages(self, steps: Sequence[Step]) -> list[tuple[Message, list[Step]]]:
        """The batch's holding candidates on the by-owner hop: one deflated message per owner partition (more
        only past ``HOP_MESSAGE_BYTES``), with the steps whose items it carries. Per filing and owner it was a
        message of its own, a third of the pipeline's messages; the holdings agent reads each item's owner."""
        topic = self.channels.by_owner.get_topic_name()
        most = min(HOP_MESSAGE_BYTES, self.small - 1024)  # deflated it is smaller still
        partitions: dict[str, int] = {}
        chunks: list[_HopChunk] = []
        open_chunk: dict[int, _HopChunk] = {}
        for step in steps:
            for owner_cik, item in step.hop:
                if owner_cik not in partitions:
                    partitions[owner_cik] = self._partition_of(topic, owner_cik.encode())
                partition = partitions[owner_cik]
                chunk = open_chunk.get(partition)
                if chunk is None or chunk.size + len(item) + 1 > most:
                    chunk = open_chunk[partition] = _HopChunk(partition)
                    chunks.append(chunk)
                chunk.add(item, step)
        return [
            (Message(topic, None, chunk.deflated(), self.small, [DEFLATED], chunk.partition), chunk.senders)
            for chunk in chunks
        ]

    def _partition_of(self, topic: str, key: bytes) -> int:
        """The partition the producer would give ``key`` on ``topic`` (murmur2, as Faust's sends and router)."""
        known = self.publisher.app.consumer.key_partition(topic, key)
        if known is not None:
            return int(known)
        return partition_for_key(key, self.settings.partitions)

    def _replay_journals(self, events: Sequence[Any], table: TableState) -> None:
        """Before a partition's first event after a start or a rebalance: complete its last batch's writes."""
        generation = self.publisher.app.consumer_generation_id
        if generation != self._journal_generation:
            self._journal_generation = generation
            self._journals_replayed.clear()
        for event in events:
            partition = event.message.partition
            if (table.name, partition) in self._journals_replayed:
                continue
            self._journals_replayed.add((table.name, partition))
            token = _current_event.set(weakref.ref(event))
            try:
                written = journal.replay(table, partition)
            finally:
                _current_event.reset(token)
            if written:
                self.metrics.journal_replays.labels(table.name).inc()
                log.warning(
                    "%s partition %d: completed the last batch's state from its journal (%d keys)",
                    table.name,
                    partition,
                    written,
                    extra={"table": table.name, "partition": partition},
                )

    async def _prepare_all(
        self, events: Sequence[Any], prepare: Callable[[Any, Staged], Step], table: TableState | None
    ) -> list[Step]:
        """Each event against the state the events before it in the batch leave (their staged writes).

        On the event loop, given back every ``INLINE_SLICE_SECONDS`` (events take a few milliseconds each),
        unless the batch holds a value over ``INLINE_MAX_BYTES``: then in a worker thread, so a 5 MB filing
        never stops heartbeats or the web server. For ordinary filings the thread cost more than the work it
        moved (the loop and the thread take the interpreter from each other): a tenth of the worker's CPU in
        bench/pipeline.py."""
        reads = Staged(table.get if table is not None else _no_state)  # the batch's writes so far
        if any(len(event.value or b"") > INLINE_MAX_BYTES for event in events):
            return await asyncio.to_thread(lambda: [self._prepare_one(e, prepare, reads) for e in events])
        steps = []
        resumed = time.perf_counter()
        for event in events:
            steps.append(self._prepare_one(event, prepare, reads))
            if time.perf_counter() - resumed > INLINE_SLICE_SECONDS:
                await asyncio.sleep(0)
                resumed = time.perf_counter()
        return steps

    def _prepare_one(self, event: Any, prepare: Callable[[Any, Staged], Step], reads: Staged) -> Step:
        """One event's step; its writes join ``reads`` for the events after it: one view of the batch's writes so
        far, so a read costs the same for the 50th event of a batch as for the first (a chain of one Staged per
        event had walked every event before it).

        The event is made Faust's current event while it is prepared: the RocksDB store reads a key from the
        current event's partition, and with none only from the partitions it has opened so far (after a
        restart, not necessarily all of them)."""
        staged = Staged(reads.get)
        token = _current_event.set(weakref.ref(event))
        try:
            step = prepare(event, staged)
            for m in step.messages:
                if m.size > m.limit:
                    raise OutputError(
                        "output_too_large",
                        f"a message for {m.topic} would be {m.size} bytes, over its limit of {m.limit}",
                    )
        except OutputError as exc:
            step = Step(event, refusal=_refusal(event, exc.reason, exc.message, "OutputError"))
        except Exception as exc:  # a bug: neither stop the agent nor drop the event
            m = event.message
            log.exception("internal error on %s[%s]@%s", m.topic, m.partition, m.offset)
            step = Step(
                event,
                refusal=_refusal(event, "internal_error", f"{type(exc).__name__}: {exc}", type(exc).__name__),
            )
        finally:
            _current_event.reset(token)
        if step.staged is not None:
            reads.writes.update(step.staged.writes)
        return step

    # --- form4.raw -> by issuer -------------------------------------------------------------------------------
    def parse(self, event: Any, staged: Staged) -> Step:
        """A filing or seed on its issuer's partition is processed here (placement); any other goes to the
        by-issuer topic (a filing deflated), to be processed where its issuer's state is."""
        m = event.message
        outcome = read_event(event.value, _source(event), self.settings.max_filing_bytes)
        if isinstance(outcome, DeadLetter):
            return Step(event, refusal=outcome)
        topic = self.channels.by_issuer.get_topic_name()
        if isinstance(outcome, HistorySeed):  # to its issuer's partition, like a filing; a small message
            key = outcome.issuer_cik.encode()
            if self._in_place_for(event, topic, key):
                return self._seed(event, outcome, staged)
            value = outcome.model_dump_json().encode()
            headers = [("raw.timestamp", f"{m.timestamp:.3f}".encode()), *SEED_HEADERS]
            return Step(event, [Message(topic, key, value, self.small, headers)])
        value = outcome.model_dump_json().encode()
        output = self._filing_message(outcome, value)
        if output.size > output.limit:  # checked here, where it is whole: the hop carries it deflated
            raise OutputError(
                "output_too_large",
                f"a message for {output.topic} would be {output.size} bytes, over its limit of {output.limit}",
            )
        parsed = self.metrics.filings.labels(outcome.document_type).inc
        key = outcome.issuer.cik.encode()
        if self._in_place_for(event, topic, key):
            self.metrics.placement.labels("in_place").inc()
            step = self._process(event, outcome, value, staged, m.timestamp)
            step.done = _then(parsed, step.done)
            return step
        self.metrics.placement.labels("by_issuer_topic").inc()
        headers = [("raw.timestamp", f"{m.timestamp:.3f}".encode()), DEFLATED]
        return Step(event, [Message(topic, key, zlib.compress(value, 1), self.large, headers)], done=parsed)

    def _in_place_for(self, event: Any, topic: str, issuer_key: bytes) -> bool:
        """Whether a raw event is on the partition of its issuer, held here (``in_place_table``)."""
        partition = event.message.partition
        return partition in self._in_place and self._partition_of(topic, issuer_key) == partition

    # --- by issuer -> outputs, holding candidates by owner ------------------------------------------------------
    def process(self, event: Any, staged: Staged) -> Step:
        if is_seed_value(event.value):
            return self._seed(event, HistorySeed.model_validate_json(event.value), staged)
        value = _inflated(event, self.large)
        filing = Filing.model_validate_json(value)
        raw_ts = _header(event, "raw.timestamp")
        return self._process(event, filing, value, staged, float(raw_ts) if raw_ts else None)

    def _process(
        self, event: Any, filing: Filing, value: bytes, staged: Staged, raw_ts: float | None
    ) -> Step:
        """A filing on its issuer's partition (``value``: its JSON); ``raw_ts``: when it reached form4.raw."""
        if is_duplicate(filing, staged):
            who = identity(filing)  # the filings topic's key
            log.info("duplicate %s skipped", who, extra={"accession": who})
            return Step(event, done=self.metrics.duplicates.inc)
        out = process_filing(filing, staged, self.rules)
        records = out.published_records()
        return Step(
            event,
            [
                self._filing_message(filing, value),
                *self._revision_messages(records, out.alerts, out.withdrawn),
            ],
            staged,
            done=lambda: self._observe(raw_ts, filing, out, len(records)),
            hop=self._hop(out),
        )

    def _seed(self, event: Any, seed: HistorySeed, staged: Staged) -> Step:
        """A history seed: its histories merged into the ``hist`` state; nothing is published."""
        out = process_seed(seed, staged, self.rules)
        messages = self._revision_messages(out.revision.records, out.revision.alerts, out.revision.withdrawn)
        return Step(event, messages, None if out.duplicate else staged, done=lambda: self._observe_seed(out))

    def _observe_seed(self, out: SeedOutcome) -> None:
        self.metrics.seeds.labels("duplicate" if out.duplicate else "merged").inc()
        self.metrics.revised.inc(len(out.revision.records))
        log.info(
            "history seed %s of %s: %d histories, %d changed, %d records revised%s",
            out.seed.seed_id,
            out.seed.issuer_cik,
            len(out.seed.histories),
            len(out.changed),
            len(out.revision.records),
            " (seen before)" if out.duplicate else "",
            extra={"issuer_cik": out.seed.issuer_cik},
        )

    def _filing_message(self, filing: Filing, value: bytes) -> Message:
        """The filing on form4.filings, under its identity (accession number, or sha256: of a bare document)."""
        return Message(self.channels.filings, identity(filing).encode(), value, self.large, FILING_HEADERS)

    @staticmethod
    def _hop(out: Outputs) -> list[tuple[str, bytes]]:
        """(owner CIK, item) for the by-owner hop: an owner's retractions before its candidates."""
        items: list[HoldingState | HoldingRetraction] = [*out.retract, *out.holdings]
        return [(i.key.owner_cik, i.model_dump_json().encode()) for i in items]

    def _revision_messages(
        self, records: list[TransactionRecord], alerts: list[Alert], withdrawn: list[str]
    ) -> list[Message]:
        """Records and alerts (new, revised) by their ids; a withdrawn alert as a tombstone."""
        c, small = self.channels, self.small
        messages = [
            Message(c.transactions, r.txn_id.encode(), r.model_dump_json().encode(), small, RECORD_HEADERS)
            for r in records
        ]
        messages += [
            Message(c.alerts, a.alert_id.encode(), a.model_dump_json().encode(), small, ALERT_HEADERS)
            for a in alerts
        ]
        messages += [
            Message(c.alerts, alert_id.encode(), None, small, ALERT_HEADERS) for alert_id in withdrawn
        ]
        return messages

    def _observe(self, raw_ts: float | None, filing: Filing, out: Outputs, published: int) -> None:
        self.metrics.transactions.inc(published)
        self.metrics.revised.inc(len(out.revised))
        for alert in out.alerts:
            self.metrics.alerts.labels(alert.rule).inc()
        if raw_ts:
            self.metrics.latency.observe(max(0.0, time.time() - raw_ts))
        log.info(
            "filing %s of %s: %d records, %d alerts",
            filing.accession_number or filing.raw_sha256,
            filing.issuer.cik,
            len(out.records),
            len(out.alerts),
            extra={"accession": filing.accession_number, "issuer_cik": filing.issuer.cik},
        )

    # --- by owner -> owner-state, form4.holdings ----------------------------------------------------------------
    def holdings(self, event: Any, staged: Staged) -> Step:
        """Candidates update their lines; retractions (items with ``source_row_ids``) drop a line whose balance
        came from a row an amendment superseded, published as a tombstone on the compacted holdings topic."""
        topic = self.channels.holdings
        messages = []
        changed = 0
        for item in json.loads(_inflated(event, HOP_INFLATED_MAX)):
            if "source_row_ids" in item:
                retraction = HoldingRetraction.model_validate(item)
                if (updated := forget_previous(staged, retraction)) is not None:
                    messages.append(
                        Message(
                            topic,
                            holding_key_string(updated.key).encode(),
                            updated.model_dump_json().encode(),
                            self.small,
                            HOLDING_HEADERS,
                        )
                    )
                if retract_line(staged, retraction) is not None:
                    messages.append(
                        Message(
                            topic,
                            holding_key_string(retraction.key).encode(),
                            None,
                            self.small,
                            HOLDING_HEADERS,
                        )
                    )
                continue
            candidate = HoldingState.model_validate(item)
            new = update_line(staged, f"o|{candidate.key.owner_cik}", candidate)
            if new is not None:
                changed += 1
                messages.append(
                    Message(
                        topic,
                        holding_key_string(new.key).encode(),
                        new.model_dump_json().encode(),
                        self.small,
                        HOLDING_HEADERS,
                    )
                )
        return Step(event, messages, staged, done=lambda: self.metrics.holdings.inc(changed))


@dataclass
class _HopChunk:
    """Items of one by-owner message (one partition) and the steps they came from, in batch order."""

    partition: int
    items: list[bytes] = field(default_factory=list)
    senders: list[Step] = field(default_factory=list)
    size: int = 0

    def add(self, item: bytes, step: Step) -> None:
        self.items.append(item)
        self.size += len(item) + 1
        if not self.senders or self.senders[-1] is not step:
            self.senders.append(step)

    def deflated(self) -> bytes:
        return zlib.compress(b"[" + b",".join(self.items) + b"]", 1)


def _then(first: Callable[[], Any], second: Callable[[], Any] | None) -> Callable[[], None]:
    def both() -> None:
        first()
        if second is not None:
            second()

    return both


def _no_state(key: str) -> None:
    return None


def _by_partition(steps: Iterable[Step]) -> list[list[Step]]:
    """Steps with writes grouped by their event's partition (the changelog partition), in batch order."""
    groups: dict[int, list[Step]] = {}
    for step in steps:
        groups.setdefault(step.event.message.partition, []).append(step)
    return list(groups.values())


def _apply(steps: list[Step], table: TableState) -> None:
    """One partition's writes of a batch, journaled first (``streams.state.journal``), in the context of its
    last event. A key written by several events of the batch is written once, with its last value: the
    changelog is compacted to that anyway, and a busy issuer's window or index is rewritten by most events.
    The journal covers the batch as a whole, so a kill among these writes is completed on restart."""
    writes: dict[str, Any] = {}
    for step in steps:
        assert step.staged is not None
        writes.update(step.staged.items())
    first, last = steps[0].event.message, steps[-1].event.message
    head = journal.head_key(last.partition)
    journal_id = f"{last.topic}:{last.partition}:{first.offset}-{last.offset}"
    entries = journal.journal(writes.items(), table.get(head), last.partition, journal_id)
    sequence = [*entries, *writes.items()]
    for n, (k, v) in enumerate(sequence, 1):
        table.put(k, v)
        if n < len(sequence):
            faults.reach("state_write")


def batches(stream: faust.StreamT) -> Any:
    """The stream's events in batches of up to BATCH_EVENTS, each acknowledged once its batch is done."""
    return cast(Stream, stream).take_events(BATCH_EVENTS, BATCH_WAIT_SECONDS)


def declare_agents(app: faust.App, pipeline: Pipeline) -> tuple[Any, ...]:
    channels = pipeline.channels

    @app.agent(channels.raw)
    async def parse(stream: faust.StreamT) -> None:
        """Raw bytes to a Filing on the by-issuer topic, or a dead letter."""
        async for events in batches(stream):
            await pipeline.run(events, pipeline.parse, pipeline.in_place_table())

    @app.agent(channels.by_issuer)
    async def process(stream: faust.StreamT) -> None:
        """Filings per issuer partition: dedup, amendment link, records, alerts, holding candidates."""
        async for events in batches(stream):
            await pipeline.run(events, pipeline.process, pipeline.issuer_state)

    @app.agent(channels.by_owner)
    async def update_holdings(stream: faust.StreamT) -> None:
        """Last reported balance per holding line; an older row arriving late never overwrites newer state."""
        async for events in batches(stream):
            await pipeline.run(events, pipeline.holdings, pipeline.owner_state)

    return parse, process, update_holdings
