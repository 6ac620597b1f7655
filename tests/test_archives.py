"""Archives and directories are read bounded by the one-filing cap, member by member; links are not followed."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from streams.ingest.files import TOO_LARGE, Refused, iter_documents, refused_letter
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
    letter = refused_letter("x.tar!b.xml", Refused(TOO_LARGE, "x.tar!b.xml: declares 9 bytes", 9))
    assert (letter.reason, letter.original_size, letter.original_truncated) == (TOO_LARGE, 9, True)
    assert letter.header["source"] == "x.tar!b.xml"


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
