"""The page's side of the newer API in Chromium: alerts pushed over server-sent events (and polling when the stream
is not there), linkable lookups (#issuer=…), the per-issuer net-flow chart, the trader classification, and a
holdings table that fits at 1400 px.

The page talks to a small aiohttp server that answers the documented API shapes with what the pure functions
compute from real sample filings (the worker's own endpoints are tested in tests/test_page.py and test_api.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import pytest
from aiohttp import web

from streams.api import ApiError
from tests.test_page import CHROMIUM_ARGS, SAMPLES, chromium_path
from tests.test_pipeline import expected_outputs

pytestmark = pytest.mark.slow
APPLE = "0000320193"
DOCS = [
    (SAMPLES / name).read_bytes() for name in ("63f718a06c6b.xml", "a6ab43128199.txt", "a87531161a19.xml")
]
EXPECTED = expected_outputs(DOCS)
ALERTS = [json.loads(a) | {"trader_pattern": "opportunistic"} for a in EXPECTED["alerts"].values()]
LINES = [json.loads(h.model_dump_json()) for h in EXPECTED["holdings"].values()]
FLOW = {
    "issuer_cik": APPLE,
    "end": "2025-12-12",
    "windows": [
        {
            "days": d,
            "purchases_usd": "0",
            "sales_usd": s,
            "net_usd": f"-{s}",
            "buyers": 0,
            "sellers": n,
            "net_insiders": -n,
        }
        for d, s, n in ((30, "4000000.00", 1), (90, "32500000.00", 2), (365, "61000000.50", 3))
    ],
}


@dataclass
class FakeWorker:
    """Answers like a worker. ``stream``: serve /alerts/stream (else 404 JSON, as an older worker)."""

    stream: bool
    polled: list[str] = field(default_factory=list)
    stream_requests: list[dict[str, str | None]] = field(default_factory=list)
    pushed: asyncio.Queue[tuple[int, dict[str, Any]]] = field(default_factory=asyncio.Queue)
    polled_alerts: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> web.Application:
        application = web.Application()
        application.router.add_get("/", self.page)
        application.router.add_get("/alerts", self.alerts)
        if self.stream:
            application.router.add_get("/alerts/stream", self.alert_stream)
        application.router.add_get("/holdings/{kind}/{cik}", self.holdings)
        application.router.add_get("/issuers/{cik}/flow", self.flow)
        return application

    async def page(self, request: web.Request) -> web.Response:
        html = resources.files("streams").joinpath("web/index.html").read_bytes()
        return web.Response(body=html, content_type="text/html")

    async def alerts(self, request: web.Request) -> web.Response:
        self.polled.append(request.path_qs)
        newest_first = sorted(
            self.polled_alerts, key=lambda a: a.get("acceptance_datetime") or "", reverse=True
        )
        return web.json_response(newest_first[:50])

    async def alert_stream(self, request: web.Request) -> web.StreamResponse:
        self.stream_requests.append(
            {
                "last_event_id": request.headers.get("Last-Event-ID"),
                "query": request.query.get("last_event_id"),
            }
        )
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
        )
        await response.prepare(request)
        await response.write(b"retry: 200\n\n")
        number, alert = await self.pushed.get()
        await response.write(f"id: {number}\ndata: {json.dumps(alert)}\n\n".encode())
        return response  # the stream ends after one event: the browser must reconnect with Last-Event-ID

    async def holdings(self, request: web.Request) -> web.Response:
        kind, cik = request.match_info["kind"], request.match_info["cik"]
        field_name = "owner_cik" if kind == "owner" else "issuer_cik"
        found = [line for line in LINES if line["key"][field_name] == cik]
        if not found:
            error = ApiError(404, f"no holdings for {kind} {cik}")
            return web.json_response(error.body(), status=404)
        return web.json_response(found)

    async def flow(self, request: web.Request) -> web.Response:
        if request.match_info["cik"] != APPLE:
            return web.json_response(ApiError(404, "no flow").body(), status=404)
        return web.json_response(FLOW)


@contextlib.asynccontextmanager
async def serve(worker: FakeWorker) -> AsyncIterator[str]:
    runner = web.AppRunner(worker.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def open_page(base: str, path: str = "/") -> Any:
    chromium = chromium_path()
    if chromium is None:
        pytest.skip("Chromium is not installed: `apt-get install chromium` (or `make browser`)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.skip("playwright is not installed")
    playwright = await async_playwright().start()
    browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
    context = await browser.new_context(viewport={"width": 1400, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(30_000)
    await page.goto(base + path)
    return playwright, browser, page, errors


async def table_fits(page: Any) -> bool:
    """Every column visible without scrolling sideways."""
    return bool(
        await page.evaluate(
            "() => { const w = document.querySelector('.table-wrap'); return w.scrollWidth <= w.clientWidth; }"
        )
    )


async def test_alerts_are_pushed_and_the_stream_resumes_from_the_last_event() -> None:
    from playwright.async_api import expect

    worker = FakeWorker(stream=True)
    async with serve(worker) as base:
        playwright, browser, page, errors = await open_page(base)
        try:
            status = page.locator("#status")
            await expect(status).to_have_attribute("data-state", "ok")
            await expect(status).to_contain_text("Live (pushed)")
            # /alerts answers [] throughout: whatever shows up came through the stream.
            for number, alert in enumerate(ALERTS, start=1):
                await worker.pushed.put((number, alert))
                item = page.locator(f'#alerts [data-alert-id="{alert["alert_id"]}"]')
                await expect(item.locator('[data-testid="alert-message"]')).to_have_text(alert["message"])
                await expect(item.locator('[data-testid="alert-trader-pattern"]')).to_have_text(
                    "opportunistic trader"
                )
            await expect(page.locator("#alerts [data-alert-id]")).to_have_count(len(ALERTS))
            top = await page.locator("#alerts [data-alert-id]").first.get_attribute("data-alert-id")
            assert top == ALERTS[-1]["alert_id"]  # pushed last, shown on top
            # Each event ended its stream: every reconnection carried the id of the last event received.
            assert [r["last_event_id"] for r in worker.stream_requests[1 : len(ALERTS)]] == [
                str(n) for n in range(1, len(ALERTS))
            ]
        finally:
            await browser.close()
            await playwright.stop()
        assert errors == []


async def test_without_the_stream_the_page_polls() -> None:
    from playwright.async_api import expect

    worker = FakeWorker(stream=False)
    async with serve(worker) as base:
        playwright, browser, page, errors = await open_page(base)
        try:
            await expect(page.locator("#status")).to_have_attribute("data-state", "ok")
            worker.polled_alerts.extend(ALERTS)
            await expect(page.locator("#alerts [data-alert-id]")).to_have_count(len(ALERTS))
            await expect(page.locator("#status")).to_contain_text("Connected")
        finally:
            await browser.close()
            await playwright.stop()
        assert errors == []


async def test_a_linked_issuer_lookup_shows_its_holdings_and_net_flow_and_fits_at_1400px() -> None:
    from playwright.async_api import expect

    worker = FakeWorker(stream=False)
    apple_lines = [line for line in LINES if line["key"]["issuer_cik"] == APPLE]
    async with serve(worker) as base:
        playwright, browser, page, errors = await open_page(base, f"/#issuer={APPLE}")
        try:
            rows = page.locator('#holdings [data-testid="holding-row"]')
            await expect(rows).to_have_count(len(apple_lines))
            assert await page.input_value("#lookup-input") == APPLE
            assert await page.input_value("#lookup-kind") == "issuer"
            windows = page.locator('#flow [data-testid="flow-window"]')
            await expect(windows).to_have_count(len(FLOW["windows"]))
            await expect(windows.nth(1)).to_contain_text("90 days: net −$32.5M")
            assert await table_fits(page), "the holdings table is cut at 1400 px"
            # A lookup made on the page becomes the address; an issuer without flow data shows no chart.
            owner = apple_lines[0]["key"]["owner_cik"]
            await page.select_option("#lookup-kind", "owner")
            await page.fill("#lookup-input", owner)
            await page.click("#lookup-submit")
            await expect(page).to_have_url(f"{base}/#owner={owner}")
            await expect(page.locator("#flow")).to_be_hidden()
            # Going to another linked lookup in the same tab follows the new address.
            guts = next(line for line in LINES if line["joint_group"])["key"]["issuer_cik"]
            await page.evaluate(f"() => {{ window.location.hash = 'issuer={guts}'; }}")
            await expect(page.locator("#lookup-summary")).to_contain_text(guts)
            await expect(page.locator("#flow")).to_be_hidden()  # 404 from /flow: left out, no error
            await expect(page.locator("#lookup-error")).to_be_hidden()
            await expect(rows.locator('[data-testid="joint-mark"]').first).to_be_visible()
            assert await table_fits(page), "the joint filers' table is cut at 1400 px"
        finally:
            await browser.close()
            await playwright.stop()
        assert errors == []
