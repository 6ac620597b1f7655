"""The log during a broker outage: every record one line, repeated library messages counted instead of
repeated (streams/logs.py). The worker-level behaviour is in test_outage.py."""

from __future__ import annotations

import io
import json
import logging
from types import SimpleNamespace

import pytest

from streams.logs import JsonFormatter, RepeatFilter, TextFormatter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def logger_to(stream: io.StringIO, formatter: logging.Formatter, clock: Clock, name: str) -> logging.Logger:
    """A logger of its own (not propagating) writing through the repeat filter, as the worker's handler does."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(RepeatFilter(interval=30.0, clock=clock))
    logger = logging.getLogger(name)
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def test_a_repeated_library_error_is_shown_once_per_interval_with_the_count_of_the_others() -> None:
    """aiokafka's "Unable connect" came ~20 times a second with the broker gone; numbers in it (node, errno,
    port) do not make it a new kind. Our own per-filing lines are never held back."""
    out, clock = io.StringIO(), Clock()
    aiokafka = logger_to(out, TextFormatter(), clock, "aiokafka.test-logs")
    own = logging.getLogger("streams.test-logs")  # ours: never held back
    own.handlers, own.propagate = aiokafka.handlers, False
    own.setLevel(logging.INFO)
    for n in range(40):
        clock.now = n * 0.05
        aiokafka.error(
            "Unable connect to node with id %s: %s", 111, f"Connect call failed (port {40000 + n})"
        )
        own.info("filing %s done", n)
    clock.now = 31.0
    aiokafka.error("Unable connect to node with id %s: %s", 111, "Connect call failed (port 40041)")
    aiokafka.error("Unable to update metadata from [%s]", 111)  # another kind: shown at once
    lines = out.getvalue().splitlines()
    unable = [line for line in lines if "Unable connect" in line]
    assert len(unable) == 2 and unable[1].endswith("suppressed=39"), unable
    assert sum("filing" in line for line in lines) == 40
    assert any("Unable to update metadata" in line for line in lines)


def test_many_kinds_of_library_errors_together_stay_within_the_budget() -> None:
    """A broker gone under load: the producer, the fetcher, the coordinator and Faust complain in dozens of
    ways at once (a full-suite run saw 53 lines in 30 s). Together they get a burst of 10 and then one line
    every 2 s; a kind held back is shown later with its count, and our own lines still all pass."""
    out, clock = io.StringIO(), Clock()
    lib = logger_to(out, TextFormatter(), clock, "aiokafka.test-budget")
    own = logging.getLogger("streams.test-budget")
    own.handlers, own.propagate = lib.handlers, False
    own.setLevel(logging.INFO)
    for n in range(300):  # 60 kinds, each five times, over 30 s
        clock.now = n * 0.1
        lib.error(
            "failure of kind %s", "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.,;:!?+-*/"[n % 60]
        )
        own.info("filing %s done", n)
    lines = out.getvalue().splitlines()
    library = [line for line in lines if "failure of kind" in line]
    assert 20 <= len(library) <= 10 + 30 * 0.5, len(library)
    assert sum("filing" in line for line in lines) == 300
    clock.now = 100.0  # the budget refilled: a held-back kind comes with what it missed
    lib.error("failure of kind %s", "Z")
    last = out.getvalue().splitlines()[-1]
    assert "failure of kind Z" in last and "suppressed=" in last, last
    for n in range(40):  # a library's INFO lines (Faust's start and stop of each service): one per kind
        lib.info("[^Service %s]: Stopping...", "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN"[n])
    assert sum("Stopping" in line for line in out.getvalue().splitlines()) == 40


def test_every_record_is_one_line_and_a_connection_error_has_no_traceback() -> None:
    out, clock = io.StringIO(), Clock()
    root = logger_to(out, TextFormatter(), clock, "test-logs.text")
    try:
        raise ConnectionRefusedError(111, "Connect call failed")
    except OSError:
        root.exception("broker\ngone")
    try:
        raise ValueError("a bug")
    except ValueError:
        root.getChild("other").exception("internal error")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].endswith("broker\\ngone error=ConnectionRefusedError: [Errno 111] Connect call failed")
    assert "error=ValueError: a bug traceback=Traceback (most recent call last):\\n" in lines[1]


def test_json_records_carry_the_error_and_the_traceback_only_when_it_says_something() -> None:
    out, clock = io.StringIO(), Clock()
    root = logger_to(out, JsonFormatter(), clock, "test-logs.json")
    try:
        raise TimeoutError("no answer")
    except TimeoutError:
        root.warning("probe failed", exc_info=True)
    record = json.loads(out.getvalue())
    assert record["error"] == "TimeoutError: no answer" and "exc" not in record


def test_a_duplicate_without_an_accession_is_logged_by_its_content_hash(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 17: the worker logged "duplicate None skipped" for a bare document; it names the filing as the
    filings topic's key does: the accession number, else sha256:<raw_sha256>."""
    from streams.app.agents import Pipeline
    from streams.parse import parse_filing
    from streams.process import seen_key
    from streams.state import DictState
    from tests.fixtures_index import fixture_bytes

    pipeline = Pipeline.__new__(Pipeline)  # only what process() reads on a duplicate
    pipeline.metrics = SimpleNamespace(duplicates=SimpleNamespace(inc=lambda: None))  # type: ignore[assignment]
    pipeline.large = 5 * 1024 * 1024
    for filing in (
        parse_filing(fixture_bytes("xml/e364df9da26c.xml")),
        parse_filing(fixture_bytes("xml/e364df9da26c.xml"), accession_number="0000899243-22-035394"),
    ):
        state = DictState({seen_key(filing): filing.raw_sha256})
        event = SimpleNamespace(value=filing.model_dump_json().encode(), headers=[])
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="streams.app"):
            step = pipeline.process(event, state)  # type: ignore[arg-type]
        assert step.messages == [] and step.staged is None
        who = filing.accession_number or f"sha256:{filing.raw_sha256}"
        (record,) = [r for r in caplog.records if "duplicate" in r.getMessage()]
        assert record.getMessage() == f"duplicate {who} skipped"
        assert record.accession == who  # type: ignore[attr-defined]
        assert "None" not in record.getMessage()
