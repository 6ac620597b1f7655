"""The Faust pipeline end to end on the real (embedded Tansu) broker: real filings in, exactly what the pure
functions compute out; duplicates, dead letters, restarts, crashes and two workers.

Workers run as `form4 worker` subprocesses, as in production. Raw events are keyed by issuer CIK here so that
each issuer's filings are processed in a known order, which makes the expected output (computed with the same
pure functions, in the same order) exact.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import signal
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from streams.alerts import load_rules
from streams.broker import EmbeddedBroker
from streams.holdings import replay
from streams.models import Filing
from streams.parse import parse_filing
from streams.process import Source, identity, process_filing, read_event
from streams.records import holding_key_string
from streams.settings import Settings
from streams.state import DictState
from tests.broker import consume_all, produce, unique_name, wait_for
from tests.workers import WorkerProcess

pytestmark = [pytest.mark.broker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted(p for p in (ROOT / "samples").iterdir() if p.suffix in (".xml", ".txt"))


def documents() -> list[bytes]:
    return [p.read_bytes() for p in SAMPLES]


def issuer_key(data: bytes) -> bytes:
    return parse_filing(data).issuer.cik.encode()


def expected_outputs(docs: list[bytes]) -> dict[str, Any]:
    """What the pipeline must publish, computed by the pure functions in the pipeline's per-issuer order (the
    raw values: bare documents or envelopes; those the parser refuses publish nothing)."""
    rules = load_rules(None)
    states: dict[str, DictState] = defaultdict(DictState)
    filings: dict[str, Filing] = {}
    records: dict[str, str] = {}
    alerts: dict[str, str] = {}
    candidates = []
    for data in docs:
        filing = read_event(data, Source(), 5 << 20)
        if not isinstance(filing, Filing):
            continue
        if identity(filing) in filings:
            continue
        filings[identity(filing)] = filing
        out = process_filing(filing, states[filing.issuer.cik], rules)
        for record in out.published_records():
            records[record.txn_id] = record.model_dump_json()
        for alert in out.alerts:
            alerts[alert.alert_id] = alert.model_dump_json()
        for alert_id in out.withdrawn:
            alerts.pop(alert_id, None)
        candidates += out.holdings
    table = replay(candidates)
    return {"filings": filings, "records": records, "alerts": alerts, "holdings": table, "states": states}


def expected_lines(expected: dict[str, Any]) -> dict[str, Any]:
    return {k: without_previous(json.loads(v.model_dump_json())) for k, v in expected["holdings"].items()}


async def table_equals(worker: WorkerProcess, want: dict[str, Any], timeout: float = 60) -> None:
    """Wait until the worker's holdings table equals the recomputation (the agent may still be catching up)."""
    owners = {line["key"]["owner_cik"] for line in want.values()}
    seen: dict[str, Any] = {}

    async def matches() -> bool:
        seen.clear()
        seen.update(await _holdings_via_worker(worker, owners))
        return seen == want

    def difference() -> str:
        missing = sorted(set(want) - set(seen))
        extra = sorted(set(seen) - set(want))
        changed = {k: (seen[k], want[k]) for k in set(want) & set(seen) if seen[k] != want[k]}
        return (
            f"holdings differ: missing {missing[:5]}, extra {extra[:5]}, changed {list(changed.items())[:2]}"
        )

    await wait_for(matches, timeout=timeout, interval=0.5, message=difference)


def latest_by_key(records: list[Any]) -> dict[str, Any]:
    out = {}
    for r in records:
        out[r.key.decode()] = json.loads(r.value)
    return out


def without_previous(line: dict[str, Any]) -> dict[str, Any]:
    """previous_shares_owned depends on arrival order across replays; the state itself must not."""
    return {k: v for k, v in line.items() if k != "previous_shares_owned"}


async def publish(broker: EmbeddedBroker, prefix: str, docs: list[bytes]) -> None:
    await produce(broker.bootstrap, f"{prefix}.raw", docs, keys=[issuer_key(d) for d in docs])


async def test_real_filings_end_to_end_with_duplicates(broker: EmbeddedBroker, workers) -> None:  # type: ignore[no-untyped-def]
    prefix = unique_name("e2e")
    worker = workers(prefix)
    await worker.ready()
    docs = documents()
    await publish(broker, prefix, docs + docs[:10])  # EDGAR's feed lists filings twice; replays happen
    expected = expected_outputs(docs)

    filings = await consume_all(
        broker.bootstrap, f"{prefix}.filings", len(expected["filings"]), timeout=120, extra_wait=3.0
    )
    assert sorted(r.key.decode() for r in filings) == sorted(expected["filings"])  # each once: no duplicates

    transactions = await consume_all(
        broker.bootstrap, f"{prefix}.transactions", len(expected["records"]), timeout=60, extra_wait=1.0
    )
    assert {r.key.decode(): json.loads(r.value) for r in transactions} == {
        k: json.loads(v) for k, v in expected["records"].items()
    }
    assert len(transactions) == len(expected["records"])

    alerts = await consume_all(
        broker.bootstrap, f"{prefix}.alerts", len(expected["alerts"]), timeout=60, extra_wait=1.0
    )
    assert {r.key.decode(): json.loads(r.value) for r in alerts} == {
        k: json.loads(v) for k, v in expected["alerts"].items()
    }
    assert expected["alerts"], "the samples must raise some alerts"

    want = expected_lines(expected)
    holdings = await consume_all(broker.bootstrap, f"{prefix}.holdings", None, timeout=60, quiet=2.0)
    assert {k: without_previous(v) for k, v in latest_by_key(holdings).items()} == want


async def test_bad_inputs_go_to_the_dead_letter_topic_and_good_ones_through(
    broker: EmbeddedBroker, workers
) -> None:  # type: ignore[no-untyped-def]
    prefix = unique_name("dlq")
    worker = workers(prefix)
    await worker.ready()
    good = documents()[:3]
    hostile = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><ownershipDocument/>'
    )
    bad = [
        (b"<ownershipDocument><issuer>", "malformed_xml"),
        (hostile, "hostile_xml"),
        (b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"/>', "not_ownership_document"),
        ((ROOT / "tests/fixtures/txt/6e901dffc88f.txt").read_bytes(), "no_xml_document"),
        (b"x" * (6 * 1024 * 1024), "too_large"),
        (b'{"accession_number": 12}', "invalid_envelope"),
        (b"", "malformed_xml"),
    ]
    values = [good[0], *[b for b, _ in bad[:4]], good[1], *[b for b, _ in bad[4:]], good[2]]
    # One partition, so that an offset names its input.
    await produce(broker.bootstrap, f"{prefix}.raw", values, partition=0, max_request_size=16 * 1024 * 1024)

    dead = await consume_all(broker.bootstrap, f"{prefix}.dlq", len(bad), timeout=60, extra_wait=1.0)
    reasons = sorted(json.loads(r.value)["reason"] for r in dead)
    assert reasons == sorted(code for _, code in bad)
    for record in dead:
        body = json.loads(record.value)
        headers = dict(record.headers)
        assert headers["error.reason"].decode() == body["reason"]
        assert headers["source.topic"].decode() == f"{prefix}.raw"
        assert int(headers["source.offset"]) == body["source_offset"]
        original = values[body["source_offset"]]
        assert body["original_size"] == len(original)
        assert body["original_sha256"] == hashlib.sha256(original).hexdigest()
        kept = base64.b64decode(body["original_b64"])
        if body["original_truncated"]:  # too big for one message: the first bytes; replay from the source
            assert body["reason"] == "too_large" and original.startswith(kept) and len(kept) < len(original)
        else:
            assert kept == original  # replayable as it came
    filings = await consume_all(broker.bootstrap, f"{prefix}.filings", 3, timeout=60, extra_wait=1.0)
    assert sorted(r.key.decode() for r in filings) == sorted(identity(parse_filing(g)) for g in good)

    # A value the later steps cannot handle (here: garbage on the internal by-issuer topic) does not stop
    # the agent and is not dropped: it becomes an internal_error dead letter, and the stream goes on.
    internal = f"form4-streams-{prefix}-filings-by-issuer"
    await produce(broker.bootstrap, internal, [b"{not a filing"], keys=[b"0000000001"])
    await produce(broker.bootstrap, f"{prefix}.raw", [documents()[5]])
    dead = await consume_all(broker.bootstrap, f"{prefix}.dlq", len(bad) + 1, timeout=60)
    internal_errors = [json.loads(r.value) for r in dead if json.loads(r.value)["reason"] == "internal_error"]
    assert [(e["source_topic"], base64.b64decode(e["original_b64"])) for e in internal_errors] == [
        (internal, b"{not a filing")
    ]
    await consume_all(broker.bootstrap, f"{prefix}.filings", 4, timeout=60)


async def _holdings_via_worker(worker: WorkerProcess, owners: set[str]) -> dict[str, Any]:
    lines: dict[str, Any] = {}
    for owner in sorted(owners):
        status, body = await asyncio.to_thread(worker.get, f"/holdings/owner/{owner}")
        assert status in (200, 404), status  # 404: none of the owner's lines processed yet
        for line in body or []:
            from streams.models import HoldingKey

            lines[holding_key_string(HoldingKey.model_validate(line["key"]))] = without_previous(line)
    return lines


async def test_restart_recovers_the_holdings_table(broker: EmbeddedBroker, workers) -> None:  # type: ignore[no-untyped-def]
    prefix = unique_name("restart")
    worker = workers(prefix, store="rocksdb://")
    await worker.ready()
    docs = documents()
    await publish(broker, prefix, docs)
    expected = expected_outputs(docs)
    owners = {line.key.owner_cik for line in expected["holdings"].values()}
    want = expected_lines(expected)
    await consume_all(broker.bootstrap, f"{prefix}.filings", len(expected["filings"]), timeout=120)
    await table_equals(worker, want)

    worker.stop(signal.SIGTERM)
    worker.start()
    await worker.ready()
    assert await _holdings_via_worker(worker, owners) == want


async def test_kill_mid_stream_loses_and_doubles_nothing(broker: EmbeddedBroker, workers) -> None:  # type: ignore[no-untyped-def]
    prefix = unique_name("kill")
    worker = workers(prefix, store="rocksdb://")
    await worker.ready()
    docs = documents()
    expected = expected_outputs(docs)
    await publish(broker, prefix, docs)
    await wait_for(
        lambda: consume_all(broker.bootstrap, f"{prefix}.filings", None, timeout=5, quiet=0.3), timeout=60
    )  # some, not necessarily all, processed
    worker.stop(signal.SIGKILL)
    worker.start()
    await worker.ready()
    filings = await consume_all(
        broker.bootstrap, f"{prefix}.filings", len(expected["filings"]), timeout=120, extra_wait=2.0
    )
    assert set(r.key.decode() for r in filings) == set(expected["filings"])  # nothing lost
    transactions = await consume_all(
        broker.bootstrap, f"{prefix}.transactions", len(expected["records"]), timeout=60, extra_wait=1.0
    )
    by_key: dict[str, set[str]] = defaultdict(set)
    for r in transactions:
        by_key[r.key.decode()].add(r.value.decode())
    assert set(by_key) == set(expected["records"])
    assert all(
        len(v) == 1 for v in by_key.values()
    )  # a redelivered row is the same record under the same key
    await table_equals(worker, expected_lines(expected))


async def test_two_workers_over_four_partitions_match_one(broker: EmbeddedBroker, workers) -> None:  # type: ignore[no-untyped-def]
    prefix = unique_name("two")
    first, second = workers(prefix, "a"), workers(prefix, "b")
    await asyncio.gather(first.ready(), second.ready())
    docs = documents()
    expected = expected_outputs(docs)
    await publish(broker, prefix, docs)
    filings = await consume_all(
        broker.bootstrap, f"{prefix}.filings", len(expected["filings"]), timeout=120, extra_wait=2.0
    )
    assert sorted(r.key.decode() for r in filings) == sorted(expected["filings"])
    alerts = await consume_all(
        broker.bootstrap, f"{prefix}.alerts", len(expected["alerts"]), timeout=60, extra_wait=1.0
    )
    assert {r.key.decode() for r in alerts} == set(expected["alerts"])
    holdings = await consume_all(broker.bootstrap, f"{prefix}.holdings", None, timeout=60, quiet=2.0)
    want = expected_lines(expected)
    assert {k: without_previous(v) for k, v in latest_by_key(holdings).items()} == want
    # Each filing was sent to its issuer's partition, so whichever worker holds that partition of form4.raw
    # holds it of the by-issuer topic too and processed the filing in place: nothing took the hop (the worker
    # that was not the group's leader once read no partition count and sent everything through it).
    by_issuer = f"{Settings(topic_prefix=prefix).app_id}-filings-by-issuer"
    assert await consume_all(broker.bootstrap, by_issuer, None, timeout=10, quiet=1.0) == []
