"""One batch's state writes, all or nothing.

A table takes writes one key at a time (Faust's stores have no write batch), so a crash among an event's writes
would leave part of it: its history counted, its alert not revised, and the redelivered event then reads its own
half-applied state and computes other contents. So the writes of a batch's events (each key once, with its last
value) are first recorded as one journal value per partition (``jrnl|<partition>``), then applied key by key. After a restart or a rebalance, before a
partition's first event is prepared, the last journal is applied again: whatever part of it was missing is
completed, and what was already there is written again with the same value (nothing is written where the
table already holds it). Re-applying the last journal is always right because every write of a partition goes
through a journal first, so no write can come after the last journal's own.

A journal larger than one value (a filing of thousands of rows) is written in parts first, under the slot the
current head does not name, then the head that names them: a crash between the parts and the head leaves the
previous journal whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from streams.state import MAX_VALUE_BYTES, State, key, pack, unpack

KIND = "jrnl"
#: Characters of packed writes per journal value.
PART_BYTES = MAX_VALUE_BYTES * 3 // 4

Write = tuple[str, Any]


def head_key(partition: int) -> str:
    return key(KIND, str(partition))


def part_key(partition: int, slot: int, index: int) -> str:
    return key(KIND, str(partition), str(slot), str(index))


def _chunks(writes: list[Write]) -> list[str]:
    """The writes as one packed JSON text (``streams.state.pack``), cut into values of at most PART_BYTES."""
    text = pack(json.dumps([[k, v] for k, v in writes], separators=(",", ":"), ensure_ascii=False))
    return [text[p : p + PART_BYTES] for p in range(0, len(text), PART_BYTES)]


def journal(writes: Iterable[Write], current_head: Any, partition: int, journal_id: str) -> list[Write]:
    """The journal writes that go before an event's own: the head with the writes inline, or the parts under
    the free slot and then the head. Empty when the event writes nothing. The writes are packed: the journal is
    read only after a restart, and unpacked it doubled the changelog's bytes."""
    listed = list(writes)
    if not listed:
        return []
    chunks = _chunks(listed)
    if len(chunks) == 1:
        return [(head_key(partition), {"id": journal_id, "z": chunks[0]})]
    slot = 1 - current_head["slot"] if isinstance(current_head, dict) and "slot" in current_head else 0
    out: list[Write] = [
        (part_key(partition, slot, i), {"id": journal_id, "z": chunk}) for i, chunk in enumerate(chunks)
    ]
    out.append((head_key(partition), {"id": journal_id, "slot": slot, "parts": len(chunks)}))
    return out


def last_writes(state: State, partition: int) -> list[Write] | None:
    """The last journal's writes in order; None without a journal, or (never expected: parts go before their
    head) with a part missing. Reads journals written before packing (``"w"``) too."""
    head = state.get(head_key(partition))
    if not isinstance(head, dict):
        return None
    if "w" in head:
        return [(k, v) for k, v in head["w"]]
    if "z" in head:
        return [(k, v) for k, v in json.loads(unpack(head["z"]))]
    texts: list[str] = []
    old_style: list[Write] = []
    for i in range(int(head["parts"])):
        part = state.get(part_key(partition, int(head["slot"]), i))
        if not isinstance(part, dict) or part.get("id") != head["id"]:
            return None
        if "w" in part:
            old_style.extend((k, v) for k, v in part["w"])
        else:
            texts.append(part["z"])
    if old_style:
        return old_style
    return [(k, v) for k, v in json.loads(unpack("".join(texts)))]


def replay(state: State, partition: int) -> int:
    """Apply the last journal again where the table differs from it; returns how many keys it wrote."""
    writes = last_writes(state, partition)
    if not writes:
        return 0
    final: dict[str, Any] = {}
    for k, v in writes:
        final[k] = v
    changed = 0
    for k, v in final.items():
        if state.get(k) != v:
            state.put(k, v)
            changed += 1
    return changed
