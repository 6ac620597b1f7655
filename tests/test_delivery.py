"""The promise, tried the way production breaks it: every raw event ends as output or exactly one dead letter,
under repeated kill -9 with the RocksDB store, poison inputs, and CPU-heavy legal inputs.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import time
import urllib.request
import zlib
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from streams.broker import EmbeddedBroker
from streams.drift import drift
from streams.models import RawFilingEvent
from streams.parse import parse_filing
from streams.parse.sgml import unwrap_submission
from streams.placement import raw_partition
from streams.settings import Settings
from tests.broker import consume_all, produce, unique_name, wait_for
from tests.large_filing import largest_legal_filing
from tests.test_pipeline import SAMPLES, expected_lines, expected_outputs, table_equals

pytestmark = [pytest.mark.broker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
START = datetime(2026, 2, 2, 15, 0, tzinfo=UTC)


def sample_xml(path: Path) -> bytes:
    data = path.read_bytes()
    return unwrap_submission(data).xml if path.suffix == ".txt" else data


def envelope(xml: bytes, n: int) -> bytes:
    return (
        RawFilingEvent.for_document(
            xml,
            accession_number=f"0008888888-26-{n:06d}",
            source="replay",
            received_at=START,
            acceptance_datetime=START + timedelta(minutes=n),
        )
        .model_dump_json()
        .encode()
    )


def spread(count: int) -> tuple[list[bytes], list[bytes]]:
    """``count`` filings cycling through the samples (20+ issuers), each its own accession, keyed by issuer."""
    xmls = [sample_xml(p) for p in SAMPLES]
    values = [envelope(xmls[n % len(xmls)], n) for n in range(count)]
    keys = [parse_filing(xmls[n % len(xmls)]).issuer.cik.encode() for n in range(count)]
    return values, keys


def superseded(want: dict[str, Any]) -> set[str]:
    """Records republished with superseded_by by a later amendment: two versions under one key by design."""
    return {k for k, v in want["records"].items() if json.loads(v).get("superseded_by")}


async def count(bootstrap: str, topic: str) -> int:
    return len(await consume_all(bootstrap, topic, None, timeout=30, quiet=0.3))


async def test_repeated_kill_nine_with_rocksdb_loses_no_filing(broker: EmbeddedBroker, workers) -> None:  # type: ignore[no-untyped-def]
    """Five kill -9s while ~600 filings of 20+ issuers stream through a RocksDB worker: every accession sent
    reaches form4.filings, every transaction and alert is published, nothing is doubled, holdings match."""
    prefix = unique_name("kill9")
    worker = workers(prefix, store="rocksdb://")
    await worker.ready()
    values, keys = spread(600)
    want = expected_outputs(values)
    await produce(broker.bootstrap, f"{prefix}.raw", values, keys=keys)

    for threshold in (60, 160, 260, 360, 460):
        await _kill_nine_once_out(broker, worker, prefix, threshold)

    filings = await consume_all(
        broker.bootstrap, f"{prefix}.filings", len(want["filings"]), timeout=300, distinct_keys=True
    )
    assert {r.key.decode() for r in filings} == set(want["filings"])  # every accession came out
    transactions = await consume_all(
        broker.bootstrap, f"{prefix}.transactions", len(want["records"]), timeout=120, distinct_keys=True
    )
    alerts = await consume_all(
        broker.bootstrap,
        f"{prefix}.alerts",
        len(want["alerts"]),
        timeout=120,
        distinct_keys=True,
        extra_wait=2.0,
    )
    versions: dict[str, set[bytes]] = defaultdict(set)
    for r in transactions:
        versions[r.key.decode()].add(r.value)
    doubled = {k: v for k, v in versions.items() if len(v) > 1 and k not in superseded(want)}
    assert not doubled, next(iter(doubled.items()))  # a redelivered row is the same record under the same key
    # Every record exactly as the pure functions compute it (the latest version of each key).
    assert {r.key.decode(): json.loads(r.value) for r in transactions} == {
        k: json.loads(v) for k, v in want["records"].items()
    }
    # Every alert with its full contents (revisions, history fields): one event's state writes are all or
    # nothing (the journal), so a kill among them never leaves part of its history for the redelivery to count.
    got_alerts = {r.key.decode(): json.loads(r.value) for r in alerts}
    want_alerts = {k: json.loads(v) for k, v in want["alerts"].items()}
    assert set(got_alerts) == set(want_alerts)
    differ = sorted(k for k in want_alerts if got_alerts[k] != want_alerts[k])
    assert not differ, (differ[:3], got_alerts[differ[0]], want_alerts[differ[0]]) if differ else None
    dead = await consume_all(broker.bootstrap, f"{prefix}.dlq", None, timeout=10, quiet=1.0)
    assert dead == []
    await table_equals(worker, expected_lines(want))
    # The operators' drift check agrees: the worker's table equals a recomputation from the topics.
    settings = Settings(broker_url=broker.url, topic_prefix=prefix)
    assert await drift(settings, [f"http://127.0.0.1:{worker.web_port}"]) == []


async def _at_least(bootstrap: str, topic: str, n: int) -> bool:
    return await count(bootstrap, topic) >= n


async def _kill_nine_once_out(broker: EmbeddedBroker, worker: Any, prefix: str, filings: int) -> None:
    """Once ``filings`` filings are on form4.filings: kill -9 the worker, start it again, wait until ready."""
    await wait_for(
        lambda: _at_least(broker.bootstrap, f"{prefix}.filings", filings),
        timeout=180,
        interval=0.2,
        message=worker.log_tail,
    )
    worker.stop(signal.SIGKILL)
    worker.start()
    await worker.ready()


async def test_largest_legal_filing_goes_through_while_the_worker_keeps_answering(  # type: ignore[no-untyped-def]
    broker: EmbeddedBroker, workers
) -> None:
    """A 5 MB filing of 3,000+ rows (the size cap) becomes its filing, every transaction record and its
    holdings, the filings behind it follow, and /healthz answers within 1 s throughout: parsing and the pure
    step run off the event loop."""
    prefix = unique_name("large")
    worker = workers(prefix)
    await worker.ready()
    big = largest_legal_filing()
    small = [sample_xml(p) for p in SAMPLES[:5]]
    values = [envelope(big, 0), *(envelope(x, n + 1) for n, x in enumerate(small))]
    big_txns = {t.txn_id for t in parse_filing(big, accession_number="0008888888-26-000000").transactions}
    assert len(big_txns) > 3000

    latencies: list[float] = []
    stop = asyncio.Event()

    def probe() -> None:
        started = time.monotonic()
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/healthz", timeout=10) as response:
            assert response.status == 200
        latencies.append(time.monotonic() - started)

    async def poll() -> None:
        while not stop.is_set():
            await asyncio.to_thread(probe)
            await asyncio.sleep(0.05)

    poller = asyncio.create_task(poll())
    try:
        await produce(broker.bootstrap, f"{prefix}.raw", values, partition=0, max_request_size=32 << 20)
        filings = await consume_all(broker.bootstrap, f"{prefix}.filings", len(values), timeout=180)
    finally:
        stop.set()
        await poller
    assert {r.key.decode() for r in filings} == {f"0008888888-26-{n:06d}" for n in range(len(values))}
    records = await consume_all(broker.bootstrap, f"{prefix}.transactions", None, timeout=120, quiet=2.0)
    assert big_txns <= {r.key.decode() for r in records}
    assert await count(broker.bootstrap, f"{prefix}.dlq") == 0
    assert len(latencies) > 10 and max(latencies) < 1.0, f"slowest /healthz answer: {max(latencies):.2f} s"


async def test_reprocess_rebuilds_state_and_outputs_from_raw(broker: EmbeddedBroker, workers) -> None:  # type: ignore[no-untyped-def]
    """After an upgrade, `form4 reprocess --generation 2` reads form4.raw from the beginning with fresh state:
    every filing, record and alert is republished under its key with the same value, and the new
    generation's holdings equal a recomputation."""
    prefix = unique_name("reproc")
    first = workers(prefix, "gen1")
    await first.ready()
    xmls = [sample_xml(p) for p in SAMPLES]
    values = [envelope(x, n) for n, x in enumerate(xmls)]
    keys = [parse_filing(x).issuer.cik.encode() for x in xmls]
    want = expected_outputs(values)
    await produce(broker.bootstrap, f"{prefix}.raw", values, keys=keys)
    await consume_all(broker.bootstrap, f"{prefix}.filings", len(want["filings"]), timeout=120)
    first.stop(signal.SIGTERM)

    second = workers(prefix, "gen2", command=("reprocess", "--generation", "2"))
    await second.ready()
    filings = await consume_all(broker.bootstrap, f"{prefix}.filings", 2 * len(want["filings"]), timeout=180)
    assert sorted(r.key.decode() for r in filings) == sorted([*want["filings"], *want["filings"]])
    records = await consume_all(
        broker.bootstrap, f"{prefix}.transactions", 2 * len(want["records"]), timeout=120
    )
    versions: dict[str, set[bytes]] = defaultdict(set)
    for r in records:
        versions[r.key.decode()].add(r.value)
    assert set(versions) == set(want["records"]) and all(len(v) == 1 for v in versions.values())
    await table_equals(second, expected_lines(want))


def with_long_footnote(xml: bytes) -> bytes:
    """``xml`` with footnote F2 (cited by every row of the Tesla sale) as long as a record keeps one (8 KB)."""
    text = b"The shares are held by a trust of which the reporting person is the trustee. " * 120
    out, n = re.subn(rb'(<footnote id="F2">).*?(</footnote>)', lambda m: m[1] + text + m[2], xml, flags=re.S)
    assert n == 1
    return out


async def test_an_output_over_the_message_limit_is_one_dead_letter_and_the_worker_goes_on(  # type: ignore[no-untyped-def]
    broker: EmbeddedBroker, workers
) -> None:
    """An output that cannot be sent must not crash the worker (the crash would repeat on every restart): the
    event becomes exactly one output_too_large dead letter, counted in /metrics, and the next filing flows."""
    prefix = unique_name("toolarge")
    worker = workers(prefix)
    worker.stop()
    worker.env["FORM4_MESSAGE_MAX_BYTES"] = "10000"  # the least allowed; the small filing's records ~3 KB
    worker.start()
    await worker.ready()
    big = with_long_footnote(largest_legal_filing(30_000))  # its records cite 8 KB of footnote: ~11 KB each
    small = sample_xml(ROOT / "samples/0489944b8445.xml")
    values = [envelope(big, 0), envelope(small, 1)]
    await produce(broker.bootstrap, f"{prefix}.raw", values, partition=0)
    dead = await consume_all(broker.bootstrap, f"{prefix}.dlq", 1, timeout=60, extra_wait=2.0)
    assert [json.loads(r.value)["reason"] for r in dead] == ["output_too_large"]
    assert json.loads(dead[0].value)["source_topic"].endswith("-filings-by-issuer")
    filings = await consume_all(broker.bootstrap, f"{prefix}.filings", 1, timeout=60, extra_wait=1.0)
    assert [r.key.decode() for r in filings] == ["0008888888-26-000001"]
    assert worker.proc is not None and worker.proc.poll() is None
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/metrics", timeout=5) as response:
        metrics = response.read().decode()
    assert 'form4_dead_letters_total{reason="output_too_large"} 1.0' in metrics


async def test_poison_inputs_end_as_output_or_one_dead_letter_and_the_worker_goes_on(  # type: ignore[no-untyped-def]
    broker: EmbeddedBroker, workers
) -> None:
    """A naive acceptance time followed by an aware one for the same holding lines, and values at and past
    their extremes: each input ends as its outputs or as exactly one dead letter naming the field (never an
    internal_error), and the filings behind them still flow."""
    prefix = unique_name("poison")
    worker = workers(prefix)
    await worker.ready()
    tesla = sample_xml(ROOT / "samples/71b9ada5bb7b.txt")

    def event(xml: bytes, n: int, accepted: datetime) -> bytes:
        return (
            RawFilingEvent.for_document(
                xml,
                accession_number=f"0007777777-26-{n:06d}",
                source="replay",
                received_at=START,
                acceptance_datetime=accepted,
            )
            .model_dump_json()
            .encode()
        )

    naive = event(tesla, 1, datetime(2026, 2, 2, 10, 0))  # no offset: EDGAR's Eastern clock
    aware = event(tesla, 2, datetime(2026, 2, 2, 16, 0, tzinfo=UTC))  # 11:00 Eastern: the newer report
    poison = {
        3: tesla.replace(b"<value>192320</value>", b"<value>1" + b"0" * 35 + b"</value>", 1),
        4: tesla.replace(b"<value>192320</value>", b"<value>" + b"9" * 5000 + b"</value>", 1),
        5: tesla.replace(b"<value>2022-11-08</value>", b"<value>0001-01-01</value>", 1),
        6: tesla.replace(b"<value>2022-11-08</value>", b"<value>9999-12-30</value>", 1),
        7: tesla.replace(b"<rptOwnerCik>0001494730<", "<rptOwnerCik>١٤٩٤٧٣٠<".encode(), 1),
    }
    bad = [event(x, n, START) for n, x in poison.items()]
    after = event(sample_xml(ROOT / "samples/0489944b8445.xml"), 8, START)
    await produce(broker.bootstrap, f"{prefix}.raw", [naive, aware, *bad, after], partition=0)

    dead = await consume_all(broker.bootstrap, f"{prefix}.dlq", len(bad), timeout=60, extra_wait=2.0)
    letters = [json.loads(r.value) for r in dead]
    assert sorted(d["source_offset"] for d in letters) == [2, 3, 4, 5, 6]  # exactly one each
    assert {d["reason"] for d in letters} == {"invalid_value"}, [(d["reason"], d["message"]) for d in letters]
    filings = await consume_all(broker.bootstrap, f"{prefix}.filings", 3, timeout=60, extra_wait=1.0)
    assert sorted(r.key.decode() for r in filings) == [f"0007777777-26-{n:06d}" for n in (1, 2, 8)]
    assert worker.proc is not None and worker.proc.poll() is None

    async def musk_lines() -> list[Any] | None:
        status, body = await asyncio.to_thread(worker.get, "/holdings/owner/1494730")
        done = status == 200 and all(line["source_accession"] == "0007777777-26-000002" for line in body)
        return body if done else None

    lines = await wait_for(musk_lines, timeout=60, interval=0.3)
    assert lines and all(line["acceptance_datetime"].endswith(("Z", "+00:00")) for line in lines)


def _metric(worker: Any, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))


async def test_rocksdb_state_is_read_from_each_events_own_partition(broker: EmbeddedBroker, workers) -> None:  # type: ignore[no-untyped-def]
    """The RocksDB store reads a key from the current event's partition, or with no current event from the
    partitions it has opened so far, which after a restart need not be all of them. 150 filings of 20+ issuers
    over 4 partitions, a restart, then all 150 again: every repeat is a duplicate (its ``seen`` key is found),
    each filing is published once, and every alert and holding is exactly what the pure steps compute."""
    prefix = unique_name("parts")
    worker = workers(prefix, store="rocksdb://")
    await worker.ready()
    values, keys = spread(150)
    want = expected_outputs(values)
    await produce(broker.bootstrap, f"{prefix}.raw", values, keys=keys)
    await consume_all(broker.bootstrap, f"{prefix}.filings", len(want["filings"]), timeout=120)
    await table_equals(worker, expected_lines(want))  # everything applied before the restart
    worker.stop(signal.SIGTERM)
    worker.start()
    await worker.ready()
    await produce(broker.bootstrap, f"{prefix}.raw", values, keys=keys)
    await wait_for(
        lambda: _metric(worker, "form4_duplicates_skipped_total") == len(values),
        timeout=120,
        interval=0.5,
        message=lambda: f"duplicates skipped: {_metric(worker, 'form4_duplicates_skipped_total')}",
    )
    filings = await consume_all(broker.bootstrap, f"{prefix}.filings", None, timeout=30, quiet=1.0)
    assert sorted(r.key.decode() for r in filings) == sorted(want["filings"])  # each once
    alerts = await consume_all(broker.bootstrap, f"{prefix}.alerts", None, timeout=30, quiet=1.0)
    assert {r.key.decode(): json.loads(r.value) for r in alerts} == {
        k: json.loads(v) for k, v in want["alerts"].items()
    }
    await table_equals(worker, expected_lines(want))


async def test_filings_on_and_off_their_issuers_partition_meet_on_one_state_through_a_kill_nine(  # type: ignore[no-untyped-def]
    broker: EmbeddedBroker, workers
) -> None:
    """Our ingesters send a filing to its issuer's partition of form4.raw, where the worker processes it with
    no by-issuer hop; another producer's filing lands anywhere and goes through the hop. 120 filings of 20+
    issuers, each sent once on its issuer's partition and once off it (half of them placed first), with a
    kill -9 of the RocksDB worker between the rounds: each filing is published once (the second copy, by
    either path, is a duplicate), every record and alert is what the pure steps compute, the by-issuer topic
    carries the misplaced copies only, and the worker counts both paths."""
    prefix = unique_name("placed")
    worker = workers(prefix, store="rocksdb://")
    await worker.ready()
    values, _ = spread(120)
    want = expected_outputs(values)
    keys = [json.loads(v)["accession_number"].encode() for v in values]  # as the ingesters key them
    placed = [raw_partition(v, 4) for v in values]
    assert None not in placed and len(set(placed)) == 4
    off = [(p + 1 + n % 3) % 4 for n, p in enumerate(cast(list[int], placed))]  # any other partition
    first = [placed[n] if n % 2 == 0 else off[n] for n in range(len(values))]
    second = [off[n] if n % 2 == 0 else placed[n] for n in range(len(values))]
    raw = f"{prefix}.raw"

    await produce(broker.bootstrap, raw, values, keys=keys, partitions=first)
    await _kill_nine_once_out(broker, worker, prefix, 60)
    await produce(broker.bootstrap, raw, values, keys=keys, partitions=second)
    await wait_for(
        lambda: (
            _metric(worker, 'form4_raw_placement_total{path="in_place"}') >= 60
            and _metric(worker, 'form4_raw_placement_total{path="by_issuer_topic"}') >= 60
        ),
        timeout=180,
        interval=0.5,
        message=worker.log_tail,
    )

    filings = await consume_all(
        broker.bootstrap, f"{prefix}.filings", len(want["filings"]), timeout=180, distinct_keys=True
    )
    assert {r.key.decode() for r in filings} == set(want["filings"])
    transactions = await consume_all(
        broker.bootstrap, f"{prefix}.transactions", len(want["records"]), timeout=120, distinct_keys=True
    )
    assert {r.key.decode(): json.loads(r.value) for r in transactions} == {
        k: json.loads(v) for k, v in want["records"].items()
    }
    alerts = await consume_all(
        broker.bootstrap,
        f"{prefix}.alerts",
        len(want["alerts"]),
        timeout=120,
        distinct_keys=True,
        extra_wait=2.0,
    )
    assert {r.key.decode(): json.loads(r.value) for r in alerts} == {
        k: json.loads(v) for k, v in want["alerts"].items()
    }
    hopped = await consume_all(
        broker.bootstrap,
        f"{Settings(topic_prefix=prefix).app_id}-filings-by-issuer",
        None,
        timeout=30,
        quiet=1.0,
    )
    # Each filing's misplaced copy went through the hop (a redelivery after the kill may send one again).
    assert {json.loads(zlib.decompress(r.value))["accession_number"].encode() for r in hopped} == set(keys)
    assert await count(broker.bootstrap, f"{prefix}.dlq") == 0
    await table_equals(worker, expected_lines(want))
