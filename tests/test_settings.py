"""Settings from FORM4_* environment variables, and their mapping onto faust.App."""

from __future__ import annotations

import os
from pathlib import Path

import faust
import pytest
from faust.types.settings import Settings as FaustSettings
from pydantic import ValidationError

from streams.settings import Settings, env_names, faust_app_kwargs
from streams.topics import Topics


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No FORM4_* (or Faust) variable from the developer's shell leaks into these tests."""
    for name in list(os.environ):
        if name.startswith("FORM4_"):
            monkeypatch.delenv(name)


def test_defaults() -> None:
    s = Settings()
    assert s.broker_url == "kafka://127.0.0.1:9092"
    assert s.store == "memory://"
    assert s.data_dir == Path(".form4-data")
    assert (s.web_host, s.web_port, s.web_bind) == ("127.0.0.1", 6066, None)
    assert (s.topic_prefix, s.partitions, s.replication_factor) == ("form4", 4, 1)
    assert s.processing_guarantee == "at_least_once"
    assert (s.session_timeout, s.heartbeat_interval, s.rebalance_timeout) == (6.0, 1.0, 10.0)
    assert (s.producer_linger, s.producer_max_batch_size) == (0.01, 256 * 1024)
    assert s.table_standby_replicas == 1
    assert s.rules_file is None
    assert s.max_filing_bytes == 5 * 1024 * 1024
    assert (s.log_level, s.log_format) == ("info", "text")
    assert s.edgar_user_agent is None
    assert (s.edgar_base_url, s.edgar_rate_limit, s.poll_interval) == ("https://www.sec.gov", 5.0, 2.0)
    assert s.topics == Topics("form4")


def test_form4_environment_variables_override_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "FORM4_BROKER_URL": "kafka://broker:19092",
        "FORM4_STORE": "rocksdb://",
        "FORM4_DATA_DIR": "/var/lib/form4",
        "FORM4_WEB_PORT": "7070",
        "FORM4_WEB_BIND": "0.0.0.0",
        "FORM4_TOPIC_PREFIX": "staging.form4",
        "FORM4_PARTITIONS": "8",
        "FORM4_PRODUCER_MAX_BATCH_SIZE": "1",
        "FORM4_RULES_FILE": "rules.yaml",
        "FORM4_LOG_LEVEL": "WARN",
        "FORM4_LOG_FORMAT": "JSON",
        "FORM4_EDGAR_USER_AGENT": "Example Corp ops@example.com",
        "FORM4_EDGAR_RATE_LIMIT": "10",
        "form4_poll_interval": "0.5",  # names are case-insensitive
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("FORM4_SESSION_TIMEOUT", "")  # empty means "default" (compose files often do this)
    monkeypatch.setenv("BROKER_URL", "kafka://not-ours:1")  # only FORM4_ variables count
    s = Settings()
    assert s.broker_url == "kafka://broker:19092"
    assert s.store == "rocksdb://"
    assert s.data_dir == Path("/var/lib/form4")
    assert (s.web_port, s.web_bind) == (7070, "0.0.0.0")
    assert s.topics.raw == "staging.form4.raw" and s.topics.dlq == "staging.form4.dlq"
    assert s.partitions == 8
    assert s.producer_max_batch_size == 1
    assert s.rules_file == Path("rules.yaml")
    assert (s.log_level, s.log_format) == ("warning", "json")
    assert s.edgar_user_agent == "Example Corp ops@example.com"
    assert s.edgar_rate_limit == 10
    assert s.poll_interval == 0.5
    assert s.session_timeout == 6.0


@pytest.mark.parametrize("rate", ["10.5", "11", "0", "-1"])
def test_an_edgar_rate_limit_outside_0_to_10_is_rejected_clearly(
    monkeypatch: pytest.MonkeyPatch, rate: str
) -> None:
    monkeypatch.setenv("FORM4_EDGAR_RATE_LIMIT", rate)
    with pytest.raises(ValidationError) as info:
        Settings()
    text = str(info.value)
    assert "edgar_rate_limit" in text
    assert "greater than 0 and at most 10 requests per second" in text
    assert "SEC fair-access" in text


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("processing_guarantee", "exactly_once", "'exactly_once' is not supported: only at_least_once"),
        ("heartbeat_interval", 6.0, "must be below session_timeout"),
        ("edgar_user_agent", "form4-streams", "contact e-mail address"),
        ("topic_prefix", "bad prefix", "topic prefix 'bad prefix' is invalid"),
        ("partitions", 0, "greater than or equal to 1"),
        ("producer_max_batch_size", 0, "greater than or equal to 1"),
        ("producer_max_batch_size", 1_048_589, "less than or equal to 1000000"),  # Kafka would refuse it
        ("log_format", "xml", "'text' or 'json'"),
        ("edgar_base_url", "www.sec.gov", "must start with https://"),
    ],
)
def test_invalid_values_are_rejected(field: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(**{field: value})


def test_env_names_lists_every_variable_the_settings_read(monkeypatch: pytest.MonkeyPatch) -> None:
    names = env_names()
    assert {
        "FORM4_BROKER_URL",
        "FORM4_STORE",
        "FORM4_WEB_PORT",
        "FORM4_TOPIC_PREFIX",
        "FORM4_PARTITIONS",
    } <= names
    assert {
        "FORM4_RULES_FILE",
        "FORM4_EDGAR_USER_AGENT",
        "FORM4_EDGAR_RATE_LIMIT",
        "FORM4_LOG_LEVEL",
    } <= names
    assert len(names) == len(Settings.model_fields)
    # Each name really is read: setting it changes the field.
    samples = {"FORM4_WEB_PORT": ("web_port", 7777), "FORM4_PARTITIONS": ("partitions", 2)}
    for name, (field, value) in samples.items():
        assert name in names
        monkeypatch.setenv(name, str(value))
        assert getattr(Settings(), field) == value


def test_faust_app_kwargs_are_all_faust_settings() -> None:
    for settings in (Settings(), Settings(producer_max_batch_size=1)):
        unknown = set(faust_app_kwargs(settings)) - set(FaustSettings.SETTINGS) - {"env"}
        assert not unknown, f"faust.App silently ignores unknown settings: {unknown}"
    assert faust_app_kwargs(Settings())["producer_max_batch_size"] == 256 * 1024


def test_faust_app_conf_reflects_the_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Faust's own environment variables would win over explicit arguments: faust_app_kwargs switches them off.
    monkeypatch.setenv("BROKER_URL", "kafka://elsewhere:1")
    monkeypatch.setenv("WEB_PORT", "9999")
    monkeypatch.setenv("BROKER_SESSION_TIMEOUT", "60")
    monkeypatch.setenv("APP_STORE", "rocksdb://")
    settings = Settings(
        broker_url="kafka://10.0.0.1:19092",
        store="memory://",
        data_dir=tmp_path / "data",
        web_host="worker-1.local",
        web_bind="0.0.0.0",
        web_port=6070,
        partitions=6,
        replication_factor=3,
        session_timeout=8.0,
        heartbeat_interval=2.0,
        rebalance_timeout=12.0,
        producer_linger=0.02,
        producer_max_batch_size=1,
        table_standby_replicas=0,
    )
    app = faust.App("form4-test-settings", **faust_app_kwargs(settings))
    conf = app.conf
    assert [str(u) for u in conf.broker] == ["kafka://10.0.0.1:19092"]
    assert conf.store.scheme == "memory"
    assert Path(conf.datadir) == tmp_path / "data" / "faust" / settings.app_id
    assert conf.processing_guarantee.value == "at_least_once"
    assert conf.broker_session_timeout == 8.0
    assert conf.broker_heartbeat_interval == 2.0
    assert conf.broker_rebalance_timeout == 12.0
    assert conf.producer_linger == 0.02
    assert conf.producer_max_batch_size == 1
    assert conf.consumer_auto_offset_reset == "earliest"
    assert conf.topic_partitions == 6
    assert conf.topic_replication_factor == 3
    assert conf.table_standby_replicas == 0
    assert (conf.web_host, conf.web_bind, conf.web_port) == ("worker-1.local", "0.0.0.0", 6070)
    assert conf.web_enabled is True
    assert conf.web_tables_enabled is False


def test_faust_defaults_follow_the_tansu_recommendations() -> None:
    conf = faust.App("form4-test-defaults", **faust_app_kwargs(Settings())).conf
    assert conf.broker_session_timeout == 6.0  # Faust's own default (60 s) makes each Tansu join take 30 s
    assert conf.broker_heartbeat_interval == 1.0
    assert conf.broker_rebalance_timeout == 10.0
    assert conf.producer_linger == 0.01
    assert (
        conf.producer_max_batch_size == 256 * 1024
    )  # the setting reaches Faust: its producer batches 256 KiB
    assert conf.web_bind == "127.0.0.1"  # loopback unless told otherwise
