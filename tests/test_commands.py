"""The command-line side of the pipeline on the real broker: ingest files (dirs, zip, tar), tail, the demo;
and the pure event step the parse agent runs."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from streams.broker import EmbeddedBroker
from streams.ingest.files import accession_key, iter_documents
from streams.models import DeadLetter, Filing, RawFilingEvent
from streams.placement import partition_for_key
from streams.process import Source, read_event
from tests.broker import consume_all, unique_name
from tests.fixtures_index import FIXTURES
from tests.test_verify import form4

ROOT = Path(__file__).resolve().parents[1]
LRCX = FIXTURES / "txt" / "7a623a2c1264.txt"
SONUS = FIXTURES / "xml" / "sonus_x0304_reconstructed.xml"


def test_documents_from_directories_zip_and_tar(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "a.xml").write_bytes(SONUS.read_bytes())
    (tmp_path / "dir" / "README.md").write_text("not a filing")
    with zipfile.ZipFile(tmp_path / "f.zip", "w") as archive:
        archive.write(LRCX, "x/lrcx.txt")
        archive.writestr("notes.md", "skip me")
    with tarfile.open(tmp_path / "f.tar.gz", "w:gz") as archive:
        archive.add(SONUS, "sonus.xml")
    names = [
        name for name, _ in iter_documents([tmp_path / "dir", tmp_path / "f.zip", tmp_path / "f.tar.gz"])
    ]
    assert [Path(n.split("!")[-1]).name for n in names] == ["a.xml", "lrcx.txt", "sonus.xml"]
    assert accession_key(LRCX.read_bytes()) == b"0000707549-25-000004"
    assert accession_key(SONUS.read_bytes()) is None


def test_read_event_takes_an_envelope_or_the_bare_document() -> None:
    xml = SONUS.read_bytes()
    envelope = (
        RawFilingEvent(
            accession_number="0001105472-11-000042",
            source="files",
            received_at=datetime.now(UTC),
            document=xml.decode(),
        )
        .model_dump_json()
        .encode()
    )
    from_envelope = read_event(envelope, Source(), 1 << 20)
    bare = read_event(xml, Source(), 1 << 20)
    assert isinstance(from_envelope, Filing) and isinstance(bare, Filing)
    assert from_envelope.accession_number == "0001105472-11-000042" and bare.accession_number is None
    assert [t.shares for t in from_envelope.transactions] == [t.shares for t in bare.transactions]

    bad = read_event(b'{"document": 5}', Source("form4.raw", 2, 17, b"k"), 1 << 20)
    assert isinstance(bad, DeadLetter)
    assert (bad.reason, bad.source_partition, bad.source_offset, bad.source_key) == (
        "invalid_envelope",
        2,
        17,
        "k",
    )
    refused = read_event(LRCX.read_bytes(), Source(), 100)
    assert isinstance(refused, DeadLetter) and refused.reason == "too_large"


@pytest.mark.broker
def test_ingest_files_sends_each_filing_to_its_issuers_partition(broker: EmbeddedBroker) -> None:
    """The samples (20+ issuers, XML and EDGAR submissions) each land on their issuer's partition of form4.raw
    (4 partitions), keyed by accession, so the worker processes every one in place."""
    prefix = unique_name("placed")
    env = {
        **os.environ,
        "FORM4_BROKER_URL": broker.url,
        "FORM4_TOPIC_PREFIX": prefix,
        "FORM4_PARTITIONS": "4",
    }
    ingest = form4(env, "ingest", "files", str(ROOT / "samples"))
    assert ingest.returncode == 0, ingest.stderr
    samples = [p for p in (ROOT / "samples").iterdir() if p.suffix in (".xml", ".txt")]
    records = asyncio.run(consume_all(broker.bootstrap, f"{prefix}.raw", len(samples), timeout=30))
    partitions = []
    for r in records:
        outcome = read_event(r.value, Source(), 5 * 1024 * 1024)
        assert isinstance(outcome, Filing)
        assert r.key == accession_key(r.value)
        assert r.partition == partition_for_key(outcome.issuer.cik.encode(), 4), r.key
        partitions.append(r.partition)
    assert len(partitions) == len(samples) and set(partitions) == {0, 1, 2, 3}


@pytest.mark.broker
def test_ingest_files_then_tail(broker: EmbeddedBroker, tmp_path: Path) -> None:
    prefix = unique_name("cli")
    env = {**os.environ, "FORM4_BROKER_URL": broker.url, "FORM4_TOPIC_PREFIX": prefix}
    with zipfile.ZipFile(tmp_path / "two.zip", "w") as archive:
        archive.write(LRCX, "lrcx.txt")
        archive.write(SONUS, "sonus.xml")
    ingest = form4(env, "ingest", "files", str(tmp_path / "two.zip"))
    assert ingest.returncode == 0, ingest.stderr
    assert "published 2 filings" in ingest.stderr
    tail = form4(env, "tail", "raw", "--from-beginning", "--max", "2", "--timeout", "10")
    assert tail.returncode == 0, tail.stderr
    lines = [json.loads(line) for line in tail.stdout.splitlines()]
    assert sorted(str(m["key"]) for m in lines) == ["0000707549-25-000004", "None"]
    assert all(m["topic"] == f"{prefix}.raw" for m in lines)


@pytest.mark.broker
@pytest.mark.slow
def tansu_logs(directory: Path) -> list[Path]:
    return sorted(directory.glob("form4-tansu-*.log"))


def test_make_run_demo_prints_real_alerts_and_leaves_nothing_running(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "streams.demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        cwd=ROOT,
        env={**os.environ, "TMPDIR": str(tmp_path)},  # where a forgotten broker log would be left
    )
    seen: list[str] = []
    deadline = time.monotonic() + 60
    try:
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), False)
        # Alerts arrive in the order the partitions deliver them: wait for the AAPL one, wherever it comes.
        while time.monotonic() < deadline and not any(
            "executive_sale" in line and "AAPL" in line for line in seen
        ):
            line = proc.stdout.readline()
            if line:
                seen.append(line)
            else:
                time.sleep(0.1)
        assert any("executive_sale" in line and "AAPL" in line for line in seen), "".join(seen)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C, as in a terminal
        assert proc.wait(timeout=40) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    os.set_blocking(proc.stdout.fileno(), True)
    output = "".join(seen) + proc.stdout.read()
    assert "nothing left running" in output
    pids = [int(m) for m in re.findall(r"\bpid (\d+)", output)]
    assert len(pids) == 3  # the broker, the worker and the sink
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert tansu_logs(tmp_path) == [], "the demo left a broker log in the temporary directory"
    worker_log = (ROOT / ".form4-data" / "demo-worker.log").read_bytes()
    assert b"\x1b[" not in worker_log and len(worker_log.strip()) > 100, worker_log[:300]


@pytest.mark.broker
@pytest.mark.slow
def test_demo_killed_outright_takes_its_broker_and_worker_with_it(tmp_path: Path) -> None:
    """No cleanup code runs on SIGKILL: the kernel's parent-death signal must end the children."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "streams.demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert proc.stdout is not None
    seen = ""
    for line in proc.stdout:
        seen += line
        if "ready" in line:
            break
    pids = [int(m) for m in re.findall(r"\bpid (\d+)", seen)]
    assert len(pids) == 3, seen  # the broker, the worker and the sink
    proc.kill()
    proc.wait()

    def gone(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        with open(f"/proc/{pid}/stat") as stat:  # a zombie awaiting its reaper is gone too
            return stat.read().split(")")[-1].split()[0] == "Z"

    deadline = time.monotonic() + 30
    while not all(gone(pid) for pid in pids):
        assert time.monotonic() < deadline, f"still running: {[p for p in pids if not gone(p)]}"
        time.sleep(0.2)
    assert tansu_logs(tmp_path) == [], "a killed demo left its broker log in the temporary directory"


@pytest.mark.broker
def test_ingest_files_publishes_the_filing_beside_a_bomb_and_dead_letters_the_bomb(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    from tests.test_archives import sparse_tar

    prefix = unique_name("bomb")
    env = {**os.environ, "FORM4_BROKER_URL": broker.url, "FORM4_TOPIC_PREFIX": prefix}
    (tmp_path / "build").mkdir()
    (tmp_path / "in").mkdir()
    sparse_tar(tmp_path / "build" / "sparse.tar", 4 * 1024**3)  # a valid filing and a 4 GiB member, in KBs
    (tmp_path / "build" / "sparse.tar").rename(tmp_path / "in" / "sparse.tar")
    os.symlink("/etc/passwd", tmp_path / "in" / "passwd.txt")
    ingest = form4(env, "ingest", "files", str(tmp_path / "in"))
    assert ingest.returncode == 0, ingest.stderr
    assert "published 1 filings" in ingest.stderr and "1 dead letter(s)" in ingest.stderr
    assert "passwd.txt" in ingest.stderr and "symbolic link" in ingest.stderr

    def tail(topic: str) -> list[dict[str, object]]:
        done = form4(env, "tail", topic, "--from-beginning", "--timeout", "3")
        return [json.loads(line) for line in done.stdout.splitlines()]

    raw = tail("raw")
    assert len(raw) == 1 and "root:" not in json.dumps(raw)
    (letter,) = tail("dlq")
    value = letter["value"]
    assert isinstance(value, dict) and value["reason"] == "too_large"
    assert value["original_size"] == 4 * 1024**3 and "b_huge.xml" in value["header"]["source"]
