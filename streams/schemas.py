"""JSON Schema of every topic message, generated from the models (the models are the source of truth)."""

from __future__ import annotations

import json
from pathlib import Path

from streams.models import TOPIC_MESSAGES


def generate() -> dict[str, str]:
    """File name -> schema text, serialised deterministically so that drift shows up as a diff."""
    out = {}
    for name, model in TOPIC_MESSAGES.items():
        schema = model.model_json_schema(mode="serialization")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"form4-streams/{name}.json"
        out[f"{name}.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, text in generate().items():
        path = directory / filename
        path.write_text(text)
        written.append(path)
    return written
