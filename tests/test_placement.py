"""Placement: the issuer the ingesters read to choose a filing's partition is the issuer the worker parses.

A wrong guess is never wrong output (the worker sends a misplaced filing through the by-issuer topic: the broker
test in test_delivery.py), but every guess that differs from the parser's costs the hop, so the scan must agree
with the parser on every real filing, in every form it arrives in.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.alerts import load_rules
from streams.models import Filing, RawFilingEvent
from streams.parse.values import to_cik
from streams.placement import issuer_key, partition_for_key, raw_partition
from streams.process import Source, process_filing, read_event
from streams.state import DictState

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = sorted(
    p
    for folder in (ROOT / "samples", ROOT / "tests" / "fixtures" / "xml", ROOT / "tests" / "fixtures" / "txt")
    for p in folder.iterdir()
    if p.suffix in (".xml", ".txt")
)
#: The documents that are filings (three fixtures are refusals: no XML document, a required element missing).
FILINGS = [p for p in DOCUMENTS if isinstance(read_event(p.read_bytes(), Source(), 5 * 1024 * 1024), Filing)]


def _envelope(document: bytes) -> bytes:
    return (
        RawFilingEvent.for_document(
            document, accession_number="0000000000-26-000001", source="replay", received_at=datetime.now(UTC)
        )
        .model_dump_json()
        .encode()
    )


@pytest.mark.parametrize("path", FILINGS, ids=lambda p: p.name)
def test_the_issuer_read_for_placement_is_the_issuer_the_parser_reads(path: Path) -> None:
    data = path.read_bytes()
    outcome = read_event(data, Source(), 5 * 1024 * 1024)
    assert isinstance(outcome, Filing)
    want = outcome.issuer.cik.encode()
    assert issuer_key(data) == want
    assert issuer_key(_envelope(data)) == want  # the document inside a JSON envelope, newlines escaped
    for partitions in (1, 4, 12):
        assert raw_partition(data, partitions) == partition_for_key(want, partitions)


def test_the_documents_cover_both_forms_filings_arrive_in() -> None:
    assert (
        {p.suffix for p in FILINGS} == {".xml", ".txt"}
        and len(FILINGS) > 40
        and len(DOCUMENTS) - len(FILINGS) <= 3
    )


@given(st.integers(0, 9_999_999_999), st.sampled_from(["", " ", "\n  ", "\t"]), st.booleans())
def test_a_cik_is_read_as_the_parser_reads_it(cik: int, blank: str, in_envelope: bool) -> None:
    document = f"<issuer><issuerCik>{blank}{cik}{blank}</issuerCik></issuer>".encode()
    if in_envelope:
        document = _envelope(document)
    assert issuer_key(document) == to_cik(str(cik), "issuerCik").encode()


@pytest.mark.parametrize(
    "document",
    [
        b"",
        b"not a filing",
        b"<issuerCik></issuerCik>",
        b"<issuerCik>12345678901</issuerCik>",  # 11 digits: the parser refuses it too
        b"<issuerCik>12a</issuerCik>",
        b"<rptOwnerCik>0000320193</rptOwnerCik>",
    ],
)
def test_a_document_that_names_no_issuer_is_left_to_the_producer(document: bytes) -> None:
    assert issuer_key(document) is None
    assert raw_partition(document, 4) is None


def test_partitions_spread_over_every_partition() -> None:
    """murmur2 as Kafka's producers use it: 1,000 CIKs reach each of 12 partitions."""
    seen = {partition_for_key(str(cik).zfill(10).encode(), 12) for cik in range(1000)}
    assert seen == set(range(12))


def test_a_filing_processed_where_it_lands_gives_what_the_hop_gives() -> None:
    """In place the worker processes the Filing the parser made; through the hop, the Filing read back from its
    JSON. Every output and every state write must be the same, to the byte, whichever path a filing takes."""
    rules = load_rules(None)
    placed, hopped = DictState(), DictState()
    for path in FILINGS:
        outcome = read_event(path.read_bytes(), Source(), 5 * 1024 * 1024)
        assert isinstance(outcome, Filing)
        again = Filing.model_validate_json(outcome.model_dump_json())
        here, there = process_filing(outcome, placed, rules), process_filing(again, hopped, rules)
        for a, b in zip(
            [*here.records, *here.alerts, *here.holdings, *here.retract],
            [*there.records, *there.alerts, *there.holdings, *there.retract],
            strict=True,
        ):
            assert a.model_dump_json() == b.model_dump_json()
    assert placed.data == hopped.data and placed.data
