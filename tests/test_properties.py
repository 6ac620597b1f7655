"""Whatever the bytes, the parser answers with a Filing or a ParseError — nothing else escapes."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.parse import ParseError, parse_filing
from tests.fixtures_index import fixture_bytes
from tests.test_hostile import MINIMAL

SEEDS = [
    MINIMAL,
    fixture_bytes("xml/sonus_x0304_reconstructed.xml"),
    fixture_bytes("txt/7a623a2c1264.txt"),
    fixture_bytes("txt/03db0cd95749.txt"),
]
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def outcome(data: bytes) -> str:
    try:
        parse_filing(data)
    except ParseError as exc:
        return str(exc.code)
    return "ok"


@SETTINGS
@given(st.binary(max_size=4096))
def test_random_bytes(data: bytes) -> None:
    assert outcome(data) != "internal_error"


@SETTINGS
@given(st.sampled_from(SEEDS), st.integers(min_value=0, max_value=200_000))
def test_truncated(seed: bytes, cut: int) -> None:
    """A cut document is refused (or, cut after the closing tag, parsed) — never half-read into rows."""
    data = seed[: cut % (len(seed) + 1)]
    result = outcome(data)
    assert result != "internal_error"
    if result == "ok":
        rows = [t.model_dump(exclude={"txn_id"}) for t in parse_filing(data).transactions]
        assert rows == [t.model_dump(exclude={"txn_id"}) for t in parse_filing(seed).transactions]


@SETTINGS
@given(
    st.sampled_from(SEEDS),
    st.lists(st.tuples(st.integers(0, 200_000), st.binary(min_size=1, max_size=8)), max_size=6),
)
def test_mutated(seed: bytes, edits: list[tuple[int, bytes]]) -> None:
    data = bytearray(seed)
    for position, replacement in edits:
        at = position % (len(data) or 1)
        data[at : at + len(replacement)] = replacement
    assert outcome(bytes(data)) != "internal_error"


@SETTINGS
@given(
    st.sampled_from(SEEDS),
    st.integers(0, 200_000),
    st.sampled_from([b"<", b">", b"&", b"</value>", b"<value>", b"]]>", b"\xff\xfe", b"\x00"]),
)
def test_structural_insertions(seed: bytes, position: int, token: bytes) -> None:
    at = position % (len(seed) + 1)
    assert outcome(seed[:at] + token + seed[at:]) != "internal_error"
