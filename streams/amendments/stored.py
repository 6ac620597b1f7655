"""A filing's records as last published, kept in the State port for the amendments that restate them later.

- ``rec|<id>``: a filing's records as last published and the footnote texts they cite (each once, cited by
  number), as one JSON text, deflated (``streams.state.pack``: read only by amendments and revisions, its
  changelog bytes were a sixth of the pipeline's): at most ``ROW_CHUNK_CHARS`` characters per value (under 64 KB once
  serialised), a longer text continuing under ``rec|<id>|<digest>|1``, ``|2``... (one value for a typical
  filing, a few hundred for the largest legal one). Kept for originals with transactions and for amendments;
  never pruned here (like the per-accession records table they replace): one key per filing.

``<id>`` is the accession number, or ``sha256:<hash>`` of a bare document (see :mod:`streams.amendments.linking`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

from streams.models import TransactionRecord
from streams.state import State, key, pack, unpack

ROW_CHUNK_CHARS = 30_000  # ASCII JSON; escaping at most doubles it, so a value stays under 64 KB


def _store_rows(state: State, me: str, records: list[TransactionRecord]) -> None:
    """The records and the footnote texts they cite as one ASCII JSON text (in as few values as fit: one for a
    typical filing, so one changelog write), each footnote text once per filing and cited by number (a long
    footnote cited by 1,000 rows is kept once, not 1,000 times)."""
    if not records:
        return
    notes: dict[str, int] = {}
    rows = []
    for record in records:
        row = record.model_dump(mode="json")
        texts = row["derived"]["footnote_texts"]
        row["derived"]["footnote_texts"] = [notes.setdefault(t, len(notes)) for t in texts]
        rows.append(row)
    stored = {"rows": rows, "notes": list(notes)}
    _put_text(state, key("rec", me), pack(json.dumps(stored, separators=(",", ":"), sort_keys=True)))


def has_rows(state: State, me: str) -> bool:
    """Whether ``me``'s rows are stored: they are written with its outputs, so they also say it was processed."""
    return state.get(key("rec", me)) is not None


def _load_rows(state: State, me: str) -> Iterator[TransactionRecord]:
    text = _get_text(state, key("rec", me))
    if text is None:
        return  # an entry without its rows (never expected): link, but supersede nothing
    stored = json.loads(unpack(text))
    for row in stored["rows"]:
        row["derived"]["footnote_texts"] = [stored["notes"][k] for k in row["derived"]["footnote_texts"]]
        yield TransactionRecord.model_validate(row)


def _put_text(state: State, k: str, text: str) -> None:
    """``text`` (ASCII) under ``k``, continued past ``ROW_CHUNK_CHARS`` under ``k|<digest>|1``, ``|2``...; storing
    the same text again writes nothing.

    The parts of a longer text are named for its digest and written before the head that names them, and the
    previous version's parts are deleted after it: a kill between the writes leaves a whole version readable.
    """
    parts = [text[p : p + ROW_CHUNK_CHARS] for p in range(0, len(text), ROW_CHUNK_CHARS)] or [""]
    digest = _digest(text) if len(parts) > 1 else None
    head = {"parts": len(parts), "text": parts[0], "digest": digest}
    old = state.get(k)
    if old == head:
        return
    for p, part in enumerate(parts[1:], start=1):
        state.put(key(k, str(digest), str(p)), part)
    state.put(k, head)
    if old and old.get("digest") and old["digest"] != digest:
        for p in range(1, old["parts"]):
            state.put(key(k, old["digest"], str(p)), None)


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _get_text(state: State, k: str) -> str | None:
    """The text ``_put_text`` stored, or None when there is none whole (never expected: see ``_put_text``)."""
    head = state.get(k)
    if head is None:
        return None
    if head["parts"] == 1:
        return str(head["text"])
    digest = head["digest"]
    text = str(head["text"]) + "".join(
        str(state.get(key(k, digest, str(p))) or "") for p in range(1, head["parts"])
    )
    return text if _digest(text) == digest else None


#: A filing's records as last published, for ``streams.alerts.revise`` and ``streams.process``.
store_rows = _store_rows
load_rows = _load_rows
