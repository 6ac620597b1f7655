"""EDGAR live ingester: feed-to-topic latency and the request rate seen at the server, offline and reproducible.

    .venv/bin/python bench/ingest.py [--filings 40] [--gap 1.0] [--jitter 0.5] [--burst 1] [--rate 5]
                                     [--poll-interval 2.0] [--warmup 10] [--no-peer]

`form4 ingest live` runs as a subprocess against tests/edgar_server.py (a local EDGAR replaying real recorded
submissions: Atom feed, archive, daily indexes) and publishes to the embedded Tansu broker. `--warmup` filings
are in the feed when it starts (EDGAR's feed is never empty; what a first start finds there is backlog, fetched
after every new filing) and are not measured. Once they are on the topic, `--burst`
filings at a time appear in the feed every `--gap` seconds, each gap stretched by a seeded +-`--jitter` (the
same timeline in every run; exact gaps would lock every reveal to one phase of the poll cycle). Per filing,
latency = the Kafka record's timestamp on <prefix>.raw (producer create time) - when it appeared in the feed.
Also reported: the target (poll interval + 1 s) and the share within it, the requests the server saw (warm-up
included), the most in any 1-second window against the limit, the mean request rate, whether every request
carried the User-Agent, and duplicates on the topic (must be 0). The "peer" row replays the same timeline with
the fastest fair-access settings (poll 0.5 s, 10 requests/s): the ratio shows how much of the latency is the
poll interval. Runs are sequential; the machine's cores are shared by Tansu, the ingester and this script.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aiokafka import AIOKafkaConsumer  # noqa: E402

from streams.broker import EmbeddedBroker  # noqa: E402
from tests.edgar_server import USER_AGENT, EdgarReplay, Ingester, Submission, fixture_submissions  # noqa: E402

PEER_POLL, PEER_RATE = 0.5, 10.0
SEED = 4
RECORDED = len(fixture_submissions())


async def wait_until(
    predicate: Callable[[], bool], timeout: float, what: str, proc: subprocess.Popen[bytes]
) -> None:
    """Poll `predicate` until true; fails on timeout or when the ingester has exited."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise RuntimeError(f"ingester exited with {proc.returncode} before {what}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not within {timeout:g} s")
        await asyncio.sleep(0.05)


async def collect(bootstrap: str, topic: str, into: list[Any], stop: asyncio.Event) -> None:
    """Append every record of `topic` (all partitions, from the start, no group) until `stop`."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        while not stop.is_set():
            for messages in (await consumer.getmany(timeout_ms=100)).values():
                into.extend(messages)
    finally:
        await consumer.stop()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def run_one(
    broker: EmbeddedBroker, subs: list[Submission], args: argparse.Namespace, poll: float, rate: float
) -> dict[str, Any]:
    prefix = f"bench-ingest-{uuid.uuid4().hex[:8]}"
    records: list[Any] = []
    revealed: list[str] = []
    done = asyncio.Event()
    with (
        tempfile.TemporaryDirectory(prefix="form4-bench-ingest-") as tmpdir,
        EdgarReplay(subs, index_follows_reveals=True) as edgar,
    ):
        tmp = Path(tmpdir)
        edgar.reveal(args.warmup)  # already in the feed at start, as on EDGAR; not measured
        ingester = Ingester(
            broker, prefix, edgar, tmp, FORM4_EDGAR_RATE_LIMIT=str(rate), FORM4_POLL_INTERVAL=str(poll)
        ).start("live")
        proc = ingester.proc
        assert proc is not None
        reader: asyncio.Task[None] | None = None
        try:
            await wait_until(lambda: len(edgar.requests) > 0, 60, "first request", proc)
            reader = asyncio.create_task(collect(broker.bootstrap, f"{prefix}.raw", records, done))

            def on_topic(wanted: set[str]) -> Callable[[], bool]:
                return lambda: wanted <= {m.key.decode() for m in records if m.key}

            await wait_until(on_topic(set(edgar.revealed_at)), 60, "the warm-up filings on the topic", proc)
            gaps = random.Random(SEED)  # the same timeline in every run and for the peer
            while len(revealed) < args.filings:
                chosen = edgar.reveal(min(args.burst, args.filings - len(revealed)))
                revealed += [s.accession_number for s in chosen]
                # the timeline itself, not a wait for a result; jitter keeps reveals off the poll's phase
                await asyncio.sleep(args.gap * (1 + args.jitter * gaps.uniform(-1, 1)))
            await wait_until(
                on_topic(set(revealed)), 60 + 2 * poll, "every revealed filing on the topic", proc
            )
            await asyncio.sleep(1.5)  # a quiet spell to catch late duplicates
        except BaseException:
            print("ingester log tail:\n" + ingester.log_tail(20), file=sys.stderr)
            raise
        finally:
            done.set()
            if reader is not None:
                await asyncio.gather(reader, return_exceptions=True)
            exit_code = ingester.stop()
    keys = Counter(m.key.decode() for m in records if m.key)
    first_ts = {m.key.decode(): m.timestamp / 1000 for m in reversed(records) if m.key}  # the first copy wins
    latencies = [first_ts[a] - edgar.revealed_at[a] for a in revealed if a in first_ts]
    target = poll + 1.0
    reqs = edgar.requests
    span = max(r.t for r in reqs) - min(r.t for r in reqs) if len(reqs) > 1 else 0.0
    return {
        "poll_interval": poll,
        "rate_limit": rate,
        "filings": len(revealed),
        "on_topic": sum(1 for a in revealed if a in keys),
        "latency_p50": round(percentile(latencies, 0.50), 3),
        "latency_p90": round(percentile(latencies, 0.90), 3),
        "latency_p99": round(percentile(latencies, 0.99), 3),
        "latency_max": round(max(latencies, default=float("nan")), 3),
        "target": target,
        "within_target": round(sum(1 for x in latencies if x <= target) / max(1, len(revealed)), 3),
        "requests": len(reqs),
        "max_in_1s": edgar.max_in_window(1.0),
        "requests_per_s": round(len(reqs) / span, 2) if span else 0.0,
        "user_agent_on_all": all(r.user_agent == USER_AGENT for r in reqs),
        "duplicates": sum(n - 1 for n in keys.values()),
        "exit_code": exit_code,
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    subs = fixture_submissions()[: args.warmup + args.filings]
    with EmbeddedBroker() as broker:
        ours = await run_one(broker, subs, args, args.poll_interval, args.rate)
        peer = None if args.no_peer else await run_one(broker, subs, args, PEER_POLL, PEER_RATE)
    report: dict[str, Any] = {
        k: getattr(args, k) for k in ("filings", "warmup", "gap", "jitter", "burst")
    } | {"ours": ours}
    if peer:
        report["peer"] = peer
        report["p50_ratio"] = round(ours["latency_p50"] / peer["latency_p50"], 2)
        report["max_ratio"] = round(ours["latency_max"] / peer["latency_max"], 2)
    return report


def print_table(report: dict[str, Any]) -> None:
    rows = [("form4 ingest live", report["ours"])]
    if "peer" in report:
        rows.append(("fastest fair peer", report["peer"]))
    print(
        f"Tansu (memory), local EDGAR replay; {report['filings']} filings, "
        f"{report['burst']} every {report['gap']:g} s (+-{report['jitter']:.0%}); latency = feed -> <prefix>.raw, seconds"
    )
    head = "", "poll", "limit", "filings", "p50", "p90", "p99", "max", "target", "within", "requests"
    widths = (18, 5, 6, 8, 6, 6, 6, 6, 7, 7, 9, 11, 11, 7, 5)

    def line(cells: tuple[str, ...]) -> str:
        return "".join(
            f"{c:>{w}}" if i else f"{c:<{w}}" for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    print(line((*head, "max in 1 s", "mean req/s", "UA all", "dups")))
    for name, r in rows:
        lat = (f"{r[k]:.2f}" for k in ("latency_p50", "latency_p90", "latency_p99", "latency_max"))
        print(
            line(
                (
                    name,
                    f"{r['poll_interval']:g}",
                    f"{r['rate_limit']:g}",
                    f"{r['on_topic']}/{r['filings']}",
                    *lat,
                    f"{r['target']:g}",
                    f"{r['within_target']:.0%}",
                    str(r["requests"]),
                    f"{r['max_in_1s']} / {r['rate_limit']:g}",
                    f"{r['requests_per_s']:.2f}",
                    "yes" if r["user_agent_on_all"] else "NO",
                    str(r["duplicates"]),
                )
            )
        )
    if "peer" in report:
        print(f"latency ratio (default / fastest): p50 {report['p50_ratio']}x, max {report['max_ratio']}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--filings", type=int, default=40, help="filings revealed over time (measured)")
    parser.add_argument(
        "--warmup", type=int, default=10, help="filings in the feed before the ingester starts"
    )
    parser.add_argument("--gap", type=float, default=1.0, help="seconds between reveals")
    parser.add_argument("--jitter", type=float, default=0.5, help="each gap is gap * (1 +- jitter), seeded")
    parser.add_argument("--burst", type=int, default=1, help="filings revealed at a time")
    parser.add_argument("--rate", type=float, default=5.0, help="FORM4_EDGAR_RATE_LIMIT (requests/s)")
    parser.add_argument("--poll-interval", type=float, default=2.0, help="FORM4_POLL_INTERVAL (seconds)")
    parser.add_argument("--no-peer", action="store_true", help="skip the poll 0.5 s / 10 requests/s run")
    args = parser.parse_args()
    if min(args.filings, args.burst) < 1 or args.warmup < 0 or args.warmup + args.filings > RECORDED:
        parser.error(f"need --filings >= 1, --burst >= 1, --warmup >= 0, --warmup + --filings <= {RECORDED}")
    if not 0 <= args.jitter < 1:
        parser.error("--jitter must be in [0, 1)")
    report = asyncio.run(main_async(args))
    print_table(report)
    print(json.dumps(report, separators=(",", ":")))
    runs = [report["ours"], *([report["peer"]] if "peer" in report else [])]
    bad = [r for r in runs if r["duplicates"] or r["on_topic"] < r["filings"] or r["exit_code"]]
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
