"""What a new user sees: the table format at terminal widths, the demo's alert lines."""

from __future__ import annotations

import re

import pytest
from rich.console import Console
from typer.testing import CliRunner

from streams.cli import app
from streams.demo import alert_line
from tests.fixtures_index import FIXTURES

SONUS = FIXTURES / "xml" / "sonus_x0304_reconstructed.xml"
runner = CliRunner()


@pytest.mark.parametrize("columns", [60, 80, 120, 159, 200])
def test_table_format_never_splits_a_number(columns: int) -> None:
    result = runner.invoke(app, ["parse", "--format", "table", str(SONUS)], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert all(len(line) <= columns for line in lines)
    for number in ("5,291", "$2.38", "$12,592.58", "54,162"):
        assert any(re.search(rf"(^|[\s│]){re.escape(number)}($|[\s│])", line) for line in lines), number


def test_a_long_alert_wraps_under_its_message_not_at_column_0() -> None:
    console = Console(width=70, record=True, color_system=None)
    alert = {
        "severity": "high",
        "rule": "executive_sale",
        "issuer": {"trading_symbol": "AAPL", "name": "Apple Inc.", "cik": "0000320193"},
        "message": "Tim Cook (CEO) sold 108,136 shares of Apple Inc. for $24,180,518.44 on 2025-10-02 "
        "in an open-market sale under a 10b5-1 plan adopted earlier",
        "trader_pattern": "routine",
    }
    console.print(alert_line(alert))
    lines = console.export_text().splitlines()
    assert len(lines) > 1 and "executive_sale" in lines[0] and "AAPL" in lines[0]
    indent = lines[0].index("Tim")
    assert all(line[:indent].strip() == "" for line in lines[1:])
    assert "routine trader" in " ".join(lines)


def test_an_unclassified_trader_is_explained_once() -> None:
    """The alert sentence already says what the history says; the demo line does not repeat it."""
    console = Console(width=200, record=True, color_system=None)
    alert = {
        "severity": "high",
        "rule": "executive_sale",
        "issuer": {"trading_symbol": "AAPL", "name": "Apple Inc.", "cik": "0000320193"},
        "message": "CFO Maestri Luca sold 243,431 AAPL shares ($28.5M) in open-market sales on 2020-10-09, 69% of "
        "the direct holding, under a 10b5-1 plan; history since 2020-10-09 too short to classify.",
        "trader_pattern": "insufficient",
    }
    console.print(alert_line(alert))
    text = " ".join(console.export_text().split())
    assert text.count("too short to classify") == 1
    assert text.endswith("history since 2020-10-09 too short to classify.")
