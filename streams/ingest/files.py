"""Publish local filings — files, directories, zip and tar archives — to form4.raw, keyed by accession.

Values are the documents' own bytes (the raw topic accepts them as they are); the key is the accession number
when the EDGAR header gives one, so copies of a filing land on the same partition.

Every document is read bounded by the single-filing cap (``FORM4_MAX_FILING_BYTES``), archive members one by
one: a member whose declared size is over the cap is refused without reading it, and one whose header lies
(a zip bomb) is refused as soon as it streams past the cap (nothing reads more than the cap and one byte). A
refused member is reported as :class:`Refused` and the rest of the archive goes on. Documents are yielded as
they are read and :func:`publish_documents` sends them as they come, so memory holds a few documents whatever
the input. An archive is read up to ``max_members`` members (``FORM4_MAX_ARCHIVE_MEMBERS``): the headers of a
tar of a million empty members cost gigabytes and minutes. Symbolic links inside directories are skipped unless
asked for, and what is not a regular file (a device, a FIFO, a socket) is never opened: /dev/zero has no end
and a FIFO blocks.
"""

from __future__ import annotations

import asyncio
import base64
import os
import stat
import struct
import tarfile
import zipfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

from streams import __version__
from streams.bounds import DEFAULT_MAX_ARCHIVE_MEMBERS
from streams.models import DeadLetter
from streams.parse import DEFAULT_MAX_BYTES, ParseError
from streams.parse.sgml import looks_like_submission, unwrap_submission
from streams.placement import raw_partition

if TYPE_CHECKING:
    from aiokafka import AIOKafkaProducer

FILING_SUFFIXES = frozenset({".xml", ".txt", ".nc", ".sgml", ".pem"})
#: Tar archives are recognised by name: sniffing a large file for a tar header can read all of it.
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
TOO_LARGE = "too_large"
UNREADABLE = "unreadable"
#: Bytes sent to the broker and not yet acknowledged, at most (and at most IN_FLIGHT_DOCUMENTS documents): a few
#: documents at the size cap, hundreds of real ones, so publishing an archive holds a few documents in memory.
IN_FLIGHT_BYTES = 16 * 1024 * 1024
IN_FLIGHT_DOCUMENTS = 500
NOT_REGULAR = "not a regular file (a device, FIFO or socket)"

#: Called with (path, why) for each file left out of a directory or archive.
OnSkip = Callable[[str, str], None]


@dataclass(frozen=True, slots=True)
class Refused:
    """A document that was not read: over the size cap (``too_large``) or unreadable (a corrupt member)."""

    reason: str
    message: str
    size: int | None = None


def _is_filing_name(name: str) -> bool:
    return Path(name).suffix.lower() in FILING_SUFFIXES and not Path(name).name.startswith(".")


def _over(source: str, size: int, max_bytes: int, how: str) -> Refused:
    return Refused(
        TOO_LARGE,
        f"{source}: {how} {size} bytes, over the {max_bytes}-byte cap of one filing (FORM4_MAX_FILING_BYTES)",
        size,
    )


def special_file(path: Path) -> str | None:
    """What ``path`` is when it is neither a regular file nor a directory ("a character device", "a FIFO",
    ...), else None (also when it cannot be looked at: reading it reports that). Symbolic links are followed."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    return "a socket" if stat.S_ISSOCK(mode) else "not a regular file"


def _too_many_members(path: Path, what: str) -> Refused:
    return Refused(
        TOO_LARGE,
        f"{path}: {what}; split the archive, or raise the bound (FORM4_MAX_ARCHIVE_MEMBERS, parse --max-members)",
        path.stat().st_size,
    )


def _read_bounded(stream: IO[bytes], source: str, max_bytes: int) -> bytes | Refused:
    """At most ``max_bytes`` from ``stream``; Refused when there is more (whatever the header declared)."""
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        return _over(source, len(data), max_bytes, "more than")
    return data


def _walk(directory: Path, follow_symlinks: bool, on_skip: OnSkip) -> list[Path]:
    found: list[Path] = []
    for root, dirs, files in os.walk(directory, followlinks=follow_symlinks):
        for name in dirs:
            if not follow_symlinks and (Path(root) / name).is_symlink():
                on_skip(str(Path(root) / name), "symbolic link (use --follow-symlinks)")
        for name in files:
            path = Path(root) / name
            if path.is_symlink() and not follow_symlinks:
                on_skip(str(path), "symbolic link (use --follow-symlinks)")
            elif path.is_file():
                found.append(path)
            elif path.exists():
                on_skip(str(path), NOT_REGULAR)
    return sorted(found)


# Zip's records, as zipfile reads them: the end of central directory (signature, disks, entry counts, the
# directory's size and offset at fields 5 and 6, the comment's length), the zip64 locator and end record that
# precede it in a zip64 archive (the directory's size and offset at fields 8 and 9), and a directory entry's
# fixed part.
_EOCD = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR_SIZE = 20
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_ENTRY_SIZE = 46
_ENTRY_LENGTHS = struct.Struct("<3H")  # name, extra field and comment lengths, at offset 28 of an entry


def _zip_member_count(path: Path, limit: int) -> int:
    """How many entries zipfile would load from the central directory (a ZipInfo each, all before the first
    member), counted up to ``limit`` + 1 by hopping from entry to entry: the declared count is not what
    zipfile goes by. 0 when the records cannot be found (zipfile then says what is wrong)."""
    with path.open("rb") as stream:
        end = stream.seek(0, os.SEEK_END)
        start = max(0, end - _EOCD.size - 0xFFFF)  # the record, followed by at most a 64 KB comment
        stream.seek(start)
        tail = stream.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or at + _EOCD.size > len(tail):
            return 0
        location = start + at
        size, offset = _EOCD.unpack_from(tail, at)[5:7]
        concat = location - size - offset  # bytes before the archive (a self-extracting stub)
        if location >= _ZIP64_LOCATOR_SIZE + _ZIP64_EOCD.size:
            stream.seek(location - _ZIP64_LOCATOR_SIZE - _ZIP64_EOCD.size)
            record = stream.read(_ZIP64_EOCD.size + 4)
            if record[:4] == b"PK\x06\x06" and record[-4:] == b"PK\x06\x07":
                size, offset = _ZIP64_EOCD.unpack_from(record)[8:10]
                concat = location - size - offset - _ZIP64_EOCD.size - _ZIP64_LOCATOR_SIZE
        stream.seek(max(0, offset + concat))
        count = read = 0
        while read < size and count <= limit:
            entry = stream.read(_ENTRY_SIZE)
            if len(entry) < _ENTRY_SIZE or entry[:4] != b"PK\x01\x02":
                break
            skip = sum(_ENTRY_LENGTHS.unpack_from(entry, 28))
            stream.seek(skip, os.SEEK_CUR)
            read += _ENTRY_SIZE + skip
            count += 1
        return count


def _zip_members(
    path: Path, max_bytes: int, max_members: int, on_skip: OnSkip
) -> Iterator[tuple[str, bytes | Refused]]:
    if _zip_member_count(path, max_members) > max_members:
        what = f"more than {max_members} members, the bound of one archive: none was read"
        yield str(path), _too_many_members(path, what)
        return
    with zipfile.ZipFile(path) as archive:
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            source = f"{path}!{info.filename}"
            if info.is_dir():
                continue
            kind = stat.S_IFMT(info.external_attr >> 16)  # the unix file type, when the archiver recorded it
            if kind and kind != stat.S_IFREG:
                on_skip(source, "not a regular file (links are not followed)")
                continue
            if not _is_filing_name(info.filename):
                on_skip(source, "not a filing name")
                continue
            if info.file_size > max_bytes:
                yield source, _over(source, info.file_size, max_bytes, "declares")
                continue
            try:
                with archive.open(info) as member:
                    yield source, _read_bounded(member, source, max_bytes)
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError) as exc:
                yield source, Refused(UNREADABLE, f"{source}: {type(exc).__name__}: {exc}")


class _TarReader(tarfile.TarFile):
    members: list[tarfile.TarInfo]  # what TarFile keeps of every header it reads (not in the type stubs)


def _tar_members(
    path: Path, max_bytes: int, max_members: int, on_skip: OnSkip
) -> Iterator[tuple[str, bytes | Refused]]:
    """Members in archive order, each read as its header is met: a compressed tar is read once, forward."""
    with _TarReader.open(path) as archive:
        count = 0
        while True:
            try:
                member = archive.next()
            except (tarfile.TarError, OSError, EOFError) as exc:
                # a cut or corrupt archive: what came before was read
                why = f"{path}: {type(exc).__name__}: {exc} (after {count} members)"
                yield str(path), Refused(UNREADABLE, why)
                return
            if member is None:
                return
            archive.members.clear()  # every header read so far, 600 bytes each: none is needed again
            count += 1
            if count > max_members:
                what = f"more than {max_members} members, the bound of one archive: the rest were not read"
                yield str(path), _too_many_members(path, what)
                return
            source = f"{path}!{member.name}"
            if member.isdir():
                continue
            if not member.isfile():
                on_skip(source, "not a regular file (links are not followed)")
                continue
            if not _is_filing_name(member.name):
                on_skip(source, "not a filing name")
                continue
            if member.size > max_bytes:
                yield source, _over(source, member.size, max_bytes, "declares")
                continue
            try:
                extracted = archive.extractfile(member)
                if extracted is not None:
                    yield source, _read_bounded(extracted, source, max_bytes)
            except (tarfile.TarError, OSError, EOFError) as exc:
                yield source, Refused(UNREADABLE, f"{source}: {type(exc).__name__}: {exc}")


def _file(path: Path, max_bytes: int) -> bytes | Refused:
    source = str(path)
    size = path.stat().st_size
    if size > max_bytes:
        return _over(source, size, max_bytes, "is")
    with path.open("rb") as stream:
        return _read_bounded(stream, source, max_bytes)


def _ignore(path: str, why: str) -> None:
    """The default for ``on_skip``."""


def iter_documents(
    paths: list[Path],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_members: int = DEFAULT_MAX_ARCHIVE_MEMBERS,
    follow_symlinks: bool = False,
    on_skip: OnSkip = _ignore,
    explicit: bool = True,
) -> Iterator[tuple[str, bytes | Refused]]:
    """(source name, bytes or Refused) for every filing under the paths, in a stable order, each yielded as it
    is read (directories and zip members sorted by name, tar members in archive order).

    A file named on the command line is always read; inside directories and archives only filing names are
    (no READMEs), and the others are passed to ``on_skip``. What is not a regular file is never opened: named,
    it is refused (``unreadable``); inside a directory, skipped. OSError for a path that cannot be read."""
    for path in paths:
        if path.is_dir():
            yield from iter_documents(
                _walk(path, follow_symlinks, on_skip),
                max_bytes=max_bytes,
                max_members=max_members,
                follow_symlinks=follow_symlinks,
                on_skip=on_skip,
                explicit=False,
            )
        elif (kind := special_file(path)) is not None:
            if explicit:
                yield str(path), Refused(UNREADABLE, f"{path}: {kind}, not a regular file: copy it to one")
            else:
                on_skip(str(path), NOT_REGULAR)
        elif zipfile.is_zipfile(path):
            yield from _zip_members(path, max_bytes, max_members, on_skip)
        elif path.name.lower().endswith(TAR_SUFFIXES) and tarfile.is_tarfile(path):
            yield from _tar_members(path, max_bytes, max_members, on_skip)
        elif explicit or _is_filing_name(path.name):
            yield str(path), _file(path, max_bytes)
        else:
            on_skip(str(path), "not a filing name")


def refused_letter(source: str, refused: Refused) -> DeadLetter:
    """The form4.dlq record of a document that was not read. It carries no original bytes: replay it from
    ``source`` (the path, and the archive member after ``!``). ``original_size`` is the size declared or read
    (at least the cap and one byte); it has no ``original_sha256``, as the original was never read whole."""
    return DeadLetter(
        reason=refused.reason,
        message=refused.message[:1024],
        error_class="Refused",
        source_key=source[-512:],
        header={"source": source[-512:]},
        failed_at=datetime.now(UTC),
        parser_version=__version__,
        original_b64=base64.b64encode(b"").decode(),
        original_size=refused.size or 0,
        original_truncated=True,
    )


def accession_key(data: bytes) -> bytes | None:
    """The accession number from an EDGAR wrapper, cheaply; None for a bare XML document."""
    if not looks_like_submission(data):
        return None
    try:
        accession = unwrap_submission(data).header.accession_number
    except ParseError as exc:
        accession = exc.header.get("accession_number")
    return accession.encode() if accession else None


async def publish_documents(
    producer: AIOKafkaProducer,
    raw_topic: str,
    dlq_topic: str,
    documents: Iterable[tuple[str, bytes | Refused]],
    *,
    on_published: Callable[[], object] | None = None,
    on_refused: Callable[[str, Refused], object] | None = None,
) -> tuple[int, int]:
    """Send each document to ``raw_topic`` (keyed by accession, on its issuer's partition: ``streams.placement``)
    and each refusal to ``dlq_topic`` as it is read, with at most IN_FLIGHT_BYTES and IN_FLIGHT_DOCUMENTS sent and
    not yet acknowledged; returns (filings, dead letters) once the broker has them all. Memory holds a few
    documents whatever the input's size."""
    in_flight: deque[tuple[asyncio.Future[object], int]] = deque()
    held = published = letters = 0
    key: bytes | None
    for source, data in documents:
        filing = not isinstance(data, Refused)
        partition = None
        if isinstance(data, Refused):
            topic, key = dlq_topic, source.encode()[-512:]
            value = refused_letter(source, data).model_dump_json().encode()
            letters += 1
            if on_refused:
                on_refused(source, data)
        else:
            topic, key, value = raw_topic, accession_key(data), data
            partition = raw_partition(data, len(await producer.partitions_for(raw_topic)))
            published += 1
        in_flight.append((await producer.send(topic, value=value, key=key, partition=partition), len(value)))
        held += len(value)
        del data, value  # the producer has its copy
        while in_flight and (held > IN_FLIGHT_BYTES or len(in_flight) > IN_FLIGHT_DOCUMENTS):
            future, size = in_flight.popleft()
            await future
            held -= size
        if filing and on_published:
            on_published()
        await asyncio.sleep(0)  # reading blocks the loop: let the producer send between documents
    for future, _ in in_flight:
        await future
    return published, letters
