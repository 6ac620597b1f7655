"""Whether the broker answers (for ``/readyz``, the ``form4_broker_reachable`` gauge and the log), and a worker
stop that ends in bounded time whatever the broker does.

A paused broker (SIGSTOP, a hung host, a network that drops packets) still completes TCP handshakes in the
kernel but answers nothing, so only a request with a deadline tells. :class:`BrokerWatch` sends an ApiVersions
request every ``PROBE_INTERVAL`` seconds on a connection of its own (never queued behind the producer's large
requests, never holding a lock the Kafka clients need) and waits ``PROBE_TIMEOUT`` seconds for the answer.
After ``FAILURES_TO_FLIP`` failed probes in a row the broker counts as unreachable; one answer makes it
reachable again. Each transition is one log line.

Stopping with the broker gone: Faust's stop commits offsets and leaves the group, and aiokafka retries those
against an unreachable broker for as long as it is gone. Once the app begins to stop, a watchdog thread ends
the process after ``STOP_SECONDS_UNREACHABLE`` seconds while the broker is unreachable (``STOP_SECONDS``
otherwise), with one log line. That is as safe as a kill -9, which the pipeline is built for: an event's state
is applied only after its outputs are acknowledged, and its offset committed only after that, so what was not
committed is redelivered and republished under the same keys (``streams.app.agents``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from aiokafka.conn import AIOKafkaConnection, collect_hosts, create_conn
from aiokafka.protocol.admin import ApiVersionRequest
from mode import Service

from streams.logs import one_line

log = logging.getLogger("streams.liveness")

PROBE_INTERVAL = 1.0
PROBE_TIMEOUT = 2.0
FAILURES_TO_FLIP = 2
#: Longest a worker's stop may take while the broker is unreachable, and while it answers (below Kubernetes'
#: default grace period of 30 s, so the worker ends on its own with a line saying why rather than by SIGKILL).
STOP_SECONDS_UNREACHABLE = 7.0
STOP_SECONDS = 25.0
#: How long the consumer thread may take to close its Kafka consumer (leave the group, end its fetches).
CONSUMER_STOP_SECONDS = 4.0
#: Exit status of a worker ended by the stop deadline.
EXIT_STOP_DEADLINE = 1


def _iso(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).isoformat(timespec="seconds")


class BrokerWatch(Service):
    """Probes the broker on the worker's event loop and keeps the verdict; ends the process if a stop of
    ``app`` outlasts its deadline. Start it in a worker only (``form4 worker`` passes it to Faust's Worker)."""

    def __init__(
        self,
        bootstrap: str,
        client: Mapping[str, Any] | None = None,
        *,
        app: Any = None,
        gauge: Any = None,
        interval: float = PROBE_INTERVAL,
        timeout: float = PROBE_TIMEOUT,
        failures_to_flip: int = FAILURES_TO_FLIP,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.addresses = [(host, port) for host, port, _ in collect_hosts(bootstrap, randomize=False)]
        self.client = dict(client or {})
        self.app = app
        self.gauge = gauge
        self.interval = interval
        self.timeout = timeout
        self.failures_to_flip = failures_to_flip
        #: None until the first probe has an outcome; then whether the broker answers.
        self.reachable: bool | None = None
        self.error: str | None = None
        self._failures = 0
        self._first_failure: tuple[float, float] | None = None  # wall clock, monotonic
        self._next = 0
        self._conn: AIOKafkaConnection | None = None

    # --- the verdict ---------------------------------------------------------------------------------------
    @property
    def unreachable(self) -> bool:
        return self.reachable is False

    @property
    def unreachable_since(self) -> str | None:
        return _iso(self._first_failure[0]) if self.unreachable and self._first_failure else None

    def reason(self) -> str | None:
        """Why the worker is not ready because of the broker, in one line; None while it answers."""
        if not self.unreachable:
            return None
        return f"the broker does not answer (since {self.unreachable_since}): {self.error}"

    def observe(self, error: str | None) -> None:
        """Take one probe's outcome: None (answered) or what went wrong."""
        if error is None:
            if self.unreachable and self._first_failure is not None:
                log.info("broker reachable again after %.1f s", time.monotonic() - self._first_failure[1])
            self.reachable, self.error, self._failures, self._first_failure = True, None, 0, None
            self._set_gauge(1)
            return
        self._failures += 1
        self.error = error
        if self._first_failure is None:
            self._first_failure = (time.time(), time.monotonic())
        if self._failures >= self.failures_to_flip and not self.unreachable:
            self.reachable = False
            log.warning("broker unreachable since %s: %s", self.unreachable_since, error)
            self._set_gauge(0)

    def _set_gauge(self, value: int) -> None:
        if self.gauge is not None:
            self.gauge.set(value)

    # --- probing -------------------------------------------------------------------------------------------
    async def probe(self) -> str | None:
        """One ApiVersions request answered within ``timeout``: None, or the problem in one line. A failure
        drops the connection and moves on to the next bootstrap address."""
        host, port = self.addresses[self._next]
        try:
            async with asyncio.timeout(self.timeout):
                if self._conn is None or not self._conn.connected():
                    self._close()
                    # Connecting sends ApiVersions (and authenticates): an answer is a round trip too.
                    self._conn = await create_conn(
                        host,
                        port,
                        client_id="form4-broker-watch",
                        request_timeout_ms=int(self.timeout * 1000) + 1000,
                        **self.client,
                    )
                else:
                    await self._conn.send(ApiVersionRequest())
        except TimeoutError:
            error = f"no answer from {host}:{port} within {self.timeout:g} s"
        except Exception as exc:  # refused, reset, TLS or SASL failures: all say "not reachable"
            error = f"{host}:{port}: {type(exc).__name__}: {exc}"
        else:
            return None
        self._close()
        self._next = (self._next + 1) % len(self.addresses)
        return one_line(error)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @Service.task
    async def _watch(self) -> None:
        while not self.should_stop:
            began = time.monotonic()
            self.observe(await self.probe())
            await self.sleep(max(0.0, self.interval - (time.monotonic() - began)))

    @Service.task
    async def _bound_the_stop(self) -> None:
        if self.app is None:
            return
        await self.app.wait_until_stopped()
        if not self.should_stop:  # the app stops (a signal, a crash) while this watch still runs
            arm_stop_deadline(lambda: self.unreachable)

    async def on_stop(self) -> None:
        self._close()


def arm_stop_deadline(
    unreachable: Callable[[], bool],
    *,
    short: float = STOP_SECONDS_UNREACHABLE,
    long: float = STOP_SECONDS,
    exit: Callable[[int], Any] = os._exit,
) -> threading.Thread:
    """Start a daemon thread that ends the process unless it has exited ``short`` seconds from now while
    ``unreachable()`` is true, ``long`` seconds otherwise (asked again as time passes)."""
    began = time.monotonic()

    def limit() -> float:
        return short if unreachable() else long

    def watchdog() -> None:
        while (left := began + limit() - time.monotonic()) > 0:
            time.sleep(min(left, 0.2))
        state = "unreachable" if unreachable() else "reachable"
        log.error(
            "the worker did not stop within %g s (broker %s): exiting now; events not yet committed will be "
            "redelivered",
            limit(),
            state,
        )
        for handler in logging.getLogger().handlers:
            handler.flush()
        exit(EXIT_STOP_DEADLINE)

    thread = threading.Thread(target=watchdog, name="form4-stop-deadline", daemon=True)
    thread.start()
    return thread


async def stop_within(stop: Awaitable[None], seconds: float, what: str) -> None:
    """Await a client's ``stop`` for at most ``seconds``, and absorb the CancelledError aiokafka's
    ``Fetcher.close()`` re-raises from a fetch it cancels in its retry back-off (always, with the broker gone).
    Our own cancellation still propagates."""
    task = asyncio.current_task()
    try:
        await asyncio.wait_for(stop, seconds)
    except TimeoutError:
        log.warning("%s did not stop within %g s (broker unreachable?); going on without it", what, seconds)
    except asyncio.CancelledError:
        if task is not None and task.cancelling():
            raise
        log.info("%s stopped (a pending fetch was cancelled)", what)
