"""The Faust application: thin agents that move data between topics and tables.

    form4.raw ──parse──▶ (by issuer) ──process──▶ form4.filings, form4.transactions, form4.alerts
        │                                 └──────▶ (by owner) ──holdings──▶ holdings table, form4.holdings
        └──────────────▶ form4.dlq

Partitioning: a filing's copies (EDGAR's feed lists each twice, replays, redeliveries) all carry the same
issuer, so repartitioning by issuer CIK puts them on one partition, where the ``seen`` table drops repeats
and the issuer's state (amendment history, cluster-buy window, first purchases) lives. Holding candidates
are repartitioned by owner CIK, so each insider's lines are updated in order on one partition. Topic keys
and values are raw bytes serialised by our pydantic models (decimals as strings); tables hold JSON-ready
dicts under Faust's json codec (see ``table_options``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator, Mapping
from importlib import resources
from typing import Any

import aiohttp
import faust
from faust.exceptions import SameNode
from faust.web.exceptions import ServiceUnavailable

from streams import __version__
from streams.alerts import RulesConfig, load_rules
from streams.api import (
    ApiError,
    bounded,
    holding_order,
    merge_alerts,
    openapi_document,
    parse_cik,
    parse_limit,
    parse_rule,
    parse_since,
    parse_ticker,
    select_alerts,
    select_transactions,
)
from streams.holdings import apply
from streams.metrics import CONTENT_TYPE, PipelineMetrics
from streams.models import DeadLetter, Filing, HoldingState, TransactionRecord
from streams.process import IssuerState, Source, dead_letter, identity, process_filing, read_event
from streams.records import holding_key_string
from streams.settings import Settings, faust_app_kwargs

log = logging.getLogger("streams.app")

APP_ID = "form4-streams"


def _raw_topic(app: faust.App, name: str, **kwargs: Any) -> faust.TopicT:
    return app.topic(
        name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw", **kwargs
    )


def _json_list(items: list[Any]) -> bytes:
    return ("[" + ",".join(i.model_dump_json() for i in items) + "]").encode()


class _RecordsView(Mapping[str, list[TransactionRecord]]):
    """The records table seen as accession -> records, decoded only when an amendment asks for its original."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def __getitem__(self, accession: str) -> list[TransactionRecord]:
        stored = self._table.get(accession)
        if stored is None:
            raise KeyError(accession)
        return [TransactionRecord.model_validate(item) for item in stored]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table.keys())

    def __len__(self) -> int:
        return len(self._table)


def create_app(settings: Settings | None = None, rules: RulesConfig | None = None) -> faust.App:
    settings = settings or Settings()
    rules = rules or load_rules(settings.rules_file)
    topics = settings.topics
    app = faust.App(
        f"{APP_ID}-{topics.prefix}" if topics.prefix != "form4" else APP_ID, **faust_app_kwargs(settings)
    )

    raw = _raw_topic(app, topics.raw)
    filings_out = _raw_topic(app, topics.filings)
    transactions_out = _raw_topic(app, topics.transactions)
    holdings_out = _raw_topic(app, topics.holdings)
    alerts_out = _raw_topic(app, topics.alerts)
    dlq = _raw_topic(app, topics.dlq)
    by_issuer = _raw_topic(
        app, f"{app.conf.id}-filings-by-issuer", internal=True, partitions=settings.partitions
    )
    by_owner = _raw_topic(
        app, f"{app.conf.id}-holdings-by-owner", internal=True, partitions=settings.partitions
    )

    # Table values are JSON-ready dicts (pydantic's mode="json": decimals as strings) under Faust's json codec:
    # the same in the memory and rocksdb stores and after changelog recovery.
    table_options: dict[str, Any] = {"key_type": str, "partitions": settings.partitions}
    seen = app.Table("seen", **table_options)  # filing identity -> raw sha256
    issuers = app.Table("issuers", **table_options)  # issuer CIK -> IssuerState
    holdings = app.Table("holdings", **table_options)  # holding key -> HoldingState
    records = app.Table("records", **table_options)  # accession -> its TransactionRecords, for amendments

    # Tables the HTTP API reads, keyed by the raw CIK bytes their input topic is partitioned on, so Faust's
    # router sends a request for a CIK to the worker holding that CIK's partition (streaming-notes R1).
    # Faust picks the raw key codec for bytes keys (Collection._serializer_from_type).
    api_options: dict[str, Any] = {"key_type": bytes, "partitions": settings.partitions}
    owner_lines = app.Table("owner-lines", **api_options)  # owner CIK -> its holding keys
    issuer_holdings = app.Table("issuer-holdings", **api_options)  # issuer CIK -> {holding key: HoldingState}
    issuer_alerts = app.Table("issuer-alerts", **api_options)  # issuer CIK -> its newest alerts (bounded)
    issuer_txns = app.Table("issuer-transactions", **api_options)  # issuer CIK -> newest records (bounded)
    issuer_profiles = app.Table("issuer-profiles", **api_options)  # issuer CIK -> {cik, name, ticker}
    metrics = PipelineMetrics()

    async def send_dead_letter(letter: DeadLetter, key: bytes | None) -> None:
        headers = {
            "error.reason": letter.reason,
            "error.class": letter.error_class or "",
            "error.message": letter.message,
            "source.topic": letter.source_topic or "",
            "source.partition": str(letter.source_partition),
            "source.offset": str(letter.source_offset),
            "parser.version": letter.parser_version,
            "failed.at": letter.failed_at.isoformat(),
        }
        await dlq.send(
            key=key,
            value=letter.model_dump_json().encode(),
            headers=[(name, text.encode()) for name, text in headers.items()],
        )
        metrics.dead_letters.labels(letter.reason).inc()
        accession = letter.header.get("accession_number") or (key.decode("utf-8", "replace") if key else None)
        log.warning(
            "dead letter %s: %s",
            letter.reason,
            letter.message,
            extra={"accession": accession, "reason": letter.reason, "topic": letter.source_topic},
        )

    async def guarded(event: faust.EventT, handler: Any) -> None:
        """A bug in a step must neither stop the agent nor drop the event: it becomes an internal_error."""
        try:
            await handler(event)
        except Exception as exc:
            log.exception(
                "internal error on %s[%s]@%s",
                event.message.topic,
                event.message.partition,
                event.message.offset,
            )
            source = Source(event.message.topic, event.message.partition, event.message.offset, event.key)
            letter = dead_letter(
                event.value or b"",
                "internal_error",
                f"{type(exc).__name__}: {exc}",
                source,
                error_class=type(exc).__name__,
            )
            await send_dead_letter(letter, event.key)

    @app.agent(raw)
    async def parse(stream: faust.StreamT) -> None:
        """Raw bytes to a Filing, or a dead letter; every event ends as one or the other."""
        async for event in stream.events():
            message = event.message
            source = Source(message.topic, message.partition, message.offset, event.key)
            outcome = read_event(event.value, source, settings.max_filing_bytes)
            if isinstance(outcome, DeadLetter):
                await send_dead_letter(outcome, event.key)
                continue
            metrics.filings.labels(outcome.document_type).inc()
            raw_ts = f"{message.timestamp:.3f}".encode()
            await by_issuer.send(
                key=outcome.issuer.cik.encode(),
                value=outcome.model_dump_json().encode(),
                headers=[("raw.timestamp", raw_ts)],
            )

    async def handle_filing(event: faust.EventT) -> None:
        value = event.value
        filing = Filing.model_validate_json(value)
        key = identity(filing)
        if seen.get(key) is not None:
            metrics.duplicates.inc()
            log.info("duplicate %s skipped", key, extra={"accession": filing.accession_number})
            return
        stored = issuers.get(filing.issuer.cik)
        state = IssuerState.model_validate(stored) if stored else None
        new_state, out = process_filing(filing, state, rules, _RecordsView(records))

        await filings_out.send(key=key.encode(), value=value)
        for record in [*out.records, *out.superseded]:
            await transactions_out.send(key=record.txn_id.encode(), value=record.model_dump_json().encode())
        for alert in out.alerts:
            await alerts_out.send(key=alert.alert_id.encode(), value=alert.model_dump_json().encode())
        per_owner: dict[str, list[HoldingState]] = defaultdict(list)
        for candidate in out.holdings:
            per_owner[candidate.key.owner_cik].append(candidate)
        for owner_cik, candidates in per_owner.items():
            await by_owner.send(key=owner_cik.encode(), value=_json_list(candidates))
        if filing.accession_number and not filing.derived.is_amendment and out.records:
            records[filing.accession_number] = [r.model_dump(mode="json") for r in out.records]
        remember_for_api(filing, out)
        issuers[filing.issuer.cik] = new_state.model_dump(mode="json")
        seen[key] = filing.raw_sha256
        metrics.transactions.inc(len(out.records) + len(out.superseded))
        for alert in out.alerts:
            metrics.alerts.labels(alert.rule).inc()
        raw_ts = _header(event, "raw.timestamp")
        if raw_ts:
            metrics.latency.observe(max(0.0, time.time() - float(raw_ts)))
        log.info(
            "filing %s of %s: %d records, %d alerts",
            filing.accession_number or key,
            filing.issuer.cik,
            len(out.records),
            len(out.alerts),
            extra={"accession": filing.accession_number, "issuer_cik": filing.issuer.cik},
        )

    def remember_for_api(filing: Filing, out: Any) -> None:
        """The issuer-keyed views: holdings by issuer, newest alerts and records, the issuer's name and ticker."""
        cik = filing.issuer.cik.encode()
        lines = dict(issuer_holdings.get(cik) or {})
        for candidate in out.holdings:
            line_key = holding_key_string(candidate.key)
            new = advance(lines.get(line_key), candidate)
            if new is not None:
                lines[line_key] = new.model_dump(mode="json")
        if out.holdings:
            issuer_holdings[cik] = lines
        if out.alerts:
            issuer_alerts[cik] = bounded(
                issuer_alerts.get(cik) or [],
                (a.model_dump(mode="json") for a in out.alerts),
                settings.api_alerts_per_issuer,
                "alert_id",
            )
        if out.records or out.superseded:
            issuer_txns[cik] = bounded(
                issuer_txns.get(cik) or [],
                (r.model_dump(mode="json") for r in [*out.records, *out.superseded]),
                settings.api_transactions_per_issuer,
                "txn_id",
            )
        profile = {
            "issuer_cik": filing.issuer.cik,
            "issuer_name": filing.issuer.name,
            "ticker": (filing.issuer.trading_symbol or "").strip().upper() or None,
        }
        if issuer_profiles.get(cik) != profile:
            issuer_profiles[cik] = profile

    @app.agent(by_issuer)
    async def process(stream: faust.StreamT) -> None:
        """One filing per issuer partition: dedup, amendment link, records, alerts, holding candidates."""
        async for event in stream.events():
            await guarded(event, handle_filing)

    async def handle_holdings(event: faust.EventT) -> None:
        for item in json.loads(event.value):
            candidate = HoldingState.model_validate(item)
            key = holding_key_string(candidate.key)
            new = advance(holdings.get(key), candidate)
            if new is None:
                continue
            holdings[key] = new.model_dump(mode="json")
            owner = candidate.key.owner_cik.encode()
            known = owner_lines.get(owner) or []
            if key not in known:
                owner_lines[owner] = sorted([*known, key])
            metrics.holdings.inc()
            await holdings_out.send(key=key.encode(), value=new.model_dump_json().encode())

    @app.agent(by_owner)
    async def update_holdings(stream: faust.StreamT) -> None:
        """Last reported balance per holding line; an older row arriving late never overwrites newer state."""
        async for event in stream.events():
            await guarded(event, handle_holdings)

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        """Alive: the event loop answers."""
        return web.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        """503 until table recovery has finished and while a rebalance is under way (streaming-notes 8.3)."""
        recovered = app.tables.recovery.completed.is_set()  # type: ignore[attr-defined]
        ready = recovered and not app.rebalancing and not app.in_recovery
        body = {"ready": ready, "recovered": recovered, "rebalancing": bool(app.rebalancing)}
        return web.json(body, status=200 if ready else 503)

    # --- HTTP API: any worker answers any key ------------------------------------------------------------------
    def api(handler: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        """Refusals as JSON errors with their status; a worker that cannot route yet says 503."""

        async def view(web: Any, request: Any, **match: str) -> Any:
            try:
                return await handler(web, request, **match)
            except ApiError as exc:
                return web.json(exc.body(), status=exc.status)
            except ServiceUnavailable:
                body = {
                    "error": "the worker owning this key is not known yet (rebalancing?); retry",
                    "status": 503,
                }
                return web.json(body, status=503)

        view.__name__ = handler.__name__
        view.__doc__ = handler.__doc__
        return view

    async def routed(table: Any, key: str, web: Any, request: Any, local: Callable[[], Any]) -> Any:
        """Answer from the worker that holds ``key``'s partition of ``table`` (forwarding the request there)."""
        try:
            return await app.router.route_req(table.name, key.encode(), web, request)
        except SameNode:
            return local()

    def owned_partitions(table: Any) -> set[int]:
        mine = str(app.conf.canonical_url)
        topic = table.changelog_topic.get_topic_name()
        for host, topics in app.router.table_metadata(table.name).items():
            if str(host) == mine:
                return set(topics.get(topic, ()))
        return set()

    def local_items(table: Any) -> list[tuple[bytes, Any]]:
        """This worker's active keys only: the memory store keeps revoked partitions' keys (notes R2)."""
        partitions = owned_partitions(table)
        topic = table.changelog_topic.get_topic_name()
        return [
            (k, v) for k, v in table.items() if app.producer.key_partition(topic, k).partition in partitions
        ]

    async def gather(path: str, params: Mapping[str, str], local: Callable[[], Any]) -> list[Any]:
        """Every worker's local answer: this worker's directly, the others' over HTTP."""
        mine = str(app.conf.canonical_url)
        hosts = {str(h) for h in app.router.table_metadata(issuer_alerts.name)} - {mine}
        answers = [local()]

        async def ask(host: str) -> Any:
            url = f"{host.rstrip('/')}{path}"
            timeout = aiohttp.ClientTimeout(total=10)
            async with app.http_client.get(url, params=dict(params), timeout=timeout) as response:
                if response.status != 200:
                    raise ApiError(503, f"worker {host} answered {response.status}; retry")
                return await response.json()

        try:
            answers += await asyncio.gather(*(ask(h) for h in sorted(hosts)))
        except (TimeoutError, OSError) as exc:
            raise ApiError(503, f"a worker did not answer ({type(exc).__name__}); retry") from None
        return answers

    @app.page("/holdings/owner/{cik}")
    @api
    async def owner_holdings(web: Any, request: Any, cik: str) -> Any:
        """Every current holding line of an insider, across issuers."""
        owner = parse_cik(cik, "owner CIK")

        def local() -> Any:
            lines = [holdings.get(k) for k in owner_lines.get(owner.encode()) or []]
            found = sorted((line for line in lines if line), key=holding_order)
            if not found:
                raise ApiError(404, f"no holdings known for owner CIK {owner}")
            return web.json(found)

        return await routed(owner_lines, owner, web, request, local)

    @app.page("/holdings/issuer/{cik}")
    @api
    async def issuer_holdings_view(web: Any, request: Any, cik: str) -> Any:
        """Every insider's current holdings in an issuer; joint filers have a non-empty joint_group."""
        issuer = parse_cik(cik, "issuer CIK")

        def local() -> Any:
            lines = issuer_holdings.get(issuer.encode())
            if not lines:
                raise ApiError(404, f"no holdings known for issuer CIK {issuer}")
            return web.json(sorted(lines.values(), key=holding_order))

        return await routed(issuer_holdings, issuer, web, request, local)

    @app.page("/transactions/issuer/{cik}")
    @api
    async def issuer_transactions(web: Any, request: Any, cik: str) -> Any:
        """Recent transaction records of an issuer, newest first."""
        issuer = parse_cik(cik, "issuer CIK")
        since = parse_since(request.query.get("since"))
        limit = parse_limit(request.query.get("limit"))

        def local() -> Any:
            stored = issuer_txns.get(issuer.encode())
            if stored is None:
                raise ApiError(404, f"no transactions known for issuer CIK {issuer}")
            return web.json(select_transactions(stored, since=since, limit=limit))

        return await routed(issuer_txns, issuer, web, request, local)

    def alert_filters(request: Any) -> dict[str, Any]:
        query = request.query
        return {
            "owner": parse_cik(query["owner"], "owner CIK") if query.get("owner") else None,
            "rule": parse_rule(query.get("rule")),
            "since": parse_since(query.get("since")),
            "limit": parse_limit(query.get("limit")),
        }

    def local_alerts(filters: Mapping[str, Any]) -> list[Any]:
        stored = (alert for _, alerts in local_items(issuer_alerts) for alert in alerts)
        return select_alerts(stored, **filters)

    @app.page("/alerts")
    @api
    async def alerts_view(web: Any, request: Any) -> Any:
        """Recent alerts, newest first; ?issuer=&owner=&rule=&since=&limit=."""
        filters = alert_filters(request)
        if request.query.get("issuer"):
            issuer = parse_cik(request.query["issuer"], "issuer CIK")
            return await routed(
                issuer_alerts,
                issuer,
                web,
                request,
                lambda: web.json(select_alerts(issuer_alerts.get(issuer.encode()) or [], **filters)),
            )
        answers = await gather("/local/alerts", dict(request.query), lambda: local_alerts(filters))
        return web.json(merge_alerts(answers, filters["limit"]))

    @app.page("/local/alerts")
    @api
    async def local_alerts_view(web: Any, request: Any) -> Any:
        """This worker's part of /alerts (what /alerts gathers from every worker)."""
        return web.json(local_alerts(alert_filters(request)))

    def local_ticker(ticker: str) -> list[Any]:
        return [p for _, p in local_items(issuer_profiles) if p.get("ticker") == ticker]

    @app.page("/issuers/ticker/{ticker}")
    @api
    async def ticker_view(web: Any, request: Any, ticker: str) -> Any:
        """The issuer CIK of a ticker seen in filings."""
        symbol = parse_ticker(ticker)
        answers = await gather(f"/local/issuers/ticker/{symbol}", {}, lambda: local_ticker(symbol))
        found = sorted((p for answer in answers for p in answer), key=lambda p: p["issuer_cik"])
        if not found:
            raise ApiError(404, f"no issuer with ticker {symbol} seen in filings")
        return web.json(found[0])

    @app.page("/local/issuers/ticker/{ticker}")
    @api
    async def local_ticker_view(web: Any, request: Any, ticker: str) -> Any:
        return web.json(local_ticker(parse_ticker(ticker)))

    @app.page("/openapi.json")
    async def openapi(web: Any, request: Any) -> Any:
        return web.json(openapi_document("form4-streams", __version__))

    @app.page("/metrics")
    async def metrics_view(web: Any, request: Any) -> Any:
        """Prometheus metrics; consumer lag is measured now, per assigned partition."""
        update_lag()
        return web.bytes(metrics.render(), content_type=CONTENT_TYPE.split(";")[0])

    def update_lag() -> None:
        consumer = app.consumer
        read = getattr(consumer, "_read_offset", {})
        metrics.lag.clear()
        for tp in consumer.assignment():
            end = consumer.highwater(tp)
            if end is None:
                continue
            last = read.get(tp)
            next_offset = last + 1 if last is not None else 0
            metrics.lag.labels(tp.topic, str(tp.partition)).set(max(0, end - next_offset))

    @app.page("/")
    async def page(web: Any, request: Any) -> Any:
        """The live alerts page (streams/web/index.html)."""
        try:
            html = resources.files("streams").joinpath("web/index.html").read_bytes()
        except FileNotFoundError:
            return web.text("the page is not installed (streams/web/index.html)", status=404)
        return web.bytes(html, content_type="text/html")

    @app.page("/local/holdings/owner/{cik}")
    async def local_owner_holdings(web: Any, request: Any, cik: str) -> Any:
        """This worker's holding lines of one owner: no routing to other workers (one-worker use and tests)."""
        prefix = f"{cik.zfill(10)}|"
        return web.json([line for key, line in sorted(holdings.items()) if key.startswith(prefix)])

    app.form4 = {  # type: ignore[attr-defined]
        "settings": settings,
        "metrics": metrics,
        "tables": {
            "seen": seen,
            "issuers": issuers,
            "holdings": holdings,
            "records": records,
            "owner_lines": owner_lines,
            "issuer_holdings": issuer_holdings,
            "issuer_alerts": issuer_alerts,
            "issuer_transactions": issuer_txns,
            "issuer_profiles": issuer_profiles,
        },
        "agents": (parse, process, update_holdings),
    }
    return app


def advance(stored: Mapping[str, Any] | None, candidate: HoldingState) -> HoldingState | None:
    """The holdings rule on a table's stored line: the new state, or None when the candidate changes nothing."""
    return apply(HoldingState.model_validate(stored) if stored else None, candidate)


def _header(event: faust.EventT, name: str) -> str | None:
    headers = event.headers
    items = headers.items() if isinstance(headers, Mapping) else (headers or [])
    for key, value in items:
        if key == name:
            return value.decode() if isinstance(value, bytes) else str(value)
    return None
