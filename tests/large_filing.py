"""The largest legal filing: a real Form 4 with its transaction rows repeated up to the size cap."""

from __future__ import annotations

import re
from pathlib import Path

from streams.parse.sgml import unwrap_submission

ROOT = Path(__file__).resolve().parents[1]
TESLA = ROOT / "samples/71b9ada5bb7b.txt"

_ROW = re.compile(rb"<nonDerivativeTransaction>.*?</nonDerivativeTransaction>", re.S)


def largest_legal_filing(max_bytes: int = 5 * 1024 * 1024) -> bytes:
    """The Tesla 9-row sale with its rows repeated until the document is just under ``max_bytes``."""
    xml = unwrap_submission(TESLA.read_bytes()).xml
    rows = _ROW.findall(xml)
    first = _ROW.search(xml)
    assert first is not None and rows
    last_end = list(_ROW.finditer(xml))[-1].end()
    head, tail = xml[: first.start()], xml[last_end:]
    body: list[bytes] = []
    size = len(head) + len(tail)
    n = 0
    while size + len(rows[n % len(rows)]) + 1 < max_bytes:
        body.append(rows[n % len(rows)])
        size += len(rows[n % len(rows)]) + 1
        n += 1
    return head + b"\n".join(body) + tail
