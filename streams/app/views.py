"""The HTTP views: routing a request to the worker that owns its key, reading small state values there.

Current holdings come from the tables (routed by CIK); history (alerts, transactions over time, tickers) comes
from the SQL history store the sink keeps (``streams.sinks``), so no view ever needs a value that grows with
history.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

import faust
from faust.exceptions import SameNode
from faust.web.exceptions import ServiceUnavailable

from streams import __version__
from streams.api import ApiError, holding_order, openapi_document, parse_cik
from streams.app.tables import Tables, TableState
from streams.holdings import lines
from streams.metrics import CONTENT_TYPE, PipelineMetrics


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


def declare_views(app: faust.App, tables: Tables, metrics: PipelineMetrics) -> None:
    issuer_state = TableState(tables.issuer_state)
    owner_state = TableState(tables.owner_state)

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
        """503 until table recovery has finished and while a rebalance is under way (streaming-notes 8.3)."""
        recovered = app.tables.recovery.completed.is_set()  # type: ignore[attr-defined]
        ready = recovered and not app.rebalancing and not app.in_recovery
        body = {"ready": ready, "recovered": recovered, "rebalancing": bool(app.rebalancing)}
        return web.json(body, status=200 if ready else 503)

    @app.page("/holdings/owner/{cik}")
    @api
    async def owner_holdings(web: Any, request: Any, cik: str) -> Any:
        """Every current holding line of an insider, across issuers."""
        owner = parse_cik(cik, "owner CIK")

        def local() -> Any:
            found = sorted(lines(owner_state, f"o|{owner}"), key=holding_order)
            if not found:
                raise ApiError(404, f"no holdings known for owner CIK {owner}")
            return web.json(found)

        return await routed(tables.owner_state, owner, web, request, local)

    @app.page("/holdings/issuer/{cik}")
    @api
    async def issuer_holdings(web: Any, request: Any, cik: str) -> Any:
        """Every insider's current holdings in an issuer; joint filers have a non-empty joint_group."""
        issuer = parse_cik(cik, "issuer CIK")

        def local() -> Any:
            found = sorted(lines(issuer_state, f"i|{issuer}"), key=holding_order)
            if not found:
                raise ApiError(404, f"no holdings known for issuer CIK {issuer}")
            return web.json(found)

        return await routed(tables.issuer_state, issuer, web, request, local)

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
