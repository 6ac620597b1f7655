"""A bounded index of keys: an unbounded set of keys stored as buckets of at most ``BUCKET_SIZE`` keys.

Holdings by owner and by issuer need "every line of X". A single list per owner or issuer would grow with
history and be rewritten whole on every new line; here adding a key reads and writes one bucket and a small
head, so each value stays under a few KB and the work per event is constant. Reading walks the buckets.
"""

from __future__ import annotations

from collections.abc import Iterator

from streams.state import State, key

BUCKET_SIZE = 256


def _head_key(name: str) -> str:
    return key("idx", name)


def _bucket_key(name: str, n: int) -> str:
    return key("idx", name, str(n))


def add(state: State, name: str, member: str) -> bool:
    """Add ``member`` to index ``name`` unless it is already in the last bucket; True when it was added.

    Callers add a key only when they create the item it names (a new holding line), so membership in
    earlier buckets never needs checking and a repeat add of the newest key is harmless.
    """
    head = state.get(_head_key(name)) or {"buckets": 0}
    count = int(head["buckets"])
    last = list(state.get(_bucket_key(name, count - 1)) or []) if count else []
    if member in last:
        return False
    if not count or len(last) >= BUCKET_SIZE:
        state.put(_bucket_key(name, count), [member])
        state.put(_head_key(name), {"buckets": count + 1})
    else:
        state.put(_bucket_key(name, count - 1), [*last, member])
    return True


def members(state: State, name: str) -> Iterator[str]:
    """Every key of index ``name`` once, in the order added."""
    head = state.get(_head_key(name)) or {"buckets": 0}
    seen: set[str] = set()
    for n in range(int(head["buckets"])):
        for member in state.get(_bucket_key(name, n)) or []:
            if member not in seen:
                seen.add(member)
                yield member
