"""Waiting for a worker to be ready: its /readyz answers 200 once table recovery has finished."""

from __future__ import annotations

import asyncio
import subprocess
import time
import urllib.request


def is_ready(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/readyz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:  # refused while starting, 503 while recovering, timeouts
        return False


async def wait_ready(port: int, process: subprocess.Popen[bytes] | None = None, timeout: float = 120) -> None:
    """Return once the worker on ``port`` is ready; fail fast if its process exits, or after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(is_ready, port):
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the worker exited with code {process.returncode} before it was ready")
        if time.monotonic() > deadline:
            raise TimeoutError(f"the worker on port {port} was not ready within {timeout:.0f} s")
        await asyncio.sleep(0.5)
