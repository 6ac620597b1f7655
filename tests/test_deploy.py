"""The shipped dashboard and alert rules parse, and every metric they name exists in the code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client import CollectorRegistry

from streams.ingest.metrics import IngestMetrics
from streams.metrics import PipelineMetrics

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
METRIC = re.compile(r"\b((?:form4|process)_[a-z0-9_]+)\b")
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created")}


def sample_names(registry: CollectorRegistry) -> set[str]:
    names: set[str] = set()
    for family in registry.collect():
        names.add(family.name)
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ()))
    return names


KNOWN = sample_names(PipelineMetrics().registry) | sample_names(IngestMetrics().registry)


def rule_expressions() -> list[str]:
    rules = yaml.safe_load((DEPLOY / "prometheus-rules.yml").read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_every_metric_in_the_alert_rules_exists() -> None:
    expressions = rule_expressions()
    assert len(expressions) >= 8
    named = {m for e in expressions for m in METRIC.findall(e)}
    assert named and named <= KNOWN, named - KNOWN
    for wanted in ("form4_consumer_lag_messages", "form4_dead_letters_total", "form4_filings_parsed_total"):
        assert wanted in named
    assert any(n.startswith("form4_ingest_") for n in named)


def test_every_metric_on_the_dashboard_exists() -> None:
    expressions = dashboard_expressions()
    named = {m for e in expressions for m in METRIC.findall(e)}
    assert named <= KNOWN, named - KNOWN
    assert {"form4_consumer_lag_messages", "form4_ingest_last_successful_poll_timestamp_seconds"} <= named


def test_the_old_lag_name_is_gone() -> None:
    assert "form4_consumer_lag" not in KNOWN and "form4_consumer_lag_messages" in KNOWN
