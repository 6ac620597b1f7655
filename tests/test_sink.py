"""The history store: `form4 sink` against the real embedded broker, into SQLite and a real PostgreSQL server.

Messages are the real outputs of real filings (samples/), computed with the pipeline's pure functions and
produced onto the three output topics; the sink runs as a subprocess, as in production. Expected database
contents are derived from what the topics hold (read back from the broker), never hard-coded.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from streams import faults
from streams.alerts import load_rules
from streams.alerts.evaluate import evaluate_filing
from streams.broker import EmbeddedBroker, free_port
from streams.derive.enrich import filing_identity
from streams.models import Alert, Filing, TransactionRecord
from streams.parse import parse_filing
from streams.records import transaction_records
from streams.sinks import query
from streams.sinks.batch import Message, build_batch
from streams.sinks.consumer import write_messages
from streams.sinks.db import Connection, parse_database_url
from streams.sinks.history import HistoryQueries
from streams.sinks.rows import EASTERN
from streams.sinks.store import HistoryStore
from streams.topics import Topics, ensure_topics
from tests.broker import Record, consume_all, produce, unique_name, wait_for

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted(p for p in (ROOT / "samples").iterdir() if p.suffix in (".xml", ".txt"))
XML = [p for p in SAMPLES if p.suffix == ".xml"]
TXT = [p for p in SAMPLES if p.suffix == ".txt"]
BASE = datetime(2024, 1, 2, 9, 30, tzinfo=EASTERN)
RULES = load_rules(None)

Out = tuple[str, str, bytes | None]  # (kind, key, value)


# --- real messages --------------------------------------------------------------------------------------------


def _txt_copy(path: Path, accession: str) -> bytes:
    """A real EDGAR submission under another accession number (the header's number wins over any argument)."""
    data = path.read_bytes()
    original = parse_filing(data).accession_number
    assert original is not None
    return data.replace(original.encode(), accession.encode())


@cache
def filing_outputs(i: int, issuer_doc: str | None = None) -> tuple[Out, ...]:
    """The messages the worker publishes for the i-th filing: the filing, one record per row, its alerts.

    Bare XML documents get acceptance times BASE + 7 h x (i % 1000 // 3) (three filings share each instant, so
    ties are broken by key), every 50th none at all; EDGAR submissions keep their own.
    """
    path = ROOT / "samples" / issuer_doc if issuer_doc is not None else SAMPLES[i % len(SAMPLES)]
    if path.suffix == ".txt":
        filing = parse_filing(_txt_copy(path, f"0009999998-26-{i:06d}"))
    else:
        accepted = None if i % 50 == 49 else BASE + timedelta(hours=7 * (i % 1000 // 3))
        filing = parse_filing(
            path.read_bytes(), accession_number=f"0009999999-26-{i:06d}", acceptance_datetime=accepted
        )
    records = transaction_records(filing)
    key = filing_identity({"accession_number": filing.accession_number, "raw_sha256": filing.raw_sha256})
    out: list[Out] = [("filings", key, filing.model_dump_json().encode())]
    out += [("transactions", r.txn_id, r.model_dump_json().encode()) for r in records]
    out += [("alerts", a.alert_id, a.model_dump_json().encode()) for a in evaluate_filing(records, RULES)]
    return tuple(out)


def outputs(first: int, count: int, issuer_doc: str | None = None) -> list[Out]:
    return [m for i in range(first, first + count) for m in filing_outputs(i, issuer_doc)]


MALFORMED: list[Out] = [
    ("transactions", "not-json", b"{this is not json"),
    ("transactions", "mismatch", filing_outputs(0)[1][2] if len(filing_outputs(0)) > 1 else b"{}"),
    ("alerts", "no-issuer", json.dumps({"alert_id": "no-issuer", "rule": "x", "severity": "low"}).encode()),
    ("filings", "latin1", '{"document_type": "4", "issuer": "caf\xe9"}'.encode("latin-1")),
]


async def publish(bootstrap: str, topics: Topics, messages: list[Out]) -> dict[tuple[str, int], int]:
    """Produce ``messages`` (in order, per topic); returns the end offset of every partition written."""
    ends: dict[tuple[str, int], int] = {}
    for kind in ("filings", "transactions", "alerts"):
        mine = [(k, v) for knd, k, v in messages if knd == kind]
        if not mine:
            continue
        topic = getattr(topics, kind)
        sent = await produce(bootstrap, topic, [v for _, v in mine], [k for k, _ in mine])
        for meta in sent:
            ends[(topic, meta.partition)] = max(ends.get((topic, meta.partition), 0), meta.offset + 1)
    return ends


# --- what the topics hold, and what the database holds ---------------------------------------------------------

_MODELS = {"filings": Filing, "transactions": TransactionRecord, "alerts": Alert}
_IDS = {"filings": None, "transactions": "txn_id", "alerts": "alert_id"}


def _valid(kind: str, key: bytes | None, value: bytes) -> bool:
    """The oracle for "well-formed": the message validates as its contract model and its key is its id."""
    if key is None:
        return False
    try:
        model = _MODELS[kind].model_validate_json(value)
    except ValidationError:
        return False
    id_field = _IDS[kind]
    if id_field is None:
        doc = model.model_dump()
        return filing_identity(doc) == key.decode()
    return bool(getattr(model, id_field) == key.decode())


def latest_per_key(kind: str, records: list[Record]) -> dict[str, str]:
    """The topic's latest well-formed value of every key (a tombstone deletes it); records in offset order."""
    latest: dict[str, str] = {}
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        if r.key is None:
            continue
        if r.value is None:
            latest.pop(r.key.decode(), None)
        elif _valid(kind, r.key, r.value):
            latest[r.key.decode()] = r.value.decode()
    return latest


async def topic_records(
    bootstrap: str, topics: Topics, ends: dict[tuple[str, int], int]
) -> dict[str, list[Record]]:
    """Every record of the three topics, up to ``ends``, by kind."""
    found = {}
    for kind in ("filings", "transactions", "alerts"):
        topic = getattr(topics, kind)
        expected = sum(end for (t, _), end in ends.items() if t == topic)
        found[kind] = (
            await consume_all(bootstrap, topic, expected_count=expected, timeout=60) if expected else []
        )
    return found


def contents_upto(
    records: dict[str, list[Record]], topics: Topics, upto: dict[tuple[str, int], int]
) -> dict[str, dict[str, str]]:
    """What the topics hold below the offsets ``upto`` (a partition it does not name: nothing)."""
    return {
        kind: latest_per_key(
            kind, [r for r in mine if r.offset < upto.get((getattr(topics, kind), r.partition), 0)]
        )
        for kind, mine in records.items()
    }


async def topic_contents(
    bootstrap: str, topics: Topics, ends: dict[tuple[str, int], int]
) -> dict[str, dict[str, str]]:
    return contents_upto(await topic_records(bootstrap, topics, ends), topics, ends)


def snapshot(url: str) -> dict[str, Any]:
    conn = Connection.open(parse_database_url(url))
    try:
        q = conn.execute
        return {
            "filings": {k: p for k, p in q("SELECT key, payload FROM filings")},
            "transactions": {k: p for k, p in q("SELECT txn_id, payload FROM transactions")},
            "alerts": {k: p for k, p in q("SELECT alert_id, payload FROM alerts")},
            "arrivals": {k: int(a) for k, a in q("SELECT alert_id, arrival FROM alerts")},
            "transaction_owners": sorted(q("SELECT txn_id, owner_cik FROM transaction_owners")),
            "alert_owners": sorted(q("SELECT alert_id, owner_cik FROM alert_owners")),
            "issuers": {c: (n, t) for c, n, t in q("SELECT cik, name, ticker FROM issuers")},
            "offsets": {
                (t, int(p)): int(o) for t, p, o in q("SELECT topic, partition, next_offset FROM sink_offsets")
            },
            "counter": q("SELECT value FROM sink_counters WHERE name = 'alert_arrival'")[0][0],
        }
    finally:
        conn.close()


def assert_equals_topics(db: dict[str, Any], topics_hold: dict[str, dict[str, str]]) -> None:
    for kind in ("filings", "transactions", "alerts"):
        missing = topics_hold[kind].keys() - db[kind].keys()
        extra = db[kind].keys() - topics_hold[kind].keys()
        assert not missing and not extra, f"{kind}: {len(missing)} missing, {len(extra)} not on the topic"
        assert db[kind] == topics_hold[kind], f"{kind}: stored payloads differ from the topic's latest values"
    owners = sorted(
        (txn_id, owner["cik"])
        for txn_id, value in topics_hold["transactions"].items()
        for owner in json.loads(value)["reporting_owners"]
    )
    assert db["transaction_owners"] == sorted(set(owners))
    alert_owners = sorted(
        (alert_id, owner["cik"])
        for alert_id, value in topics_hold["alerts"].items()
        for owner in json.loads(value)["owners"]
    )
    assert db["alert_owners"] == sorted(set(alert_owners))
    assert len(set(db["arrivals"].values())) == len(db["arrivals"]), "two alerts share an arrival number"
    newest: dict[str, tuple[str, dict[str, Any]]] = {}
    for value in topics_hold["filings"].values():
        doc = json.loads(value)
        instant = _instant(doc["acceptance_datetime"])
        cik = doc["issuer"]["cik"]
        if cik not in newest or instant >= newest[cik][0]:
            newest[cik] = (instant, doc["issuer"])
    for cik, (_, issuer) in newest.items():
        assert db["issuers"][cik][0] == ((issuer["name"] or "").replace("\x00", "") or None)


def _instant(value: str | None) -> str:
    return "" if value is None else datetime.fromisoformat(value).astimezone(UTC).isoformat()


# --- the sink subprocess -------------------------------------------------------------------------------------


@dataclass
class SinkProcess:
    broker: EmbeddedBroker
    prefix: str
    database_url: str
    workdir: Path
    batch_size: int = 5000
    metrics_port: int | None = None
    fault: str | None = None  # FORM4_FAULT: a point of streams/faults.py the process dies at
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / "sink.log"

    def start(self) -> SinkProcess:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("FORM4_")},
            "FORM4_BROKER_URL": self.broker.url,
            "FORM4_TOPIC_PREFIX": self.prefix,
            "FORM4_PARTITIONS": "4",
            "FORM4_DATABASE_URL": self.database_url,
            "FORM4_DATA_DIR": str(self.workdir),
            "FORM4_SINK_BATCH_SIZE": str(self.batch_size),
        }
        if self.metrics_port is not None:
            env["FORM4_SINK_METRICS_PORT"] = str(self.metrics_port)
        if self.fault is not None:
            env["FORM4_FAULT"] = self.fault
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streams.cli", "sink"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
            )
        return self

    def kill(self, sig: int = signal.SIGKILL) -> int | None:
        """Send ``sig`` and reap the process; its exit status (None if it had to be killed after 30 s)."""
        status = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(sig)
            try:
                status = self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        return status

    async def exited(self, timeout: float = 60.0) -> int:
        """Wait for the process to end by itself; its exit status (a TimeoutError if it still runs)."""
        assert self.proc is not None
        try:
            status = await asyncio.to_thread(self.proc.wait, timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"the sink still runs after {timeout:g} s:\n{self.log()[-3000:]}") from None
        self.proc = None
        return status

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture
def sinks(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[Any]:
    started: list[SinkProcess] = []

    def make(prefix: str, database_url: str, **kwargs: Any) -> SinkProcess:
        sink = SinkProcess(broker, prefix, database_url, tmp_path, **kwargs)
        started.append(sink)
        return sink

    yield make
    for sink in started:
        sink.kill(signal.SIGTERM)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/history.sqlite3"
    return str(request.getfixturevalue("postgres").database())


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/history.sqlite3"


def stored_offsets(url: str) -> dict[tuple[str, int], int]:
    conn = Connection.open(parse_database_url(url))
    try:
        return {
            (t, int(p)): int(o)
            for t, p, o in conn.execute("SELECT topic, partition, next_offset FROM sink_offsets")
        }
    except Exception:
        return {}  # the sink has not created its tables yet
    finally:
        conn.close()


async def caught_up(sink: SinkProcess, ends: dict[tuple[str, int], int], timeout: float = 60.0) -> None:
    def done() -> bool:
        assert sink.alive(), "the sink exited:\n" + sink.log()[-3000:]
        stored = stored_offsets(sink.database_url)
        return all(stored.get(tp, 0) >= end for tp, end in ends.items())

    await wait_for(
        lambda: asyncio.to_thread(done), timeout=timeout, interval=0.1, message=lambda: sink.log()[-3000:]
    )


async def new_topics(broker: EmbeddedBroker) -> Topics:
    topics = Topics(unique_name("sink"))
    await ensure_topics(broker.bootstrap, topics, partitions=4)
    return topics


def merge(a: dict[tuple[str, int], int], b: dict[tuple[str, int], int]) -> dict[tuple[str, int], int]:
    return {k: max(a.get(k, 0), b.get(k, 0)) for k in a.keys() | b.keys()}


# --- (a) the sink copies the topics; (f) on PostgreSQL too ----------------------------------------------------


@pytest.mark.broker
@pytest.mark.slow
async def test_sink_stores_the_latest_value_of_every_key(
    broker: EmbeddedBroker, sinks: Any, database_url: str
) -> None:
    topics = await new_topics(broker)
    messages = outputs(0, 120)
    first_record = next(m for m in messages if m[0] == "transactions")
    first_filing = messages[0]
    # Later versions, tombstones and malformed messages, after the originals.
    superseded = json.loads(first_record[2] or b"{}") | {"superseded_by": "0009999999-26-999999"}
    # Valid by the contract, but NUL is no PostgreSQL text: indexed copies drop it, the payload keeps it.
    filing_doc = json.loads(next(v for k, _, v in reversed(messages) if k == "filings") or b"{}")
    filing_doc["issuer"]["name"] = "NUL\u0000 Corp"
    filing_doc["accession_number"] = "0009999997-26-000001"
    filing_doc["acceptance_datetime"] = (
        "2030-01-02T09:30:00-05:00"  # the issuer's newest: its name is the NUL one
    )
    alert_doc = json.loads(next(v for k, _, v in messages if k == "alerts") or b"{}")
    alert_doc["rule"] = "rule\u0000with nul"
    later: list[Out] = [
        ("filings", "0009999997-26-000001", json.dumps(filing_doc).encode()),
        ("alerts", alert_doc["alert_id"], json.dumps(alert_doc).encode()),
        ("transactions", first_record[1], json.dumps(superseded).encode()),
        ("filings", first_filing[1], None),
        *MALFORMED,
        ("transactions", "no-such-key-tombstone", None),
    ]
    ends = await publish(broker.bootstrap, topics, messages)
    ends = merge(ends, await publish(broker.bootstrap, topics, later))
    ends = merge(ends, await publish(broker.bootstrap, topics, [("transactions", None, b"{}")]))  # type: ignore[list-item]

    sink = sinks(topics.prefix, database_url, metrics_port=free_port()).start()
    await caught_up(sink, ends)

    topics_hold = await topic_contents(broker.bootstrap, topics, ends)
    assert first_filing[1] not in topics_hold["filings"] and len(topics_hold["transactions"]) > 300
    db = snapshot(database_url)
    assert_equals_topics(db, topics_hold)
    assert json.loads(db["transactions"][first_record[1]])["superseded_by"] == "0009999999-26-999999"
    assert json.loads(db["filings"]["0009999997-26-000001"])["issuer"]["name"] == "NUL\x00 Corp"
    assert db["offsets"] == ends
    skipped = [line for line in sink.log().splitlines() if "skipped malformed message" in line]
    assert len(skipped) == len(MALFORMED) + 1, "\n".join(skipped)  # + the keyless one
    assert sink.alive()
    with urllib.request.urlopen(f"http://127.0.0.1:{sink.metrics_port}/metrics", timeout=10) as response:
        metrics = response.read().decode()
    counted = {
        line.split("{")[1].split("}")[0]: float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("form4_sink_malformed_total{")
    }
    assert sum(counted.values()) == len(skipped) and any('reason="key_mismatch"' in k for k in counted), (
        counted
    )


# --- (b) redelivery changes nothing ---------------------------------------------------------------------------


@pytest.mark.broker
@pytest.mark.slow
async def test_the_same_messages_again_change_nothing(
    broker: EmbeddedBroker, sinks: Any, sqlite_url: str
) -> None:
    topics = await new_topics(broker)
    messages = outputs(200, 60)
    ends = await publish(broker.bootstrap, topics, messages)
    sink = sinks(topics.prefix, sqlite_url).start()
    await caught_up(sink, ends)
    before = snapshot(sqlite_url)
    assert before["alerts"] and before["counter"] == len(before["alerts"])

    ends = merge(
        ends, await publish(broker.bootstrap, topics, messages)
    )  # redelivered: same keys, same values
    assert sum(ends.values()) == 2 * len(messages)
    await caught_up(sink, ends)
    after = snapshot(sqlite_url)
    assert after["offsets"] == ends
    del before["offsets"], after["offsets"]
    assert after == before  # rows, owners, issuers, arrival numbers and the arrival counter
    assert sink.kill(signal.SIGTERM) == 0, sink.log()[-2000:]  # a clean stop


# --- (c) kill -9 mid-stream, several times; (f) on PostgreSQL too -------------------------------------------


@pytest.mark.broker
@pytest.mark.slow
async def test_kill_9_mid_stream_loses_and_doubles_nothing(
    broker: EmbeddedBroker, sinks: Any, database_url: str
) -> None:
    topics = await new_topics(broker)
    rounds = [outputs(1000 + 150 * r, 150) for r in range(4)]  # ~4 x 900 messages
    sink = sinks(topics.prefix, database_url, batch_size=50).start()
    ends: dict[tuple[str, int], int] = {}
    kills_mid_round = 0
    for messages in rounds:
        before = sum(ends.values())
        ends = merge(ends, await publish(broker.bootstrap, topics, messages))
        target = before + len(messages) // 3

        def progressed(target: int = target) -> int:
            assert sink.alive(), sink.log()[-3000:]
            done = sum(stored_offsets(database_url).values())
            return done if done >= target else 0

        done = await wait_for(lambda: asyncio.to_thread(progressed), timeout=60, interval=0.005)
        sink.kill(signal.SIGKILL)
        at_kill = sum(stored_offsets(database_url).values())
        kills_mid_round += at_kill < sum(ends.values())
        assert at_kill >= done
        sink.start()
    await caught_up(sink, ends)
    assert kills_mid_round >= 2, "the sink was never killed while it still had messages to write"

    db = snapshot(database_url)
    assert db["offsets"] == ends
    assert_equals_topics(db, await topic_contents(broker.bootstrap, topics, ends))
    # Every alert got one arrival number: a batch applied twice would have drawn more.
    assert db["counter"] == len(db["alerts"]) == len(set(db["arrivals"].values()))


# --- (c) a crash right after a database commit (FORM4_FAULT=sink_committed:n); (f) on PostgreSQL too ----------


def messages_read(port: int) -> int:
    """The sink's form4_sink_messages_total, all topics together."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        lines = response.read().decode().splitlines()
    return round(sum(float(x.rsplit(" ", 1)[1]) for x in lines if x.startswith("form4_sink_messages_total{")))


def refuse(url: str, txn_id: str) -> None:
    """Make the database itself refuse the row of ``txn_id`` (as a constraint would), nothing else."""
    store = HistoryStore.open(url)  # creates the tables
    try:
        if store.conn.dialect == "sqlite":
            store.conn.execute(
                f"CREATE TRIGGER refuse BEFORE INSERT ON transactions WHEN NEW.txn_id = '{txn_id}' "
                "BEGIN SELECT RAISE(ABORT, 'refused by the database'); END"
            )
        else:
            store.conn.execute(f"ALTER TABLE transactions ADD CONSTRAINT refuse CHECK (txn_id <> '{txn_id}')")
    finally:
        store.close()


FAULT_BATCH = 20


@pytest.mark.broker
@pytest.mark.slow
async def test_a_crash_right_after_a_commit_loses_and_doubles_nothing(
    broker: EmbeddedBroker, sinks: Any, database_url: str
) -> None:
    """Dead between the database commit and whatever follows it: the restart resumes exactly at the offsets the
    database holds, so the batch just committed is neither lost nor read again."""
    topics = await new_topics(broker)
    ends = await publish(broker.bootstrap, topics, outputs(1700, 30))
    total = sum(ends.values())
    assert total > 8 * FAULT_BATCH
    records = await topic_records(broker.bootstrap, topics, ends)
    sink = sinks(topics.prefix, database_url, batch_size=FAULT_BATCH)
    done = 0
    for n in (1, 3):  # the first commit of a run, and one in the middle of the stream
        sink.fault = f"sink_committed:{n}"
        assert await sink.start().exited() == faults.EXIT_CODE, sink.log()[-3000:]
        assert f"injected fault sink_committed:{n}" in sink.log()
        db = snapshot(database_url)
        stored = sum(db["offsets"].values())
        assert done < stored <= done + n * FAULT_BATCH, (done, stored)  # n more commits, none undone
        # What is in is exactly a prefix of every partition: the one the stored offsets name.
        assert_equals_topics(db, contents_upto(records, topics, db["offsets"]))
        assert db["counter"] == len(db["alerts"])
        done = stored

    sink.fault, sink.metrics_port = None, free_port()
    sink.start()
    await caught_up(sink, ends)
    db = snapshot(database_url)
    assert db["offsets"] == ends
    assert_equals_topics(db, contents_upto(records, topics, ends))
    assert db["counter"] == len(db["alerts"]) == len(set(db["arrivals"].values()))
    # The restart read each message the database did not hold, once, and none it held.
    port = sink.metrics_port
    read = await wait_for(
        lambda: asyncio.to_thread(lambda: (r := messages_read(port)) >= total - done and r), timeout=30
    )
    assert read == total - done


@pytest.mark.broker
@pytest.mark.slow
async def test_a_crash_inside_the_one_by_one_fallback_loses_and_doubles_nothing(
    broker: EmbeddedBroker, sinks: Any, database_url: str
) -> None:
    """A batch the database refuses is written one message (one commit) at a time: a crash after any of those
    commits resumes after that message, the refused one stays skipped, the rest of the batch is written."""
    topics = await new_topics(broker)
    messages = [m for m in outputs(1900, 12) if m[0] == "transactions"][:14]
    assert len(messages) > 10
    refused = messages[1][1]
    refuse(database_url, refused)
    # One partition, so the first batch is its first 10 messages, and the refused one is among them.
    await produce(
        broker.bootstrap,
        topics.transactions,
        [v for _, _, v in messages],
        [k for _, k, _ in messages],
        partition=0,
    )
    ends = {(topics.transactions, 0): len(messages)}
    sink = sinks(topics.prefix, database_url, batch_size=10, fault="sink_committed:3")
    assert await sink.start().exited() == faults.EXIT_CODE, sink.log()[-3000:]
    assert "writing its 10 messages one by one" in sink.log()
    db = snapshot(database_url)
    # Three commits: offset 0 written, 1 skipped, 2 written; the database says to resume at 3.
    assert db["offsets"] == {(topics.transactions, 0): 3}
    assert db["transactions"] == {k: (v or b"").decode() for _, k, v in (messages[0], messages[2])}

    sink.fault = None
    sink.start()
    await caught_up(sink, ends)
    db = snapshot(database_url)
    assert db["offsets"] == ends
    expected = await topic_contents(broker.bootstrap, topics, ends)
    assert expected["transactions"].pop(refused)
    assert_equals_topics(db, expected)
    # The restart did not read the refused message again: it would have been skipped and logged. (Its warning
    # from the first run was lost with it: the sink logs a batch's skips after write_messages returns.)
    assert "skipped malformed message" not in sink.log()


# --- (d) alert revisions -------------------------------------------------------------------------------------


def _revision(alert: bytes, revision: int | None, note: str) -> bytes:
    doc = json.loads(alert)
    if revision is not None:
        doc["revision"] = revision
    doc["message"] = f"{doc['message']} [{note}]"
    return json.dumps(doc).encode()


@pytest.mark.broker
@pytest.mark.slow
async def test_the_latest_alert_revision_stands(broker: EmbeddedBroker, sinks: Any, sqlite_url: str) -> None:
    topics = await new_topics(broker)
    alerts = [(k, v) for kind, k, v in outputs(300, 40) if kind == "alerts"]
    (a_id, a), (b_id, b), (c_id, c) = alerts[:3]
    sink = sinks(topics.prefix, sqlite_url).start()
    queries = HistoryQueries(sqlite_url)
    try:
        ends: dict[tuple[str, int], int] = {}

        async def send(*messages: Out) -> None:
            nonlocal ends
            ends = merge(ends, await publish(broker.bootstrap, topics, list(messages)))
            await caught_up(sink, ends)

        def stored(alert_id: str) -> tuple[dict[str, Any], int]:
            db = snapshot(sqlite_url)
            return json.loads(db["alerts"][alert_id]), db["arrivals"][alert_id]

        assert a is not None and b is not None and c is not None
        # One at a time, each in its own batch: the store folds against what it holds.
        await send(("alerts", a_id, _revision(a, 2, "r2")))
        r2, arrival2 = stored(a_id)
        await send(("alerts", a_id, _revision(a, 1, "r1")))  # older revision arriving later
        assert stored(a_id) == (r2, arrival2)
        await send(("alerts", a_id, _revision(a, 3, "r3")))
        r3, arrival3 = stored(a_id)
        assert r3["revision"] == 3 and r3["message"].endswith("[r3]") and arrival3 > arrival2
        await send(("alerts", a_id, _revision(a, 3, "r3")), ("alerts", a_id, _revision(a, 2, "r2")))
        assert stored(a_id) == (r3, arrival3)  # a redelivered revision and an older one change nothing

        # All in one batch: the highest revision wins whatever the order; without a revision, the latest value.
        await send(
            ("alerts", b_id, _revision(b, 5, "r5")),
            ("alerts", b_id, _revision(b, 4, "r4")),
            ("alerts", b_id, _revision(b, 5, "r5")),
            ("alerts", c_id, _revision(c, None, "first")),
            ("alerts", c_id, _revision(c, None, "second")),
        )
        assert stored(b_id)[0]["message"].endswith("[r5]")
        assert stored(c_id)[0]["message"].endswith("[second]")

        # The live page sees each change once, in arrival order; a revision comes again under its alert_id.
        page = await queries.alerts_after(0, limit=10)
        # (b and c came in one batch from two partitions, whose order among themselves is the consumer's)
        arrived = [x["message"][-4:] for x in page["items"]]
        assert arrived[0] == "[r3]" and sorted(arrived[1:]) == ["[r5]", "ond]"]
        assert (await queries.alerts_after(page["last_arrival"]))["items"] == []
        await send(("alerts", c_id, None))  # a tombstone deletes
        assert c_id not in snapshot(sqlite_url)["alerts"]
        assert not [o for o in snapshot(sqlite_url)["alert_owners"] if o[0] == c_id]
    finally:
        await queries.close()


# --- (e) paging; (f) on PostgreSQL too ------------------------------------------------------------------------


def _sort_key(doc: dict[str, Any], key: str) -> tuple[str, str]:
    accepted = doc.get("acceptance_datetime")
    instant = "" if accepted is None else datetime.fromisoformat(accepted).astimezone(UTC).isoformat()
    return instant, key


async def walk(fetch: Any, page_size: int, **filters: Any) -> tuple[list[dict[str, Any]], int]:
    items: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        page = await fetch(limit=page_size, cursor=cursor, **filters)
        pages += 1
        assert len(page["items"]) <= page_size
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items, pages


async def test_paging_returns_each_row_once_newest_first(database_url: str) -> None:
    store = HistoryStore.open(database_url)
    queries = HistoryQueries(database_url)
    try:
        doc = "b3bf39b410b1.xml"  # Apple, Tim Cook: 6 rows a filing
        messages = outputs(5000, 500, doc)
        kinds = {"filings": "filings", "transactions": "transactions", "alerts": "alerts"}
        batch = build_batch(
            [Message(k, 0, i, key.encode(), v) for i, (k, key, v) in enumerate(messages)], kinds
        )  # type: ignore[arg-type]
        assert not batch.skipped
        await asyncio.to_thread(store.apply, batch)
        records = {key: json.loads(v) for kind, key, v in messages if kind == "transactions" and v}
        assert len(records) >= 3000
        expected = sorted(records, key=lambda k: _sort_key(records[k], k), reverse=True)

        walked, pages = await walk(lambda **kw: queries.transactions_of_issuer("320193", **kw), 97)
        assert [r["txn_id"] for r in walked] == expected and pages == math.ceil(len(expected) / 97)
        owner = json.loads(messages[1][2] or b"{}")["reporting_owners"][0]["cik"]
        by_owner, _ = await walk(lambda **kw: queries.transactions_of_owner(owner, **kw), 250)
        assert [r["txn_id"] for r in by_owner] == expected

        # since/until: Eastern days, or instants; rows without an acceptance time are in no range.
        since, until = "2024-01-20", "2024-02-03T12:00:00-05:00"
        low = datetime(2024, 1, 20, tzinfo=EASTERN)
        high = datetime(2024, 2, 3, 12, tzinfo=EASTERN)
        in_range = [
            k
            for k in expected
            if records[k]["acceptance_datetime"]
            and low <= datetime.fromisoformat(records[k]["acceptance_datetime"]) <= high
        ]
        ranged, _ = await walk(
            lambda **kw: queries.transactions_of_issuer("0000320193", **kw), 40, since=since, until=until
        )
        assert [r["txn_id"] for r in ranged] == in_range and 0 < len(in_range) < len(expected)
        until_day, _ = await walk(
            lambda **kw: queries.transactions_of_issuer("320193", **kw), 500, until="2024-01-20"
        )
        day_end = datetime(2024, 1, 21, tzinfo=EASTERN)
        assert [r["txn_id"] for r in until_day] == [
            k
            for k in expected
            if records[k]["acceptance_datetime"]
            and datetime.fromisoformat(records[k]["acceptance_datetime"]) < day_end
        ]

        # Stable under concurrent inserts: rows written between pages neither repeat nor hide the others; rows
        # older than the cursor are still ahead of the walk, newer ones are not part of it.
        middle = {k: json.loads(v) for kind, k, v in outputs(6100, 30, doc) if kind == "transactions" and v}
        newest = {k: json.loads(v) for kind, k, v in outputs(6900, 10, doc) if kind == "transactions" and v}
        cursor = None
        seen: list[str] = []
        for page_number in range(10_000):
            page = await queries.transactions_of_issuer("320193", limit=300, cursor=cursor)
            seen += [r["txn_id"] for r in page["items"]]
            if page_number == 2:
                inserted = [
                    Message("transactions", 1, i, k.encode(), json.dumps(v).encode())
                    for i, (k, v) in enumerate([*middle.items(), *newest.items()])
                ]
                await asyncio.to_thread(store.apply, build_batch(inserted, kinds))  # type: ignore[arg-type]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)), "a row came twice"
        assert set(seen) == set(expected) | set(middle), "rows missing, or newer rows inside an older walk"
        every = records | middle
        assert [_sort_key(every[k], k) for k in seen] == sorted(
            (_sort_key(every[k], k) for k in seen), reverse=True
        )

        alerts = await queries.alerts(issuer="320193", rule="executive_sale", limit=1000)
        assert alerts["next_cursor"] is None
        assert {a["alert_id"] for a in alerts["items"]} == {
            key
            for kind, key, v in messages
            if kind == "alerts" and json.loads(v or b"{}")["rule"] == "executive_sale"
        }
        by_owner_alerts, _ = await walk(lambda **kw: queries.alerts(owner=owner, **kw), 33)
        assert len(by_owner_alerts) == sum(1 for m in messages if m[0] == "alerts")
        found = await queries.issuer_by_ticker("aapl")
        assert found is not None and found["cik"] == "0000320193" and found["ticker"] == "AAPL"
        assert await queries.issuer_by_ticker("NOPE") is None
        with pytest.raises(query.QueryError):
            await queries.transactions_of_issuer("320193", cursor="garbage!")
    finally:
        await queries.close()
        store.close()


async def test_queries_survive_a_postgresql_restart(postgres: Any) -> None:
    url = postgres.database()
    store = HistoryStore.open(url)
    queries = HistoryQueries(url)
    try:
        messages = outputs(8000, 3, "b3bf39b410b1.xml")
        batch = build_batch(
            [Message(k, 0, i, key.encode(), v) for i, (k, key, v) in enumerate(messages)],
            {k: k for k in ("filings", "transactions", "alerts")},
        )  # type: ignore[arg-type, misc]
        store.apply(batch)
        before = await queries.transactions_of_issuer("320193")
        assert len(before["items"]) == 18
        postgres.restart()
        assert await queries.transactions_of_issuer("320193") == before
    finally:
        await queries.close()
        store.close()


# --- pure parts -----------------------------------------------------------------------------------------------


def test_cursor_round_trips_and_refuses_what_it_did_not_make() -> None:
    cursor = query.encode_cursor("2024-01-02T14:30:00.000000Z", "abc")
    assert query.decode_cursor(cursor) == ("2024-01-02T14:30:00.000000Z", "abc")
    for bad in ("", "!!!", query.encode_cursor("x", "y")[:-3], "eyJhIjogMX0"):
        with pytest.raises(query.QueryError):
            query.decode_cursor(bad)


def test_bounds_are_eastern_days_or_instants() -> None:
    assert query.lower_bound("2024-03-01") == "2024-03-01T05:00:00.000000Z"
    assert query.upper_bound("2024-07-04") == ("<", "2024-07-05T04:00:00.000000Z")  # daylight time
    assert query.upper_bound("2024-03-01T10:00:00Z") == ("<=", "2024-03-01T10:00:00.000000Z")
    assert query.lower_bound("2024-03-01T10:00") == "2024-03-01T15:00:00.000000Z"
    for bad in ("yesterday", "2024-13-01", "2024-02-30T00:00"):
        with pytest.raises(query.QueryError):
            query.lower_bound(bad)
    for wrong in (0, 1001):
        with pytest.raises(query.QueryError):
            query.limit(wrong)
    with pytest.raises(query.QueryError):
        query.cik("12345678901")


def test_database_urls() -> None:
    assert parse_database_url("sqlite:///.form4-data/x.sqlite3").target == ".form4-data/x.sqlite3"
    assert parse_database_url("sqlite:////var/lib/x.sqlite3").target == "/var/lib/x.sqlite3"
    assert parse_database_url("postgres://u:secret@db:5432/form4").dialect == "postgresql"
    for bad in ("mysql://u@h/db", "sqlite://", "sqlite:///", "form4.sqlite3", "postgresql:///db"):
        with pytest.raises(ValueError, match="sqlite:///<path>"):
            parse_database_url(bad)
    with pytest.raises(ValueError) as caught:
        parse_database_url("mysql://user:hunter2@h/db")
    assert "hunter2" not in str(caught.value)


def test_sink_refuses_a_bad_database_url_in_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORM4_")}
    env["FORM4_DATABASE_URL"] = "mysql://root@localhost/form4"
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "sink"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "FORM4_DATABASE_URL" in lines[0] and "postgresql://" in lines[0], done.stderr


def test_malformed_messages_are_skipped_with_a_reason() -> None:
    kinds = {"f": "filings", "t": "transactions", "a": "alerts"}
    good = filing_outputs(0)
    record = next(m for m in good if m[0] == "transactions")
    messages = [
        Message("t", 0, 0, None, record[2]),
        Message("t", 0, 1, b"\xff", record[2]),
        Message("t", 0, 2, b"other", record[2]),
        Message("t", 0, 3, record[1].encode(), b"[1, 2]"),
        Message("t", 0, 4, record[1].encode(), record[2]),
        Message("t", 0, 5, record[1].encode(), b"{broken"),  # does not undo the good one before it
        Message("t", 0, 6, b"nul\x00key", record[2]),
        Message("f", 1, 7, b"k", json.dumps({"document_type": "4", "issuer": {"cik": "12"}}).encode()),
        Message(
            "a",
            2,
            9,
            b"x",
            json.dumps(
                {
                    "alert_id": "x",
                    "rule": "r",
                    "severity": "low",
                    "issuer": {"cik": "0000000001"},
                    "owners": [],
                    "acceptance_datetime": "noon",
                }
            ).encode(),
        ),
    ]
    batch = build_batch(messages, kinds)  # type: ignore[arg-type]
    assert [s.reason for s in batch.skipped] == [
        "no_key",
        "bad_key",
        "key_mismatch",
        "not_json",
        "not_json",
        "bad_key",
        "missing_field",
        "bad_field",
    ]
    assert list(batch.transactions) == [record[1]] and batch.transactions[record[1]] is not None
    assert batch.offsets == {("t", 0): 7, ("f", 1): 8, ("a", 2): 10} and batch.messages == len(messages)


def test_a_message_the_database_refuses_is_skipped_and_the_rest_written(sqlite_url: str) -> None:
    """Whatever the checks miss, a value the database refuses costs that message only: no crash loop."""
    store = HistoryStore.open(sqlite_url)
    try:
        messages = [m for m in outputs(9000, 4) if m[0] == "transactions"]
        refused = messages[2][1]
        store.conn.execute(
            f"CREATE TRIGGER refuse BEFORE INSERT ON transactions WHEN NEW.txn_id = '{refused}' "
            "BEGIN SELECT RAISE(ABORT, 'refused by the database'); END"
        )
        batch, applied = write_messages(
            store,
            [Message("t", 0, i, k.encode(), v) for i, (_, k, v) in enumerate(messages)],
            {"t": "transactions"},
        )
        assert [(s.offset, s.reason) for s in batch.skipped] == [(2, "unstorable")]
        assert applied.transactions == len(messages) - 1
        db = snapshot(sqlite_url)
        assert set(db["transactions"]) == {k for _, k, _ in messages} - {refused}
        assert db["offsets"] == {("t", 0): len(messages)}
    finally:
        store.close()


def test_alert_sort_time_falls_back_to_the_window_end() -> None:
    alert = next(json.loads(v or b"{}") for kind, _, v in outputs(0, 30) if kind == "alerts")
    alert["acceptance_datetime"] = None
    alert["window_end"] = str(date(2024, 7, 1))
    batch = build_batch(
        [Message("a", 0, 0, alert["alert_id"].encode(), json.dumps(alert).encode())], {"a": "alerts"}
    )
    (row,) = batch.alerts[alert["alert_id"]]
    assert row is not None and row.sort_at == "2024-07-01T04:00:00.000000Z"
