"""Parser throughput, side by side on the same files in one process on one core.

    .venv/bin/python bench/parse.py [--rounds 5] [--json]      (or: make bench-parse)

Contenders, each over the same in-memory documents:
  form4-streams (raw)   parse_filing on the inputs as the pipeline sees them (bare XML and full .txt submissions)
  form4-streams (xml)   parse_filing on the extracted ownership XML only
  lxml parse+walk       lxml parses the XML and visits every element's tag and text: the floor for any lxml parser
  edgartools            edgar.ownership Ownership.parse_xml on the extracted XML. Its owner lookup
                        (edgar.ownership.owners.Entity, one EDGAR request per owner) is replaced by an offline stub
                        that answers "not a company" — edgartools then reverses the name locally, as it does for
                        people — so it is timed without network I/O.
Files: every filing in ../shared/corpus when present, else tests/fixtures. Reported: filings/s (best round) and
ratios against form4-streams (xml).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streams.parse import ParseError, parse_filing  # noqa: E402
from streams.parse.sgml import looks_like_submission, unwrap_submission  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
FIXTURES = ROOT / "tests" / "fixtures"


def load_inputs() -> tuple[str, list[bytes]]:
    base = CORPUS if CORPUS.is_dir() else FIXTURES
    paths = sorted(
        p for p in base.rglob("*") if p.suffix in (".xml", ".txt") and p.parent.name not in ("atom", "idx")
    )
    return str(base), [p.read_bytes() for p in paths]


def extract_xml(data: bytes) -> bytes:
    return unwrap_submission(data).xml if looks_like_submission(data) else data.strip()


_WALK_PARSER = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True)


def lxml_walk(xml: bytes) -> None:
    for el in etree.fromstring(xml, _WALK_PARSER).iter():
        _ = el.tag, el.text


def edgartools_parser() -> Callable[[bytes], object] | None:
    try:
        import edgar.ownership.owners as owners
        from edgar.ownership import Ownership
    except ImportError:
        return None
    owners.Entity = lambda cik: None  # offline: no EDGAR lookup per owner (see module docstring)
    return lambda xml: Ownership.parse_xml(xml.decode("utf-8", "replace"))


def timed(fn: Callable[[bytes], object], docs: list[bytes], rounds: int) -> tuple[float, int]:
    """Best-of-rounds filings/s, and how many documents raised."""
    errors = 0
    for doc in docs:  # warm-up, and count failures once
        try:
            fn(doc)
        except Exception:
            errors += 1
    rates = []
    for _ in range(rounds):
        gc.collect()
        start = time.perf_counter()
        for doc in docs:
            with contextlib.suppress(Exception):
                fn(doc)
        rates.append(len(docs) / (time.perf_counter() - start))
    return max(rates), errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--edgartools-rounds", type=int, default=2, help="0 skips edgartools")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, as the target says

    source, raw = load_inputs()
    parseable = []
    for data in raw:
        try:
            parse_filing(data)
            parseable.append(data)
        except ParseError:
            pass
    xmls = [extract_xml(d) for d in parseable]

    results: dict[str, dict[str, float | int]] = {}
    for name, fn, docs, rounds in (
        ("form4-streams (raw)", parse_filing, parseable, args.rounds),
        ("form4-streams (xml)", parse_filing, xmls, args.rounds),
        ("lxml parse+walk", lxml_walk, xmls, args.rounds),
    ):
        rate, errors = timed(fn, docs, rounds)
        results[name] = {"filings_per_s": round(rate), "errors": errors}
    edgar = edgartools_parser()
    if edgar is not None and args.edgartools_rounds > 0:
        rate, errors = timed(edgar, xmls, args.edgartools_rounds)
        results["edgartools (offline)"] = {"filings_per_s": round(rate), "errors": errors}

    ours = results["form4-streams (xml)"]["filings_per_s"]
    for r in results.values():
        r["ours_per_theirs"] = round(ours / r["filings_per_s"], 2)
    report = {
        "files": len(parseable),
        "source": source,
        "mean_xml_bytes": round(statistics.mean(len(x) for x in xmls)),
        "python": platform.python_version(),
        "lxml": ".".join(map(str, etree.LXML_VERSION)),
        "results": results,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Parse throughput, one core: {len(parseable)} filings from {source}")
    for col in ("contender", "filings/s", "errors", "form4-streams (xml) ÷ this"):
        table.add_column(col, justify="right" if col != "contender" else "left")
    for name, r in results.items():
        table.add_row(name, f"{r['filings_per_s']:,}", str(r["errors"]), f"{r['ours_per_theirs']}x")
    Console().print(table)
    print(
        f"mean XML size {report['mean_xml_bytes']:,} bytes; Python {report['python']}, lxml {report['lxml']}"
    )


if __name__ == "__main__":
    main()
