"""The HTTP views: routing a request to the worker that owns its key, reading small state values there.

Current holdings come from the tables (routed by CIK); history (alerts, transactions over time, tickers) comes
from the SQL history store the sink keeps (``streams.sinks``), so no view ever needs a value that grows with
history.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from importlib import resources
from typing import Any

import faust
from aiohttp import web as aiohttp_web
from faust.exceptions import SameNode
from faust.web.exceptions import ServiceUnavailable

from streams import __version__
from streams.alerts import flow_report
from streams.api import (
    ApiError,
    holding_order,
    openapi_document,
    parse_cik,
    parse_date,
    parse_limit,
    parse_rule,
    parse_ticker,
    parse_when,
)
from streams.app.liveness import BrokerWatch
from streams.app.tables import Tables, TableState
from streams.derive.calendar import EASTERN
from streams.holdings import lines
from streams.metrics import CONTENT_TYPE, PipelineMetrics
from streams.sinks.history import HistoryQueries, QueryError

#: How long one server-sent-events connection lasts before the browser reconnects (with Last-Event-ID).
STREAM_SECONDS = 300.0
STREAM_POLL_SECONDS = 0.5


def api(handler: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Refusals as JSON errors with their status; a worker that cannot route yet says 503."""

    async def view(web: Any, request: Any, **match: str) -> Any:
        try:
            return await handler(web, request, **match)
        except ApiError as exc:
            return web.json(exc.body(), status=exc.status)
        except QueryError as exc:
            return web.json({"error": str(exc), "status": 400}, status=400)
        except ServiceUnavailable:
            body = {
                "error": "the worker owning this key is not known yet (rebalancing?); retry",
                "status": 503,
            }
            return web.json(body, status=503)

    view.__name__ = handler.__name__
    view.__doc__ = handler.__doc__
    return view


def paged(web: Any, request: Any, page: dict[str, Any]) -> Any:
    """A JSON array of the page's items; the next page, when there is one, in ``Link: <…>; rel="next"`` and
    ``X-Next-Cursor`` (so a client that only wants the newest N reads a plain array)."""
    headers = {}
    cursor = page.get("next_cursor")
    if cursor:
        query = dict(request.query)
        query["cursor"] = cursor
        headers["Link"] = f'<{request.url.with_query(query).path_qs}>; rel="next"'
        headers["X-Next-Cursor"] = cursor
    response = web.json(page["items"])
    response.headers.update(headers)
    return response


def _drop_faust_index(app: faust.App) -> None:
    """Faust adds a {"status": "OK"} index at "/" outside debug mode; the page lives there, and aiohttp refuses
    two GET routes on one path when they happen to be registered one after the other."""
    blueprints = app.web.blueprints
    blueprints._enabled = [  # type: ignore[attr-defined]
        (prefix, bp)
        for prefix, bp in blueprints._enabled
        if "production_index" not in str(bp)  # type: ignore[attr-defined]
    ]


def declare_views(
    app: faust.App,
    tables: Tables,
    metrics: PipelineMetrics,
    history: HistoryQueries,
    source_topics: set[str],
    broker: BrokerWatch | None = None,
) -> None:
    issuer_state = TableState(tables.issuer_state)
    owner_state = TableState(tables.owner_state)
    _drop_faust_index(app)

    def window(request: Any) -> dict[str, Any]:
        query = request.query
        for name in ("since", "until"):
            if query.get(name):
                parse_when(query[name], name)
        return {
            "since": query.get("since") or None,
            "until": query.get("until") or None,
            "limit": parse_limit(query.get("limit")),
            "cursor": query.get("cursor") or None,
        }

    async def routed(table: Any, cik: str, web: Any, request: Any, local: Callable[[], Any]) -> Any:
        """Answer from the worker that holds ``cik``'s partition of ``table`` (forwarding the request there)."""
        try:
            return await app.router.route_req(table.name, cik.encode(), web, request)
        except SameNode:
            return local()

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        """Alive: the event loop answers."""
        return web.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        """503 until table recovery has finished, while a rebalance is under way (streaming-notes 8.3) and while
        the broker does not answer (streams/app/liveness.py); ``reason`` says which."""
        recovered = app.tables.recovery.completed.is_set()  # type: ignore[attr-defined]
        reasons = []
        if not recovered or app.in_recovery:
            reasons.append("table recovery has not finished")
        if app.rebalancing:
            reasons.append("a rebalance is under way")
        broker_down = broker.reason() if broker is not None else None
        if broker_down:
            reasons.append(broker_down)
        body = {
            "ready": not reasons,
            "recovered": recovered,
            "rebalancing": bool(app.rebalancing),
            "broker_reachable": not broker_down,
            "reason": "; ".join(reasons) or None,
        }
        return web.json(body, status=503 if reasons else 200)

    async def holdings_of(table: Any, state: TableState, scope: str, cik: str, web: Any, request: Any) -> Any:
        """Every current line of index ``<scope>|<cik>``, on the worker holding the CIK's partition."""
        what = "owner" if scope == "o" else "issuer"
        cik = parse_cik(cik, f"{what} CIK")

        def local() -> Any:
            found = sorted(lines(state, f"{scope}|{cik}"), key=holding_order)
            if not found:
                raise ApiError(404, f"no holdings known for {what} CIK {cik}")
            return web.json(found)

        return await routed(table, cik, web, request, local)

    @app.page("/holdings/owner/{cik}")
    @api
    async def owner_holdings(web: Any, request: Any, cik: str) -> Any:
        """Every current holding line of an insider, across issuers."""
        return await holdings_of(tables.owner_state, owner_state, "o", cik, web, request)

    @app.page("/holdings/issuer/{cik}")
    @api
    async def issuer_holdings(web: Any, request: Any, cik: str) -> Any:
        """Every insider's current holdings in an issuer; joint filers have a non-empty joint_group."""
        return await holdings_of(tables.issuer_state, issuer_state, "i", cik, web, request)

    async def transactions_of(what: str, cik: str, request: Any, web: Any) -> Any:
        cik = parse_cik(cik, f"{what} CIK")
        params = window(request)
        query = history.transactions_of_issuer if what == "issuer" else history.transactions_of_owner
        page = await query(cik, **params)
        if not page["items"] and not any(params[k] for k in ("since", "until", "cursor")):
            raise ApiError(404, f"no transactions known for {what} CIK {cik}")
        return paged(web, request, page)

    @app.page("/transactions/issuer/{cik}")
    @api
    async def issuer_transactions(web: Any, request: Any, cik: str) -> Any:
        """An issuer's transaction records, newest first, paged (from the history store)."""
        return await transactions_of("issuer", cik, request, web)

    @app.page("/transactions/owner/{cik}")
    @api
    async def owner_transactions(web: Any, request: Any, cik: str) -> Any:
        """An insider's transaction records across issuers, newest first, paged (from the history store)."""
        return await transactions_of("owner", cik, request, web)

    @app.page("/alerts")
    @api
    async def alerts_view(web: Any, request: Any) -> Any:
        """Alerts (the latest revision of each), newest first, paged; ?issuer=&owner=&rule=&since=&until=."""
        query = request.query
        page = await history.alerts(
            issuer=parse_cik(query["issuer"], "issuer CIK") if query.get("issuer") else None,
            owner=parse_cik(query["owner"], "owner CIK") if query.get("owner") else None,
            rule=parse_rule(query.get("rule")),
            **window(request),
        )
        return paged(web, request, page)

    @app.page("/alerts/poll")
    @api
    async def alerts_poll(web: Any, request: Any) -> Any:
        """Alerts stored or revised after arrival ``after`` (oldest first): the page's fallback to the stream."""
        after = request.query.get("after")
        if after is not None and not (after.isascii() and after.isdigit()):
            raise ApiError(400, f"after must be an arrival number from a previous answer; got {after!r}")
        return web.json(
            await history.alerts_after(int(after) if after else None, parse_limit(request.query.get("limit")))
        )

    @app.page("/alerts/stream")
    async def alerts_stream(web: Any, request: Any) -> Any:
        """Server-sent events: each alert stored or revised (a revision comes again under its alert_id), with its
        arrival number as the event id, so a reconnecting browser resumes from Last-Event-ID."""
        last = (
            request.headers.get("Last-Event-ID")
            or request.query.get("last_event_id")
            or request.query.get("after")
        )
        arrival = int(last) if last and last.isascii() and last.isdigit() else None
        response = aiohttp_web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        deadline = asyncio.get_running_loop().time() + STREAM_SECONDS
        try:
            await response.write(b"retry: 2000\n\n")
            while asyncio.get_running_loop().time() < deadline:
                batch = await history.alerts_after(arrival, 100)
                for alert in batch["items"]:
                    data = json.dumps(alert, separators=(",", ":"))
                    await response.write(f"id: {batch['last_arrival']}\ndata: {data}\n\n".encode())
                arrival = batch["last_arrival"]
                if not batch["items"]:
                    await response.write(b": keep-alive\n\n")
                    await asyncio.sleep(STREAM_POLL_SECONDS)
        except (ConnectionError, asyncio.CancelledError):
            pass
        return response

    @app.page("/issuers/ticker/{ticker}")
    @api
    async def ticker_view(web: Any, request: Any, ticker: str) -> Any:
        """The issuer whose newest filing carries this ticker."""
        symbol = parse_ticker(ticker)
        found = await history.issuer_by_ticker(symbol)
        if found is None:
            raise ApiError(404, f"no issuer with ticker {symbol} seen in filings")
        return web.json({"issuer_cik": found["cik"], "issuer_name": found["name"], "ticker": found["ticker"]})

    @app.page("/issuers/{cik}/flow")
    @api
    async def issuer_flow(web: Any, request: Any, cik: str) -> Any:
        """Net discretionary insider flow (dollars and insiders) over 30, 90, 180 and 365 days of filing dates."""
        issuer = parse_cik(cik, "issuer CIK")
        end_text = request.query.get("end")
        end = parse_date(end_text, "end") if end_text else datetime.now(EASTERN).date()
        return await routed(
            tables.issuer_state,
            issuer,
            web,
            request,
            lambda: web.json(flow_report(issuer_state, issuer, end)),
        )

    @app.page("/openapi.json")
    async def openapi(web: Any, request: Any) -> Any:
        return web.json(openapi_document("form4-streams", __version__))

    @app.page("/metrics")
    async def metrics_view(web: Any, request: Any) -> Any:
        """Prometheus metrics; consumer lag is measured now, per assigned partition."""
        metrics.update_lag(app.consumer, source_topics)
        return web.bytes(metrics.render(), content_type=CONTENT_TYPE.split(";")[0])

    @app.page("/")
    async def page(web: Any, request: Any) -> Any:
        """The live alerts page (streams/web/index.html)."""
        try:
            html = resources.files("streams").joinpath("web/index.html").read_bytes()
        except FileNotFoundError:
            return web.text("the page is not installed (streams/web/index.html)", status=404)
        return web.bytes(html, content_type="text/html")
