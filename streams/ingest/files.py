"""Publish local filings — files, directories, zip and tar archives — to form4.raw, keyed by accession.

Values are the documents' own bytes (the raw topic accepts them as they are); the key is the accession number
when the EDGAR header gives one, so copies of a filing land on the same partition.
"""

from __future__ import annotations

import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

from streams.parse import ParseError
from streams.parse.sgml import looks_like_submission, unwrap_submission

FILING_SUFFIXES = frozenset({".xml", ".txt", ".nc", ".sgml", ".pem"})


def _is_filing_name(name: str) -> bool:
    return Path(name).suffix.lower() in FILING_SUFFIXES and not Path(name).name.startswith(".")


def iter_documents(paths: list[Path], *, explicit: bool = True) -> Iterator[tuple[str, bytes]]:
    """(source name, bytes) for every filing under the paths, in a stable order. A file named on the command
    line is always sent; inside directories and archives only filing suffixes are (no READMEs)."""
    for path in paths:
        if path.is_dir():
            yield from iter_documents(sorted(p for p in path.rglob("*") if p.is_file()), explicit=False)
        elif zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                for info in sorted(archive.infolist(), key=lambda i: i.filename):
                    if not info.is_dir() and _is_filing_name(info.filename):
                        yield f"{path}!{info.filename}", archive.read(info)
        elif tarfile.is_tarfile(path):
            with tarfile.open(path) as archive:
                for member in sorted(archive.getmembers(), key=lambda m: m.name):
                    if member.isfile() and _is_filing_name(member.name):
                        extracted = archive.extractfile(member)
                        if extracted is not None:
                            yield f"{path}!{member.name}", extracted.read()
        elif explicit or _is_filing_name(path.name):
            yield str(path), path.read_bytes()


def accession_key(data: bytes) -> bytes | None:
    """The accession number from an EDGAR wrapper, cheaply; None for a bare XML document."""
    if not looks_like_submission(data):
        return None
    try:
        accession = unwrap_submission(data).header.accession_number
    except ParseError as exc:
        accession = exc.header.get("accession_number")
    return accession.encode() if accession else None
