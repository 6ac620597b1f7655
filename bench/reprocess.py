"""`form4 reprocess` on the embedded broker: the time and CPU to rebuild every output from form4.raw.

    .venv/bin/python bench/reprocess.py [--filings 20000] [--workers 1] [--partitions 4] [--json]

1. One embedded broker; every topic of the run created with ``--partitions`` P (FORM4_PARTITIONS for the
   workers' internal topics); ``--filings`` F distinct filings (bench/pipeline.py's envelopes: the samples'
   XML, each under its own accession, keyed by it) produced to <prefix>.raw before any worker runs.
2. ``--workers`` K processes of ``form4 reprocess --generation 2`` (memory store, the settings' defaults
   otherwise, so one table standby replica with two or more workers), started together: a new consumer group
   that reads raw from the beginning. Timed from their start to the moment every filing's output is on
   <prefix>.filings (F filings or dead letters read back); also the time to the workers' readiness.
3. CPU (utime + stime from /proc, children included) of each worker and of the broker over that window, per
   filing; filings/s over the window.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aiokafka import AIOKafkaConsumer  # noqa: E402

from bench.pipeline import cpu_seconds, envelopes, launch, metric_sum, produce, run_interruptible  # noqa: E402
from streams.broker import EmbeddedBroker  # noqa: E402
from streams.health import is_ready  # noqa: E402
from streams.topics import Topics, ensure_topics  # noqa: E402

GENERATION = 2


def start_reprocess(
    broker: EmbeddedBroker, prefix: str, data_dir: Path, partitions: int, index: int
) -> tuple[subprocess.Popen, int]:
    """One `form4 reprocess --generation 2` subprocess, its own web port and data directory."""
    command = ["reprocess", "--generation", str(GENERATION)]
    proc, port, _ = launch(
        broker, prefix, data_dir, f"w{index}", command, {"FORM4_PARTITIONS": str(partitions)}
    )
    return proc, port


async def count_outputs(
    bootstrap: str, topics: Topics, expected: int, start: float, workers: list, timeout: float
) -> tuple[float, int, int, float | None]:
    """Read <prefix>.filings and .dlq until ``expected`` are there; (seconds from ``start`` to that moment,
    filings, dead letters, seconds from ``start`` to the first worker's readiness)."""
    consumer = AIOKafkaConsumer(
        topics.filings,
        topics.dlq,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=f"bench-{uuid.uuid4().hex[:8]}",
        max_partition_fetch_bytes=16 * 1024 * 1024,
    )
    await consumer.start()
    filings = dead = 0
    ready_at: float | None = None
    last_check = 0.0
    deadline = start + timeout
    try:
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200, max_records=5000)
            for tp, messages in batch.items():
                if tp.topic == topics.filings:
                    filings += len(messages)
                else:
                    dead += len(messages)
            now = time.monotonic()
            if filings + dead >= expected:
                return now - start, filings, dead, ready_at
            if ready_at is None and now - last_check > 0.5:
                last_check = now
                if any([await asyncio.to_thread(is_ready, port) for _, port in workers]):
                    ready_at = time.monotonic() - start
            for proc, _ in workers:
                if proc.poll() is not None:
                    raise RuntimeError(f"a worker exited with code {proc.returncode}")
    finally:
        await consumer.stop()
    raise TimeoutError(f"{filings + dead} of {expected} filings after {timeout:.0f} s")


async def main_async(args: argparse.Namespace) -> dict:
    data_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"form4-reprocess-{uuid.uuid4().hex[:6]}"
    data_dir.mkdir(parents=True)
    prefix = f"rep{uuid.uuid4().hex[:6]}"
    topics = Topics(prefix)
    report: dict = {
        "broker": "Tansu (embedded), memory storage, same machine",
        "filings": args.filings,
        "workers": args.workers,
        "partitions": args.partitions,
        "command": f"form4 reprocess --generation {GENERATION}",
        "store": "memory://",
    }
    with EmbeddedBroker() as broker:
        assert broker.pid is not None
        await ensure_topics(broker.bootstrap, topics, args.partitions)
        t0 = time.monotonic()
        await produce(broker.bootstrap, topics.raw, envelopes(args.filings, 77), None)
        report["produce_s"] = round(time.monotonic() - t0, 1)
        workers: list[tuple[subprocess.Popen, int]] = []
        try:
            broker_before = cpu_seconds(broker.pid)
            start = time.monotonic()
            workers = [
                start_reprocess(broker, prefix, data_dir, args.partitions, i + 1) for i in range(args.workers)
            ]
            elapsed, filings, dead, ready = await count_outputs(
                broker.bootstrap, topics, args.filings, start, workers, args.timeout
            )
            worker_cpu = [cpu_seconds(proc.pid) for proc, _ in workers]
            broker_cpu = cpu_seconds(broker.pid) - broker_before
            parsed = [
                round(await asyncio.to_thread(metric_sum, port, "form4_filings_parsed_total"))
                for _, port in workers
            ]
        finally:
            for proc, _ in workers:
                proc.send_signal(signal.SIGTERM)
            for proc, _ in workers:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
    n = max(filings + dead, 1)
    report.update(
        {
            "seconds": round(elapsed, 1),
            "ready_s": None if ready is None else round(ready, 1),
            "filings_out": filings,
            "dead_letters": dead,
            "filings_per_s": round(n / elapsed, 1),
            "workers_detail": [
                {
                    "cpu_s": round(cpu, 1),
                    "cpu_ms_per_filing": round(1000 * cpu / n, 2),
                    "filings_parsed": p,
                }
                for cpu, p in zip(worker_cpu, parsed, strict=True)
            ],
            "worker_cpu_ms_per_filing": round(1000 * sum(worker_cpu) / n, 2),
            "broker_cpu_s": round(broker_cpu, 1),
            "broker_cpu_ms_per_filing": round(1000 * broker_cpu / n, 2),
        }
    )
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--filings", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=1, help="reprocess processes in the group")
    parser.add_argument("--partitions", type=int, default=4, help="partitions of every topic (default 4)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for the outputs")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.workers < 1 or args.partitions < args.workers:
        parser.error("--workers must be >= 1 and <= --partitions")
    report = asyncio.run(main_async(args))
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(
        f"{report['command']}: {args.filings:,} filings, {args.workers} worker(s), {args.partitions} partitions "
        f"(produced in {report['produce_s']} s beforehand)"
    )
    print(f"{'':28}{'seconds':>9}{'filings/s':>11}{'CPU s':>8}{'CPU ms/filing':>15}{'parsed':>9}")
    print(f"{'start to all outputs':28}{report['seconds']:>9}{report['filings_per_s']:>11}")
    for i, w in enumerate(report["workers_detail"]):
        print(
            f"{f'  worker {i + 1}':28}{'':9}{'':11}{w['cpu_s']:>8}{w['cpu_ms_per_filing']:>15}"
            f"{w['filings_parsed']:>9,}"
        )
    print(
        f"{'  broker (Tansu)':28}{'':9}{'':11}{report['broker_cpu_s']:>8}{report['broker_cpu_ms_per_filing']:>15}"
    )
    print(
        f"ready after {report['ready_s']} s; {report['filings_out']:,} filings, {report['dead_letters']} dead letters"
    )


if __name__ == "__main__":
    run_interruptible(main)
