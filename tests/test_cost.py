"""What issue 18 changed to halve the messages and bytes per filing, checked without a broker: a batch's state
written once per key under one journal (and completed after a crash among its writes), the by-owner hop as one
deflated message per partition, the by-issuer hop deflated and bounded, stored rows as the processed marker, the
cluster window packed. The broker-level outcome is bench/pipeline.py's; correctness on the broker is
test_pipeline.py, test_faults.py and test_arrival_order.py."""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.partitioner import DefaultPartitioner

from streams.alerts import load_rules
from streams.alerts.step import WINDOWS, read_cluster
from streams.app.agents import DEFLATED, Pipeline, Step, _apply, _by_partition, _inflated
from streams.parse import parse_filing
from streams.parse.sgml import unwrap_submission
from streams.process import Source, is_duplicate, process_filing, read_event, seen_key
from streams.state import DictState, Staged
from streams.state import journal as jr
from tests.test_delivery import spread

ROOT = Path(__file__).resolve().parents[1]
PARTITIONS = 4


def _event(partition: int, offset: int, headers: list[tuple[str, bytes]] | None = None) -> Any:
    message = SimpleNamespace(topic="t", partition=partition, offset=offset)
    return SimpleNamespace(message=message, key=None, value=b"", headers=headers or [])


class Recording(DictState):
    """A table that remembers every write in order (journal entries included)."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[str, Any]] = []

    def put(self, key: str, value: Any | None) -> None:
        self.log.append((key, value))
        super().put(key, value)


def _batch(events: int, partition: int = 0) -> tuple[list[Step], DictState]:
    """``events`` steps of one partition, each reading through the one before: every one rewrites the issuer's
    window, adds its own rows, and the third deletes the first's. Also the state applied event by event."""
    sequential = DictState({"rec|old": "x"})
    steps: list[Step] = []
    read = sequential.get
    for n in range(events):
        staged = Staged(read)
        window = staged.get("cluster|X") or {"n": []}
        staged.put("cluster|X", {"n": [*window["n"], n]})
        staged.put(f"rec|{n}", {"rows": n})
        if n == 2:
            staged.put("rec|0", None)
            staged.put("rec|old", None)
        steps.append(Step(_event(partition, 100 + n), staged=staged))
        read = staged.get
    for step in steps:
        assert step.staged is not None
        step.staged.apply(sequential)
    return steps, sequential


def test_a_batch_writes_each_key_once_with_its_last_value_under_one_journal() -> None:
    steps, sequential = _batch(6)
    table = Recording()
    table.data.update({"rec|old": "x"})
    _apply(steps, table)  # type: ignore[arg-type]
    own = [k for k, _ in table.log if not k.startswith("jrnl|")]
    assert sorted(own) == sorted(set(own))  # each key once
    assert len([k for k, _ in table.log if k.startswith("jrnl|")]) == 1
    assert {k: v for k, v in table.data.items() if not k.startswith("jrnl|")} == sequential.data
    head = table.get(jr.head_key(0))
    assert head is not None and head["id"] == "t:0:100-105"


def test_a_kill_among_a_batch_s_writes_is_completed_by_the_replay() -> None:
    """Cut after every write that follows the journal: the replay gives the state of all six events."""
    steps, sequential = _batch(6)
    table = Recording()
    table.data.update({"rec|old": "x"})
    _apply(steps, table)  # type: ignore[arg-type]
    journal_writes = sum(1 for k, _ in table.log if k.startswith("jrnl|"))
    for cut in range(journal_writes, len(table.log) + 1):
        crashed = DictState({"rec|old": "x"})
        for k, v in table.log[:cut]:
            crashed.put(k, v)
        jr.replay(crashed, 0)
        assert {k: v for k, v in crashed.data.items() if not k.startswith("jrnl|")} == sequential.data, cut


def test_steps_are_grouped_by_their_partition_in_batch_order() -> None:
    steps = [Step(_event(p, n), staged=Staged(lambda k: None)) for n, p in enumerate([1, 0, 1, 2, 0])]
    groups = _by_partition(steps)
    assert [[s.event.message.offset for s in g] for g in groups] == [[0, 2], [1, 4], [3]]


def _hop_pipeline(small: int = 10_000) -> Pipeline:
    pipeline = Pipeline.__new__(Pipeline)
    pipeline.channels = SimpleNamespace(by_owner=SimpleNamespace(get_topic_name=lambda: "hop"))  # type: ignore[assignment]
    consumer = SimpleNamespace(key_partition=lambda topic, key: None)  # no metadata yet: murmur2 ourselves
    pipeline.publisher = SimpleNamespace(app=SimpleNamespace(consumer=consumer))  # type: ignore[assignment]
    pipeline.settings = SimpleNamespace(partitions=PARTITIONS)  # type: ignore[assignment]
    pipeline.small = small
    return pipeline


def _murmur(owner: str) -> int:
    everyone = list(range(PARTITIONS))
    return int(DefaultPartitioner()(owner.encode(), everyone, everyone))


@pytest.mark.parametrize("item_bytes", [40, 3000])  # one message per partition; several past the size
def test_the_by_owner_hop_is_one_deflated_message_per_partition_and_loses_nothing(item_bytes: int) -> None:
    pipeline = _hop_pipeline()
    steps = []
    for n in range(30):
        items = [
            (owner, json.dumps({"owner": owner, "step": n, "pad": "x" * item_bytes}).encode())
            for owner in (f"{n % 7:010d}", f"{100 + n % 5:010d}", "0000000999")
        ]
        steps.append(Step(_event(0, n), hop=items))
    out = pipeline._hop_messages(steps)
    if item_bytes == 40:
        assert len(out) == len({_murmur(o) for s in steps for o, _ in s.hop})
    arrived: list[dict[str, Any]] = []
    for message, senders in out:
        assert message.topic == "hop" and dict(message.headers)[DEFLATED[0]] == DEFLATED[1]
        assert message.size <= pipeline.small
        items = json.loads(_inflated(SimpleNamespace(value=message.value, headers=message.headers), 1 << 20))
        assert {_murmur(i["owner"]) for i in items} == {message.partition}
        assert sorted(s.event.message.offset for s in senders) == sorted({i["step"] for i in items})
        arrived += items
    sent = [json.loads(item) for step in steps for _, item in step.hop]
    assert sorted(arrived, key=json.dumps) == sorted(sent, key=json.dumps)
    for owner in {i["owner"] for i in sent}:  # each owner's items in the order its filings came
        steps_of = [i["step"] for i in arrived if i["owner"] == owner]
        assert steps_of == sorted(steps_of)


def test_a_by_issuer_value_inflates_only_within_its_limit() -> None:
    plain = SimpleNamespace(value=b'{"plain": true}', headers=[])
    assert _inflated(plain, 100) == b'{"plain": true}'  # from a worker before deflating
    small = SimpleNamespace(value=zlib.compress(b"x" * 100), headers=[DEFLATED])
    assert _inflated(small, 100) == b"x" * 100
    bomb = SimpleNamespace(value=zlib.compress(b"x" * 10_000_000), headers=[DEFLATED])
    with pytest.raises(ValueError, match="over 100000 bytes"):
        _inflated(bomb, 100_000)
    cut = SimpleNamespace(value=zlib.compress(b"x" * 1000)[:-6], headers=[DEFLATED])
    with pytest.raises(ValueError, match="cut short"):
        _inflated(cut, 100_000)


def _sample(name: str) -> Any:
    data = (ROOT / "samples" / name).read_bytes()
    return parse_filing(unwrap_submission(data).xml if name.endswith(".txt") else data)


def test_stored_rows_mark_a_filing_processed_and_a_filing_without_rows_gets_a_marker() -> None:
    rules = load_rules(None)
    with_rows, without = _sample("71b9ada5bb7b.txt"), _sample("2e57f1f60cd6.txt")
    state = DictState()
    for filing in (with_rows, without):
        assert not is_duplicate(filing, state)
        process_filing(filing, state, rules)
        assert is_duplicate(filing, state)
    assert seen_key(with_rows) not in state.data  # its rec| value says it
    assert seen_key(without) in state.data
    old = DictState({seen_key(with_rows): with_rows.raw_sha256})  # a marker written before this change
    assert is_duplicate(with_rows, old)


def test_the_cluster_window_is_stored_packed_and_read_in_either_form() -> None:
    rules = load_rules(None)
    filing = _sample("0489944b8445.xml")
    state = DictState()
    process_filing(filing, state, rules)
    (stored,) = [v for k, v in state.data.items() if k.startswith("cluster|")]  # it buys on the market
    assert isinstance(stored, str) and stored.startswith("z:")
    window = read_cluster(stored)
    assert window["purchases"] and read_cluster(window) == window  # a dict (the older form) as it is


def test_the_window_cache_changes_no_result() -> None:
    """The cluster window read back from the cache (what the purchase before wrote) and parsed from its stored
    value give the same alerts, records and state, to the byte: 300 filings of 20+ issuers, twice."""
    rules = load_rules(None)
    values, _ = spread(300)
    filings = [read_event(v, Source("t", 0, n, None), 5 * 1024 * 1024) for n, v in enumerate(values)]

    def outputs(cached: bool) -> tuple[list[str], dict[str, Any]]:
        state = DictState()
        published: list[str] = []
        WINDOWS.clear()
        hits = 0
        for filing in filings:
            if not cached:
                WINDOWS.clear()
            before = {k: v for k, v in state.data.items() if k.startswith("cluster|")}
            hits += sum(WINDOWS.get(v) is not None for v in before.values())
            out = process_filing(filing, state, rules)  # type: ignore[arg-type]
            published += [r.model_dump_json() for r in out.published_records()]
            published += [a.model_dump_json() for a in out.alerts]
        assert (hits > 100) == cached  # the cache was used, or not at all
        return published, state.data

    assert outputs(cached=True) == outputs(cached=False)
