"""One busy issuer through a real worker: state and messages stay small, nothing crashes, nothing is lost.

Real issuers file hundreds of multi-row Forms 4 a year. A state that keeps a list per issuer grows until one
table value (one changelog message) passes Kafka's 1 MB limit and the worker crash-loops. Here 5,000 filings of
one issuer (the 9-row Tesla sale, each under its own accession number and acceptance time) plus the samples of
other issuers go through one worker; every message written to any topic, changelogs and internal topics
included, is measured.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from streams.broker import EmbeddedBroker
from streams.models import RawFilingEvent
from streams.parse import ParseError, parse_filing
from streams.parse.sgml import unwrap_submission
from streams.process import identity
from streams.state import MAX_VALUE_BYTES
from streams.topics import bootstrap_servers
from tests.broker import consume_all, produce, unique_name, wait_for
from tests.test_pipeline import documents

pytestmark = [pytest.mark.broker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
BUSY_XML = unwrap_submission((ROOT / "samples/71b9ada5bb7b.txt").read_bytes()).xml
FIRST_ACCEPTED = datetime(2026, 1, 5, 21, 0, tzinfo=UTC)


def busy_event(n: int) -> tuple[str, bytes]:
    accession = f"0009999999-26-{n:06d}"
    event = RawFilingEvent.for_document(
        BUSY_XML,
        accession_number=accession,
        source="replay",
        received_at=FIRST_ACCEPTED,
        acceptance_datetime=FIRST_ACCEPTED + timedelta(minutes=n),
    )
    return accession, event.model_dump_json().encode()


def _walk(worker: Any, path: str) -> list[dict[str, Any]]:
    """Every item of a paged API answer, following X-Next-Cursor."""
    items: list[dict[str, Any]] = []
    while path:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}{path}", timeout=30) as response:
            items += json.loads(response.read())
            cursor = response.headers.get("X-Next-Cursor")
        path = f"{path.split('&cursor=')[0]}&cursor={cursor}" if cursor else ""
    return items


async def _history_complete(worker: Any, issuer: str, wanted: int) -> bool:
    """The sink has stored at least ``wanted`` records of the issuer (counted from the newest page back)."""
    status, body = await asyncio.to_thread(
        worker.get, f"/transactions/issuer/{issuer}?limit=1&since=2000-01-01"
    )
    if status != 200 or not body:
        return False
    items = await asyncio.to_thread(_walk, worker, f"/transactions/issuer/{issuer}?limit=500")
    return len(items) >= wanted


def filing_sized(topic: str, prefix: str) -> bool:
    """Topics that carry one whole filing per message (what one filing itself needs)."""
    return topic in (f"{prefix}.raw", f"{prefix}.filings", f"{prefix}.dlq") or topic.endswith(
        "-filings-by-issuer"
    )


#: The messages whose size is a batch's, not one filing's (the by-owner hop, the journals): bounded, and
#: larger when a batch is fuller, so compared with the bound and not with the first 1,000 filings.
BATCH_SIZED = "[batch]"


async def message_sizes(bootstrap: str, prefix: str) -> dict[str, list[int]]:
    """Every message of every topic of this deployment (outputs, internal topics, changelogs), by topic, in
    offset order per partition: key + value bytes."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers(bootstrap), enable_auto_commit=False)
    await consumer.start()
    try:
        names = sorted(t for t in await consumer.topics() if prefix in t)
    finally:
        await consumer.stop()
    sizes: dict[str, list[int]] = {}
    for name in names:
        records = await consume_all(bootstrap, name, None, timeout=120, quiet=1.5)
        for r in records:
            size = len(r.key or b"") + len(r.value or b"")
            if (
                (r.key or b"").lstrip(b'"').startswith(b"jrnl|")
            ):  # a batch's writes, in parts of a bounded size
                sizes.setdefault(f"{name}{BATCH_SIZED}", []).append(size)
            elif name.endswith(
                "-holdings-by-owner"
            ):  # a batch's candidates: what each filing adds is its items
                sizes.setdefault(f"{name}{BATCH_SIZED}", []).append(size)
                items = (
                    json.loads(zlib.decompress(r.value or b"")) if r.headers else json.loads(r.value or b"")
                )
                sizes.setdefault(f"{name}[items]", []).extend(len(json.dumps(i)) for i in items)
            else:
                sizes.setdefault(name, []).append(size)
    return sizes


async def test_five_thousand_filings_of_one_issuer(broker: EmbeddedBroker, workers) -> None:  # type: ignore[no-untyped-def]
    prefix = unique_name("busy")
    worker = workers(prefix)
    workers(prefix, "sink", command=("sink",))
    await worker.ready()
    spread = documents()
    spread_ids = set()
    for data in spread:
        try:
            spread_ids.add(identity(parse_filing(data)))
        except ParseError:
            continue
    first = [busy_event(n) for n in range(1000)]
    await produce(broker.bootstrap, f"{prefix}.raw", [v for _, v in first] + spread, keys=None)
    total = len(first) + len(spread_ids)
    await consume_all(broker.bootstrap, f"{prefix}.filings", total, timeout=300)
    early = await message_sizes(broker.bootstrap, prefix)

    rest = [busy_event(n) for n in range(1000, 5000)]
    for start in range(0, len(rest), 500):
        await produce(broker.bootstrap, f"{prefix}.raw", [v for _, v in rest[start : start + 500]])
    busy = [*first, *rest]
    filings = await consume_all(
        broker.bootstrap, f"{prefix}.filings", len(busy) + len(spread_ids), timeout=900, extra_wait=2.0
    )
    assert worker.proc is not None and worker.proc.poll() is None, worker.log_tail()
    assert {r.key.decode() for r in filings} == {a for a, _ in busy} | spread_ids
    assert len(filings) == len(busy) + len(spread_ids)  # nothing doubled

    want_txns = {t.txn_id for a, _ in busy for t in parse_filing(BUSY_XML, accession_number=a).transactions}
    records = await consume_all(broker.bootstrap, f"{prefix}.transactions", None, timeout=300, quiet=3.0)
    published = {r.key.decode() for r in records}
    assert want_txns <= published, f"{len(want_txns - published)} transaction ids missing"

    # The issuer's whole history through the API, paged: every record once, newest first.
    tesla = parse_filing(BUSY_XML).issuer.cik
    await wait_for(lambda: _history_complete(worker, tesla, len(want_txns)), timeout=300, interval=2)
    pages = await asyncio.to_thread(_walk, worker, f"/transactions/issuer/{tesla}?limit=500")
    paged = [r["txn_id"] for r in pages]
    assert len(paged) == len(set(paged)) and set(paged) >= want_txns
    times = [datetime.fromisoformat(r["acceptance_datetime"]) for r in pages if r["acceptance_datetime"]]
    assert times == sorted(times, reverse=True)
    assert all(r["acceptance_datetime"] for r in pages[: len(times)])  # undated (bare XML) ones come last

    late = await message_sizes(broker.bootstrap, prefix)
    report = {}
    for topic, sizes in late.items():
        before = early.get(topic, [])
        after = sizes[len(before) :]
        report[topic] = (max(before, default=0), max(after, default=0))
        if filing_sized(topic, prefix):
            continue
        assert max(sizes, default=0) < MAX_VALUE_BYTES, f"{topic}: a {max(sizes)}-byte message"
        if topic.endswith(BATCH_SIZED):
            continue
        # Work per filing does not grow with history: the messages of filings 1,001-5,000 are no larger
        # than those of the first 1,000 (a few bytes of slack for counters gaining a digit).
        assert max(after, default=0) <= max(before, default=0) + 64, f"{topic} grew: {report[topic]}"
    print(json.dumps(report, indent=1))  # the sizes, for the issue notes (pytest -s)
