"""The published contracts: the JSON Schemas refuse what the worker refuses, output headers, holding keys."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.headers import output_headers
from streams.models import Alert, DeadLetter, HoldingKey, HoldingState, RawFilingEvent, TransactionRecord
from streams.process import Source, read_event
from streams.records import holding_key_string, split_holding_key
from tests.fixtures_index import FIXTURES

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
SONUS = FIXTURES / "xml" / "sonus_x0304_reconstructed.xml"


def schema(name: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((SCHEMAS / f"{name}.json").read_text())
    return loaded


def valid(instance: object, name: str) -> bool:
    return jsonschema.Draft202012Validator(schema(name)).is_valid(instance)


NOW = datetime(2025, 12, 12, tzinfo=UTC).isoformat()


@pytest.mark.parametrize(
    "envelope",
    [
        {"received_at": NOW},
        {"received_at": NOW, "document": "<x/>", "document_base64": "PHgvPg=="},
        {"received_at": NOW, "document_base64": "not base64!"},
        {"received_at": NOW, "document": None},
        {"received_at": NOW, "document": "<x/>", "accession_number": "٠٠٠٠٧٠٧٥٤٩-25-000004"},
    ],
    ids=["no-document", "both", "bad-base64", "null-document", "arabic-accession"],
)
def test_the_raw_schema_refuses_what_the_worker_dead_letters(envelope: dict[str, object]) -> None:
    outcome = read_event(json.dumps(envelope).encode(), Source(), 1 << 20)
    assert isinstance(outcome, DeadLetter)
    assert not valid(envelope, "raw_filing_event")


def test_the_raw_schema_accepts_what_the_worker_parses() -> None:
    for event in (
        RawFilingEvent.for_document(SONUS.read_bytes(), received_at=datetime.now(UTC)),
        RawFilingEvent.for_document(b"\xff" + SONUS.read_bytes()[1:], received_at=datetime.now(UTC)),
    ):
        assert valid(json.loads(event.model_dump_json(exclude_none=True)), "raw_filing_event")
        assert valid(json.loads(event.model_dump_json()), "raw_filing_event")


@pytest.mark.parametrize("text", ["abc", "", "1,000", "NaN", "Infinity", "1.", ".5", "0x10"])
def test_decimal_fields_refuse_what_is_not_a_number(text: str) -> None:
    line = {
        "key": {"owner_cik": "0000000001", "issuer_cik": "0000000002", "security_title": "COMMON STOCK"},
        "source_row_id": "r1",
        "source_kind": "holding",
        "shares_owned": text,
    }
    assert not valid(line, "holding")


@pytest.mark.parametrize("value", ["0", "-12.50", "1E+35", "0.000001", "123456789012345678901234567890"])
def test_decimals_as_the_models_write_them_validate(value: str) -> None:
    from decimal import Decimal

    line = HoldingState(
        key=HoldingKey(owner_cik="0000000001", issuer_cik="0000000002", security_title="COMMON STOCK"),
        source_row_id="r1",
        source_kind="holding",
        shares_owned=Decimal(value),
    )
    assert valid(json.loads(line.model_dump_json()), "holding")


def test_output_headers_name_the_schema() -> None:
    assert dict(output_headers(Alert)) == {
        "content-type": b"application/json",
        "schema": b"alert",
        "schema-version": b"1",
    }
    assert dict(output_headers(TransactionRecord))["schema"] == b"transaction_record"
    for name, value in output_headers(HoldingState):
        assert name.isascii() and isinstance(value, bytes)
    assert all(
        (SCHEMAS / f"{dict(output_headers(m))['schema'].decode()}.json").exists() for m in (DeadLetter,)
    )
    with pytest.raises(ValueError, match="not a topic message"):
        output_headers(object())


fields = st.text(alphabet=st.sampled_from("AB |%7C25 "), max_size=8)


@given(title_a=fields, nature_a=fields, title_b=fields, nature_b=fields)
def test_two_different_lines_never_share_a_key(
    title_a: str, nature_a: str, title_b: str, nature_b: str
) -> None:
    def key(title: str, nature: str) -> HoldingKey:
        return HoldingKey(
            owner_cik="0000000001", issuer_cik="0000000002", security_title=title, nature_of_ownership=nature
        )

    a, b = key(title_a, nature_a), key(title_b, nature_b)
    same_line = holding_key_string(a) == holding_key_string(b)
    normal = [
        (" ".join(t.upper().split()), " ".join(n.upper().split()))
        for t, n in ((title_a, nature_a), (title_b, nature_b))
    ]
    assert same_line == (normal[0] == normal[1])
    fields_back = split_holding_key(holding_key_string(a))
    assert len(fields_back) == 6 and (fields_back[2], fields_back[4]) == normal[0]


def test_the_key_of_a_plain_line_is_unchanged() -> None:
    key = HoldingKey(
        owner_cik="0000000001", issuer_cik="0000000002", security_title="Common Stock", direct_indirect="D"
    )
    assert holding_key_string(key) == "0000000001|0000000002|COMMON STOCK|D||N"
