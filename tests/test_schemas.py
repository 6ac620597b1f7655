"""The committed JSON Schemas are exactly what the models generate: change a model, regenerate (make schemas)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from streams.schemas import generate
from tests.fixtures_index import fixture_bytes

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"


@pytest.mark.parametrize("filename", sorted(generate()))
def test_committed_schema_matches_models(filename: str) -> None:
    committed = SCHEMAS / filename
    assert committed.exists(), f"{committed} missing: run `make schemas`"
    assert committed.read_text() == generate()[filename], (
        f"{filename} drifted from the models: run `make schemas`"
    )


def test_no_stale_schema_files() -> None:
    assert {p.name for p in SCHEMAS.glob("*.json")} == set(generate())


def test_a_parsed_filing_validates_against_its_schema() -> None:
    from streams.parse import parse_filing

    filing = parse_filing(fixture_bytes("txt/7a623a2c1264.txt"))
    schema = json.loads((SCHEMAS / "filing.json").read_text())
    jsonschema.validate(json.loads(filing.model_dump_json()), schema)
    assert schema["properties"]["transactions"]["type"] == "array"


def test_decimals_travel_as_strings() -> None:
    from streams.parse import parse_filing

    data = json.loads(parse_filing(fixture_bytes("txt/7a623a2c1264.txt")).model_dump_json())
    shares = [t["shares"] for t in data["transactions"] if t["shares"] is not None]
    assert shares and all(isinstance(s, str) for s in shares)
