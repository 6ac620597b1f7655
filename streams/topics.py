"""The one place that names the pipeline's Kafka topics, their configs, and creates them.

Every topic name is ``<prefix>.<suffix>`` (default prefix ``form4``):

=================  ============================================================  =========================
attribute          content                                                       kept
=================  ============================================================  =========================
``raw``            input: raw filing bytes, keyed by accession number            forever (delete, no limit)
``filings``        parsed filings, keyed by accession number (or ``sha256:``)    compact, forever
``transactions``   one record per transaction row, keyed by txn_id               compact, forever
``holdings``       current insider holdings (last reported wins)                 compact, forever
``alerts``         alerts emitted by the rules, keyed by alert_id                compact, forever
``dlq``            inputs that could not be processed: original bytes + headers  delete after 30 days
=================  ============================================================  =========================

``raw`` is the system of record: kept indefinitely (a year of Forms 3/4/5 is a few GB), so state and outputs can
be rebuilt from it after a parser or rules upgrade. ``filings``, ``transactions`` and ``alerts`` are compacted by
their deterministic keys: the latest version of every key stays forever, so a new downstream service (e.g. the
history store, ``form4 sink``) can read the whole history from the topics.

Every topic is created with explicit ``retention.ms`` and ``retention.bytes``: Tansu's DescribeConfigs returns
only explicitly set configs and no broker defaults, and clients that derive configs from a source topic (Quix
Streams, tooling) crash without them (streaming-notes §5.3). Topics are created with their final partition count
because Tansu supports neither CreatePartitions nor AlterConfigs (§5.3, §6).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from streams.kafka_errors import BrokerUnreachable, quiet_bootstrap

if TYPE_CHECKING:
    from streams.settings import Settings

log = logging.getLogger(__name__)

DAY_MS = 24 * 60 * 60 * 1000

#: Retention of the dead-letter topic: 30 days, so failures can still be replayed after a fix.
DLQ_RETENTION_MS = 30 * DAY_MS
#: No limit (``-1``): kept forever, by time and by size.
UNLIMITED = -1

#: Legal Kafka topic-name characters; the prefix must also be non-empty.
_TOPIC_CHARS = re.compile(r"^[A-Za-z0-9._-]+$")
_MAX_TOPIC_NAME = 249

#: Topic suffixes in pipeline order.
SUFFIXES: tuple[str, ...] = ("raw", "filings", "transactions", "holdings", "alerts", "dlq")


def _delete_policy(retention_ms: int) -> dict[str, str]:
    return {
        "cleanup.policy": "delete",
        "retention.ms": str(retention_ms),
        "retention.bytes": str(UNLIMITED),
    }


def _compact_policy() -> dict[str, str]:
    """The latest value of every key forever: never deleted by time or size (a partition emptied by retention
    also breaks Faust recovery, faust#597)."""
    return {
        "cleanup.policy": "compact",
        "retention.ms": str(UNLIMITED),
        "retention.bytes": str(UNLIMITED),
    }


#: Per-suffix topic configs.
#: Topics whose messages carry one whole filing (their ``max.message.bytes`` is raised, see Topics).
FILING_SIZED = frozenset({"raw", "filings"})

TOPIC_CONFIGS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "raw": _delete_policy(UNLIMITED),
        "filings": _compact_policy(),
        "transactions": _compact_policy(),
        "holdings": _compact_policy(),
        "alerts": _compact_policy(),
        "dlq": _delete_policy(DLQ_RETENTION_MS),
    }
)


def validate_prefix(prefix: str) -> str:
    """Return ``prefix`` if it can start a legal Kafka topic name, else raise ValueError."""
    if not prefix or not _TOPIC_CHARS.match(prefix):
        raise ValueError(
            f"topic prefix {prefix!r} is invalid: use one or more of the characters A-Z a-z 0-9 . _ -"
        )
    longest = max(len(s) for s in SUFFIXES)
    if len(prefix) + 1 + longest > _MAX_TOPIC_NAME:
        raise ValueError(f"topic prefix {prefix!r} is too long: topic names are limited to 249 characters")
    return prefix


@dataclass(frozen=True)
class Topics:
    """Topic names for one deployment, e.g. ``Topics().raw == "form4.raw"``, ``Topics("t1").dlq == "t1.dlq"``."""

    prefix: str = "form4"
    #: ``max.message.bytes`` of the topics that carry one whole filing per message (raw, filings): a legal 5 MB
    #: filing is several MB of JSON, over Kafka's 1 MB default. Settings.filing_message_max_bytes.
    filing_message_max_bytes: int = 32 * 1024 * 1024
    _names: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        validate_prefix(self.prefix)
        object.__setattr__(self, "_names", MappingProxyType({s: f"{self.prefix}.{s}" for s in SUFFIXES}))

    @property
    def raw(self) -> str:
        """Input: raw filing documents as fetched from EDGAR."""
        return self._names["raw"]

    @property
    def filings(self) -> str:
        """Parsed filings (one envelope per accession number)."""
        return self._names["filings"]

    @property
    def transactions(self) -> str:
        """Individual transactions derived from the filings."""
        return self._names["transactions"]

    @property
    def holdings(self) -> str:
        """Current holdings per (owner, issuer, security, ...) key; compacted."""
        return self._names["holdings"]

    @property
    def alerts(self) -> str:
        """Alerts raised by the rules."""
        return self._names["alerts"]

    @property
    def dlq(self) -> str:
        """Dead letters: original bytes and key, with ``error.*``/``source.*`` headers."""
        return self._names["dlq"]

    def all(self) -> tuple[str, ...]:
        """Every topic name, in pipeline order."""
        return tuple(self._names[s] for s in SUFFIXES)

    def config(self, name: str) -> dict[str, str]:
        """Creation configs of topic ``name`` (one of :meth:`all`)."""
        for suffix, full in self._names.items():
            if full == name:
                config = dict(TOPIC_CONFIGS[suffix])
                if suffix in FILING_SIZED:
                    config["max.message.bytes"] = str(self.filing_message_max_bytes)
                return config
        raise KeyError(f"{name!r} is not one of this deployment's topics: {', '.join(self.all())}")

    def configs(self) -> dict[str, dict[str, str]]:
        """``{topic name: creation configs}`` for every topic."""
        return {name: self.config(name) for name in self.all()}


@dataclass(frozen=True)
class EnsureResult:
    """What :func:`ensure_topics` did."""

    created: tuple[str, ...]
    existing: tuple[str, ...]
    #: Existing topics whose partition count differs from the requested one: ``{name: actual}``.
    #: Partitions cannot be added on Tansu, and co-partitioned agents/tables need the same count.
    mismatched: Mapping[str, int]


async def ensure_pipeline_topics(settings: Settings) -> EnsureResult:
    """The pipeline's topics for a process configured by ``settings``, created with its client settings (TLS,
    SASL): what every worker, ingester and seeder makes sure of before it starts."""
    from streams.settings import kafka_client_kwargs

    return await ensure_topics(
        bootstrap_servers(settings.broker_url),
        settings.topics,
        settings.partitions,
        settings.replication_factor,
        client=kafka_client_kwargs(settings),
    )


async def ensure_topics(
    bootstrap: str,
    topics: Topics,
    partitions: int,
    replication_factor: int = 1,
    *,
    timeout: float = 30.0,
    client: Mapping[str, Any] | None = None,
) -> EnsureResult:
    """Create the missing topics of ``topics`` with their final partition count and configs.

    Idempotent: topics that already exist are left as they are (a different partition count is logged as a
    warning and reported in the result, never altered). Returns once every topic is visible in the cluster
    metadata with its partitions, or raises TimeoutError after ``timeout`` seconds.
    ``bootstrap`` is ``host:port[,host:port]``; a ``kafka://`` prefix is accepted and stripped.
    """
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError, for_code

    if partitions < 1:
        raise ValueError(f"partitions must be >= 1, got {partitions}")
    if replication_factor < 1:
        raise ValueError(f"replication_factor must be >= 1, got {replication_factor}")
    servers = bootstrap_servers(bootstrap)
    wanted = topics.all()
    admin = AIOKafkaAdminClient(
        bootstrap_servers=servers, request_timeout_ms=int(timeout * 1000), **(client or {})
    )
    started = False
    try:
        async with asyncio.timeout(timeout):
            try:
                with quiet_bootstrap():
                    await admin.start()
            except (KafkaConnectionError, OSError) as exc:
                raise BrokerUnreachable(bootstrap) from exc
            started = True
            present = await _partition_counts(admin, wanted)
            missing = [name for name in wanted if name not in present]
            if missing:
                response = await admin.create_topics(
                    [
                        NewTopic(
                            name=name,
                            num_partitions=partitions,
                            replication_factor=replication_factor,
                            topic_configs=topics.config(name),
                        )
                        for name in missing
                    ]
                )
                for topic_error in response.topic_errors:
                    name, code = topic_error[0], topic_error[1]
                    if code in (0, TopicAlreadyExistsError.errno):
                        continue
                    message = topic_error[2] if len(topic_error) > 2 else None
                    raise for_code(code)(f"creating topic {name!r} failed: {message or 'no message'}")
                log.info("created topics %s with %d partitions", ", ".join(missing), partitions)
            # Wait until every topic is in the metadata with its partitions (creation may be asynchronous).
            while True:
                counts = await _partition_counts(admin, wanted)
                if all(counts.get(name, 0) > 0 for name in wanted):
                    break
                await asyncio.sleep(0.05)
    except TimeoutError:
        if not started:  # no answer at all (a filtered port, an address that drops packets)
            raise BrokerUnreachable(bootstrap) from None
        raise TimeoutError(
            f"topics {', '.join(wanted)} were not all created and visible on {servers} within {timeout:g} s"
        ) from None
    finally:
        await admin.close()
    mismatched = {name: counts[name] for name in wanted if name not in missing and counts[name] != partitions}
    for name, actual in mismatched.items():
        log.warning(
            "topic %s exists with %d partitions, not %d: partitions cannot be changed here; "
            "recreate the topic or set the partition count to match",
            name,
            actual,
            partitions,
        )
    return EnsureResult(
        created=tuple(missing),
        existing=tuple(n for n in wanted if n not in missing),
        mismatched=MappingProxyType(mismatched),
    )


async def _partition_counts(admin: object, names: tuple[str, ...]) -> dict[str, int]:
    """``{topic: partition count}`` for the topics among ``names`` that exist without error.

    Asks for *all* topics: a Metadata request naming topics is sent by aiokafka with
    ``allow_auto_topic_creation=True``, which could create them with broker defaults and no configs.
    """
    described = await admin.describe_topics(None)  # type: ignore[attr-defined]
    wanted = set(names)
    return {
        t["topic"]: len(t["partitions"]) for t in described if t["error_code"] == 0 and t["topic"] in wanted
    }


def bootstrap_servers(url: str) -> str:
    """``kafka://h1:9092;kafka://h2:9092`` or ``h1:9092,h2:9092`` -> ``h1:9092,h2:9092`` for aiokafka."""
    hosts = []
    for part in re.split(r"[;,]", url):
        part = part.strip()
        if not part:
            continue
        if "://" in part:
            part = part.split("://", 1)[1]
        hosts.append(part.rstrip("/"))
    if not hosts:
        raise ValueError(f"no broker address in {url!r}")
    return ",".join(hosts)
