"""Where test documents live: the committed fixtures, and the shared corpus when it sits beside the repo."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
REPO_ROOT = Path(__file__).resolve().parents[1]
# The corpus is not in the repo: locally and in CI it is ../shared/corpus next to the checkout.
CORPUS = REPO_ROOT.parent / "shared" / "corpus"

_DOCUMENT_SUFFIXES = {".xml", ".txt"}
# EDGAR transport files (Atom pages, indexes, raw submissions for the ingester), not filings for the parser.
_NOT_DOCUMENTS = FIXTURES / "edgar"
_CORPUS_SUFFIXES = {".xml", ".txt", ".idx"}


def fixture_bytes(rel: str) -> bytes:
    """The raw bytes of a fixture, by its path relative to tests/fixtures (e.g. "xml/0229be84eccb.xml")."""
    return (FIXTURES / rel).read_bytes()


def all_fixture_paths() -> list[Path]:
    """Every .xml/.txt document under tests/fixtures, sorted; tests/fixtures/edgar/ is left out (its files are
    what the EDGAR ingester reads, exercised by their own tests)."""
    return sorted(
        p
        for p in FIXTURES.rglob("*")
        if p.is_file() and p.suffix in _DOCUMENT_SUFFIXES and not p.is_relative_to(_NOT_DOCUMENTS)
    )


def corpus_paths() -> list[Path]:
    """Every document of the shared corpus (filings, Atom pages, index files; not MANIFEST.tsv), sorted;
    empty when the corpus is absent."""
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.suffix in _CORPUS_SUFFIXES)
