"""Kafka headers of every output message, so a consumer can route and check a message without parsing it."""

from __future__ import annotations

from streams.models import TOPIC_MESSAGES

CONTENT_TYPE = "application/json"
#: Bumped when a message's schema changes incompatibly (a field removed or its meaning changed).
SCHEMA_VERSION = "1"
_SCHEMA_NAMES = {model: name for name, model in TOPIC_MESSAGES.items()}


def output_headers(message: object) -> list[tuple[str, bytes]]:
    """``content-type``, ``schema`` (the file name under schemas/, e.g. ``transaction_record``) and
    ``schema-version`` for a topic message (a model instance or its class); ValueError for anything else."""
    kind = message if isinstance(message, type) else type(message)
    name = next((_SCHEMA_NAMES[c] for c in kind.__mro__ if c in _SCHEMA_NAMES), None)
    if name is None:
        raise ValueError(f"{kind.__name__} is not a topic message: add it to streams.models.TOPIC_MESSAGES")
    return [
        ("content-type", CONTENT_TYPE.encode()),
        ("schema", name.encode()),
        ("schema-version", SCHEMA_VERSION.encode()),
    ]
