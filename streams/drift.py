"""Drift check, the shell: read form4.transactions and form4.filings to their ends, ask the workers' API for
the holdings of every owner the filings name, and compare (``streams.verify``). ``form4 verify`` runs it; the
kill tests call :func:`drift` in-process.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import TypeVar

import aiohttp
from pydantic import ValidationError

from streams.kafka_io import ReadStalled, TopicNotFound, TopicRecord, read_to_end
from streams.models import Filing, HoldingState, TransactionRecord
from streams.settings import Settings, kafka_client_kwargs
from streams.verify import Difference, Expectation, compare

#: Concurrent API requests: the holdings of one owner each.
REQUESTS_IN_FLIGHT = 8
#: How long a request may take, and how long a worker may answer 503 (rebalancing) before verify gives up.
REQUEST_TIMEOUT = 10.0
UNAVAILABLE_FOR = 30.0

#: ``progress(stage, done, total)``: stage is a topic name or "holdings"; total 0 while unknown.
Progress = Callable[[str, int, int], None]
M = TypeVar("M", Filing, TransactionRecord)
#: How the worker writes a live record (compact JSON): an escaped quote inside a string cannot match it.
NOT_SUPERSEDED = b'"superseded_by":null'


class VerifyError(Exception):
    """Verify could not compare (a topic, the API): one line saying what to do."""


@dataclass
class Report:
    differences: list[Difference]
    records: int
    filings: int
    owners: int
    expected_lines: int
    served_lines: int

    def to_json(self) -> dict[str, object]:
        return {
            "equal": not self.differences,
            "transaction_records": self.records,
            "filings": self.filings,
            "owners": self.owners,
            "expected_lines": self.expected_lines,
            "served_lines": self.served_lines,
            "differences": [d.to_json() for d in self.differences],
        }


def default_api(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.web_port}"


async def drift(
    settings: Settings, api_urls: Sequence[str] | None = None, *, idle_timeout: float = 30.0
) -> list[Difference]:
    """The holding lines where the workers behind ``api_urls`` (default: the settings' web port on loopback)
    disagree with a recomputation from the topics; empty when they agree. Raises :class:`VerifyError`,
    ``streams.kafka_io.BrokerUnreachable`` when it cannot compare."""
    return (await verify(settings, api_urls, idle_timeout=idle_timeout)).differences


async def verify(
    settings: Settings,
    api_urls: Sequence[str] | None = None,
    *,
    idle_timeout: float = 30.0,
    progress: Progress | None = None,
) -> Report:
    urls = [u.rstrip("/") for u in (api_urls or [default_api(settings)])]
    topics = settings.topics
    superseded: dict[bytes | None, TransactionRecord] = {}
    records = 0
    async with aclosing(_read(settings, topics.transactions, idle_timeout, progress)) as messages:
        async for message in messages:
            records += 1
            live = message.value is None or NOT_SUPERSEDED in message.value  # most records: no need to parse
            record = None if live else _model(TransactionRecord, message, topics.transactions)
            if record is not None and record.superseded_by is not None:
                superseded[message.key] = record
            else:
                superseded.pop(message.key, None)  # the key's latest version is not superseded
    expectation = Expectation(superseded.values())
    latest: dict[bytes | None, tuple[int, int]] = {}
    deleted = False
    async with aclosing(_read(settings, topics.filings, idle_timeout, progress)) as messages:
        async for message in messages:
            filing = _model(Filing, message, topics.filings)
            if filing is not None:
                expectation.add(filing)
            else:
                deleted |= message.key in latest  # a tombstone for a filing already folded
            latest[message.key] = (message.partition, message.offset)
    if expectation.rewritten or deleted:  # a filing changed on the topic: fold only the latest versions
        expectation = Expectation(superseded.values())
        async with aclosing(_read(settings, topics.filings, idle_timeout, progress)) as messages:
            async for message in messages:
                if latest.get(message.key) == (message.partition, message.offset):
                    filing = _model(Filing, message, topics.filings)
                    if filing is not None:
                        expectation.add(filing)
    served = await fetch_holdings(urls, sorted(expectation.owners), progress)
    return Report(
        differences=compare(expectation, served),
        records=records,
        filings=expectation.filings,
        owners=len(expectation.owners),
        expected_lines=len(expectation.expected_lines()),
        served_lines=len(served),
    )


async def _read(
    settings: Settings, topic: str, idle_timeout: float, progress: Progress | None
) -> AsyncGenerator[TopicRecord, None]:
    report = (lambda done, total: progress(topic, done, total)) if progress else None
    try:
        async for record in read_to_end(
            settings.broker_url,
            topic,
            idle_timeout=idle_timeout,
            max_message_bytes=settings.filing_message_max_bytes,
            on_progress=report,
            client=kafka_client_kwargs(settings),
        ):
            yield record
    except TopicNotFound:
        raise VerifyError(
            f"topic {topic} does not exist: check FORM4_TOPIC_PREFIX (a worker creates the topics on start)"
        ) from None
    except ReadStalled as exc:
        raise VerifyError(f"{exc} (check the broker's health, or raise --timeout)") from None


def _model(kind: type[M], record: TopicRecord, topic: str) -> M | None:
    if record.value is None:
        return None
    try:
        return kind.model_validate_json(record.value)
    except ValidationError as exc:
        raise VerifyError(
            f"{topic} partition {record.partition} offset {record.offset} is not a {kind.__name__}: "
            f"{exc.errors()[0]['msg']} (a topic of another version or application?)"
        ) from None


async def fetch_holdings(
    urls: Sequence[str], owners: Sequence[str], progress: Progress | None = None
) -> list[HoldingState]:
    """Every line the workers serve for ``owners`` (``GET /holdings/owner/{cik}``; 404 = none), the requests
    spread over ``urls`` (any worker answers any owner: it forwards to the one that holds the key)."""
    turn = itertools.cycle(range(len(urls)))
    gate = asyncio.Semaphore(REQUESTS_IN_FLIGHT)
    done = 0

    async def owner_lines(session: aiohttp.ClientSession, cik: str) -> list[HoldingState]:
        nonlocal done
        async with gate:
            body = await _get(session, urls, next(turn), f"/holdings/owner/{cik}")
        done += 1
        if progress:
            progress("holdings", done, len(owners))
        try:
            return [HoldingState.model_validate(line) for line in body]
        except ValidationError as exc:
            raise VerifyError(
                f"the API's holdings of owner {cik} are not holding lines: {exc.errors()[0]['msg']}"
            ) from None

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)) as session:
        answers = await asyncio.gather(*(owner_lines(session, cik) for cik in owners))
    return [line for lines in answers for line in lines]


async def _get(session: aiohttp.ClientSession, urls: Sequence[str], first: int, path: str) -> list[object]:
    """The JSON list at ``path`` from the first of ``urls`` (starting at ``first``) that answers; asked again
    while the workers say 503 (rebalancing), at most ``UNAVAILABLE_FOR`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + UNAVAILABLE_FOR
    order = [urls[(first + n) % len(urls)] for n in range(len(urls))]
    while True:
        unreachable = []
        for base in order:
            try:
                async with session.get(base + path) as response:
                    status, text = response.status, await response.text()
            except (aiohttp.ClientError, TimeoutError) as exc:
                unreachable.append(f"{base} ({exc or type(exc).__name__})")
                continue
            if status == 404:
                return []
            if status == 503:
                break  # rebalancing: wait and ask again
            if status != 200:
                raise VerifyError(f"{base}{path} answered {status}: {text[:200]}")
            try:
                body = json.loads(text)
            except ValueError:
                body = None
            if not isinstance(body, list):
                raise VerifyError(f"{base}{path} answered {text[:200]!r}, not a list of holding lines")
            return body
        if len(unreachable) == len(order):
            raise VerifyError(
                f"cannot reach the worker API at {', '.join(unreachable)}: start a worker (form4 worker) "
                "or give its address with --api http://HOST:PORT (its FORM4_WEB_PORT)"
            )
        if loop.time() > deadline:
            raise VerifyError(f"the workers answered 503 (rebalancing?) for {UNAVAILABLE_FOR:g} s at {path}")
        await asyncio.sleep(0.5)
