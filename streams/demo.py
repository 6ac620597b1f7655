"""`make run`: the whole pipeline on this machine — the embedded broker, one worker, the bundled real filings —
printing alerts as they arrive. Ctrl-C stops everything; nothing is left running.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from streams.broker import EmbeddedBroker, free_port, parent_death_signal, port_is_free
from streams.health import wait_ready
from streams.kafka_io import read_topic
from streams.settings import Settings
from streams.topics import ensure_topics

console = Console()
SAMPLES = Path(__file__).resolve().parents[1] / "samples"


async def _follow_alerts(broker_url: str, topic: str) -> None:
    async for message in read_topic(
        broker_url, topic, from_beginning=True, max_messages=None, idle_timeout=float("inf")
    ):
        console.print(alert_line(message["value"]))


def alert_line(alert: dict[str, Any]) -> Table:
    """One alert as a row whose message wraps under itself, not back to column 0."""
    issuer = (
        alert["issuer"].get("trading_symbol") or alert["issuer"].get("name") or alert["issuer"].get("cik")
    )
    style = {"high": "bold red", "medium": "yellow"}.get(alert["severity"], "cyan")
    row = Table.grid(padding=(0, 1))
    row.add_column(width=6, justify="right", style=style, no_wrap=True)
    row.add_column(min_width=18, no_wrap=True)
    row.add_column(min_width=5, no_wrap=True)
    row.add_column(ratio=1, overflow="fold")
    pattern = alert.get("trader_pattern")
    text = alert["message"]
    # A purchase or sale alert's sentence already says what the history says, "insufficient" included (the
    # history "too short to classify", or the year without a trade): only a bare pattern is added.
    if pattern and pattern != "insufficient" and pattern not in text:
        text += f" ({pattern} trader)"
    if alert.get("is_revision"):
        text = f"[revision {alert.get('revision')}] {text}"
    rules = ", ".join(alert.get("rules") or [alert["rule"]])
    row.add_row(alert["severity"], rules, str(issuer), text)
    return row


def _spawn(command: str, env: dict[str, str], log: Any) -> subprocess.Popen[bytes]:
    """`form4 <command>` in its own process group, so Ctrl-C reaches only this script, which stops it in order;
    should this script die without cleaning up, the kernel kills it (Linux)."""
    return subprocess.Popen(
        [sys.executable, "-m", "streams.cli", command],
        preexec_fn=parent_death_signal(signal.SIGKILL),
        env=env,
        start_new_session=True,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


async def _run(broker: EmbeddedBroker, settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await ensure_topics(broker.bootstrap, settings.topics, settings.partitions)
    web_port = 6066 if port_is_free(6066) else free_port()  # the documented port when it is free
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FORM4_")},
        "FORM4_BROKER_URL": broker.url,
        "FORM4_STORE": "memory://",
        "FORM4_WEB_PORT": str(web_port),
        # info, not warning: Faust's warning level draws a spinner, which fills a log file with escape codes.
        "FORM4_LOG_LEVEL": "info",
        "NO_COLOR": "1",
        "TERM": "dumb",
    }
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # The history store the sink fills and the page and API read: new each run, like the in-memory broker.
    history = settings.data_dir / "demo-history.sqlite3"
    history.unlink(missing_ok=True)
    env["FORM4_DATABASE_URL"] = f"sqlite:///{history}"
    log_path = settings.data_dir / "demo-worker.log"
    log = log_path.open("wb")  # this run's log only
    worker = _spawn("worker", env, log)
    sink = _spawn("sink", env, log)
    try:
        console.print(
            f"[bold]worker[/]  pid {worker.pid}, web on http://127.0.0.1:{web_port}/, log {log_path} — starting"
        )
        console.print(f"[bold]sink[/]    pid {sink.pid}, history store {history}")
        await wait_ready(web_port, worker)
        console.print("[bold]worker[/]  ready")
        console.print(
            f"[bold]page[/]    http://127.0.0.1:{web_port}/  (live alerts, holdings lookup; API: /openapi.json)"
        )
        ingest = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "streams.cli", "ingest", "files", str(SAMPLES), env=env
        )
        await ingest.wait()
        console.print(
            f"[bold]holdings[/] FORM4_BROKER_URL={broker.url} .venv/bin/form4 tail holdings --from-beginning"
        )
        console.print("[bold]alerts[/] as they arrive (Ctrl-C to stop):")
        follower = asyncio.create_task(_follow_alerts(broker.url, settings.topics.alerts))
        await stop.wait()
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
    finally:
        for process in (worker, sink):
            process.send_signal(signal.SIGTERM)
        for process in (worker, sink):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()
        console.print("stopped the worker and the sink")


def main() -> int:
    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # The broker's log beside the worker's, not in the temporary directory (where a killed demo would leave it).
    with EmbeddedBroker(log_path=settings.data_dir / "demo-broker.log") as broker:
        console.print(f"[bold]broker[/]  Tansu at {broker.url} (memory storage), pid {broker.pid}")
        asyncio.run(_run(broker, settings))
    console.print("stopped the broker; nothing left running")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
