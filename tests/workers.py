"""Pytest plugin: `form4 worker` subprocesses on the session's embedded broker (the `workers` fixture)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from streams.broker import EmbeddedBroker, free_port
from tests.broker import wait_for


class WorkerProcess:
    """One `form4 worker` subprocess with its own web port and data directory."""

    def __init__(
        self,
        broker: EmbeddedBroker,
        prefix: str,
        data_dir: Path,
        *,
        store: str = "memory://",
        command: tuple[str, ...] = ("worker",),
    ) -> None:
        self.command = command
        self.web_port = free_port()
        self.log_path = data_dir / f"worker-{self.web_port}.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("FORM4_")},
            "FORM4_BROKER_URL": broker.url,
            "FORM4_TOPIC_PREFIX": prefix,
            "FORM4_WEB_PORT": str(self.web_port),
            "FORM4_DATA_DIR": str(data_dir),
            "FORM4_STORE": store,
            "FORM4_PARTITIONS": "4",
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", *self.command],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return self

    def get(self, path: str) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}{path}", timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, None
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return 0, None

    async def ready(self, timeout: float = 90.0) -> None:
        def is_ready() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.log_tail()
            return self.get("/readyz")[0] == 200

        await wait_for(
            lambda: asyncio.to_thread(is_ready), timeout=timeout, interval=0.5, message=self.log_tail
        )

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    async def exited(self, timeout: float = 120.0) -> int:
        """Wait for the process to end on its own (an injected fault); returns its exit status."""
        proc = self.proc
        assert proc is not None
        await wait_for(lambda: proc.poll() is not None, timeout=timeout, interval=0.2, message=self.log_tail)
        self.proc = None
        return proc.returncode

    def log_tail(self) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "worker log:\n" + text[-3000:]


@pytest.fixture
def workers(broker: EmbeddedBroker, tmp_path: Path):  # type: ignore[no-untyped-def]
    started: list[WorkerProcess] = []

    def make(
        prefix: str,
        name: str = "w1",
        store: str = "memory://",
        command: tuple[str, ...] = ("worker",),
        env: dict[str, str] | None = None,
    ) -> WorkerProcess:
        worker = WorkerProcess(broker, prefix, tmp_path / name, store=store, command=command)
        worker.env["FORM4_DATABASE_URL"] = (
            f"sqlite:///{tmp_path}/history.sqlite3"  # one history store per test
        )
        worker.env.update(env or {})
        worker.start()
        started.append(worker)
        return worker

    yield make
    for worker in started:
        worker.stop(signal.SIGKILL)
