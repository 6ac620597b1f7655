"""Configuration: one pydantic-settings class read from ``FORM4_*`` environment variables.

Every field is read from the environment variable ``FORM4_<FIELD NAME IN UPPER CASE>``, e.g.
``FORM4_BROKER_URL=kafka://broker:19092``. :func:`faust_app_kwargs` maps the settings onto ``faust.App``
keyword arguments in one place. Faust's own environment variables (``BROKER_URL``, ``WEB_PORT``, ...) are
switched off (they would override explicit arguments), so nothing configures the same thing twice (streaming-notes §8.4).

The defaults suit a developer machine: a broker on loopback (``form4 broker``), in-memory tables, the web
server on loopback. The Tansu-specific setting (a short session timeout) is explained on its field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.bounds import DEFAULT_MAX_ARCHIVE_MEMBERS
from streams.topics import Topics, validate_prefix

ENV_PREFIX = "FORM4_"
APP_ID = "form4-streams"

#: SEC fair-access policy: no more than 10 requests per second.
EDGAR_MAX_RATE = 10.0

#: One bootstrap address: ``kafka://host[:port]`` or ``host:port`` (IPv6 hosts in brackets).
_BROKER_ADDRESS = re.compile(
    r"^(?:(?P<scheme>kafka|aiokafka)://)?(?P<host>[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::(?P<port>[0-9]{1,5}))?/?$"
)

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class Settings(BaseSettings):
    """All settings of form4-streams. Each field is read from ``FORM4_<NAME>`` (case-insensitive)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        case_sensitive=False,
        extra="ignore",
        env_ignore_empty=True,  # FORM4_X= (empty, e.g. from a compose file) means "use the default"
        validate_default=True,
        frozen=True,
    )

    # --- Kafka / Faust -------------------------------------------------------------------------------------
    broker_url: str = Field(
        "kafka://127.0.0.1:9092",
        description="Kafka bootstrap URL(s) for Faust, e.g. kafka://broker:19092 (several: separate with ';'). "
        "`form4 broker` prints the value to use for its embedded broker.",
    )
    broker_security_protocol: SecurityProtocol = Field(
        "PLAINTEXT",
        description="How every Kafka client (the worker, ingesters, tail) talks to the broker: PLAINTEXT, SSL, "
        "SASL_PLAINTEXT or SASL_SSL (SASL needs broker_sasl_username and broker_sasl_password).",
    )
    broker_sasl_mechanism: SaslMechanism = Field(
        "PLAIN", description="SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512."
    )
    broker_sasl_username: str | None = Field(None, description="SASL user name.")
    broker_sasl_password: SecretStr | None = Field(None, description="SASL password (never logged).")
    broker_ssl_cafile: Path | None = Field(
        None, description="CA bundle (PEM) to verify the broker's certificate; unset = the system's CAs."
    )
    broker_ssl_certfile: Path | None = Field(
        None, description="Client certificate (PEM) for mutual TLS; needs broker_ssl_keyfile."
    )
    broker_ssl_keyfile: Path | None = Field(None, description="Private key (PEM) of broker_ssl_certfile.")
    store: str = Field(
        "memory://",
        description="Faust table store: memory:// (state rebuilt from changelogs at start) or rocksdb:// "
        "(persisted under data_dir; needs rocksdict).",
    )
    data_dir: Path = Field(
        Path(".form4-data"),
        description="Faust data directory (RocksDB tables, worker state).",
    )
    processing_guarantee: Literal["at_least_once"] = Field(
        "at_least_once",
        description="Only at_least_once: exactly_once cannot start on Tansu 0.6.0 with aiokafka (InitProducerId "
        "v0 is rejected, read_committed is not honoured) and has open Faust bugs (#323, #517, #177). Outputs are "
        "made idempotent instead (keys derived from accession numbers; streaming-notes §1.7, §5.4, §8.2).",
    )
    session_timeout: float = Field(
        6.0,
        gt=0,
        description="Consumer-group session timeout in seconds. Tansu holds each member's first JoinGroup for "
        "about session_timeout/2, so keep it short (6 s); Faust's default of 60 s makes a restart take ~2 min.",
    )
    heartbeat_interval: float = Field(
        1.0, gt=0, description="Consumer-group heartbeat interval in seconds; must be below session_timeout."
    )
    rebalance_timeout: float = Field(
        10.0, gt=0, description="How long the group coordinator waits for members to rejoin, in seconds."
    )
    producer_linger: float = Field(
        0.01,
        ge=0,
        description="Producer linger in seconds: wait this long to batch records (0.01 s gives ~25 % more "
        "throughput than 0).",
    )
    consumer_fetch_max_wait: float = Field(
        0.1,
        ge=0.001,
        le=30,
        description="Longest a worker's fetch waits for records, in seconds. Kafka answers as soon as a record "
        "arrives; Tansu holds each fetch this long, adding up to it to every hop (Faust's own value: 1.5 s).",
    )
    producer_max_batch_size: int = Field(
        256 * 1024,
        ge=1,
        le=1_000_000,
        description="Producer batch size limit in bytes (per partition; a larger record goes alone). 256 KiB: "
        "aiokafka's 16 KiB default held one filing or five records, and a batch costs the producer as much as "
        "its records (about a tenth of the worker's CPU in bench/pipeline.py). At most 1,000,000: Kafka refuses "
        "a batch over its 1 MB message.max.bytes. A batch size of 1 was once a test workaround for Tansu's "
        "short ListOffsets answer (streaming-notes §5.4); recovery now reads changelogs to the high watermark a "
        "Fetch reports.",
    )
    fault: str | None = Field(
        None,
        description="Crash tests only: <point>:<n> ends the process (os._exit) at the n-th pass of a named step "
        "boundary (streams/faults.py lists them). Never set it in production.",
    )
    partitions: int = Field(
        4,
        ge=1,
        description="Partitions of every pipeline topic (and Faust's default for its internal topics). Topics "
        "are created with their final count: partitions cannot be added later on Tansu.",
    )
    replication_factor: int = Field(
        1, ge=1, description="Replication factor of created topics (1 on one node)."
    )
    table_standby_replicas: int = Field(
        1,
        ge=0,
        description="Standby replicas per table partition kept warm on other workers for fast failover.",
    )
    topic_prefix: str = Field(
        "form4", description="Prefix of every pipeline topic name: <prefix>.raw, <prefix>.filings, ..."
    )

    # --- Web server ----------------------------------------------------------------------------------------
    web_enabled: bool = Field(True, description="Run Faust's web server (health, metrics, table views).")
    web_host: str = Field(
        "127.0.0.1",
        description="The address this worker advertises: other workers forward API requests for the keys it "
        "owns to http://<web_host>:<web_port>. 'auto' = this machine's own address (its host name resolved), "
        "which gives each replica of a container its own.",
    )
    web_bind: str | None = Field(
        None,
        description="Interface the web server listens on; unset = web_host (0.0.0.0 when web_host is auto). "
        "Use 0.0.0.0 in a container.",
    )
    web_port: int = Field(6066, ge=1, le=65535, description="Port of Faust's web server.")
    api_token: SecretStr | None = Field(
        None,
        description="When set, every request to the HTTP API other than GET, HEAD and OPTIONS must carry "
        "'Authorization: Bearer <token>' (streams/api.py check_token). The read-only GET API stays open.",
    )
    ingest_metrics_port: int = Field(
        6067,
        ge=0,
        le=65535,
        description="Port of the EDGAR ingesters' Prometheus endpoint (/metrics); 0 turns it off.",
    )
    ingest_metrics_bind: str = Field(
        "127.0.0.1",
        description="Interface the ingesters' metrics endpoint binds to (0.0.0.0 in a container).",
    )

    # --- Pipeline ------------------------------------------------------------------------------------------
    state_generation: int = Field(
        1,
        ge=1,
        description="Generation of the worker's state: a new generation is a new consumer group and new table "
        "changelogs, so the workers re-read form4.raw from the beginning and rebuild every table and output "
        "(under the same deterministic keys) — after a parser or rules upgrade. See `form4 reprocess`.",
    )
    rules_file: Path | None = Field(None, description="Alert rules file; unset = the built-in rules.")
    message_max_bytes: int = Field(
        1_000_000,
        ge=10_000,
        description="Largest output message (records, alerts, holdings, table changelogs): Kafka's default "
        "limit. An event whose outputs would exceed it becomes an output_too_large dead letter.",
    )
    filing_message_max_bytes: int = Field(
        32 * 1024 * 1024,
        ge=1_000_000,
        description="Largest message on form4.raw, form4.filings and the by-issuer hop, which carry one whole "
        "filing (a legal 5 MB filing is several MB of JSON): their topics are created with this "
        "max.message.bytes, and the producers' max request size is this.",
    )
    max_filing_bytes: int = Field(
        5 * 1024 * 1024,
        ge=1,
        description="Inputs larger than this go to the DLQ as too_large before any parsing (default 5 MiB).",
    )
    max_archive_members: int = Field(
        DEFAULT_MAX_ARCHIVE_MEMBERS,
        ge=1,
        description="`form4 ingest files` reads at most this many members of one archive (a tar's headers alone "
        "cost memory and time): the rest of a tar is one too_large dead letter, a zip with more is refused whole.",
    )

    # --- History store (`form4 sink`) ---------------------------------------------------------------------
    database_url: str | None = Field(
        None,
        description="SQL history store fed by `form4 sink` and read by the history queries: "
        "sqlite:///<path> (relative to the working directory; sqlite:////<absolute path>), the embedded "
        "default on one machine, or postgresql://user[:password]@host:port/db for several workers. "
        "Unset = sqlite:///<data_dir>/history.sqlite3.",
    )
    sink_batch_size: int = Field(
        5000, ge=1, description="Most messages `form4 sink` writes to the database in one transaction."
    )
    sink_metrics_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Port on which `form4 sink` serves Prometheus /metrics; unset = no metrics server.",
    )

    # --- Logging -------------------------------------------------------------------------------------------
    log_level: Literal["debug", "info", "warning", "error", "critical"] = Field(
        "info",
        description="Log level. Keep info: Faust's warn level turns on a DEBUG spinner handler that costs "
        "~12 % CPU (streaming-notes R3), and debug logging is expensive.",
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="text for people, json for log collectors."
    )

    # --- EDGAR ---------------------------------------------------------------------------------------------
    edgar_user_agent: str | None = Field(
        None,
        description="User-Agent for SEC EDGAR requests: required to poll EDGAR, with a contact e-mail address, "
        "e.g. 'Example Corp ops@example.com' (SEC fair-access policy).",
    )
    edgar_base_url: str = Field("https://www.sec.gov", description="Base URL of SEC EDGAR.")
    edgar_rate_limit: float = Field(
        5.0, description="EDGAR requests per second, 0 < rate <= 10 (SEC fair-access limit is 10/s)."
    )
    poll_interval: float = Field(2.0, gt=0, description="Seconds between polls of the EDGAR filing feed.")
    edgar_timeout: float = Field(
        30.0, gt=0, description="Seconds before an EDGAR request is abandoned and retried."
    )
    index_audit_interval: float = Field(
        600.0,
        ge=0,
        description="Seconds between the live ingester's checks of EDGAR's daily indexes for days it covered "
        "(catches what the feed did not show, e.g. during a downtime); 0 turns the audit off.",
    )
    ingest_state: Path | None = Field(
        None,
        description="SQLite file where the EDGAR ingesters remember what they published; unset = "
        "<data_dir>/ingest/<raw topic>.sqlite3. Keep it on a persistent volume.",
    )

    @field_validator("processing_guarantee", mode="before")
    @classmethod
    def _guarantee(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() != "at_least_once":
            raise ValueError(
                f"processing guarantee {value!r} is not supported: only at_least_once. exactly_once cannot start "
                "on Tansu with aiokafka and has open Faust bugs; outputs are idempotent instead"
            )
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("fault")
    @classmethod
    def _fault(cls, value: str | None) -> str | None:
        if value is not None:
            from streams.faults import parse

            parse(value)
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_level(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().lower()
            return "warning" if value == "warn" else value
        return value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_format(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("edgar_rate_limit")
    @classmethod
    def _rate_limit(cls, value: float) -> float:
        if not 0 < value <= EDGAR_MAX_RATE:
            raise ValueError(
                f"EDGAR rate limit must be greater than 0 and at most {EDGAR_MAX_RATE:g} requests per second "
                f"(SEC fair-access policy), got {value:g}"
            )
        return value

    @field_validator("edgar_user_agent")
    @classmethod
    def _user_agent(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if "@" not in value:
            raise ValueError(
                "EDGAR User-Agent must include a contact e-mail address, e.g. 'Example Corp ops@example.com' "
                "(SEC fair-access policy)"
            )
        return value

    @field_validator("edgar_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"EDGAR base URL must start with https:// or http://, got {value!r}")
        return value.rstrip("/")

    @field_validator("topic_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return validate_prefix(value)

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str | None) -> str | None:
        from streams.sinks.db import parse_database_url

        if value is None:
            return None
        parse_database_url(value)  # raises ValueError saying what a valid URL looks like
        return value.strip()

    @field_validator("broker_url")
    @classmethod
    def _broker(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("broker URL must not be empty, e.g. kafka://127.0.0.1:9092")
        for part in re.split(r"[;,]", value):
            if part.strip():
                check_broker_address(part.strip())
        return value

    @model_validator(mode="after")
    def _security(self) -> Settings:
        sasl = self.broker_security_protocol.startswith("SASL_")
        if sasl and (not self.broker_sasl_username or self.broker_sasl_password is None):
            raise ValueError(
                f"broker_security_protocol {self.broker_security_protocol} needs {ENV_PREFIX}BROKER_SASL_USERNAME "
                f"and {ENV_PREFIX}BROKER_SASL_PASSWORD"
            )
        if (self.broker_ssl_certfile is None) != (self.broker_ssl_keyfile is None):
            raise ValueError(
                f"{ENV_PREFIX}BROKER_SSL_CERTFILE and {ENV_PREFIX}BROKER_SSL_KEYFILE go together: set both or neither"
            )
        return self

    @model_validator(mode="after")
    def _timeouts(self) -> Settings:
        if self.heartbeat_interval >= self.session_timeout:
            raise ValueError(
                f"heartbeat_interval ({self.heartbeat_interval:g} s) must be below "
                f"session_timeout ({self.session_timeout:g} s)"
            )
        return self

    @property
    def topics(self) -> Topics:
        """The pipeline's topic names under :attr:`topic_prefix`."""
        return Topics(self.topic_prefix, self.filing_message_max_bytes)

    @property
    def app_id(self) -> str:
        """The Faust app's id: the consumer group and the prefix of internal topics and changelogs, per topic
        prefix and state generation."""
        name = APP_ID if self.topic_prefix == "form4" else f"{APP_ID}-{self.topic_prefix}"
        return name if self.state_generation == 1 else f"{name}-g{self.state_generation}"

    @property
    def faust_data_dir(self) -> Path:
        """The app's local table files, per app id: a new state generation never reads the old one's."""
        return self.data_dir / "faust" / self.app_id

    @property
    def history_url(self) -> str:
        """The history store's URL: FORM4_DATABASE_URL, else SQLite in the data directory."""
        return self.database_url or f"sqlite:///{self.data_dir}/history.sqlite3"

    @property
    def ingest_state_path(self) -> Path:
        return self.ingest_state or self.data_dir / "ingest" / f"{self.topics.raw}.sqlite3"

    def require_edgar_user_agent(self) -> str:
        """The User-Agent, or a ValueError that says what to set (SEC refuses anonymous clients)."""
        if not self.edgar_user_agent:
            raise ValueError(
                f"{ENV_PREFIX}EDGAR_USER_AGENT is not set. SEC EDGAR requires every client to declare who it is: "
                f"a name and a contact e-mail address, e.g.\n  export {ENV_PREFIX}EDGAR_USER_AGENT="
                "'Example Corp ops@example.com'"
            )
        return self.edgar_user_agent


def check_broker_address(part: str) -> str:
    """One bootstrap address, or a ValueError that shows the form to use."""
    match = _BROKER_ADDRESS.match(part)
    port = match and match.group("port")
    if not match or not (match.group("scheme") or port) or (port and not 1 <= int(port) <= 65535):
        raise ValueError(
            f"broker URL {part!r} is not a Kafka address: use kafka://host:port, e.g. kafka://127.0.0.1:9092 "
            "(several: separate with ';')"
        )
    return part


def _ssl_context(settings: Settings) -> Any:
    from aiokafka.helpers import create_ssl_context

    return create_ssl_context(
        cafile=str(settings.broker_ssl_cafile) if settings.broker_ssl_cafile else None,
        certfile=str(settings.broker_ssl_certfile) if settings.broker_ssl_certfile else None,
        keyfile=str(settings.broker_ssl_keyfile) if settings.broker_ssl_keyfile else None,
    )


def kafka_client_kwargs(settings: Settings) -> dict[str, Any]:
    """Security keyword arguments for the plain aiokafka clients (producers, consumers, admin) outside Faust:
    empty for PLAINTEXT, so the defaults stay aiokafka's."""
    protocol = settings.broker_security_protocol
    if protocol == "PLAINTEXT":
        return {}
    kwargs: dict[str, Any] = {"security_protocol": protocol}
    if protocol in ("SSL", "SASL_SSL"):
        kwargs["ssl_context"] = _ssl_context(settings)
    if protocol.startswith("SASL_"):
        kwargs["sasl_mechanism"] = settings.broker_sasl_mechanism
        kwargs["sasl_plain_username"] = settings.broker_sasl_username
        kwargs["sasl_plain_password"] = (
            settings.broker_sasl_password.get_secret_value() if settings.broker_sasl_password else None
        )
    return kwargs


def faust_broker_credentials(settings: Settings) -> Any:
    """Faust's ``broker_credentials`` for the security settings; None for PLAINTEXT."""
    import faust

    protocol = settings.broker_security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = _ssl_context(settings) if protocol in ("SSL", "SASL_SSL") else None
    if protocol == "SSL":
        return faust.SSLCredentials(context)
    return faust.SASLCredentials(
        username=settings.broker_sasl_username,
        password=settings.broker_sasl_password.get_secret_value() if settings.broker_sasl_password else None,
        ssl_context=context,
        mechanism=settings.broker_sasl_mechanism,
    )


def advertised_web_host(web_host: str) -> str:
    """``web_host``, with ``auto`` resolved to this machine's address (a container's own IP on its network)."""
    if web_host.strip().lower() != "auto":
        return web_host
    import socket

    return socket.gethostbyname(socket.gethostname())


def web_bind(settings: Settings) -> str:
    """The interface the web server listens on."""
    if settings.web_bind:
        return settings.web_bind
    return "0.0.0.0" if settings.web_host.strip().lower() == "auto" else settings.web_host


def env_names() -> set[str]:
    """Every environment variable the Settings read, e.g. ``FORM4_BROKER_URL``."""
    return {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}


def faust_app_kwargs(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``faust.App(id, **faust_app_kwargs(settings))``.

    Every name is a Faust setting (``faust/types/settings/settings.py``); Faust silently ignores unknown
    keyword arguments, so the tests check each one against ``app.conf``.

    ``env={}``: Faust reads its own environment variables (``BROKER_URL``, ``WEB_PORT``, ``APP_STORE``, ...)
    and lets them win over explicit keyword arguments (``Settings._init_settings`` in faust 0.15.3). An empty
    environment for Faust makes the FORM4_* variables the only configuration source.
    """
    from streams.api import error_middleware

    token = settings.api_token.get_secret_value() if settings.api_token else None
    kwargs: dict[str, Any] = {
        "env": {},
        "broker": settings.broker_url,
        "store": settings.store,
        "datadir": str(settings.faust_data_dir),
        "processing_guarantee": settings.processing_guarantee,
        "broker_session_timeout": settings.session_timeout,
        "broker_heartbeat_interval": settings.heartbeat_interval,
        "broker_rebalance_timeout": settings.rebalance_timeout,
        "producer_linger": settings.producer_linger,
        "producer_max_request_size": settings.filing_message_max_bytes,
        "consumer_auto_offset_reset": "earliest",
        "topic_partitions": settings.partitions,
        "topic_replication_factor": settings.replication_factor,
        "table_standby_replicas": settings.table_standby_replicas,
        "web_enabled": settings.web_enabled,
        "web_host": advertised_web_host(settings.web_host),
        "web_bind": web_bind(settings),
        "web_port": settings.web_port,
        # /table/ serves table contents over HTTP: holdings are served through table_route views instead.
        "web_tables_enabled": False,
        # /router/ shows every worker's URL and the partition layout to anyone who can reach the port. Routing
        # API requests to the worker that owns a key (app.router.route_req) does not use it.
        "web_router_enabled": False,
        # JSON errors for unknown paths, and the API token for non-GET requests (streams/api.py).
        "web_application_options": {"middlewares": [error_middleware(token)]},
    }
    credentials = faust_broker_credentials(settings)
    if credentials is not None:
        kwargs["broker_credentials"] = credentials
    kwargs["producer_max_batch_size"] = settings.producer_max_batch_size
    from streams.logs import logging_config

    # Ours in both formats: one line per record, repeated library warnings rate-limited (streams/logs.py).
    kwargs["logging_config"] = logging_config(settings.log_level, settings.log_format)
    return kwargs
