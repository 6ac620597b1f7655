"""Publish local filings — files, directories, zip and tar archives — to form4.raw, keyed by accession.

Values are the documents' own bytes (the raw topic accepts them as they are); the key is the accession number
when the EDGAR header gives one, so copies of a filing land on the same partition.

Every document is read bounded by the single-filing cap (``FORM4_MAX_FILING_BYTES``), archive members one by
one: a member whose declared size is over the cap is refused without reading it, and one whose header lies
(a zip bomb) is refused as soon as it streams past the cap. A refused member is reported as :class:`Refused`
and the rest of the archive goes on. Symbolic links inside directories are skipped unless asked for.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from streams import __version__
from streams.models import DeadLetter
from streams.parse import DEFAULT_MAX_BYTES, ParseError
from streams.parse.sgml import looks_like_submission, unwrap_submission

FILING_SUFFIXES = frozenset({".xml", ".txt", ".nc", ".sgml", ".pem"})
#: Tar archives are recognised by name: sniffing a large file for a tar header can read all of it.
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
TOO_LARGE = "too_large"
UNREADABLE = "unreadable"

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
    return sorted(found)


def _zip_members(path: Path, max_bytes: int, on_skip: OnSkip) -> Iterator[tuple[str, bytes | Refused]]:
    with zipfile.ZipFile(path) as archive:
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            source = f"{path}!{info.filename}"
            if info.is_dir():
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


def _tar_members(path: Path, max_bytes: int, on_skip: OnSkip) -> Iterator[tuple[str, bytes | Refused]]:
    with tarfile.open(path) as archive:
        members: list[tarfile.TarInfo] = []
        broken: Refused | None = None
        try:
            members.extend(archive)
        except (
            tarfile.TarError,
            OSError,
            EOFError,
        ) as exc:  # a cut or corrupt archive: keep what came before
            broken = Refused(
                UNREADABLE, f"{path}: {type(exc).__name__}: {exc} (after {len(members)} members)"
            )
        for member in sorted(members, key=lambda m: m.name):
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
        if broken is not None:
            yield str(path), broken


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
    follow_symlinks: bool = False,
    on_skip: OnSkip = _ignore,
    explicit: bool = True,
) -> Iterator[tuple[str, bytes | Refused]]:
    """(source name, bytes or Refused) for every filing under the paths, in a stable order.

    A file named on the command line is always read; inside directories and archives only filing names are
    (no READMEs), and the others are passed to ``on_skip``. OSError for a path that cannot be read."""
    for path in paths:
        if path.is_dir():
            yield from iter_documents(
                _walk(path, follow_symlinks, on_skip),
                max_bytes=max_bytes,
                follow_symlinks=follow_symlinks,
                on_skip=on_skip,
                explicit=False,
            )
        elif zipfile.is_zipfile(path):
            yield from _zip_members(path, max_bytes, on_skip)
        elif path.name.lower().endswith(TAR_SUFFIXES) and tarfile.is_tarfile(path):
            yield from _tar_members(path, max_bytes, on_skip)
        elif explicit or _is_filing_name(path.name):
            yield str(path), _file(path, max_bytes)
        else:
            on_skip(str(path), "not a filing name")


def refused_letter(source: str, refused: Refused) -> DeadLetter:
    """The form4.dlq record of a document that was not read. It carries no original bytes: replay it from
    ``source`` (the path, and the archive member after ``!``)."""
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
        original_sha256=hashlib.sha256(b"").hexdigest(),
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
