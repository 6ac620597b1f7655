"""When no Kafka broker answers: the error, its one-line message, aiokafka's bootstrap logging kept quiet.

Shared by topic creation (streams.topics) and the plain clients (streams.kafka_io), which both import it; it
imports neither, so those two stay one-way (kafka_io -> topics). All three names stay importable from
streams.kafka_io, where callers import them.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator


class BrokerUnreachable(Exception):
    """No Kafka broker answered at the configured address."""

    def __init__(self, broker_url: str) -> None:
        super().__init__(broker_url)
        self.broker_url = broker_url

    def __str__(self) -> str:
        return unreachable_message(self.broker_url)


def unreachable_message(broker_url: str) -> str:
    """One line for an operator: what failed, where, and what to do."""
    return (
        f"cannot reach a Kafka broker at {broker_url}: start one with `form4 broker`, "
        "or set FORM4_BROKER_URL to a running broker (e.g. kafka://127.0.0.1:9092)"
    )


@contextlib.contextmanager
def quiet_bootstrap() -> Iterator[None]:
    """aiokafka logs every failed bootstrap attempt at error level; the caller reports it in one line instead."""
    logger = logging.getLogger("aiokafka")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)
