"""What an outsider can send or reach: API parameters, the API token, JSON errors, /router/, Kafka security
settings, broker URLs and EDGAR's Retry-After."""

from __future__ import annotations

import os
import ssl
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import faust
import pytest
from aiohttp import web
from pydantic import ValidationError

from streams.alerts.rules import RulesConfig
from streams.api import ApiError, check_token, error_middleware, parse_cik, parse_limit, parse_rule
from streams.ingest.edgar import MAX_RETRY_AFTER, retry_after_seconds
from streams.settings import Settings, faust_app_kwargs, kafka_client_kwargs


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("FORM4_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize("text", ["²", "١٠", "10\n", " 10", "+5", "0", "501", "1e2", "9" * 400])
def test_limit_takes_ascii_digits_only_and_answers_400(text: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_limit(text)
    assert caught.value.status == 400


def test_limit_in_range() -> None:
    assert (parse_limit("1"), parse_limit("500"), parse_limit(None)) == (1, 500, 50)


@pytest.mark.parametrize("text", ["١٣١٨٦٠٥", "１３１８６０５", "13186\u200b05", "12345678901"])
def test_a_cik_of_other_digits_is_refused(text: str) -> None:
    with pytest.raises(ApiError):
        parse_cik(text)
    assert parse_cik(" 1318605 ") == "0001318605"


def test_rule_must_be_a_rule_the_rules_model_knows() -> None:
    for name in RulesConfig.model_fields:
        assert parse_rule(name) == name
    with pytest.raises(ApiError) as caught:
        parse_rule("nope")
    assert caught.value.status == 400 and "executive_sale" in caught.value.message
    assert parse_rule("flow_turn", known={"flow_turn"}) == "flow_turn"  # rules added later are accepted


def test_token_guards_only_what_is_not_a_read() -> None:
    check_token("POST", None, None)  # no token configured: open
    check_token("GET", None, "s3cret")
    check_token("POST", "Bearer s3cret", "s3cret")
    for header in (None, "Bearer wrong", "s3cret", "Basic s3cret"):
        with pytest.raises(ApiError) as caught:
            check_token("POST", header, "s3cret")
        assert caught.value.status == 401


async def test_the_middleware_answers_json_for_unknown_paths_and_checks_the_token() -> None:
    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    application = web.Application(middlewares=[error_middleware("s3cret")])
    application.router.add_get("/alerts", hello)
    application.router.add_post("/admin", hello)
    runner = web.AppRunner(application)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/nope") as resp:
                assert resp.status == 404 and resp.content_type == "application/json"
                assert (await resp.json())["status"] == 404
            async with session.get(f"{base}/alerts") as resp:
                assert resp.status == 200
            async with session.post(f"{base}/admin") as resp:
                assert resp.status == 401 and (await resp.json())["status"] == 401
            async with session.post(f"{base}/admin", headers={"Authorization": "Bearer s3cret"}) as resp:
                assert resp.status == 200
            async with session.delete(f"{base}/alerts", headers={"Authorization": "Bearer s3cret"}) as resp:
                assert resp.status == 405 and (await resp.json())["status"] == 405
    finally:
        await runner.cleanup()


def test_the_router_page_is_off_and_the_middleware_installed() -> None:
    app = faust.App("exposure-test", **faust_app_kwargs(Settings()))
    assert app.conf.web_router_enabled is False
    assert app.conf.web_tables_enabled is False
    assert len(app.conf.web_application_options["middlewares"]) == 1
    served = [prefix for prefix, _ in app.web.blueprints._enabled]
    assert "/router" not in served and "/table" not in served


@pytest.mark.parametrize("url", ["not a url", "http://broker:9092", "kafka://", "broker", "kafka://h:99999"])
def test_malformed_broker_urls_are_refused(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("FORM4_BROKER_URL", url)
    with pytest.raises(ValidationError, match="kafka://host:port"):
        Settings()


@pytest.mark.parametrize(
    "url",
    ["kafka://broker:19092", "broker:9092", "kafka://a:1;kafka://b:2", "kafka://[::1]:9092", "kafka://b"],
)
def test_kafka_urls_are_accepted(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("FORM4_BROKER_URL", url)
    assert Settings().broker_url == url


def test_plaintext_adds_nothing() -> None:
    settings = Settings()
    assert kafka_client_kwargs(settings) == {}
    assert "broker_credentials" not in faust_app_kwargs(settings)


def test_sasl_ssl_reaches_faust_and_the_plain_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "FORM4_BROKER_SECURITY_PROTOCOL": "SASL_SSL",
        "FORM4_BROKER_SASL_MECHANISM": "SCRAM-SHA-512",
        "FORM4_BROKER_SASL_USERNAME": "form4",
        "FORM4_BROKER_SASL_PASSWORD": "pw",
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert "pw" not in repr(settings)
    client = kafka_client_kwargs(settings)
    assert {k: v for k, v in client.items() if k != "ssl_context"} == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "form4",
        "sasl_plain_password": "pw",
    }
    assert isinstance(client["ssl_context"], ssl.SSLContext)
    app = faust.App("sasl-test", **faust_app_kwargs(settings))
    credentials = app.conf.broker_credentials
    assert isinstance(credentials, faust.SASLCredentials)
    assert (credentials.protocol.value, credentials.mechanism.value) == ("SASL_SSL", "SCRAM-SHA-512")
    assert (credentials.username, credentials.password) == ("form4", "pw")
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    assert credentials_to_aiokafka_auth(credentials)["security_protocol"] == client["security_protocol"]


def test_ssl_with_the_system_cas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORM4_BROKER_SECURITY_PROTOCOL", "SSL")
    settings = Settings()
    assert kafka_client_kwargs(settings)["security_protocol"] == "SSL"
    assert isinstance(faust_app_kwargs(settings)["broker_credentials"], faust.SSLCredentials)


def test_a_certificate_without_its_key_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FORM4_BROKER_SECURITY_PROTOCOL", "SSL")
    monkeypatch.setenv("FORM4_BROKER_SSL_CERTFILE", str(tmp_path / "client.pem"))
    with pytest.raises(ValidationError, match="FORM4_BROKER_SSL_KEYFILE"):
        Settings()


def test_sasl_without_credentials_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORM4_BROKER_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    with pytest.raises(ValidationError, match="FORM4_BROKER_SASL_USERNAME"):
        Settings()


@pytest.mark.parametrize(
    "value", ["86400", "99999999999999999999", "inf", "nan", "1e9", "-5", "٣", "soon", ""]
)
def test_retry_after_is_capped_and_garbage_ignored(value: str) -> None:
    seconds = retry_after_seconds(value)
    assert seconds is None or 0 <= seconds <= MAX_RETRY_AFTER


def test_retry_after_dates_far_ahead_are_capped() -> None:
    now = datetime(2025, 12, 12, 18, 0, tzinfo=UTC)
    assert retry_after_seconds("86400", now) == MAX_RETRY_AFTER
    assert retry_after_seconds("Fri, 12 Dec 2099 18:00:00 GMT", now) == MAX_RETRY_AFTER
    assert retry_after_seconds("30", now) == 30.0
