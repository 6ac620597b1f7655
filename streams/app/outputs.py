"""Sending outputs: every message of an event is checked against its size limit before anything is sent, then
all are sent and awaited together. An output that cannot be sent (too large, refused by the broker) turns the
event into one dead letter instead of crashing the worker (a crash would repeat on every restart)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from streams.metrics import PipelineMetrics
from streams.models import DeadLetter
from streams.process import Source, dead_letter

log = logging.getLogger("streams.app")


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    key: bytes | None
    value: bytes
    limit: int
    headers: list[tuple[str, bytes]] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.key or b"") + len(self.value) + sum(len(k) + len(v) for k, v in self.headers)


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

    async def publish(self, messages: Sequence[Message]) -> None:
        """Send every message and wait until the broker has acknowledged all of them; OutputError otherwise."""
        for m in messages:
            if m.size > m.limit:
                raise OutputError(
                    "output_too_large",
                    f"a message for {m.topic} would be {m.size} bytes, over its limit of {m.limit}",
                )
        pending = [await self._send(m) for m in messages]
        results = await asyncio.gather(*pending, return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            raise OutputError("output_rejected", f"the broker refused an output: {failed[0]!r}")

    async def _send(self, m: Message) -> Any:
        try:
            return await self.app.producer.send(m.topic, m.key, m.value, None, None, m.headers or None)
        except Exception as exc:  # refused before sending (e.g. the client's own size check)
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
        encoded = [(name, text.encode()) for name, text in headers.items()]
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

    async def refuse(self, event: Any, reason: str, message: str, error_class: str | None = None) -> None:
        """The event as a dead letter with ``reason``."""
        m = event.message
        source = Source(m.topic, m.partition, m.offset, event.key)
        letter = dead_letter(event.value or b"", reason, message, source, error_class=error_class)
        await self.dead_letter(letter, event.key)
