"""Archives and directories are read bounded by the one-filing cap, member by member, and published as they are
read; an archive's member count is bounded; links are not followed and devices, FIFOs and sockets never opened."""

from __future__ import annotations

import asyncio
import io
import json
import os
import socket
import stat
import subprocess
import sys
import tarfile
import zipfile
import zlib
from pathlib import Path
from typing import NamedTuple

import jsonschema
import pytest

from streams.bounds import DEFAULT_MAX_ARCHIVE_MEMBERS
from streams.broker import EmbeddedBroker
from streams.ingest.files import TOO_LARGE, UNREADABLE, Refused, iter_documents, refused_letter
from streams.topics import bootstrap_servers
from tests.broker import unique_name
from tests.fixtures_index import FIXTURES

SONUS = FIXTURES / "xml" / "sonus_x0304_reconstructed.xml"
CAP = 1024 * 1024


def sparse_tar(path: Path, size: int) -> None:
    """A tar of a few KB holding a valid filing and a GNU sparse member of ``size`` bytes (all holes)."""
    work = path.parent / f"{path.stem}-src"
    work.mkdir()
    (work / "a_valid.xml").write_bytes(SONUS.read_bytes())
    with (work / "b_huge.xml").open("wb") as huge:
        huge.truncate(size)
    subprocess.run(["tar", "-cSf", str(path), "-C", str(work), "a_valid.xml", "b_huge.xml"], check=True)


def test_a_cut_tar_gives_its_complete_members_and_one_error(tmp_path: Path) -> None:
    with tarfile.open(tmp_path / "cut.tar", "w") as archive:
        archive.add(SONUS, "a_valid.xml")
        info = tarfile.TarInfo("b_cut.xml")
        info.size = 10_000
        archive.addfile(info)  # header only: the data is missing
    found = list(iter_documents([tmp_path / "cut.tar"]))
    assert found[0][1] == SONUS.read_bytes()
    assert all(isinstance(data, Refused) for _, data in found[1:]) and len(found) >= 2


def zip_bomb(path: Path, size: int, *, lie: bool) -> None:
    """A small deflated zip of ``size`` zeros; with ``lie`` its headers declare 100 bytes."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(SONUS, "a_valid.xml")
        with archive.open("b_bomb.xml", "w") as member:
            chunk = b"\0" * (1 << 20)
            for _ in range(size // len(chunk)):
                member.write(chunk)
    if lie:
        data = bytearray(path.read_bytes())
        # Rewrite the declared uncompressed size in the local header and the central directory to 100.
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("b_bomb.xml")
        for signature in (b"PK\x03\x04", b"PK\x01\x02"):
            start = data.find(signature, info.header_offset if signature == b"PK\x03\x04" else 0)
            while start != -1:
                name_len_at = 26 if signature == b"PK\x03\x04" else 28
                name_len = int.from_bytes(data[start + name_len_at : start + name_len_at + 2], "little")
                name_at = start + (30 if signature == b"PK\x03\x04" else 46)
                if bytes(data[name_at : name_at + name_len]) == b"b_bomb.xml":
                    size_at = start + (22 if signature == b"PK\x03\x04" else 24)
                    data[size_at : size_at + 4] = (100).to_bytes(4, "little")
                start = data.find(signature, start + 4)
        path.write_bytes(bytes(data))


def outcomes(paths: list[Path], **kwargs: object) -> dict[str, bytes | Refused]:
    return {Path(name.split("!")[-1]).name: data for name, data in iter_documents(paths, **kwargs)}  # type: ignore[arg-type]


def test_a_sparse_tar_member_over_the_cap_is_refused_and_its_neighbour_read(tmp_path: Path) -> None:
    archive = tmp_path / "sparse.tar"
    sparse_tar(archive, 4 * 1024**3)
    assert archive.stat().st_size < 64 * 1024
    found = outcomes([archive], max_bytes=CAP)
    assert found["a_valid.xml"] == SONUS.read_bytes()
    refused = found["b_huge.xml"]
    assert isinstance(refused, Refused) and refused.reason == TOO_LARGE
    assert "FORM4_MAX_FILING_BYTES" in refused.message and str(4 * 1024**3) in refused.message


@pytest.mark.parametrize("lie", [False, True], ids=["honest-header", "lying-header"])
def test_a_zip_bomb_is_refused_after_at_most_the_cap(tmp_path: Path, lie: bool) -> None:
    archive = tmp_path / "bomb.zip"
    zip_bomb(archive, 8 * CAP, lie=lie)
    assert archive.stat().st_size < 64 * 1024
    with zipfile.ZipFile(archive) as check:
        assert (check.getinfo("b_bomb.xml").file_size == 100) is lie
    found = outcomes([archive], max_bytes=CAP)
    assert found["a_valid.xml"] == SONUS.read_bytes()
    refused = found["b_bomb.xml"]
    assert isinstance(refused, Refused) and refused.reason in (TOO_LARGE, "unreadable")


def test_parsing_a_bomb_allocates_a_bounded_amount_of_memory(tmp_path: Path) -> None:
    """The real command on a 4 GiB sparse tar and a 64 MiB zip bomb, under a 1 GiB address-space limit."""
    sparse_tar(tmp_path / "sparse.tar", 4 * 1024**3)
    zip_bomb(tmp_path / "bomb.zip", 64 * CAP, lie=True)
    script = (
        "import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30)); "
        "from streams.cli import app; sys.argv = ['form4', 'parse', *sys.argv[1:]]; app()"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "sparse.tar"), str(tmp_path / "bomb.zip")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in done.stderr and "MemoryError" not in done.stderr, done.stderr
    lines = done.stdout.splitlines()
    assert sum('"error"' not in line for line in lines) == 2  # the valid filing of each archive
    assert sum('"too_large"' in line or '"unreadable"' in line for line in lines) == 2
    assert done.returncode == 1


def test_directories_skip_symlinks_unless_asked(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "a.xml").write_bytes(SONUS.read_bytes())
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0")
    os.symlink(secret, tmp_path / "dir" / "passwd.txt")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "b.xml").write_bytes(SONUS.read_bytes())
    os.symlink(tmp_path / "outside", tmp_path / "dir" / "linked")
    skipped: list[tuple[str, str]] = []
    found = outcomes([tmp_path / "dir"], on_skip=lambda path, why: skipped.append((path, why)))
    assert list(found) == ["a.xml"]
    assert sorted(Path(p).name for p, _ in skipped) == ["linked", "passwd.txt"]
    assert all("--follow-symlinks" in why for _, why in skipped)
    assert sorted(outcomes([tmp_path / "dir"], follow_symlinks=True)) == ["a.xml", "b.xml", "passwd.txt"]


def test_a_refused_member_becomes_a_too_large_dead_letter() -> None:
    """It was never read whole, so it carries no hash (not that of empty input beside its real size)."""
    letter = refused_letter("x.tar!b.xml", Refused(TOO_LARGE, "x.tar!b.xml: declares 9 bytes", 9))
    assert (letter.reason, letter.original_size, letter.original_truncated) == (TOO_LARGE, 9, True)
    assert letter.header["source"] == "x.tar!b.xml"
    assert letter.original_sha256 is None and letter.original_b64 == ""
    schema = json.loads((Path(__file__).parents[1] / "schemas" / "dead_letter.json").read_text())
    jsonschema.validate(json.loads(letter.model_dump_json()), schema)


def test_a_huge_sparse_filing_in_a_directory_is_refused_at_once(tmp_path: Path) -> None:
    """A 4 GiB file of zeros named .xml: neither sniffed as an archive (which reads it all) nor read."""
    with (tmp_path / "zeros.xml").open("wb") as out:
        out.truncate(4 * 1024**3)
    (tmp_path / "a.xml").write_bytes(SONUS.read_bytes())
    found = outcomes([tmp_path], max_bytes=CAP)
    assert found["a.xml"] == SONUS.read_bytes()
    refused = found["zeros.xml"]
    assert isinstance(refused, Refused) and refused.reason == TOO_LARGE


def test_a_plain_file_over_the_cap_is_refused_without_reading_it(tmp_path: Path) -> None:
    big = tmp_path / "big.xml"
    with big.open("wb") as out:
        out.write(b"<?xml version='1.0'?>")
        out.truncate(2 * CAP)
    found = outcomes([big], max_bytes=CAP)
    assert isinstance(found["big.xml"], Refused)


# ------------------------------------------------------------------------- memory, member count, special files

MiB = 1024 * 1024
#: Runs argv in a child and reports the child's own peak RSS (KiB) and CPU seconds: RUSAGE_CHILDREN of a
#: process whose only child it is, whatever else the test session ran. The address space is limited so that a
#: regression fails with MemoryError instead of taking the machine's memory.
MEASURE = (
    "import resource, subprocess, sys; limit = int(sys.argv[1]); "
    "resource.setrlimit(resource.RLIMIT_AS, (limit, limit)); done = subprocess.run(sys.argv[2:]); "
    "usage = resource.getrusage(resource.RUSAGE_CHILDREN); "
    "print(f'measured {usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}', file=sys.stderr); "
    "sys.exit(done.returncode)"
)


class Measured(NamedTuple):
    returncode: int
    stdout: str
    stderr: str  # without the measurement
    peak_mib: float
    cpu_seconds: float


def form4_measured(
    *args: str, env: dict[str, str] | None = None, address_space: int = 2 << 30, timeout: float = 300
) -> Measured:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FORM4_")}
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(address_space), sys.executable, "-m", "streams.cli", *args],
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    *lines, measured = done.stderr.rstrip("\n").split("\n")
    _, rss_kib, cpu = measured.split()
    return Measured(done.returncode, done.stdout, "\n".join(lines), int(rss_kib) / 1024, float(cpu))


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


def empty_members_tar_gz(path: Path, members: int) -> None:
    """A tar.gz of ``members`` empty members named a.xml, written header by header: 4.5 MB for a million (the
    issue's was 2.2 MB, compressed harder)."""
    info = tarfile.TarInfo("a.xml")
    header = info.tobuf(tarfile.USTAR_FORMAT)
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31)  # gzip framing
    chunk = 2048
    with path.open("wb") as out:
        for _ in range(members // chunk):
            out.write(compressor.compress(header * chunk))
        out.write(compressor.compress(header * (members % chunk) + b"\0" * 1024))
        out.write(compressor.flush())


def test_parse_refuses_a_device_at_once_in_one_line() -> None:
    """`form4 parse /dev/zero` read the device until the kernel stopped the process."""
    run = form4_measured("parse", "/dev/zero", address_space=1 << 30)
    line = one_error_line(run.stderr)
    assert run.returncode == 2 and run.stdout == ""
    assert "/dev/zero is a character device" in line and "form4 parse - < /dev/zero" in line
    assert run.cpu_seconds < 5 and run.peak_mib < 200


def test_fifos_and_sockets_are_never_opened(tmp_path: Path) -> None:
    """Named, each is one error line (opening a FIFO with no writer would block: the subprocess timeout fails the
    test); inside a directory, each is skipped and said so; the library refuses one named to it."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.xml").write_bytes(SONUS.read_bytes())
    fifo = tmp_path / "in" / "fifo.xml"
    os.mkfifo(fifo)
    sock = tmp_path / "in" / "socket.xml"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(sock))
        assert stat.S_ISSOCK(sock.stat().st_mode)
        for path, kind in ((fifo, "a FIFO"), (sock, "a socket")):
            run = form4_measured("parse", str(path), timeout=30)
            assert run.returncode == 2 and f"is {kind}" in one_error_line(run.stderr)
            broker = {"FORM4_BROKER_URL": "kafka://127.0.0.1:1"}
            run = form4_measured("ingest", "files", str(path), env=broker, timeout=30)
            line = one_error_line(run.stderr)
            assert run.returncode == 2 and f"is {kind}" in line and "copy what it holds into a file" in line
        run = form4_measured("parse", str(tmp_path / "in"), timeout=30)
        assert run.returncode == 0 and len(run.stdout.splitlines()) == 1
        assert "skipped 2 file(s) (not a regular file" in run.stderr
        assert "fifo.xml" in run.stderr and "socket.xml" in run.stderr
        ((source, refused),) = list(iter_documents([fifo]))
        assert source == str(fifo)
        assert isinstance(refused, Refused) and refused.reason == UNREADABLE and "FIFO" in refused.message
    finally:
        server.close()


def test_a_link_in_a_zip_is_skipped_not_read(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "links.zip", "w") as archive:
        archive.writestr("a_valid.xml", SONUS.read_bytes())
        link = zipfile.ZipInfo("passwd.txt")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    skipped: list[tuple[str, str]] = []
    found = outcomes([tmp_path / "links.zip"], on_skip=lambda path, why: skipped.append((path, why)))
    assert list(found) == ["a_valid.xml"]
    assert [(Path(p.split("!")[-1]).name, why) for p, why in skipped] == [
        ("passwd.txt", "not a regular file (links are not followed)")
    ]


def test_a_tar_is_read_in_archive_order_and_cut_at_the_bound(tmp_path: Path) -> None:
    """Every header counts toward the bound, skipped or not; the members before the cut are read."""
    with tarfile.open(tmp_path / "five.tar.gz", "w:gz") as archive:
        for name in ("e.xml", "d.md", "c.xml", "b.xml", "a.xml"):
            info = tarfile.TarInfo(name)
            info.size = len(name)
            archive.addfile(info, io.BytesIO(name.encode()))
    found = list(iter_documents([tmp_path / "five.tar.gz"], max_members=4))
    assert [(Path(name.split("!")[-1]).name, data) for name, data in found[:3]] == [
        ("e.xml", b"e.xml"),
        ("c.xml", b"c.xml"),
        ("b.xml", b"b.xml"),
    ]
    name, refused = found[3]
    assert len(found) == 4 and name == str(tmp_path / "five.tar.gz")
    assert isinstance(refused, Refused) and refused.reason == TOO_LARGE
    assert "more than 4 members" in refused.message and "FORM4_MAX_ARCHIVE_MEMBERS" in refused.message
    whole = list(iter_documents([tmp_path / "five.tar.gz"], max_members=5))
    assert [data for _, data in whole] == [b"e.xml", b"c.xml", b"b.xml", b"a.xml"]


@pytest.mark.slow
def test_a_tar_of_a_million_empty_members_is_cut_at_the_bound(tmp_path: Path) -> None:
    """The issue's 2.2 MB tar.gz: all million headers were read (35 s of CPU and 515 MB for `parse`)."""
    archive = tmp_path / "million.tar.gz"
    empty_members_tar_gz(archive, 1_000_000)
    assert archive.stat().st_size < 5 * MiB
    run = form4_measured("parse", str(archive))
    lines = run.stdout.splitlines()
    assert run.returncode == 1 and len(lines) == DEFAULT_MAX_ARCHIVE_MEMBERS + 1
    assert "Traceback" not in run.stderr
    last = json.loads(lines[-1])
    assert last["source"] == str(archive) and last["error"]["code"] == "too_large"
    assert f"more than {DEFAULT_MAX_ARCHIVE_MEMBERS} members" in last["error"]["message"]
    assert "FORM4_MAX_ARCHIVE_MEMBERS" in last["error"]["message"]
    assert run.cpu_seconds < 20, f"{run.cpu_seconds:.1f} s of CPU (measured: 4)"
    assert run.peak_mib < 150, f"{run.peak_mib:.0f} MiB (measured: 50)"


def test_a_zip_with_more_members_than_the_bound_is_refused_unread(tmp_path: Path) -> None:
    """zipfile loads a ZipInfo for every directory entry before the first member: the entries are counted
    first, whatever the end record declares (a zip64 one here, as 65,536 entries need)."""
    archive = tmp_path / "many.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for i in range(65_536):
            out.writestr(f"m{i:05d}.xml", b"")
    (found,) = list(iter_documents([archive], max_members=65_535))
    assert found[0] == str(archive) and isinstance(found[1], Refused) and found[1].reason == TOO_LARGE
    assert "more than 65535 members" in found[1].message and "none was read" in found[1].message
    assert sum(1 for _ in iter_documents([archive], max_members=65_536)) == 65_536

    lying = tmp_path / "lying.zip"
    with zipfile.ZipFile(lying, "w") as out:
        for name in ("a.xml", "b.xml", "c.xml"):
            out.writestr(name, b"x")
    data = bytearray(lying.read_bytes())
    end = data.rfind(b"PK\x05\x06")
    data[end + 8 : end + 12] = (1).to_bytes(2, "little") * 2  # the end record declares one entry
    lying.write_bytes(bytes(data))
    assert len(zipfile.ZipFile(lying).infolist()) == 3
    (found,) = list(iter_documents([lying], max_members=2))
    assert isinstance(found[1], Refused) and "more than 2 members" in found[1].message


async def read_topic(
    bootstrap: str, topic: str, expected: int, *, keep: int | None = None, timeout: float = 60
) -> list[tuple[bytes, int]]:
    """(value, or its first ``keep`` bytes; size) of each record of ``topic``, once ``expected`` have arrived."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap_servers(bootstrap),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=16 * MiB,
        fetch_max_bytes=64 * MiB,
    )
    seen: list[tuple[bytes, int]] = []
    await consumer.start()
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(seen) < expected:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{len(seen)} of {expected} records from {topic} within {timeout} s")
            batches = await consumer.getmany(timeout_ms=500)
            seen.extend((m.value[:keep], len(m.value)) for ms in batches.values() for m in ms if m.value)
    finally:
        await consumer.stop()
    return seen


@pytest.mark.broker
@pytest.mark.slow
def test_ingest_files_publishes_as_it_reads_in_bounded_memory(broker: EmbeddedBroker, tmp_path: Path) -> None:
    """The issue's 0.98 MB tar.gz of 200 members of 5 MB (1.04 GB of memory when every document was kept until
    all were read), plus a member over the cap: every filing on form4.raw, the dead letter without a hash."""
    members, size = 200, 5_000_000
    archive = tmp_path / "big.tar.gz"
    with tarfile.open(archive, "w:gz") as out:
        for i in range(members):
            body = b"<ownershipDocument><!-- %04d -->" % i
            body += b" " * (size - len(body) - 20) + b"</ownershipDocument>"
            info = tarfile.TarInfo(f"f{i:04d}.xml")
            info.size = len(body)
            out.addfile(info, io.BytesIO(body))
        info = tarfile.TarInfo("z_over.xml")
        info.size = 6_000_000
        out.addfile(info, io.BytesIO(b" " * info.size))
    assert archive.stat().st_size < 2 * MiB
    prefix = unique_name("stream")
    run = form4_measured(
        "ingest", "files", str(archive), env={"FORM4_BROKER_URL": broker.url, "FORM4_TOPIC_PREFIX": prefix}
    )
    assert run.returncode == 0, run.stderr
    assert f"published {members} filings" in run.stderr and "1 dead letter(s)" in run.stderr
    assert run.peak_mib < 300, f"{run.peak_mib:.0f} MiB (measured: 145; every document kept: 1,100)"

    raw = asyncio.run(read_topic(broker.url, f"{prefix}.raw", members, keep=64))  # not a gigabyte here
    assert len(raw) == members and {length for _, length in raw} == {size}
    assert {value[:32] for value, _ in raw} == {
        b"<ownershipDocument><!-- %04d -->" % i for i in range(members)
    }
    ((value, _),) = asyncio.run(read_topic(broker.url, f"{prefix}.dlq", 1))
    letter = json.loads(value)
    assert letter["reason"] == "too_large" and letter["header"]["source"].endswith("!z_over.xml")
    assert letter["original_size"] == 6_000_000 and letter["original_sha256"] is None
