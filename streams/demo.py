"""`make run`: the whole pipeline on this machine — embedded broker, one worker, the bundled real filings —
printing alerts as they arrive. Ctrl-C stops everything; nothing is left running.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console

from streams.broker import EmbeddedBroker, free_port
from streams.kafka_io import read_topic
from streams.settings import Settings

console = Console()
SAMPLES = Path(__file__).resolve().parents[1] / "samples"


async def _print_alerts(broker_url: str, topic: str, stop: asyncio.Event) -> int:
    """Print alerts from the start of the topic as they arrive, until stopped."""
    count = 0

    async def follow() -> None:
        nonlocal count
        async for message in read_topic(
            broker_url, topic, from_beginning=True, max_messages=None, idle_timeout=float("inf")
        ):
            alert = message["value"]
            count += 1
            issuer = alert["issuer"].get("trading_symbol") or alert["issuer"].get("name")
            style = {"high": "bold red", "medium": "yellow"}.get(alert["severity"], "cyan")
            console.print(
                f"[{style}]{alert['severity']:>6}[/] {alert['rule']:<20} {issuer:<6} {alert['message']}"
            )

    reader = asyncio.create_task(follow())
    await stop.wait()
    reader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reader
    return count


def main() -> int:
    settings = Settings()
    web_port = free_port()
    with EmbeddedBroker() as broker:
        env = {
            **os.environ,
            "FORM4_BROKER_URL": broker.url,
            "FORM4_STORE": "memory://",
            "FORM4_WEB_PORT": str(web_port),
            "FORM4_LOG_LEVEL": "warning",
        }
        console.print(f"[bold]broker[/] Tansu at {broker.url} (memory storage)")
        worker = subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"], env=env)
        try:
            console.print(f"[bold]worker[/] started (pid {worker.pid}), web on http://127.0.0.1:{web_port}/")
            subprocess.run(
                [sys.executable, "-m", "streams.cli", "ingest", "files", str(SAMPLES)], env=env, check=True
            )
            console.print("[bold]alerts[/] as they arrive (Ctrl-C to stop):")
            console.print(
                "holdings: FORM4_BROKER_URL=" + broker.url + " .venv/bin/form4 tail holdings --from-beginning"
            )
            stop = asyncio.Event()
            loop = asyncio.new_event_loop()
            loop.add_signal_handler(signal.SIGINT, stop.set)
            loop.add_signal_handler(signal.SIGTERM, stop.set)
            started = time.monotonic()
            count = loop.run_until_complete(_print_alerts(broker.url, settings.topics.alerts, stop))
            console.print(f"\n{count} alerts in {time.monotonic() - started:.0f} s; stopping")
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
