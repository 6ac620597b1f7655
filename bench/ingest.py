"""EDGAR live ingester: feed-to-topic latency and the request rate seen at the server, offline and reproducible.

    .venv/bin/python bench/ingest.py [--filings 40] [--gap 1.0] [--jitter 0.5] [--burst 1] [--rate 5]
                                     [--poll-interval 2.0] [--warmup 10] [--no-peer]
                                     [--errors 0.3] [--malform 1] [--malform-kind ampersand|tag]
                                     [--audit-interval SECONDS] [--wait SECONDS]

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

Adverse conditions (issue 17, point 5), the same in both rows: `--errors F` answers that share of every EDGAR
request (feed, archive, daily index; seeded draw) with a 429 or a 503 (half each, `Retry-After: 1`), in place of
the real answer. `--malform N` makes N measured filings' feed entries not well-formed (spread evenly over the
timeline): `--malform-kind ampersand` (default) puts an unescaped `&` in the company name, which the feed parser
repairs; `tag` breaks the title's closing tag, so no parser reads the entry and the filing can only come from its
day's daily index, which the replay publishes once the timeline has moved past that day, and which the ingester
reads every `--audit-interval` seconds (FORM4_INDEX_AUDIT_INTERVAL; unset: the ingester's default, 600 s).
After the last reveal the bench waits up to `--wait` seconds for every filing, then reports how many reached
<prefix>.raw and when the last one did (seconds after the first measured reveal). Unreadable filings are left
out of the latency percentiles and reported one by one (how they arrived, when their index was published).
Exit status 1: a duplicate, an ingester that did not exit cleanly, or a missing filing other than an unreadable one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
from tests.edgar_server import (  # noqa: E402
    USER_AGENT,
    EdgarReplay,
    Fault,
    Ingester,
    Status,
    Submission,
    fixture_submissions,
)

PEER_POLL, PEER_RATE = 0.5, 10.0
SEED = 4
RECORDED = len(fixture_submissions())
ERROR_STATUSES = (429, 503)


class FaultyEdgar(EdgarReplay):
    """The replay with a share `errors` of all requests answered 429 or 503 (Retry-After: 1), seeded. A 503
    with Retry-After is an outage to the client, not the end of the feed (that one has no Retry-After)."""

    def __init__(self, subs: list[Submission], errors: float, seed: int) -> None:
        super().__init__(subs, index_follows_reveals=True)
        self.errors = errors
        self._draw = random.Random(seed)

    def _take_fault(self, path: str) -> Fault | None:
        injected = super()._take_fault(path)
        if injected is not None or not self.errors:
            return injected
        with self._lock:
            hit = self._draw.random() < self.errors
            code = self._draw.choice(ERROR_STATUSES)
        return Status(code, retry_after="1") if hit else None


def malformed_filings(args: argparse.Namespace, subs: list[Submission]) -> list[Submission]:
    """`--malform` of the measured filings, spread evenly over the timeline (the same ones in every run)."""
    measured = subs[args.warmup : args.warmup + args.filings]
    n = args.malform
    return [measured[int((k + 0.5) * len(measured) / n)] for k in range(n)]


def bad_entry_counts(metrics: str) -> dict[str, int]:
    """form4_ingest_bad_feed_entries_total by reason, from the ingester's /metrics page."""
    found: dict[str, int] = {}
    for line in metrics.splitlines():
        if line.startswith("form4_ingest_bad_feed_entries_total{"):
            labels, _, value = line.rpartition(" ")
            reason = labels.split('reason="', 1)[1].split('"', 1)[0]
            found[reason] = int(float(value))
    return found


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
    bad = {s.accession_number: s for s in malformed_filings(args, subs)}
    env = {"FORM4_EDGAR_RATE_LIMIT": str(rate), "FORM4_POLL_INTERVAL": str(poll)}
    if args.audit_interval is not None:
        env["FORM4_INDEX_AUDIT_INTERVAL"] = str(args.audit_interval)
    wait = args.wait if args.wait is not None else 60 + 2 * poll
    complete = True
    bad_entries: dict[str, int] = {}
    with (
        tempfile.TemporaryDirectory(prefix="form4-bench-ingest-") as tmpdir,
        FaultyEdgar(subs, args.errors, SEED) as edgar,
    ):
        tmp = Path(tmpdir)
        for accession in bad:
            edgar.malform(accession, args.malform_kind)
        edgar.reveal(args.warmup)  # already in the feed at start, as on EDGAR; not measured
        ingester = Ingester(broker, prefix, edgar, tmp, **env).start("live")
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
            try:
                await wait_until(on_topic(set(revealed)), wait, "every revealed filing on the topic", proc)
            except TimeoutError:
                complete = False  # reported: how many did arrive, and which did not
            waited = time.time()
            await asyncio.sleep(1.5)  # a quiet spell to catch late duplicates
            with contextlib.suppress(OSError):  # the counters of bad feed entries, when it still answers
                bad_entries = bad_entry_counts(ingester.metrics())
        except BaseException:
            print("ingester log tail:\n" + ingester.log_tail(20), file=sys.stderr)
            raise
        finally:
            done.set()
            if reader is not None:
                await asyncio.gather(reader, return_exceptions=True)
            exit_code = ingester.stop()
    keys = Counter(m.key.decode() for m in records if m.key)
    first = {m.key.decode(): m for m in reversed(records) if m.key}  # the first copy wins
    first_ts = {a: m.timestamp / 1000 for a, m in first.items()}
    unreadable = set(bad) if args.malform_kind == "tag" else set()
    from_feed = [a for a in revealed if a not in unreadable]
    latencies = [first_ts[a] - edgar.revealed_at[a] for a in from_feed if a in first_ts]
    start = edgar.revealed_at[revealed[0]]
    target = poll + 1.0
    reqs = edgar.requests
    span = max(r.t for r in reqs) - min(r.t for r in reqs) if len(reqs) > 1 else 0.0
    injected = sum(1 for r in reqs if r.fault)
    by_accession = {s.accession_number: s for s in subs}

    def malformed_report(s: Submission) -> dict[str, Any]:
        a = s.accession_number
        # index_follows_reveals: a day's index is published once a filing of a later index day is revealed
        published = [t for x, t in edgar.revealed_at.items() if by_accession[x].index_day > s.index_day]
        record = first.get(a)
        return {
            "accession": a,
            "kind": args.malform_kind,
            "index_day": s.index_day.isoformat(),
            "index_published_after_s": round(min(published) - edgar.revealed_at[a], 1) if published else None,
            "source": json.loads(record.value).get("source") if record is not None else None,
            "latency": round(first_ts[a] - edgar.revealed_at[a], 3) if a in first_ts else None,
        }

    return {
        "poll_interval": poll,
        "rate_limit": rate,
        "filings": len(revealed),
        "on_topic": sum(1 for a in revealed if a in keys),
        "missing": [a for a in revealed if a not in keys],
        "all_by_s": round(max(first_ts[a] for a in revealed) - start, 1)
        if all(a in keys for a in revealed)
        else None,
        "window_s": round(waited - start, 1),
        "complete": complete,
        "injected_errors": injected,
        "injected_share": round(injected / max(1, len(reqs)), 3),
        "bad_feed_entries": bad_entries,
        "malformed": [malformed_report(by_accession[a]) for a in bad],
        "latency_p50": round(percentile(latencies, 0.50), 3),
        "latency_p90": round(percentile(latencies, 0.90), 3),
        "latency_p99": round(percentile(latencies, 0.99), 3),
        "latency_max": round(max(latencies, default=float("nan")), 3),
        "target": target,
        "within_target": round(sum(1 for x in latencies if x <= target) / max(1, len(from_feed)), 3),
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
    keys = (
        "filings",
        "warmup",
        "gap",
        "jitter",
        "burst",
        "errors",
        "malform",
        "malform_kind",
        "audit_interval",
    )
    report: dict[str, Any] = {k: getattr(args, k) for k in keys} | {"ours": ours}
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
    if report["errors"] or report["malform"]:
        malformed = (
            f"{report['malform']} filing(s) with malformed feed entries ({report['malform_kind']})"
            + ("; unreadable ones left out of the latencies" if report["malform_kind"] == "tag" else "")
            if report["malform"]
            else "no malformed feed entries"
        )
        print(f"{report['errors']:.0%} of EDGAR responses 429/503 (Retry-After: 1); {malformed}")
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
    for name, r in rows:
        reached = f"{r['on_topic']} of {r['filings']} on <prefix>.raw"
        when = (
            f"all by {r['all_by_s']:g} s after the first reveal"
            if r["all_by_s"] is not None
            else f"within {r['window_s']:g} s after the first reveal; missing: {', '.join(r['missing'])}"
        )
        errors = f"injected 429/503: {r['injected_errors']} of {r['requests']} responses ({r['injected_share']:.0%})"
        print(f"{name}: {reached}, {when}; {errors}; bad feed entries {r['bad_feed_entries'] or 'none'}")
        for m in r["malformed"]:
            arrived = (
                f"on the topic from {m['source']} {m['latency']:g} s after it appeared"
                if m["latency"] is not None
                else "not on the topic"
            )
            published = (
                f"its day's index ({m['index_day']}) published {m['index_published_after_s']:g} s after it appeared"
                if m["index_published_after_s"] is not None
                else f"its day's index ({m['index_day']}) not published during the run"
            )
            print(f"  {m['kind']} {m['accession']}: {arrived}; {published}")
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
    parser.add_argument(
        "--errors", type=float, default=0.0, help="share of EDGAR responses answered 429 or 503 (0 to 1)"
    )
    parser.add_argument(
        "--malform", type=int, default=0, help="measured filings whose feed entries are malformed"
    )
    parser.add_argument(
        "--malform-kind",
        choices=("ampersand", "tag"),
        default="ampersand",
        help="ampersand: an unescaped & in the company name (repaired); tag: an entry no parser reads",
    )
    parser.add_argument(
        "--audit-interval",
        type=float,
        default=None,
        help="FORM4_INDEX_AUDIT_INTERVAL (default: the ingester's)",
    )
    parser.add_argument(
        "--wait", type=float, default=None, help="seconds after the last reveal to wait for every filing"
    )
    args = parser.parse_args()
    if min(args.filings, args.burst) < 1 or args.warmup < 0 or args.warmup + args.filings > RECORDED:
        parser.error(f"need --filings >= 1, --burst >= 1, --warmup >= 0, --warmup + --filings <= {RECORDED}")
    if not 0 <= args.jitter < 1:
        parser.error("--jitter must be in [0, 1)")
    if not 0 <= args.errors < 1 or not 0 <= args.malform <= args.filings:
        parser.error("need 0 <= --errors < 1 and 0 <= --malform <= --filings")
    report = asyncio.run(main_async(args))
    print_table(report)
    print(json.dumps(report, separators=(",", ":")))
    runs = [report["ours"], *([report["peer"]] if "peer" in report else [])]
    unreadable = {m["accession"] for r in runs for m in r["malformed"] if m["kind"] == "tag"}
    bad = [r for r in runs if r["duplicates"] or set(r["missing"]) - unreadable or r["exit_code"]]
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
