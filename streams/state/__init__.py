"""The state port: what the pure processing steps read and write, as small values under fine-grained keys.

The agents back a ``State`` with a Faust table (one key space per partition: the issuer partition for the
filing step, the owner partition for holdings); tests, the benchmark's pure mode and the reference pipeline back
it with a dict. A step reads through ``Staged``, which keeps its writes aside until the agent has had every
output of the event acknowledged by the broker, and only then applies them: state never says "done" before the
outputs are durable (streaming-notes §9).

Rules every user of this port keeps:
- a value is JSON-ready (dicts, lists, strings, numbers, booleans) and **bounded**: it never grows with an
  issuer's or an owner's history (``MAX_VALUE_BYTES`` is the ceiling the tests assert on changelogs);
- keys are ``"<kind>|<parts joined by |>"``; each kind belongs to one module:

  =========  ==========================================  ====================================
  kind       value                                       module
  =========  ==========================================  ====================================
  seen       the raw sha256 of a processed filing        streams.process
             without stored rows (``rec`` marks the
             others; ``seen|seed:<id>``: a merged seed)
  orig       accessions of originals by owners and date  streams.amendments.linking
  rec        a filing's rows as published                streams.amendments.stored
  amend      amendments waiting for their original       streams.amendments.linking
  amended    the amendments linked to an original        streams.amendments.linking
  cluster    the issuer's cluster-buy window (bounded)   streams.alerts.windows
  hist       one insider's trading months in an issuer   streams.alerts.history
  pub        one insider's filings of a year (revisions) streams.alerts.revise
  event      one insider's trades of one day, one side   streams.alerts
  flow       one issuer's discretionary flow of one day  streams.alerts
  profile    the issuer's name and ticker                streams.process
  line       one holding line                            streams.holdings
  idx        a bucket of an index of line keys           streams.state.index
  jrnl       the last event's writes, per partition      streams.state.journal
  =========  ==========================================  ====================================
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any, Protocol

#: No state value may serialise to more than this (the 5,000-filings test checks every changelog message).
MAX_VALUE_BYTES = 64 * 1024


_PACKED = "z:"


def pack(text: str) -> str:
    """``text`` deflated and in base64 (ASCII, a fifth to a tenth of the JSON it usually holds): for values read
    rarely and written often (a filing's stored rows, the journal), whose changelog bytes dominate."""
    return _PACKED + base64.b64encode(zlib.compress(text.encode(), 1)).decode("ascii")


def unpack(value: str) -> str:
    """The text ``pack`` packed; a value written before packing (plain text) as it is."""
    if not value.startswith(_PACKED):
        return value
    return zlib.decompress(base64.b64decode(value[len(_PACKED) :])).decode()


class State(Protocol):
    def get(self, key: str) -> Any | None: ...

    def put(self, key: str, value: Any | None) -> None:
        """Set ``key`` (``None`` deletes it)."""
        ...


def key(kind: str, *parts: str) -> str:
    """``key("line", owner, issuer)`` -> ``"line|<owner>|<issuer>"``; parts must not contain ``|`` themselves
    unless they are the last part."""
    return "|".join((kind, *parts))


class DictState:
    """A State over a plain dict: tests, the pure benchmark and the reference pipeline."""

    def __init__(self, data: MutableMapping[str, Any] | None = None) -> None:
        self.data: MutableMapping[str, Any] = {} if data is None else data

    def get(self, key: str) -> Any | None:
        return self.data.get(key)

    def put(self, key: str, value: Any | None) -> None:
        if value is None:
            self.data.pop(key, None)
        else:
            self.data[key] = value


_DELETED = object()


class Staged:
    """Reads fall through to ``read``; writes are kept in order until ``apply`` (or dropped with the object).

    One Staged per event: the agent runs the pure step against it, sends and awaits the outputs, then applies
    the writes to the table inside the event's context.
    """

    def __init__(self, read: Callable[[str], Any | None]) -> None:
        self._read = read
        self.writes: dict[str, Any] = {}

    def get(self, key: str) -> Any | None:
        if key in self.writes:
            value = self.writes[key]
            return None if value is _DELETED else value
        return self._read(key)

    def put(self, key: str, value: Any | None) -> None:
        self.writes[key] = _DELETED if value is None else value

    def items(self) -> Iterator[tuple[str, Any | None]]:
        """The staged writes, ``None`` for a delete."""
        for k, v in self.writes.items():
            yield k, (None if v is _DELETED else v)

    def apply(self, target: State) -> int:
        """Write every staged change to ``target``; returns how many."""
        n = 0
        for k, v in self.items():
            target.put(k, v)
            n += 1
        return n
