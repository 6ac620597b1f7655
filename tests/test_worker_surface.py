"""What a real worker shows to anyone who reaches its port: JSON errors, no /router/ page, ASCII-only numbers,
known rule names, the API token on non-GET requests, and metrics that tell the truth."""

from __future__ import annotations

import asyncio
import json
import signal
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from streams.broker import EmbeddedBroker
from tests.broker import unique_name, wait_for
from tests.test_pipeline import WorkerProcess

pytestmark = [pytest.mark.broker, pytest.mark.slow]
TOKEN = "s3cret-token"


def request(
    port: int, path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, str, Any]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
            return resp.status, resp.headers.get_content_type(), body
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get_content_type(), exc.read()


async def test_the_worker_surface(broker: EmbeddedBroker, tmp_path: Path) -> None:
    worker = WorkerProcess(broker, unique_name("surface"), tmp_path / "w")
    worker.env["FORM4_API_TOKEN"] = TOKEN
    worker.start()
    try:
        await worker.ready()
        port = worker.web_port
        for path in ("/nope", "/router/", "/router", "/table/seen", "/holdings/owner/1/extra"):
            status, kind, body = await asyncio.to_thread(request, port, path)
            assert (status, kind) == (404, "application/json"), (path, status, body[:200])
            assert json.loads(body)["status"] == 404
        for path in (
            "/alerts?limit=%C2%B2",
            "/alerts?rule=nope",
            "/holdings/owner/%D9%A1%D9%A3",
            "/transactions/issuer/1?limit=%C2%B2",
        ):
            status, kind, body = await asyncio.to_thread(request, port, path)
            assert (status, kind) == (400, "application/json"), (path, status, body[:200])
        status, _, _ = await asyncio.to_thread(request, port, "/alerts?rule=executive_sale")
        assert status == 200
        status, kind, body = await asyncio.to_thread(request, port, "/alerts", "POST")
        assert (status, kind) == (401, "application/json") and json.loads(body)["status"] == 401
        status, _, _ = await asyncio.to_thread(
            request, port, "/alerts", "POST", {"Authorization": f"Bearer {TOKEN}"}
        )
        assert status != 401

        async def metrics() -> str | None:
            status, _, body = await asyncio.to_thread(request, port, "/metrics")
            text = body.decode()
            return text if status == 200 and "form4_consumer_lag_messages" in text else None

        text = await wait_for(metrics, timeout=30, interval=0.5, message="no lag metric")
        assert "form4_consumer_lag{" not in text and "process_resident_memory_bytes" in text
    finally:
        worker.stop(signal.SIGKILL)
