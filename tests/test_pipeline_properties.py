"""Whatever values a filing carries, the pipeline's pure steps after the parser never fail on it.

Real fixture documents are mutated: any text node (a share count, a price, a date, a CIK, a title, a footnote)
is replaced by an extreme value — huge, tiny, negative or exponent decimals, thousands of digits, dates from
year 1 to 9999, long strings, any Unicode, surrogate character references, other scripts' digits — and the
envelope's acceptance time may be naive, aware or extreme. Each event then goes through ``read_event`` and,
when it is a Filing, the records, the per-filing alert rules and their sentences, the holding candidates and
the holdings rule (against the unmutated filing's lines, both orders), date windows of +-400 days, and
``model_dump_json`` of every output. The outcome is a Filing whose outputs all serialise, or a DeadLetter with
one of the parser's codes — never ``internal_error``, never an exception.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.alerts import RulesConfig, evaluate_filing
from streams.alerts.text import format_money, format_shares
from streams.holdings import apply
from streams.models import DeadLetter, Filing, HoldingState
from streams.parse.errors import ErrorCode
from streams.process import Source, read_event
from streams.records import holding_candidates, holding_key_string, transaction_records
from tests.fixtures_index import fixture_bytes

SEEDS = [
    fixture_bytes(path)
    for path in (
        "xml/5618fb46ea3e.xml",  # Affirm: box checked, sales with weighted-average ranges
        "xml/e364df9da26c.xml",  # Musk: nine sales
        "xml/a87531161a19.xml",  # Fractyl: six joint owners, a purchase, derivative rows
        "xml/0489944b8445.xml",  # AbCellera: total values, 18 rows
        "txt/7a623a2c1264.txt",  # a 4/A in its EDGAR wrapper, with a header acceptance time
    )
]
MAX_BYTES = 5 * 1024 * 1024
RULES = RulesConfig()
PARSER_CODES = {str(code) for code in ErrorCode} - {str(ErrorCode.INTERNAL_ERROR)}
_TEXT_NODE = re.compile(rb">([^<>]*)<")

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def xml_text(text: str) -> str:
    """Escaped for XML; characters XML cannot hold (surrogates, most controls) as character references,
    as an attacker would write them."""
    out = []
    for char in text:
        code = ord(char)
        if char in "&<>":
            out.append({"&": "&amp;", "<": "&lt;", ">": "&gt;"}[char])
        elif (code < 0x20 and char not in "\t\n\r") or 0xD800 <= code <= 0xDFFF or code in (0xFFFE, 0xFFFF):
            out.append(f"&#x{code:X};")
        else:
            out.append(char)
    return "".join(out)


decimals = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False).map(str),  # includes exponents: 1E+35
    st.integers(0, 30).flatmap(
        lambda places: st.decimals(allow_nan=False, allow_infinity=False, places=places).map(
            lambda d: f"{d:f}"
        )
    ),
    st.integers(-(10**40), 10**40).map(str),
    st.integers(1, 6000).map(lambda n: "9" * n),
    st.integers(1, 40).map(lambda n: "0." + "0" * n + "1"),
    st.sampled_from(
        ["1E+35", "-0", "-1", "0.0000000001", "999999999999999.9999999999", "١٣١٨٦٠٥", "1,234.5"]
    ),
)
dates = st.one_of(
    st.dates().map(date.isoformat),
    st.sampled_from(["0001-01-01", "9999-12-30", "9999-12-31", "1899-12-31", "2200-12-31", "2024-02-29"]),
)
texts = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3),
    st.integers(1, 200_000).map(lambda n: "x" * n),
    st.sampled_from(["See Remarks", "١٣١٨٦٠٥", "0001318605", "", " ", "CEO" * 1000]),
)
replacement = st.one_of(decimals, dates, texts).map(xml_text)
# A misspelled closing tag the parser repairs, so surrogates also reach the repaired-document path.
repairable = st.booleans()

acceptance = st.one_of(
    st.none(),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),  # naive
    st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=14))]),
    ),
    st.sampled_from([datetime(2024, 1, 2, 18, 30), datetime(2024, 1, 2, 18, 30, tzinfo=UTC)]),
)


def mutate(seed: bytes, edits: list[tuple[int, str]], repair: bool) -> bytes:
    nodes = list(_TEXT_NODE.finditer(seed))
    data = bytearray(seed)
    for position, text in sorted(((p % len(nodes), t) for p, t in edits), reverse=True):
        node = nodes[position]
        data[node.start(1) : node.end(1)] = text.encode("utf-8", "surrogatepass")
    if repair:
        data = bytearray(bytes(data).replace(b"</schemaVersion>", b"</schemaVersionX>", 1))
    return bytes(data)


def envelope(document: bytes, accepted: datetime | None) -> bytes:
    return json.dumps(
        {
            "received_at": "2024-01-02T23:00:00Z",
            "acceptance_datetime": accepted.isoformat() if accepted else None,
            "document": document.decode("utf-8", "surrogateescape").encode("utf-8", "replace").decode(),
        }
    ).encode()


def check_outputs(filing: Filing, baseline: Filing | None) -> None:
    assert filing.acceptance_datetime is None or filing.acceptance_datetime.utcoffset() is not None
    filing.model_dump_json()
    records = transaction_records(filing)
    for record in records:
        record.model_dump_json()
        d = record.derived
        for value in (d.dollar_value, record.shares, record.total_value, record.shares_owned_following):
            if value is not None:
                format_money(abs(value))
                format_shares(value)
        for day in (record.transaction_date, record.deemed_execution_date, record.filed_date):
            if day is not None:
                assert day - timedelta(days=400) < day + timedelta(days=400)  # windows and pruning
    for alert in evaluate_filing(records, RULES):
        assert alert.message
        alert.model_dump_json()
    lines = holding_candidates(filing)
    others = holding_candidates(baseline) if baseline is not None else []
    for first, second in ((lines, others), (others, lines)):
        table: dict[str, HoldingState] = {}
        for candidate in [*first, *second]:
            key = holding_key_string(candidate.key)
            new = apply(table.get(key), candidate)
            if new is not None:
                new.model_dump_json()
                table[key] = new


def outcome(value: bytes) -> Filing | DeadLetter:
    result = read_event(value, Source(topic="form4.raw", partition=0, offset=0), MAX_BYTES)
    if isinstance(result, DeadLetter):
        assert result.reason in PARSER_CODES, f"{result.reason}: {result.message}"
        result.model_dump_json()
    return result


BASELINES = {seed: outcome(envelope(seed, datetime(2024, 1, 2, 18, 30))) for seed in SEEDS}


@SETTINGS
@given(
    st.sampled_from(SEEDS),
    st.lists(st.tuples(st.integers(0, 10_000), replacement), min_size=1, max_size=4),
    repairable,
    acceptance,
)
def test_every_event_ends_as_a_serialisable_filing_or_a_parser_dead_letter(
    seed: bytes, edits: list[tuple[int, str]], repair: bool, accepted: datetime | None
) -> None:
    result = outcome(envelope(mutate(seed, edits, repair), accepted))
    if isinstance(result, Filing):
        baseline = BASELINES[seed]
        check_outputs(result, baseline if isinstance(baseline, Filing) else None)


@SETTINGS
@given(
    st.sampled_from(SEEDS), st.lists(st.tuples(st.integers(0, 10_000), replacement), min_size=1, max_size=4)
)
def test_bare_documents_too(seed: bytes, edits: list[tuple[int, str]]) -> None:
    """Without an envelope (bare XML or the EDGAR wrapper as produced to form4.raw)."""
    result = outcome(mutate(seed, edits, False))
    if isinstance(result, Filing):
        check_outputs(result, None)


def test_the_examples_of_issue_9_are_refused_by_the_parser() -> None:
    """Each was an internal_error dead letter (or a later crash) before; each is now invalid_value or parses."""
    seed = fixture_bytes("xml/5618fb46ea3e.xml")
    cases = {
        "shares": seed.replace(b"<value>4749</value>", b"<value>1" + b"0" * 35 + b"</value>", 1),
        "digits": seed.replace(b"<value>4749</value>", b"<value>" + b"7" * 5000 + b"</value>", 1),
        "year 9999": seed.replace(b"<value>2024-12-12</value>", b"<value>9999-12-30</value>", 1),
        "year 1": seed.replace(b"<value>2024-12-12</value>", b"<value>0001-01-01</value>", 1),
    }
    for label, data in cases.items():
        result = outcome(data)
        assert isinstance(result, DeadLetter) and result.reason == "invalid_value", label
    assert isinstance(outcome(seed), Filing)
    accepted_year_1 = outcome(envelope(seed, datetime(1, 1, 2, 12, 0)))
    assert isinstance(accepted_year_1, DeadLetter) and "acceptance_datetime" in accepted_year_1.message
