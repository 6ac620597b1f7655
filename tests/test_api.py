"""The HTTP API, health, readiness and metrics on real workers over the embedded broker: two workers share four
partitions, and each must answer for every key — its own from its tables, the other's by routing — with exactly
what the pure functions compute."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from streams.alerts import flow_report
from streams.api import openapi_document
from streams.broker import EmbeddedBroker
from tests.broker import consume_all, produce, unique_name, wait_for
from tests.test_pipeline import documents, expected_outputs, publish, without_previous
from tests.workers import WorkerProcess

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def get(worker: WorkerProcess, path: str) -> tuple[int, Any, str]:
    url = f"http://127.0.0.1:{worker.web_port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            body = response.read()
            kind = response.headers.get("Content-Type", "")
            return response.status, json.loads(body) if "json" in kind else body.decode(), kind
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null"), exc.headers.get("Content-Type", "")
    except (urllib.error.URLError, ConnectionError):
        return 0, None, ""  # not listening yet


async def aget(worker: WorkerProcess, path: str) -> tuple[int, Any, str]:
    return await asyncio.to_thread(get, worker, path)


def get_headers(worker: WorkerProcess, path: str) -> tuple[int, Any, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}{path}", timeout=10) as response:
        return response.status, json.loads(response.read()), response.headers


async def aget_headers(worker: WorkerProcess, path: str) -> tuple[int, Any, Any]:
    return await asyncio.to_thread(get_headers, worker, path)


def newest_first(alerts: list[dict[str, Any]]) -> list[str]:
    """Newest first: by acceptance time, else (bare XML has none) by the end of the alert's window."""
    ordered = sorted(
        alerts,
        key=lambda a: (a.get("acceptance_datetime") or a.get("window_end") or "", a["alert_id"]),
        reverse=True,
    )
    return [a["alert_id"] for a in ordered]


@pytest.fixture
def pair(broker: EmbeddedBroker, workers):  # type: ignore[no-untyped-def]
    """Two workers and the sink that feeds their history store."""
    prefix = unique_name("api")
    pair = prefix, workers(prefix, "a"), workers(prefix, "b")
    workers(prefix, "sink", command=("sink",))
    return pair


async def test_any_worker_answers_any_key_with_what_the_pure_functions_compute(
    broker: EmbeddedBroker,
    pair,  # type: ignore[no-untyped-def]
) -> None:
    prefix, first, second = pair
    await asyncio.gather(first.ready(), second.ready())
    docs = documents()
    expected = expected_outputs(docs)
    await publish(broker, prefix, docs)
    await consume_all(
        broker.bootstrap, f"{prefix}.alerts", len(expected["alerts"]), timeout=120, extra_wait=1
    )
    want_alerts = [json.loads(a) for a in expected["alerts"].values()]
    lines = [without_previous(json.loads(v.model_dump_json())) for v in expected["holdings"].values()]
    owners = sorted({line["key"]["owner_cik"] for line in lines})
    issuers = sorted({line["key"]["issuer_cik"] for line in lines})

    # Both workers give the same, complete answers (each owns about half of the keys).
    async def all_alerts_served() -> bool:
        status, body, _ = await aget(first, "/alerts?limit=500")
        return status == 200 and len(body) == len(want_alerts)

    await wait_for(all_alerts_served, timeout=60, interval=0.5)
    for worker in (first, second):
        status, body, kind = await aget(worker, "/alerts?limit=500")
        assert status == 200 and "application/json" in kind
        assert [a["alert_id"] for a in body] == newest_first(want_alerts)
        assert {a["alert_id"]: a for a in body} == {a["alert_id"]: a for a in want_alerts}

    for owner in owners:
        want = sorted((ln for ln in lines if ln["key"]["owner_cik"] == owner), key=lambda ln: json.dumps(ln))
        for worker in (first, second):
            status, body, _ = await aget(worker, f"/holdings/owner/{int(owner)}")  # unpadded CIK works too
            assert status == 200, (owner, body)
            assert sorted(map(without_previous, body), key=lambda ln: json.dumps(ln)) == want
    for issuer in issuers:
        want = sorted(
            (ln for ln in lines if ln["key"]["issuer_cik"] == issuer), key=lambda ln: json.dumps(ln)
        )
        answers = [await aget(w, f"/holdings/issuer/{issuer}") for w in (first, second)]
        for status, body, _ in answers:
            assert status == 200
            assert sorted(map(without_previous, body), key=lambda ln: json.dumps(ln)) == want
    joint = [ln for ln in lines if ln["joint_group"]]
    assert joint, "the samples include joint filers"
    status, body, _ = await aget(second, f"/holdings/issuer/{joint[0]['key']['issuer_cik']}")
    assert any(ln["joint_group"] for ln in body)

    # Filters, routed by issuer; owner and rule across workers.
    some = want_alerts[0]
    issuer = some["issuer"]["cik"]
    for worker in (first, second):
        status, body, _ = await aget(worker, f"/alerts?issuer={issuer}")
        assert status == 200
        assert {a["alert_id"] for a in body} == {
            a["alert_id"] for a in want_alerts if a["issuer"]["cik"] == issuer
        }
    rule = some["rule"]
    status, body, _ = await aget(second, f"/alerts?rule={rule}&limit=500")
    assert {a["alert_id"] for a in body} == {a["alert_id"] for a in want_alerts if a["rule"] == rule}
    owner = some["owners"][0]["cik"]
    status, body, _ = await aget(first, f"/alerts?owner={owner}&limit=500")
    assert {a["alert_id"] for a in body} == {
        a["alert_id"] for a in want_alerts if any(o["cik"] == owner for o in a["owners"])
    }
    status, body, _ = await aget(first, "/alerts?limit=2")
    assert [a["alert_id"] for a in body] == newest_first(want_alerts)[:2]
    status, body, _ = await aget(first, "/alerts?since=2100-01-01")
    assert (status, body) == (200, [])

    # Transactions of an issuer, newest first, limit and since.
    records = [json.loads(r) for r in expected["records"].values()]
    issuer = records[0]["issuer"]["cik"]
    theirs = [r for r in records if r["issuer"]["cik"] == issuer]
    for worker in (first, second):
        status, body, _ = await aget(worker, f"/transactions/issuer/{issuer}?limit=500")
        assert status == 200
        assert {r["txn_id"] for r in body} == {r["txn_id"] for r in theirs}
    status, body, _ = await aget(second, f"/transactions/issuer/{issuer}?limit=1")
    assert len(body) == 1

    # An insider's transactions across issuers, paged by cursor: every record once, newest first.
    owner = records[0]["reporting_owners"][0]["cik"]
    theirs = {r["txn_id"] for r in records if any(o["cik"] == owner for o in r["reporting_owners"])}
    seen: list[str] = []
    path = f"/transactions/owner/{owner}?limit=2"
    while path:
        status, body, headers = await aget_headers(second, path)
        assert status == 200 and len(body) <= 2
        seen += [r["txn_id"] for r in body]
        cursor = headers.get("X-Next-Cursor")
        path = f"/transactions/owner/{owner}?limit=2&cursor={cursor}" if cursor else ""
    assert sorted(seen) == sorted(theirs) and len(seen) == len(set(seen))

    # Net insider flow, routed to the worker holding the issuer: what the pure functions compute.
    buys = [
        r
        for r in records
        if r["derived"]["category"] == "open_market_purchase"
        and (r["filed_date"] or r["acceptance_datetime"])
    ]
    issuer = buys[0]["issuer"]["cik"]
    end = buys[0]["filed_date"] or buys[0]["acceptance_datetime"][:10]
    want_flow = flow_report(expected["states"][issuer], issuer, date.fromisoformat(end))
    for worker in (first, second):
        status, body, _ = await aget(worker, f"/issuers/{int(issuer)}/flow?end={end}")
        assert (status, body) == (200, want_flow)
    assert any(w["purchases_usd"] != "0" for w in want_flow["windows"])

    # A ticker names its issuer.
    ticker_of = {
        r["issuer"]["trading_symbol"]: r["issuer"]["cik"] for r in records if r["issuer"]["trading_symbol"]
    }
    symbol, cik = sorted(ticker_of.items())[0]
    for worker in (first, second):
        status, body, _ = await aget(worker, f"/issuers/ticker/{symbol.lower()}")
        assert (status, body["issuer_cik"]) == (200, cik)


async def test_bad_requests_and_unknown_keys(broker: EmbeddedBroker, pair) -> None:  # type: ignore[no-untyped-def]
    _, first, second = pair
    await asyncio.gather(first.ready(), second.ready())
    for path in (
        "/holdings/owner/12ab",
        "/holdings/issuer/12345678901",
        "/alerts?since=yesterday",
        "/alerts?limit=0",
        "/alerts?owner=x",
        "/transactions/issuer/1?since=2025-13-01",
        "/issuers/ticker/%24%24",
    ):
        status, body, kind = await aget(first, path)
        assert status == 400, path
        assert "application/json" in kind and body["status"] == 400 and body["error"], path
    for path in ("/holdings/owner/1", "/holdings/issuer/2", "/transactions/issuer/3", "/issuers/ticker/NOPE"):
        for worker in (first, second):
            status, body, _ = await aget(worker, path)
            assert status == 404 and "no " in body["error"], path
    status, body, _ = await aget(first, "/alerts")
    assert (status, body) == (200, [])

    status, document, _ = await aget(second, "/openapi.json")
    assert status == 200 and document == json.loads(
        json.dumps(openapi_document(document["info"]["title"], document["info"]["version"]))
    )
    assert set(document["paths"]) >= {
        "/holdings/owner/{cik}",
        "/holdings/issuer/{cik}",
        "/alerts",
        "/transactions/issuer/{cik}",
    }


async def test_health_readiness_metrics_and_json_logs(broker: EmbeddedBroker, tmp_path: Path) -> None:
    prefix = unique_name("ops")
    worker = WorkerProcess(broker, prefix, tmp_path / "ops")
    worker.env["FORM4_LOG_FORMAT"] = "json"
    worker.start()
    try:
        await _operations(broker, prefix, worker)
    finally:
        worker.stop()
    lines = worker.log_path.read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    about_filings = [r for r in records if r["message"].startswith(("filing ", "dead letter"))]
    assert about_filings and all("accession" in r for r in about_filings)
    assert {r["level"] for r in records} <= {"debug", "info", "warning", "error", "critical"}


async def _operations(broker: EmbeddedBroker, prefix: str, worker: WorkerProcess) -> None:

    async def not_ready_while_starting() -> bool:
        status, body, _ = await aget(worker, "/readyz")
        assert status in (0, 200, 503), status
        if status == 503:
            assert body["ready"] is False  # answered, but tables not recovered yet
        return status == 200

    await wait_for(not_ready_while_starting, timeout=90, interval=0.2)
    assert (await aget(worker, "/healthz"))[0] == 200
    status, body, _ = await aget(worker, "/readyz")
    assert status == 200 and body["ready"] is True
    docs = documents()
    expected = expected_outputs(docs)
    await publish(broker, prefix, docs)
    await produce(broker.bootstrap, f"{prefix}.raw", [b"<ownershipDocument><broken", b"not xml at all"])
    await consume_all(broker.bootstrap, f"{prefix}.alerts", len(expected["alerts"]), timeout=120)
    await consume_all(broker.bootstrap, f"{prefix}.dlq", 2, timeout=60)

    def metric(text: str, name: str) -> float:
        return sum(
            float(line.split()[-1])
            for line in text.splitlines()
            if line.startswith(name) and not line.startswith("#")
        )

    async def counted() -> str | None:
        status, text, kind = await aget(worker, "/metrics")
        assert status == 200 and kind.startswith("text/plain")
        done = metric(text, "form4_alerts_total") == len(expected["alerts"])
        return text if done else None

    text = await wait_for(counted, timeout=60, interval=0.5)
    assert metric(text, "form4_filings_parsed_total") == len(expected["filings"])
    assert metric(text, "form4_transactions_published_total") == len(expected["records"])
    assert metric(text, "form4_dead_letters_total") == 2
    rules = {json.loads(a)["rule"] for a in expected["alerts"].values()}
    for rule in rules:
        assert f'form4_alerts_total{{rule="{rule}"}}' in text
    assert metric(text, "form4_processing_latency_seconds_count") == len(expected["filings"])
    assert "form4_consumer_lag_messages{" in text
    assert 'form4_dead_letters_total{reason="malformed_xml"}' in text
