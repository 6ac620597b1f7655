"""Broker outages, both kinds, against a broker of the test's own (it is paused or killed): a paused broker
(SIGSTOP) loses and doubles nothing and /readyz says so while it lasts; a broker gone leaves a quiet log and a
worker that stops on SIGTERM within 10 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streams.app.agents import BATCH_EVENTS
from streams.broker import EmbeddedBroker
from tests.broker import consume_all, produce, unique_name, wait_for
from tests.test_delivery import spread
from tests.workers import WorkerProcess

pytestmark = [pytest.mark.broker, pytest.mark.slow]

#: The issue's pause. Nothing on the worker's side times out between 6 s (the session timeout) and 90 s (the
#: consumer's request timeout), but the test keeps the issue's figure.
PAUSE_SECONDS = 60.0
#: Filings sent before the outage: the worker needs several seconds for them (about 20 at 300 filings/s), so
#: the outage comes mid-stream. 1,500 were once enough; a faster worker had them all out before the pause.
FILINGS = 6000
#: How long the log is watched with the broker gone: long enough for every retry loop of aiokafka and Faust to
#: come round many times (they retry every 0.1-1 s).
LOG_WINDOW_SECONDS = 30.0
#: A whole record of the worker's text log: time, level, logger, message.
RECORD = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S+: (?P<msg>.*)$"
)
#: What a traceback printed line by line leaves in a log, one piece per record.
FRAGMENT = re.compile(
    r'^(Traceback \(most recent call last\)|File "|\s|\^+$|~+$|During handling of the above)'
)


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A broker only this test uses: it is paused or killed."""
    broker = EmbeddedBroker(log_path=tmp_path / "broker.log").start()
    try:
        yield broker
    finally:
        if broker.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(broker.pid, signal.SIGCONT)  # a stopped broker cannot act on SIGTERM
        broker.stop()


@pytest.fixture
def worker(own_broker: EmbeddedBroker, tmp_path: Path) -> Iterator[WorkerProcess]:
    process = WorkerProcess(own_broker, unique_name("outage"), tmp_path / "w1")
    process.env["FORM4_DATABASE_URL"] = f"sqlite:///{tmp_path}/history.sqlite3"
    process.start()
    try:
        yield process
    finally:
        process.stop(signal.SIGKILL)


def readyz(worker: WorkerProcess) -> tuple[int, dict[str, Any] | None]:
    """/readyz's status and JSON body, a 503's included (0 when the worker does not answer)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/readyz", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, None


def broker_gauge(worker: WorkerProcess) -> float | None:
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("form4_broker_reachable "):
                return float(line.split()[1])
    return None


async def readiness_is(worker: WorkerProcess, status: int) -> dict[str, Any] | None:
    got, body = await asyncio.to_thread(readyz, worker)
    return body if got == status else None


async def stream(broker: EmbeddedBroker, worker: WorkerProcess) -> set[str]:
    """Send FILINGS filings and return once some have come out (most are still to do); their accessions."""
    prefix = worker.env["FORM4_TOPIC_PREFIX"]
    values, keys = spread(FILINGS)
    await produce(broker.bootstrap, f"{prefix}.raw", values, keys=keys)

    async def some_out() -> bool:
        out = await consume_all(broker.bootstrap, f"{prefix}.filings", None, timeout=5, quiet=0.3)
        return len(out) >= 50

    await wait_for(some_out, timeout=60, interval=0.2, message=worker.log_tail)
    return {json.loads(v)["accession_number"] for v in values}


def processed(log: str) -> int:
    """Filings the worker logged as done in ``log``."""
    return sum(1 for line in log.splitlines() if " INFO streams.app: filing " in line)


async def test_paused_broker_loses_and_doubles_nothing_and_readiness_follows_it(
    own_broker: EmbeddedBroker, worker: WorkerProcess
) -> None:
    """SIGSTOP for 60 s mid-stream, then SIGCONT: /readyz is 503 (naming the broker) and the gauge 0 while it is
    paused, 200 and 1 after; every accession sent comes out on form4.filings, none in two versions, no dead
    letters. A paused broker accepts connections but answers nothing: only a request with a deadline tells."""
    await worker.ready()
    prefix = worker.env["FORM4_TOPIC_PREFIX"]
    sent = await stream(own_broker, worker)
    assert own_broker.pid is not None
    os.kill(own_broker.pid, signal.SIGSTOP)
    paused_at = time.monotonic()
    try:
        body = await wait_for(
            lambda: readiness_is(worker, 503), timeout=15, interval=0.5, message=worker.log_tail
        )
        assert processed(worker.log_path.read_text()) < len(sent)  # paused mid-stream
        assert body["broker_reachable"] is False and "broker does not answer" in body["reason"], body
        assert await asyncio.to_thread(broker_gauge, worker) == 0
        while time.monotonic() - paused_at < PAUSE_SECONDS:  # ready again only once the broker answers
            status, body = await asyncio.to_thread(readyz, worker)
            assert status == 503, (status, body)
            await asyncio.sleep(1.0)
    finally:
        os.kill(own_broker.pid, signal.SIGCONT)
    await wait_for(lambda: readiness_is(worker, 200), timeout=60, interval=0.5, message=worker.log_tail)
    assert await asyncio.to_thread(broker_gauge, worker) == 1

    filings = await consume_all(
        own_broker.bootstrap, f"{prefix}.filings", len(sent), timeout=120, distinct_keys=True, extra_wait=2.0
    )
    assert {r.key.decode() for r in filings} == sent
    versions: dict[bytes, set[bytes | None]] = defaultdict(set)
    for r in filings:
        versions[r.key].add(r.value)
    assert all(len(v) == 1 for v in versions.values())  # a redelivered filing is republished unchanged
    assert await consume_all(own_broker.bootstrap, f"{prefix}.dlq", None, timeout=10, quiet=1.0) == []
    log = worker.log_path.read_text()
    assert log.count("broker unreachable since") == 1 and log.count("broker reachable again after") == 1


async def test_broker_gone_quiet_log_not_ready_and_sigterm_within_ten_seconds(
    own_broker: EmbeddedBroker, worker: WorkerProcess
) -> None:
    """The broker killed mid-stream: /readyz is 503 within a few seconds; over the next 30 s the worker writes
    at most one log line a second besides the filings of a batch that finished as it died, each a whole record
    (no traceback fragments); SIGTERM ends it within 10 s.
    (The issue's worker wrote ~34 lines a second and did not stop within 40 s.)"""
    await worker.ready()
    sent = await stream(own_broker, worker)
    assert own_broker.pid is not None
    start = worker.log_path.stat().st_size
    os.kill(own_broker.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    body = await wait_for(
        lambda: readiness_is(worker, 503), timeout=10, interval=0.5, message=worker.log_tail
    )
    assert body["broker_reachable"] is False, body
    assert processed(worker.log_path.read_text()) < len(sent)  # killed mid-stream

    await asyncio.sleep(LOG_WINDOW_SECONDS - (time.monotonic() - killed_at))  # the observation window
    with worker.log_path.open("rb") as log:
        log.seek(start)
        lines = log.read().decode(errors="replace").splitlines()
    window = time.monotonic() - killed_at
    # A batch acknowledged just as the broker died logs its filings as done (up to BATCH_EVENTS lines at once):
    # information about work that finished, not noise about the outage; nothing is processed after it.
    finished = processed("\n".join(lines))
    assert finished <= BATCH_EVENTS, f"{finished} filings logged as done after the broker was killed"
    noise = [line for line in lines if " INFO streams.app: filing " not in line]
    assert len(noise) <= window, f"{len(noise)} log lines in {window:.0f} s:\n" + "\n".join(noise[-20:])
    for line in lines:
        record = RECORD.match(line)
        assert record, f"not a whole log record: {line!r}"
        assert not FRAGMENT.match(record["msg"]), f"a traceback fragment: {line!r}"
    assert any("broker unreachable since" in line for line in lines)

    assert worker.proc is not None
    worker.proc.send_signal(signal.SIGTERM)
    sent_at = time.monotonic()
    await wait_for(lambda: worker.proc is None or worker.proc.poll() is not None, timeout=15, interval=0.1)
    took = time.monotonic() - sent_at
    assert took <= 10.0, f"the worker took {took:.1f} s to stop after SIGTERM\n{worker.log_tail()}"
