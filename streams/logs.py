"""Logging for every form4 process: readable text for people, or one JSON object per line for log collectors
(``FORM4_LOG_FORMAT=json``). Fields passed as ``extra={...}`` (accession, topic, reason, ...) become JSON keys.

Every record is one line: newlines in a message or traceback are escaped (``\\n``). A broker connection error
(a retriable Kafka error, an OS-level connection error, a timeout) is shown as ``error=Type: message`` without
its traceback, which says nothing more. While the broker is down, aiokafka and Faust repeat the same warnings and
errors many times a second: :class:`RepeatFilter` lets one record of each kind from them through per interval,
and only so many of all kinds together, and counts the others on the next one shown (``suppressed=N``).
"""

from __future__ import annotations

import json
import logging
import logging.config
import re
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from aiokafka.errors import KafkaError

#: Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}

#: Loggers of our own code: never rate-limited (a line per filing or dead letter is information, not noise).
OWN_LOGGERS = ("streams",)
#: At most one record of a kind (logger, level, message template) per this many seconds from other loggers.
REPEAT_INTERVAL = 30.0
#: And warnings and errors from all other loggers together, however many kinds an outage brings: a burst of
#: this many records, then one every ``1 / FOREIGN_RATE`` seconds.
FOREIGN_BURST = 10
FOREIGN_RATE = 0.5

#: Numbers (and hex addresses) in a message: blanked to tell its kind.
_NUMBERS = re.compile(r"0x[0-9a-fA-F]+|\d+")
#: The first characters of a message that tell its kind (a long message is rarely repeated anyway).
KIND_CHARS = 300


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


def one_line(text: str) -> str:
    """``text`` with line breaks escaped, so that one record is one line of output."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")


def is_connection_error(exc: BaseException | None) -> bool:
    """A broker connection problem: its traceback only shows where the client noticed it."""
    if isinstance(exc, KafkaError):
        return bool(getattr(exc, "retriable", False))
    return isinstance(exc, OSError | TimeoutError)


def describe_error(exc_info: Any) -> tuple[str, str | None]:
    """``Type: message`` of a record's exception, and its traceback (None for a connection error)."""
    exc_type, exc, tb = exc_info
    name = getattr(exc_type, "__name__", str(exc_type))
    text = f"{name}: {exc}" if str(exc) else name
    if is_connection_error(exc):
        return one_line(text), None
    return one_line(text), "".join(traceback.format_exception(exc_type, exc, tb)).rstrip()


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, the record's extra fields, error, exc."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        out.update(extra_fields(record))
        if record.exc_info:
            out["error"], trace = describe_error(record.exc_info)
            if trace:
                out["exc"] = trace
        return json.dumps(out, default=str)


class TextFormatter(logging.Formatter):
    """``time level logger: message key=value ... error=Type: message traceback=...``, on one line: the extra
    fields stay visible in text logs too."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        record.asctime = self.formatTime(record, self.datefmt)
        text = self.formatMessage(record)
        extra = extra_fields(record)
        if extra:
            text += " " + " ".join(f"{k}={v}" for k, v in extra.items())
        if record.exc_info:
            error, trace = describe_error(record.exc_info)
            text += f" error={error}"
            if trace:
                text += f" traceback={trace}"
        if record.stack_info:
            text += f" stack={record.stack_info}"
        return one_line(text)


@dataclass
class _Seen:
    shown_at: float
    suppressed: int = 0


class RepeatFilter(logging.Filter):
    """At most one record per kind per ``interval`` seconds from loggers other than our own, at INFO and above.
    A kind is (logger, level, message with its numbers blanked): "Unable connect to node with id 111: [Errno 111]
    Connect call failed ('127.0.0.1', 9092)" is one kind however often it comes, and so is Faust's "producer
    flush took 0.1012" (an f-string: its template is the message). The next record of a kind shown carries
    ``suppressed=N``, the number dropped since the previous one. Warnings and errors of new kinds share one
    budget (a burst of ``burst``, then ``rate`` a second): a broker gone makes the producer, the fetcher, the
    coordinator and Faust each complain in several ways at once, and under load those kinds alone filled the
    log. A record held back by the budget is counted on its kind's next line. INFO records of other loggers
    (Faust's start and stop of each service) are one per kind and never a flood: only the per-kind rule. Our
    own records (one per filing, per dead letter) and DEBUG records always pass."""

    #: Kinds remembered at most; older ones are forgotten first (their next record is simply shown).
    MAX_KINDS = 1000

    def __init__(
        self,
        interval: float = REPEAT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        burst: int = FOREIGN_BURST,
        rate: float = FOREIGN_RATE,
    ) -> None:
        super().__init__()
        self.interval = interval
        self.clock = clock
        self.burst = burst
        self.rate = rate
        self._tokens = float(burst)
        self._filled_at: float | None = None
        self._seen: dict[tuple[str, int, str], _Seen] = {}
        self._lock = threading.Lock()  # records come from the main thread and the consumer thread

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.INFO or record.name.split(".")[0] in OWN_LOGGERS:
            return True
        key = (record.name, record.levelno, _NUMBERS.sub("#", record.getMessage())[:KIND_CHARS])
        now = self.clock()
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None and now - seen.shown_at < self.interval:
                seen.suppressed += 1
                return False
            if record.levelno >= logging.WARNING and not self._take_token(now):
                if seen is None:
                    seen = self._seen[key] = _Seen(now - self.interval)  # due as soon as a token is free
                    self._forget_oldest()
                seen.suppressed += 1
                return False
            if seen is not None and seen.suppressed:
                record.suppressed = seen.suppressed
            self._seen.pop(key, None)
            self._seen[key] = _Seen(now)
            self._forget_oldest()
        return True

    def _forget_oldest(self) -> None:
        if len(self._seen) > self.MAX_KINDS:
            del self._seen[next(iter(self._seen))]

    def _take_token(self, now: float) -> bool:
        if self._filled_at is not None:
            self._tokens = min(float(self.burst), self._tokens + (now - self._filled_at) * self.rate)
        self._filled_at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


def logging_config(level: str = "info", fmt: str = "text") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` mapping (also what Faust's ``logging_config`` setting takes)."""
    formatter = "json" if fmt == "json" else "text"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {"()": JsonFormatter},
            "text": {"()": TextFormatter},
        },
        "filters": {"repeats": {"()": RepeatFilter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": formatter,
                "filters": ["repeats"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        "loggers": {"aiokafka": {"level": "WARNING"}},
    }


def setup_logging(level: str = "info", fmt: str = "text") -> None:
    logging.config.dictConfig(logging_config(level, fmt))


def install_exception_hooks() -> None:
    """Uncaught exceptions (in a thread, in the main thread, in a finalizer) as one log record each. Python
    prints them to stderr line by line, and a Faust worker redirects stderr into the log one write at a time:
    a traceback became dozens of records, one per fragment."""
    log = logging.getLogger("streams.uncaught")

    def in_thread(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit or args.exc_value is None:
            return
        name = args.thread.name if args.thread is not None else "?"
        log.error(
            "uncaught exception in thread %s",
            name,
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
        )

    def in_main(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        log.critical("uncaught exception", exc_info=(exc_type, exc, tb))

    def unraisable(args: Any) -> None:
        if args.exc_value is None:
            return
        log.warning(
            "%s: %r",
            args.err_msg or "Exception ignored in",
            args.object,
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
        )

    threading.excepthook = in_thread
    sys.excepthook = in_main
    sys.unraisablehook = unraisable
