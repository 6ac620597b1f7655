"""`form4 parse` as a user runs it: JSON lines, errors inline, exit status, stdin, directories, tables."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from streams.cli import app
from tests.fixtures_index import FIXTURES

runner = CliRunner()
SONUS = FIXTURES / "xml" / "sonus_x0304_reconstructed.xml"
LRCX = FIXTURES / "txt" / "7a623a2c1264.txt"
LEGACY = FIXTURES / "txt" / "6e901dffc88f.txt"


def lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_one_json_line_per_filing_with_its_source() -> None:
    result = runner.invoke(app, ["parse", str(SONUS), str(LRCX)])
    assert result.exit_code == 0, result.output
    records = lines(result.stdout)
    assert [r["source"] for r in records] == [str(SONUS), str(LRCX)]
    assert records[0]["issuer"]["trading_symbol"] == "SONS"
    assert records[0]["transactions"][0]["shares"] == "5291"  # decimals as strings
    assert records[1]["accession_number"] == "0000707549-25-000004"


def test_failures_are_reported_inline_and_the_run_goes_on(tmp_path: Path) -> None:
    broken = tmp_path / "broken.xml"
    broken.write_bytes(b"<ownershipDocument><issuer>")
    result = runner.invoke(
        app, ["parse", str(broken), str(LEGACY), str(SONUS), str(tmp_path / "missing.xml")]
    )
    assert result.exit_code == 1
    records = lines(result.stdout)
    assert [r.get("error", {}).get("code") for r in records] == [
        "malformed_xml",
        "no_xml_document",
        None,
        "unreadable",
    ]
    assert records[1]["error"]["header"]["accession_number"] == "0001012325-98-000004"
    assert records[2]["issuer"]["cik"] == "0001105472"


def test_a_rendered_form_is_one_error_line_saying_what_it_is() -> None:
    """A Form 4 saved from a browser (EDGAR's HTML rendering) or copied from it as text: one JSON line each, code
    rendered_form, the filing it shows and where its XML is; exit status 1."""
    rendered = FIXTURES / "rendered"
    page, copied = rendered / "842e33f8da8c.html", rendered / "842e33f8da8c_copied.txt"
    result = runner.invoke(app, ["parse", str(page), str(copied)])
    assert result.exit_code == 1
    assert len(result.stdout.splitlines()) == 2
    records = lines(result.stdout)
    assert [(r["source"], r["error"]["code"]) for r in records] == [
        (str(page), "rendered_form"),
        (str(copied), "rendered_form"),
    ]
    html, text = (r["error"] for r in records)
    assert html["message"].startswith("input is EDGAR's HTML rendering of a Form 4")
    assert "/1820953/000162828023010740/wf-form4_168064570446975.xml" in html["message"]
    assert html["header"]["accession_number"] == "0001628280-23-010740"
    assert text["header"] == {
        "form_type": "4",
        "period_of_report": "2023-04-03",
        "issuer_name": "Affirm Holdings, Inc.",
        "trading_symbol": "AFRM",
        "owner_name": "Rabois Keith",
    }


def test_directory_is_walked_recursively_in_order(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "lrcx.txt").write_bytes(LRCX.read_bytes())
    (tmp_path / "a.xml").write_bytes(SONUS.read_bytes())
    (tmp_path / "notes.md").write_text("not a filing")
    result = runner.invoke(app, ["parse", str(tmp_path)])
    assert result.exit_code == 0
    assert [Path(r["source"]).name for r in lines(result.stdout)] == ["a.xml", "lrcx.txt"]


def test_standard_input_through_the_installed_command() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "streams.cli", "parse", "-"],
        input=SONUS.read_bytes(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    (record,) = lines(proc.stdout.decode())
    assert record["source"] == "-"
    assert record["transactions"][0]["derived"]["category"] == "tax_withholding"


def test_table_format_reads_like_a_form_4() -> None:
    result = runner.invoke(app, ["parse", "--format", "table", str(SONUS)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    text = result.stdout
    for expected in (
        "SONUS NETWORKS INC",
        "SONS",
        "Harris Kathleen A.",
        "VP, Human Resources",
        "tax withholding",
        "5,291",
        "$2.38",
        "54,162",
        "F1: Payment of tax liability",
    ):
        assert expected in text, expected


def test_schemas_command_writes_every_schema(tmp_path: Path) -> None:
    result = runner.invoke(app, ["schemas", "--out", str(tmp_path)])
    assert result.exit_code == 0
    assert {p.name for p in tmp_path.glob("*.json")} == {
        "raw_filing_event.json",
        "history_seed.json",
        "filing.json",
        "transaction_record.json",
        "holding.json",
        "alert.json",
        "dead_letter.json",
    }


def test_broker_command_runs_until_ctrl_c() -> None:
    """`form4 broker --port 0` starts Tansu, says what to export, and stops cleanly on Ctrl-C (exit 0)."""
    import re
    import signal

    proc = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "broker", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        seen = ""
        assert proc.stdout is not None
        for line in proc.stdout:  # blocks line by line; the broker prints its address once it answers
            seen += line
            if "FORM4_BROKER_URL=" in line:
                break
        url = re.search(r"FORM4_BROKER_URL=(kafka://127\.0\.0\.1:\d+)", seen)
        assert url, seen
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
