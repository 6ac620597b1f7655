"""The agents: thin loops that move data between topics and tables; the work is in ``streams.process``.

    form4.raw ──parse──▶ (by issuer) ──process──▶ form4.filings, form4.transactions, form4.alerts
        │                                 └──────▶ (by owner) ──holdings──▶ owner-state, form4.holdings
        └──────────────▶ form4.dlq

Every event ends as its outputs or as exactly one dead letter. A step's state writes are staged and applied
only after the broker has acknowledged every output of the event, so a kill -9 at any moment leaves either
nothing (the event is redelivered and processed afresh) or outputs without their marker (the event is
redelivered and republishes the same keys): never a "done" marker without its outputs (streaming-notes §9).
CPU-heavy parsing runs in a worker thread, so heartbeats, the web server and other agents keep going.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import faust

from streams.alerts import RulesConfig
from streams.app.outputs import Message, OutputError, Publisher
from streams.app.tables import Tables, TableState
from streams.holdings import update_line
from streams.metrics import PipelineMetrics
from streams.models import DeadLetter, Filing, HoldingState
from streams.process import Outputs, Source, is_duplicate, process_filing, read_event
from streams.records import holding_key_string
from streams.settings import Settings
from streams.state import Staged

log = logging.getLogger("streams.app")

#: Holding candidates per by-owner message: a filing with a thousand rows is split, never one huge message.
CANDIDATES_PER_MESSAGE = 50


@dataclass(frozen=True)
class Channels:
    raw: Any
    by_issuer: Any
    by_owner: Any
    filings: str
    transactions: str
    holdings: str
    alerts: str


def _json_list(items: list[Any]) -> bytes:
    return ("[" + ",".join(i.model_dump_json() for i in items) + "]").encode()


def _header(event: Any, name: str) -> str | None:
    headers = event.headers
    items = headers.items() if isinstance(headers, Mapping) else (headers or [])
    for k, v in items:
        if k == name:
            return v.decode() if isinstance(v, bytes) else str(v)
    return None


class Pipeline:
    """What the agents do with one event each; owns nothing but references to the app's parts."""

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

    async def guarded(self, event: Any, handler: Callable[[Any], Awaitable[None]]) -> None:
        """A bug in a step must neither stop the agent nor drop the event: it becomes an internal_error."""
        try:
            await handler(event)
        except OutputError as exc:
            await self.publisher.refuse(event, exc.reason, exc.message, error_class="OutputError")
        except Exception as exc:
            m = event.message
            log.exception("internal error on %s[%s]@%s", m.topic, m.partition, m.offset)
            await self.publisher.refuse(
                event, "internal_error", f"{type(exc).__name__}: {exc}", error_class=type(exc).__name__
            )

    # --- form4.raw -> by issuer -------------------------------------------------------------------------------
    async def parse(self, event: Any) -> None:
        m = event.message
        source = Source(m.topic, m.partition, m.offset, event.key)
        outcome = await asyncio.to_thread(read_event, event.value, source, self.settings.max_filing_bytes)
        if isinstance(outcome, DeadLetter):
            await self.publisher.dead_letter(outcome, event.key)
            return
        value = await asyncio.to_thread(outcome.model_dump_json)
        headers = [("raw.timestamp", f"{m.timestamp:.3f}".encode())]
        message = Message(
            self.channels.by_issuer.get_topic_name(),
            outcome.issuer.cik.encode(),
            value.encode(),
            self.large,
            headers,
        )
        await self.publisher.publish([message])
        self.metrics.filings.labels(outcome.document_type).inc()

    # --- by issuer -> outputs, holding candidates by owner ------------------------------------------------------
    async def process(self, event: Any) -> None:
        filing = await asyncio.to_thread(Filing.model_validate_json, event.value)
        if is_duplicate(filing, self.issuer_state):
            self.metrics.duplicates.inc()
            log.info(
                "duplicate %s skipped", filing.accession_number, extra={"accession": filing.accession_number}
            )
            return
        staged = Staged(self.issuer_state.get)
        out, messages = await asyncio.to_thread(self._step, event, filing, staged)
        await self.publisher.publish(messages)
        staged.apply(self.issuer_state)
        self._observe(event, filing, out)

    def _step(self, event: Any, filing: Filing, staged: Staged) -> tuple[Outputs, list[Message]]:
        """The pure step and the encoding of its outputs, in a worker thread: a filing of thousands of rows
        takes a few hundred ms, which must not stop heartbeats. Only this agent writes the issuer table, and
        it waits for this, so the reads see a quiet table."""
        out = process_filing(filing, staged, self.rules)
        return out, self._messages(event, filing, out)

    def _messages(self, event: Any, filing: Filing, out: Outputs) -> list[Message]:
        c, small = self.channels, self.small
        key = (filing.accession_number or f"sha256:{filing.raw_sha256}").encode()
        messages = [Message(c.filings, key, event.value, self.large)]
        messages += [
            Message(c.transactions, r.txn_id.encode(), r.model_dump_json().encode(), small)
            for r in [*out.records, *out.superseded]
        ]
        messages += [
            Message(c.alerts, a.alert_id.encode(), a.model_dump_json().encode(), small) for a in out.alerts
        ]
        per_owner: dict[str, list[HoldingState]] = defaultdict(list)
        for candidate in out.holdings:
            per_owner[candidate.key.owner_cik].append(candidate)
        by_owner = c.by_owner.get_topic_name()
        for owner_cik, candidates in per_owner.items():
            for start in range(0, len(candidates), CANDIDATES_PER_MESSAGE):
                chunk = candidates[start : start + CANDIDATES_PER_MESSAGE]
                messages.append(Message(by_owner, owner_cik.encode(), _json_list(chunk), small))
        return messages

    def _observe(self, event: Any, filing: Filing, out: Outputs) -> None:
        self.metrics.transactions.inc(len(out.records) + len(out.superseded))
        for alert in out.alerts:
            self.metrics.alerts.labels(alert.rule).inc()
        raw_ts = _header(event, "raw.timestamp")
        if raw_ts:
            self.metrics.latency.observe(max(0.0, time.time() - float(raw_ts)))
        log.info(
            "filing %s of %s: %d records, %d alerts",
            filing.accession_number or filing.raw_sha256,
            filing.issuer.cik,
            len(out.records),
            len(out.alerts),
            extra={"accession": filing.accession_number, "issuer_cik": filing.issuer.cik},
        )

    # --- by owner -> owner-state, form4.holdings ----------------------------------------------------------------
    async def holdings(self, event: Any) -> None:
        staged = Staged(self.owner_state.get)
        changed = []
        for item in json.loads(event.value):
            candidate = HoldingState.model_validate(item)
            new = update_line(staged, f"o|{candidate.key.owner_cik}", candidate)
            if new is not None:
                changed.append(new)
        topic = self.channels.holdings
        messages = [
            Message(topic, holding_key_string(line.key).encode(), line.model_dump_json().encode(), self.small)
            for line in changed
        ]
        await self.publisher.publish(messages)
        staged.apply(self.owner_state)
        self.metrics.holdings.inc(len(changed))


def declare_agents(app: faust.App, pipeline: Pipeline) -> tuple[Any, ...]:
    channels = pipeline.channels

    @app.agent(channels.raw)
    async def parse(stream: faust.StreamT) -> None:
        """Raw bytes to a Filing on the by-issuer topic, or a dead letter."""
        async for event in stream.events():
            await pipeline.guarded(event, pipeline.parse)

    @app.agent(channels.by_issuer)
    async def process(stream: faust.StreamT) -> None:
        """One filing per issuer partition: dedup, amendment link, records, alerts, holding candidates."""
        async for event in stream.events():
            await pipeline.guarded(event, pipeline.process)

    @app.agent(channels.by_owner)
    async def update_holdings(stream: faust.StreamT) -> None:
        """Last reported balance per holding line; an older row arriving late never overwrites newer state."""
        async for event in stream.events():
            await pipeline.guarded(event, pipeline.holdings)

    return parse, process, update_holdings
