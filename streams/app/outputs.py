"""Sending outputs and dead letters with the app's producer (raw bytes, our own keys), awaiting the broker.

Every message of an event is checked against its size limit before anything is sent; an output that cannot be
sent (too large, refused by the broker) turns the event into one dead letter instead of crashing the worker
(a crash would repeat on every restart, since recovery rebuilds the same state)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from streams.headers import output_headers
from streams.metrics import PipelineMetrics
from streams.models import DeadLetter

log = logging.getLogger("streams.app")


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    key: bytes | None
    value: bytes | None  # None: a tombstone
    limit: int
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    partition: int | None = None  # None: the producer's, by key

    @property
    def size(self) -> int:
        return len(self.key or b"") + len(self.value or b"") + sum(len(k) + len(v) for k, v in self.headers)


class OutputError(Exception):
    """An event's outputs could not all be published: ``reason`` is the dead letter's code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class Publisher:
    """The app's producer for outputs, dead letters and repartition hops (raw bytes, our own keys)."""

    def __init__(self, app: Any, dlq_topic: str, metrics: PipelineMetrics) -> None:
        self.app = app
        self.dlq_topic = dlq_topic
        self.metrics = metrics

    async def send(self, m: Message) -> Any:
        """Hand one message to the producer; the returned future resolves when the broker acknowledges it.
        A refusal before sending (e.g. the client's own size check) comes back as a failed future."""
        try:
            return await self.app.producer.send(m.topic, m.key, m.value, m.partition, None, m.headers or None)
        except Exception as exc:
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            future.set_exception(exc)
            return future

    async def dead_letter(self, letter: DeadLetter, key: bytes | None) -> None:
        """Send one dead letter and wait for it: if even that fails, the error propagates and the worker stops
        before acknowledging the event, so it is redelivered rather than lost."""
        headers = {
            "error.reason": letter.reason,
            "error.class": letter.error_class or "",
            "error.message": letter.message,
            "source.topic": letter.source_topic or "",
            "source.partition": str(letter.source_partition),
            "source.offset": str(letter.source_offset),
            "parser.version": letter.parser_version,
            "failed.at": letter.failed_at.isoformat(),
        }
        encoded = [*output_headers(letter), *((name, text.encode()) for name, text in headers.items())]
        future = await self.app.producer.send(
            self.dlq_topic, key, letter.model_dump_json().encode(), None, None, encoded
        )
        await future
        self.metrics.dead_letters.labels(letter.reason).inc()
        accession = letter.header.get("accession_number") or (key.decode("utf-8", "replace") if key else None)
        log.warning(
            "dead letter %s: %s",
            letter.reason,
            letter.message,
            extra={"accession": accession, "reason": letter.reason, "topic": letter.source_topic},
        )
