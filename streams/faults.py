"""Deterministic fault injection for the crash tests: ``FORM4_FAULT=<point>:<n>`` ends the process with
``os._exit`` at the n-th pass of a named point, the way a kill -9 would at that exact step.

Each point is a boundary where a crash leaves something half done; the tests run every one and compare every
output with a run without faults. Unset (the default), ``reach`` is one dictionary lookup.
"""

from __future__ import annotations

import os
import sys
from collections import Counter

#: The named points, in the order one event passes them, and what is done when a crash hits there.
POINTS: dict[str, str] = {
    "outputs_sent": "an event's outputs handed to the producer, none acknowledged yet",
    "outputs_acked": "every output acknowledged by the broker, no state applied yet",
    "state_write": "between two state writes of one event (after the n-th write of the process)",
    "state_applied": "a batch's state applied, its source offsets not committed",
    "recovery": "while a table is recovered from its changelog (the n-th batch of changelog records)",
    "sink_committed": "the sink's database transaction committed, its Kafka offsets not",
}

#: The exit status of an injected fault (distinct from a crash's 1 and a kill's -9).
EXIT_CODE = 86

_armed: dict[str, int] = {}
_passes: Counter[str] = Counter()


def parse(spec: str) -> tuple[str, int]:
    """``"state_write:3"`` -> ``("state_write", 3)``; a ValueError names what is wrong."""
    point, sep, count = spec.strip().partition(":")
    if point not in POINTS:
        raise ValueError(f"unknown fault point {point!r}: one of {', '.join(POINTS)}")
    if not sep:
        return point, 1
    if not count.isdigit() or int(count) < 1:
        raise ValueError(f"fault pass count {count!r} must be a whole number >= 1")
    return point, int(count)


def arm(spec: str | None) -> None:
    """Arm (or with None, disarm) the fault this process dies at."""
    _armed.clear()
    _passes.clear()
    if spec:
        point, n = parse(spec)
        _armed[point] = n


def reach(point: str) -> None:
    """One pass of ``point``: at the armed pass the process ends at once, nothing flushed or closed."""
    if point not in _armed:
        return
    _passes[point] += 1
    if _passes[point] >= _armed[point]:
        sys.stderr.write(f"form4: injected fault {point}:{_armed[point]} ({POINTS[point]}): exiting\n")
        sys.stderr.flush()
        os._exit(EXIT_CODE)
