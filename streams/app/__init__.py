"""The Faust application, as its parts: ``tables`` (state), ``agents`` (the three streams), ``outputs``
(sending with size limits and dead letters), ``views`` (the HTTP API). ``create_app`` wires them.

Topic keys and values are raw bytes serialised by our pydantic models (decimals as strings); table values are
JSON-ready dicts under Faust's json codec, the same in the memory and rocksdb stores and after recovery.
"""

from __future__ import annotations

from typing import Any

import faust

from streams.alerts import RulesConfig, load_rules
from streams.app.agents import Channels, Pipeline, declare_agents
from streams.app.liveness import BrokerWatch
from streams.app.outputs import Publisher
from streams.app.tables import declare_tables
from streams.app.transport import App
from streams.app.views import declare_views
from streams.metrics import PipelineMetrics
from streams.settings import Settings, faust_app_kwargs, kafka_client_kwargs
from streams.sinks.history import HistoryQueries
from streams.topics import bootstrap_servers


def _raw_topic(app: faust.App, name: str, **kwargs: Any) -> faust.TopicT:
    return app.topic(
        name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw", **kwargs
    )


def create_app(settings: Settings | None = None, rules: RulesConfig | None = None) -> faust.App:
    settings = settings or Settings()
    rules = rules or load_rules(settings.rules_file)
    topics = settings.topics
    fetch_max_wait_ms = round(settings.consumer_fetch_max_wait * 1000)
    app = App(settings.app_id, fetch_max_wait_ms=fetch_max_wait_ms, **faust_app_kwargs(settings))
    large = {"max.message.bytes": str(settings.filing_message_max_bytes)}
    channels = Channels(
        raw=_raw_topic(app, topics.raw),
        by_issuer=_raw_topic(
            app,
            f"{app.conf.id}-filings-by-issuer",
            internal=True,
            partitions=settings.partitions,
            config=large,
        ),
        by_owner=_raw_topic(
            app, f"{app.conf.id}-holdings-by-owner", internal=True, partitions=settings.partitions
        ),
        filings=topics.filings,
        transactions=topics.transactions,
        holdings=topics.holdings,
        alerts=topics.alerts,
    )
    tables = declare_tables(app, settings)
    metrics = PipelineMetrics()
    pipeline = Pipeline(settings, rules, channels, tables, Publisher(app, topics.dlq, metrics), metrics)
    agents = declare_agents(app, pipeline)
    sources = {topics.raw, channels.by_issuer.get_topic_name(), channels.by_owner.get_topic_name()}
    # Started by `form4 worker` only (its probe and stop deadline belong to a worker process).
    broker = BrokerWatch(
        bootstrap_servers(settings.broker_url),
        kafka_client_kwargs(settings),
        app=app,
        gauge=metrics.broker_reachable,
    )
    declare_views(app, tables, metrics, HistoryQueries(settings.history_url), sources, broker)
    app.form4 = {  # type: ignore[attr-defined]
        "settings": settings,
        "metrics": metrics,
        "tables": tables.all(),
        "agents": agents,
        "pipeline": pipeline,
        "broker": broker,
    }
    return app
