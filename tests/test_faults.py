"""A crash at every step boundary, injected deterministically (``FORM4_FAULT=<point>:<n>``, streams/faults.py),
with both stores and the producer batching users run: after a restart every output is exactly what the pure
steps compute — every filing, every record, every alert with its full contents (revisions, history fields) and
every holding line — with nothing lost and nothing doubled. And a failover: one of two RocksDB workers killed,
the survivor takes over its partitions with exact state."""

from __future__ import annotations

import asyncio
import json
import signal
from collections import defaultdict
from typing import Any

import pytest

from streams import faults
from streams.broker import EmbeddedBroker
from streams.drift import drift
from streams.settings import Settings
from tests.broker import consume_all, produce, unique_name, wait_for
from tests.test_delivery import spread, superseded
from tests.test_pipeline import (
    expected_lines,
    expected_outputs,
    latest_by_key,
    table_equals,
    without_previous,
)
from tests.workers import WorkerProcess

pytestmark = [pytest.mark.broker, pytest.mark.slow]

STORES = ["memory://", "rocksdb://"]
FILINGS = 60

#: Which pass of each point to die at: past the first batches, so state and changelogs exist by then, and no
#: later than every run of 60 filings reaches: at least 2 batches of the by-issuer stage (50 events at most) and
#: 1 of the by-owner stage apply state (its messages are per partition and batch, not per filing).
PASSES = {
    "outputs_sent": 3,
    "outputs_acked": 4,
    "state_write": 40,
    "state_applied": 3,
}


async def outputs_are_exact(
    broker: EmbeddedBroker, prefix: str, want: dict[str, Any], worker: WorkerProcess
) -> None:
    """Every output topic's latest value of every key equals the recomputation, nothing doubled, no dead letter,
    and the worker's holdings table equals it too."""
    bootstrap = broker.bootstrap
    filings = await consume_all(
        bootstrap, f"{prefix}.filings", len(want["filings"]), timeout=180, distinct_keys=True
    )
    assert {r.key.decode() for r in filings} == set(want["filings"])
    records = await consume_all(
        bootstrap, f"{prefix}.transactions", len(want["records"]), timeout=120, distinct_keys=True
    )
    alerts = await consume_all(
        bootstrap, f"{prefix}.alerts", len(want["alerts"]), timeout=120, distinct_keys=True, extra_wait=2.0
    )
    versions: dict[str, set[bytes]] = defaultdict(set)
    for r in records:
        versions[r.key.decode()].add(r.value)
    doubled = {k for k, v in versions.items() if len(v) > 1 and k not in superseded(want)}
    assert not doubled, sorted(doubled)[:3]
    assert latest_by_key(records) == {k: json.loads(v) for k, v in want["records"].items()}
    got_alerts = latest_by_key(alerts)
    want_alerts = {k: json.loads(v) for k, v in want["alerts"].items()}
    differ = sorted(k for k in want_alerts if got_alerts.get(k) != want_alerts[k])
    assert set(got_alerts) == set(want_alerts) and not differ, [
        (got_alerts.get(k), want_alerts[k]) for k in differ[:1]
    ]
    lines = expected_lines(want)
    await table_equals(worker, lines)
    holdings = await consume_all(bootstrap, f"{prefix}.holdings", None, timeout=30, quiet=1.0)
    latest = {k: without_previous(v) for k, v in latest_by_key(holdings).items() if v is not None}
    assert latest == lines
    assert await consume_all(bootstrap, f"{prefix}.dlq", None, timeout=10, quiet=0.5) == []
    settings = Settings(broker_url=broker.url, topic_prefix=prefix)
    assert await drift(settings, [f"http://127.0.0.1:{worker.web_port}"]) == []  # form4 verify agrees


@pytest.mark.parametrize("store", STORES)
@pytest.mark.parametrize("point", sorted(PASSES))
async def test_a_crash_at_a_step_boundary_changes_no_output(
    broker: EmbeddedBroker, workers: Any, point: str, store: str
) -> None:
    prefix = unique_name(f"fault-{point.replace('_', '')}")
    values, keys = spread(FILINGS)
    want = expected_outputs(values)
    spec = f"{point}:{PASSES[point]}"
    worker = workers(prefix, store=store, env={"FORM4_FAULT": spec})
    await worker.ready()
    await produce(broker.bootstrap, f"{prefix}.raw", values, keys=keys)
    assert await worker.exited() == faults.EXIT_CODE, worker.log_tail()
    assert f"injected fault {spec}" in worker.log_tail()
    worker.env.pop("FORM4_FAULT")
    worker.start()
    await worker.ready()
    await outputs_are_exact(broker, prefix, want, worker)


@pytest.mark.parametrize("store", STORES)
async def test_a_crash_during_recovery_changes_no_output(
    broker: EmbeddedBroker, workers: Any, store: str
) -> None:
    """Killed mid-stream, then dead again while the restarted worker reads its changelogs back: the third start
    ends with every output exact."""
    prefix = unique_name("fault-recovery")
    values, keys = spread(FILINGS)
    want = expected_outputs(values)
    half = FILINGS // 2
    worker = workers(prefix, store=store)
    await worker.ready()
    await produce(broker.bootstrap, f"{prefix}.raw", values[:half], keys=keys[:half])
    await consume_all(broker.bootstrap, f"{prefix}.filings", half, timeout=120, distinct_keys=True)
    # State is written once per batch after its outputs are acknowledged: wait until some of it reached the
    # changelog, or the restart would have nothing to recover (and no recovery to die in).
    changelog = f"{Settings(topic_prefix=prefix).app_id}-issuer-state-changelog"
    await consume_all(broker.bootstrap, changelog, 1, timeout=60)
    worker.stop(signal.SIGKILL)
    worker.env["FORM4_FAULT"] = "recovery:1"
    worker.start()
    assert await worker.exited() == faults.EXIT_CODE, worker.log_tail()
    worker.env.pop("FORM4_FAULT")
    worker.start()
    await worker.ready()
    await produce(broker.bootstrap, f"{prefix}.raw", values[half:], keys=keys[half:])
    await outputs_are_exact(broker, prefix, want, worker)


async def test_the_survivor_of_two_rocksdb_workers_takes_over_with_exact_state(
    broker: EmbeddedBroker, workers: Any
) -> None:
    """Two RocksDB workers with a standby each; one is killed -9 mid-stream and not restarted: the other takes
    over its partitions and ends with every output and its whole holdings table exact."""
    prefix = unique_name("failover")
    first = workers(prefix, "a", store="rocksdb://")
    second = workers(prefix, "b", store="rocksdb://")
    await asyncio.gather(first.ready(), second.ready())
    values, keys = spread(FILINGS * 2)
    want = expected_outputs(values)
    half = len(values) // 2
    await produce(broker.bootstrap, f"{prefix}.raw", values[:half], keys=keys[:half])
    await consume_all(broker.bootstrap, f"{prefix}.filings", half // 2, timeout=120, distinct_keys=True)
    second.stop(signal.SIGKILL)
    await produce(broker.bootstrap, f"{prefix}.raw", values[half:], keys=keys[half:])

    async def serves_everything() -> bool:
        status, _ = await asyncio.to_thread(first.get, "/readyz")
        return status == 200

    await wait_for(serves_everything, timeout=60, interval=0.5, message=first.log_tail)
    await outputs_are_exact(broker, prefix, want, first)
