"""One event's state writes are all or nothing: the journal written before them completes them after a crash
at any point among them, and re-applying the last journal never changes a table that holds it already."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from streams.state import MAX_VALUE_BYTES, DictState
from streams.state import journal as jr


def _noise(size: int, seed: int) -> str:
    """Text that does not compress (the journal is packed): random hex."""
    return random.Random(seed).randbytes(size // 2).hex()


def _event_writes(n: int, size: int = 40) -> list[tuple[str, Any]]:
    return [(f"k|{i}", {"v": _noise(size, i), "n": i}) for i in range(n)] + [("gone", None)]


def _crash_after(state: DictState, sequence: list[tuple[str, Any]], n: int) -> None:
    for k, v in sequence[:n]:
        state.put(k, v)


@pytest.mark.parametrize(("count", "size"), [(3, 40), (400, 400)])  # inline head; parts and a head
def test_a_crash_after_any_write_is_completed_by_the_replay(count: int, size: int) -> None:
    before = {"gone": 1, "k|0": {"old": True}}
    writes = _event_writes(count, size)
    whole = DictState(dict(before))
    for k, v in writes:
        whole.put(k, v)
    entries = jr.journal(writes, None, 3, "t:3:10")
    sequence = [*entries, *writes]
    assert (len(entries) == 1) == (count == 3)  # a small event: the head alone; a large one: parts first
    for cut in range(len(entries), len(sequence) + 1):  # every prefix that holds the whole journal
        state = DictState(dict(before))
        _crash_after(state, sequence, cut)
        jr.replay(state, 3)
        assert {k: v for k, v in state.data.items() if not k.startswith("jrnl|")} == whole.data, cut


def test_a_crash_before_the_head_leaves_the_previous_journal_whole() -> None:
    """Parts go under the slot the current head does not name: cut anywhere before the new head and the
    replay applies the previous event's writes again, which the table already holds (nothing changes)."""
    first = _event_writes(300, 400)
    state = DictState()
    for k, v in [*jr.journal(first, None, 0, "a"), *first]:
        state.put(k, v)
    settled = dict(state.data)
    second = [(k, {"second": _noise(400, 7 + n)}) for n, (k, _) in enumerate(first)]
    entries = jr.journal(second, state.get(jr.head_key(0)), 0, "b")
    assert entries[-1][0] == jr.head_key(0)
    assert {k.split("|")[2] for k, _ in entries[:-1]} == {"1"}  # the other slot
    for cut in range(len(entries)):
        crashed = DictState(dict(settled))
        _crash_after(crashed, entries, cut)
        assert jr.replay(crashed, 0) == 0
        assert {k: v for k, v in crashed.data.items() if not k.startswith("jrnl|")} == {
            k: v for k, v in settled.items() if not k.startswith("jrnl|")
        }


def test_replay_writes_nothing_where_the_table_holds_the_journal() -> None:
    writes = _event_writes(5)
    state = DictState()
    for k, v in [*jr.journal(writes, None, 1, "x"), *writes]:
        state.put(k, v)
    assert jr.replay(state, 1) == 0
    assert jr.replay(DictState(), 7) == 0  # no journal at all


def test_every_journal_value_stays_under_the_value_bound() -> None:
    """The 64 KB bound of every state value holds for journals too: a large event's journal is cut in parts."""
    big = [(f"rec|{i}", _noise(30_000, i)) for i in range(40)]  # a filing's packed rows at their chunk size
    for k, v in jr.journal(big, {"id": "y", "slot": 0, "parts": 2}, 2, "z"):
        assert len(json.dumps(v)) < MAX_VALUE_BYTES, k
    assert jr.journal([], None, 0, "none") == []
