"""The one door to EDGAR: every request waits its turn at one rate limiter, carries the User-Agent, asks for
gzip, and is retried with backoff and jitter on throttling (429), outages (503, other 5xx) and network errors,
honouring Retry-After (SEC fair-access policy, form4-reference §9.4).

A 429 or 403 slows the whole client, not just the request that got it: fair access is counted per client.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import math
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import IntEnum
from typing import Any

import aiohttp

from streams.ingest.metrics import INGEST

log = logging.getLogger(__name__)

#: Statuses that mean "try again later" rather than "this does not exist".
RETRY_STATUSES = frozenset({403, 408, 425, 429, 500, 502, 503, 504})
#: Statuses that throttle every request of the client, not only the one that got them.
THROTTLE_STATUSES = frozenset({403, 429})
#: The longest Retry-After honoured, in seconds. SEC asks for about 10 minutes of quiet after a block, which the
#: retries and backoff give; a larger value (86400, inf) from a proxy or a broken server must not stop all ingest.
MAX_RETRY_AFTER = 120.0


class Priority(IntEnum):
    """Who goes first when requests queue at the limiter: new filings beat polls beat catching up."""

    NEW_FILING = 0
    FEED = 1
    BACKLOG = 2
    INDEX = 3


class EdgarUnavailable(Exception):
    """EDGAR did not give a usable answer after every retry."""


class InvalidBody(ValueError):
    """A 200 whose body is unusable (truncated, not the expected document): retried like an outage."""


class RateLimiter:
    """Requests start at least ``1/rate`` seconds apart and never more than ``floor(rate)`` in any second,
    in priority order (lower first, first come first served within a priority).

    :meth:`pause_until` holds every request back, e.g. for a 429's Retry-After.
    """

    WINDOW = 1.0
    #: Slack on the one-second window, so the server never counts one request too many in a second.
    MARGIN = 0.02

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.rate = rate
        self.interval = 1.0 / rate
        self._clock = clock
        self._per_window = max(1, math.floor(rate))
        self._granted: deque[float] = deque(maxlen=self._per_window)
        self._next = 0.0
        self._paused_until = 0.0
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._wake: asyncio.Event | None = None
        self._dispatcher: asyncio.Task[None] | None = None

    def pause_until(self, when: float) -> None:
        """Hold every request until the clock reads ``when``."""
        if when > self._paused_until:
            self._paused_until = when
            if self._wake is not None:
                self._wake.set()

    def _earliest(self) -> float:
        start = max(self._next, self._paused_until)
        if len(self._granted) == self._per_window:
            start = max(start, self._granted[0] + self.WINDOW + self.MARGIN)
        return start

    async def acquire(self, priority: int = Priority.FEED) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._waiters, (int(priority), next(self._seq), future))
        if self._wake is None:
            self._wake = asyncio.Event()
        self._wake.set()
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = loop.create_task(self._dispatch())
        await future

    async def _dispatch(self) -> None:
        assert self._wake is not None
        while self._waiters:
            if self._waiters[0][2].done():  # cancelled while waiting
                heapq.heappop(self._waiters)
                continue
            delay = self._earliest() - self._clock()
            if delay > 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):  # a pause or a more urgent waiter may come meanwhile
                    await asyncio.wait_for(self._wake.wait(), delay)
                continue
            _, _, future = heapq.heappop(self._waiters)
            now = self._clock()
            self._granted.append(now)
            self._next = now + self.interval
            future.set_result(None)


@dataclass(frozen=True)
class Response:
    url: str
    status: int
    body: bytes
    headers: Mapping[str, str]


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds, at most :data:`MAX_RETRY_AFTER`: delta-seconds (ASCII digits, RFC 9110) or an
    HTTP date; None when absent or unreadable (``inf``, ``nan``, ``1e9``, ``٣``, garbage)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(float(int(value[:12])), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(0.0, seconds), MAX_RETRY_AFTER) if math.isfinite(seconds) else None


def backoff(attempt: int, base: float, cap: float) -> float:
    """Full-jitter exponential backoff: uniform in [base/2, min(cap, base * 2**attempt)]."""
    high = min(cap, base * (2**attempt))
    return random.uniform(min(base / 2, high), high)


class EdgarClient:
    """HTTP GETs to EDGAR within fair access. Use as ``async with EdgarClient(...) as client``."""

    def __init__(
        self,
        base_url: str,
        user_agent: str,
        *,
        rate: float,
        timeout: float = 30.0,
        max_attempts: int = 6,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        limiter: RateLimiter | None = None,
    ) -> None:
        if not user_agent or "@" not in user_agent:
            raise ValueError("EDGAR requests need a User-Agent with a contact e-mail address")
        self.base_url = base_url.rstrip("/")
        self.user_agent = user_agent
        self.limiter = limiter or RateLimiter(rate)
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> EdgarClient:
        self._session = aiohttp.ClientSession(
            headers={"User-Agent": self.user_agent, "Accept-Encoding": "gzip, deflate"},
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            auto_decompress=True,
            connector=aiohttp.TCPConnector(limit=8, ttl_dns_cache=300),
        )
        # aiohttp silently resends a request once when a kept-alive connection was closed under it; that resend
        # would skip the rate limiter (the server would count one request too many). Our own retry goes through
        # the limiter instead. The attribute is private (aiohttp >= 3.10); the fault tests measure the result.
        if hasattr(self._session, "_retry_connection"):
            self._session._retry_connection = False
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def get(
        self,
        url: str,
        *,
        priority: int = Priority.FEED,
        final: Callable[[int, Mapping[str, str]], bool] | None = None,
        validate: Callable[[bytes], Any] | None = None,
    ) -> Response:
        """GET ``url`` until it gives a final answer: a 200 that passes ``validate``, a 404, or any status that
        ``final(status, headers)`` accepts (e.g. the 503 past the end of the feed). Raises EdgarUnavailable
        when every attempt failed."""
        if self._session is None:
            raise RuntimeError("EdgarClient must be used inside 'async with'")
        problem = "no attempt made"
        for attempt in range(self.max_attempts):
            await self.limiter.acquire(priority)
            wait: float | None = None
            try:
                async with self._session.get(url, allow_redirects=True) as resp:
                    body = await resp.read()
                    status = resp.status
                    headers = {k.lower(): v for k, v in resp.headers.items()}
            except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
                INGEST.requests.labels("error").inc()
                problem = f"{type(exc).__name__}: {exc}".rstrip(": ")
            else:
                INGEST.requests.labels(str(status)).inc()
                if status == 200:
                    try:
                        if validate is not None:
                            validate(body)
                        return Response(url, status, body, headers)
                    except (InvalidBody, ValueError) as exc:
                        problem = f"unusable response: {exc}"
                elif status == 404 or (final is not None and final(status, headers)):
                    return Response(url, status, body, headers)
                elif status in RETRY_STATUSES:
                    problem = f"HTTP {status}"
                    wait = retry_after_seconds(headers.get("retry-after"))
                    if status in THROTTLE_STATUSES:
                        pause = wait if wait is not None else backoff(attempt + 2, self.backoff_base, 60.0)
                        self.limiter.pause_until(time.monotonic() + pause)
                        INGEST.rate_limit_waits.inc()
                        INGEST.rate_limit_wait_seconds.inc(pause)
                        if status == 403:
                            log.warning(
                                "EDGAR refused a request (HTTP 403): it blocks undeclared or too fast clients. "
                                "Check FORM4_EDGAR_USER_AGENT (a name and a contact e-mail) and keep "
                                "FORM4_EDGAR_RATE_LIMIT at or below 10",
                                extra={"url": url},
                            )
                else:
                    raise EdgarUnavailable(f"{url}: HTTP {status}, which is not retried")
            if attempt + 1 < self.max_attempts:
                INGEST.retries.inc()
                delay = backoff(attempt, self.backoff_base, self.backoff_cap)
                if wait is not None:
                    delay = max(delay, wait + random.uniform(0, 0.1 * max(wait, 0.1)))
                log.info(
                    "EDGAR request failed (%s); retrying in %.1f s (attempt %d of %d)",
                    problem,
                    delay,
                    attempt + 2,
                    self.max_attempts,
                    extra={"url": url},
                )
                await asyncio.sleep(delay)
        raise EdgarUnavailable(f"{url}: {problem} (gave up after {self.max_attempts} attempts)")
