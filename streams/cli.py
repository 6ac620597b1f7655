"""The `form4` command line."""

from __future__ import annotations

import errno
import json
import sys
from collections.abc import Coroutine, Iterator
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console

from streams import faults
from streams.bounds import DEFAULT_MAX_ARCHIVE_MEMBERS
from streams.parse import DEFAULT_MAX_BYTES, ParseError, parse_filing

if TYPE_CHECKING:
    from streams.ingest.files import OnSkip, Refused
    from streams.settings import Settings

T = TypeVar("T")

app = typer.Typer(
    help="form4-streams: SEC ownership filings (Forms 3, 4, 5) as exact, streaming data.",
    no_args_is_help=True,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        from streams import __version__

        typer.echo(f"form4-streams {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit"),
    ] = False,
) -> None:
    """form4-streams: SEC ownership filings (Forms 3, 4, 5) as exact, streaming data."""


def fail(message: str, code: int = 1) -> NoReturn:
    """One line on standard error, then exit: errors for operators, never a traceback."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, with an unreachable broker reported as one line (exit 1)."""
    import asyncio

    from streams.kafka_io import BrokerUnreachable

    try:
        return asyncio.run(coro)
    except BrokerUnreachable as exc:
        fail(str(exc))
    except TimeoutError as exc:
        fail(f"{exc or 'the broker did not answer in time'} (check FORM4_BROKER_URL and the broker's health)")


class Skipped:
    """Files left out of directories and archives, reported in one line at the end: a count, the reasons and
    the first few paths (an archive can skip a hundred thousand)."""

    SHOWN = 5

    def __init__(self) -> None:
        self.count = 0
        self.shown: list[str] = []
        self.reasons: set[str] = set()

    def __call__(self, path: str, why: str) -> None:
        self.count += 1
        if len(self.shown) < self.SHOWN:
            self.shown.append(path)
        self.reasons.add(why)

    def report(self) -> None:
        if not self.count:
            return
        from streams.ingest.files import FILING_SUFFIXES

        shown = ", ".join(self.shown) + (", ..." if self.count > len(self.shown) else "")
        reasons = "; ".join(sorted(self.reasons))
        typer.echo(
            f"skipped {self.count} file(s) ({reasons}; filings end in "
            f"{' '.join(sorted(FILING_SUFFIXES))}): {shown}",
            err=True,
        )


class OutputFormat(StrEnum):
    json = "json"
    table = "table"


def iter_inputs(
    paths: list[str],
    *,
    max_bytes: int,
    max_members: int = DEFAULT_MAX_ARCHIVE_MEMBERS,
    follow_symlinks: bool = False,
    on_skip: OnSkip | None = None,
) -> Iterator[tuple[str, bytes | Refused | OSError]]:
    """(source, bytes) for each input: files, directories (recursively, filings only), zip and tar archives,
    or - for standard input; each read bounded by ``max_bytes``. An unreadable path or an oversize member yields
    its error, and the rest goes on."""
    from streams.ingest.files import Refused, iter_documents

    for raw in paths:
        if raw == "-":
            data = sys.stdin.buffer.read(max_bytes + 1)
            yield (
                "-",
                data if len(data) <= max_bytes else Refused("too_large", f"-: more than {max_bytes} bytes"),
            )
            continue
        try:
            yield from iter_documents(
                [Path(raw)],
                max_bytes=max_bytes,
                max_members=max_members,
                follow_symlinks=follow_symlinks,
                on_skip=on_skip or (lambda path, why: None),
            )
        except OSError as exc:
            yield raw, exc


@app.command()
def parse(
    paths: Annotated[list[str], typer.Argument(help="files, directories, or - for standard input")],
    output: Annotated[OutputFormat, typer.Option("--format", "-f", help="json lines, or a table to read")] = (
        OutputFormat.json
    ),
    max_bytes: Annotated[
        int, typer.Option(min=1, help="refuse inputs (and archive members) larger than this")
    ] = DEFAULT_MAX_BYTES,
    max_members: Annotated[
        int, typer.Option(min=1, help="read at most this many members of one archive")
    ] = DEFAULT_MAX_ARCHIVE_MEMBERS,
    follow_symlinks: Annotated[
        bool, typer.Option("--follow-symlinks", help="follow symbolic links inside directories")
    ] = False,
) -> None:
    """Parse filings: one JSON line per filing (or a readable table); failures are reported and the run goes on.

    Exit status 1 when any input failed or nothing was parsed; 2 when an input is a device, FIFO or socket.
    """
    from streams.ingest.files import Refused, special_file

    for raw in paths:  # never opened: /dev/zero has no end, a FIFO blocks
        if raw != "-" and (kind := special_file(Path(raw))) is not None:
            fail(
                f"{raw} is {kind}, not a file: pipe it to standard input (form4 parse - < {raw}), "
                "which is read up to --max-bytes",
                2,
            )
    console = Console(soft_wrap=False)
    out = sys.stdout
    failed = parsed = 0
    skipped = Skipped()
    for source, data in iter_inputs(
        paths, max_bytes=max_bytes, max_members=max_members, follow_symlinks=follow_symlinks, on_skip=skipped
    ):
        if isinstance(data, OSError):
            error = {"code": "unreadable", "message": f"{data.strerror or data}: {source}"}
        elif isinstance(data, Refused):
            error = {"code": data.reason, "message": data.message}
        else:
            try:
                filing = parse_filing(data, max_bytes=max_bytes)
            except ParseError as exc:
                error = exc.to_dict()
            else:
                if output is OutputFormat.table:
                    from streams.render import render_filing

                    console.print(render_filing(filing, source, width=console.width))
                else:
                    out.write(json.dumps({"source": source, **filing.model_dump(mode="json")}) + "\n")
                parsed += 1
                continue
        failed += 1
        if output is OutputFormat.table:
            console.print(f"[red]{source}: {error['code']}[/red] — {error['message']}")
        else:
            out.write(json.dumps({"source": source, "error": error}) + "\n")
    out.flush()
    skipped.report()
    if not parsed and not failed:
        fail(f"no filing found in {' '.join(paths)}")
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
    Needs the broker extra: pip install 'form4-streams[broker]'.
    """
    from streams.broker import run_foreground

    raise typer.Exit(run_foreground(port or None))


@app.command()
def worker() -> None:
    """Run the Faust worker: form4.raw in; filings, transactions, holdings, alerts and dead letters out.

    Configured by FORM4_* environment variables (see streams/settings.py): FORM4_BROKER_URL, FORM4_STORE
    (memory:// or rocksdb://), FORM4_WEB_PORT, FORM4_TOPIC_PREFIX, FORM4_PARTITIONS, FORM4_RULES_FILE, ...
    """
    from streams.alerts.rules import RulesError, load_rules
    from streams.topics import ensure_pipeline_topics

    # Everything that can be checked without the broker is checked first, each failure in one line.
    settings = load_settings()
    faults.arm(settings.fault)
    try:
        rules = load_rules(settings.rules_file)
    except RulesError as exc:
        fail(f"FORM4_RULES_FILE: {exc}", 2)
    if settings.web_enabled:
        from streams.settings import web_bind

        problem = port_problem(web_bind(settings), settings.web_port)
        if problem:
            fail(problem, 2)
    run_async(ensure_pipeline_topics(settings))
    from streams.app import create_app
    from streams.app.local_state import open_local_state
    from streams.app.worker import Worker, tune_gc

    faust_app = create_app(settings, rules)
    Path(faust_app.conf.datadir).mkdir(parents=True, exist_ok=True)  # Faust makes only the last level
    open_local_state(faust_app)
    from streams.logs import install_exception_hooks

    install_exception_hooks()  # a traceback is one log record, not one per line written to stderr
    # The broker watch (readiness, stop deadline) runs beside the app and stops after it.
    broker_watch = faust_app.form4["broker"]  # type: ignore[attr-defined]
    tune_gc()
    Worker(faust_app, broker_watch, loglevel=settings.log_level).execute_from_commandline()


@app.command()
def sink() -> None:
    """Copy form4.filings, form4.transactions and form4.alerts into the history database, exactly once.

    FORM4_DATABASE_URL: sqlite:///<path> (default <FORM4_DATA_DIR>/history.sqlite3) or postgresql://user@host:port/db.
    Each batch and the offsets it reaches commit in one transaction, so a restart (even after kill -9) resumes
    where the database stands. Run one sink per database. Ctrl-C stops it cleanly.
    """
    import asyncio
    import signal

    from streams.logs import setup_logging
    from streams.sinks.consumer import SinkMetrics, run_sink

    settings = load_settings()
    faults.arm(settings.fault)
    setup_logging(settings.log_level, settings.log_format)
    metrics = SinkMetrics()
    if settings.sink_metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(
            settings.sink_metrics_port, addr=settings.web_bind or settings.web_host, registry=metrics.registry
        )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_sink(settings, stop, metrics)

    try:
        asyncio.run(main())
    except Exception as exc:
        from streams.sinks.db import redact

        detail = " ".join(redact(str(exc)).split()) or type(exc).__name__
        typer.echo(
            f"error: {type(exc).__name__}: {detail} (a restart resumes where the database stands)", err=True
        )
        raise typer.Exit(1) from None


def port_problem(host: str, port: int) -> str | None:
    """Why the web server could not listen on host:port (in use, or no such address), or None."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"FORM4_WEB_BIND/FORM4_WEB_HOST {host!r} is not an address of this machine ({exc.strerror or exc})"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the web server does
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (
                    f"port {port} on {host} is in use (another worker?): set FORM4_WEB_PORT to a free port, "
                    "e.g. FORM4_WEB_PORT=6067"
                )
            return f"cannot listen on {host}:{port} ({exc.strerror or exc}): check FORM4_WEB_BIND and FORM4_WEB_PORT"
    return None


ingest_app = typer.Typer(help="Publish raw filings to form4.raw.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")


@ingest_app.command("files")
def ingest_files(
    paths: Annotated[list[Path], typer.Argument(help="files, directories, zip or tar archives")],
    follow_symlinks: Annotated[
        bool, typer.Option("--follow-symlinks", help="follow symbolic links inside directories")
    ] = False,
) -> None:
    """Publish local filings to form4.raw (keyed by accession number when the EDGAR header has one).

    Each file and archive member is read up to FORM4_MAX_FILING_BYTES and published as it is read; a larger one
    becomes a too_large dead letter on form4.dlq and the rest are published, as are the first
    FORM4_MAX_ARCHIVE_MEMBERS members of an archive. Symbolic links inside directories are skipped unless
    --follow-symlinks; devices, FIFOs and sockets are refused.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from streams.ingest.files import UNREADABLE, Refused, iter_documents, publish_documents, special_file
    from streams.kafka_io import open_producer
    from streams.settings import kafka_client_kwargs

    settings = load_settings()
    missing = [p for p in paths if not p.exists()]
    if missing:
        fail(f"no such file or directory: {', '.join(map(str, missing))}", 2)
    for path in paths:  # never opened: /dev/zero has no end, a FIFO blocks
        if (kind := special_file(path)) is not None:
            fail(f"{path} is {kind}, not a file: copy what it holds into a file and ingest that", 2)
    skipped = Skipped()
    refusals: list[str] = []

    def documents() -> Iterator[tuple[str, bytes | Refused]]:
        """Read as they are published; a path that cannot be read is an unreadable dead letter, as in parse."""
        for path in paths:
            try:
                yield from iter_documents(
                    [path],
                    max_bytes=settings.max_filing_bytes,
                    max_members=settings.max_archive_members,
                    follow_symlinks=follow_symlinks,
                    on_skip=skipped,
                )
            except OSError as exc:
                yield str(path), Refused(UNREADABLE, f"{path}: {exc.strerror or exc} ({exc.filename})")

    def refused(source: str, data: Refused) -> None:
        refusals.append(f"{data.reason}: {data.message}")

    async def send() -> tuple[int, int]:
        async with open_producer(settings.broker_url, kafka_client_kwargs(settings)) as producer:
            columns = (TextColumn("publishing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
            with Progress(*columns, console=Console(stderr=True)) as progress:
                task = progress.add_task("publish", total=None)
                return await publish_documents(
                    producer,
                    settings.topics.raw,
                    settings.topics.dlq,
                    documents(),
                    on_published=lambda: progress.advance(task),
                    on_refused=refused,
                )

    sent, letters = run_async(send())
    skipped.report()
    for line in refusals:
        typer.echo(line, err=True)
    typer.echo(
        f"published {sent} filings to {settings.topics.raw}"
        + (f", {letters} dead letter(s) to {settings.topics.dlq}" if letters else ""),
        err=True,
    )


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
    if settings.ingest_metrics_port:
        from streams.ingest.metrics import serve

        try:
            serve(settings.ingest_metrics_port, settings.ingest_metrics_bind)
        except OSError as exc:
            fail(
                f"cannot serve metrics on {settings.ingest_metrics_bind}:{settings.ingest_metrics_port} "
                f"({exc.strerror or exc}): set FORM4_INGEST_METRICS_PORT to a free port, or 0 to turn it off",
                2,
            )
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

    from streams.kafka_io import BrokerUnreachable

    try:
        asyncio.run(main())
    except BrokerUnreachable as exc:
        fail(str(exc))
    except Exception as exc:
        fail(f"{type(exc).__name__}: {exc}")


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
    from streams.kafka_io import BrokerUnreachable

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
        except BrokerUnreachable as exc:
            fail(str(exc))
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


@ingest_app.command("datasets")
def ingest_datasets(
    sources: Annotated[
        list[str] | None,
        typer.Argument(
            help="data set ZIPs: local files, quarters (2024q4: the SEC's URL under FORM4_EDGAR_BASE_URL) or "
            "http(s) URLs"
        ),
    ] = None,
    from_quarter: Annotated[
        str | None, typer.Option("--from", help="first quarter to download, e.g. 2022q1")
    ] = None,
    to_quarter: Annotated[
        str | None,
        typer.Option("--to", help="last quarter (default: the last finished quarter)"),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="seed again data sets the ingest state says were seeded")
    ] = False,
) -> None:
    """Seed the insiders' trading histories (routine/opportunistic patterns, first purchases) from the SEC's
    quarterly Form 3/4/5 data sets: one request per quarter instead of one per filing.

    A seed gives the pattern rules their history; it publishes no records, holdings or alerts of the past (that
    is `ingest index`). Resumable: run the same command again and data sets already seeded are skipped without
    a request. Downloads use FORM4_EDGAR_USER_AGENT and the EDGAR rate limit; local ZIPs need neither.
    """
    import asyncio

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from streams.ingest.backfill import today_eastern
    from streams.ingest.seeding import (
        Callbacks,
        Outcome,
        SeedReport,
        Source,
        last_finished_quarter,
        parse_quarter,
        quarter_range,
        quarter_url,
        run_datasets,
        source_of,
    )
    from streams.kafka_io import BrokerUnreachable

    if to_quarter is not None and from_quarter is None:
        fail("--to needs --from (e.g. --from 2022q1 --to 2024q4)", 2)
    settings = load_settings()
    chosen: list[Source] = []
    for argument in sources or []:
        try:
            chosen.append(source_of(argument, settings.edgar_base_url))
        except ValueError as exc:
            fail(str(exc), 2)
    if from_quarter is not None:
        try:
            first = parse_quarter(from_quarter)
            last = parse_quarter(to_quarter) if to_quarter else last_finished_quarter(today_eastern())
        except ValueError as exc:
            fail(f"--from/--to: {exc}", 2)
        if last < first:
            fail(f"--to ({last[0]}q{last[1]}) is before --from ({first[0]}q{first[1]})", 2)
        chosen += [
            Source(label=f"{y}q{q}", url=quarter_url(settings.edgar_base_url, y, q))
            for y, q in quarter_range(first, last)
        ]
    if not chosen:
        fail("nothing to seed from: give ZIP files, quarters or URLs, or --from 2022q1 [--to 2024q4]", 2)
    if any(source.url for source in chosen):  # downloads: EDGAR wants to know who asks
        try:
            settings.require_edgar_user_agent()
        except ValueError as exc:
            fail(str(exc), 2)
    from streams.logs import setup_logging

    setup_logging(settings.log_level, settings.log_format)

    columns = (
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as progress:
        sets_task = progress.add_task("data sets", total=len(chosen))
        read_task = progress.add_task("reading", total=None, visible=False)
        seeds_task = progress.add_task("seeds published", total=0)

        def on_start(source: Source) -> None:
            progress.update(sets_task, description=f"data sets ({source.label})"[:28])

        def on_read(table: str, done: int, total: int) -> None:  # in MB, from the reading thread
            mb = 1 << 20
            progress.update(
                read_task,
                description=f"reading {table} (MB)",
                completed=done // mb,
                total=max(1, -(-total // mb)),
                visible=True,
            )

        def on_seeds(count: int) -> None:
            task = progress.tasks[seeds_task]
            progress.update(seeds_task, total=(task.total or 0) + count)

        def on_sent(count: int) -> None:
            progress.advance(seeds_task, count)

        def on_done(outcome: Outcome) -> None:
            progress.advance(sets_task)
            progress.update(read_task, visible=False)
            if outcome.status == "failed":
                progress.console.print(f"error: {outcome.message}", markup=False, highlight=False)

        callbacks = Callbacks(on_start, on_read, on_seeds, on_sent, on_done)
        report: SeedReport | None = None
        problem: str | None = None
        try:
            report = asyncio.run(run_datasets(settings, chosen, callbacks=callbacks, force=force))
        except KeyboardInterrupt:
            problem = "interrupted: run the same command again to resume"
        except BrokerUnreachable as exc:
            problem = f"error: {exc}"
        except Exception as exc:
            problem = f"error: {type(exc).__name__}: {exc} (run the same command again to resume)"
    if report is None:  # after the progress display is gone, so the line is the last one
        typer.echo(problem, err=True)
        raise typer.Exit(130 if problem and problem.startswith("interrupted") else 1)
    published = report.of("published")
    not_yet = report.of("not_published")
    failed = report.of("failed")
    typer.echo(
        f"{len(chosen)} data sets: {len(published)} seeded ({sum(o.seeds for o in published)} seeds of "
        f"{sum(o.histories for o in published)} insider histories to {settings.topics.raw}), "
        f"{len(report.of('already_seeded'))} already seeded"
        + (
            f", {len(not_yet)} not published yet ({', '.join(o.source.label for o in not_yet)})"
            if not_yet
            else ""
        )
        + (f", {len(failed)} failed (run the same command again to retry them)" if failed else ""),
        err=True,
    )
    if failed:
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
    from streams.kafka_io import read_topic
    from streams.settings import kafka_client_kwargs

    settings = load_settings()
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
            client=kafka_client_kwargs(settings),
        ):
            sys.stdout.write(json.dumps(message) + "\n")
            sys.stdout.flush()

    run_async(run())


@app.command()
def verify(
    api: Annotated[
        list[str] | None,
        typer.Option(
            "--api",
            help="a worker's API address, e.g. http://127.0.0.1:6066; repeat for several (requests are spread "
            "over them); default: http://127.0.0.1:<FORM4_WEB_PORT>",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON document on standard output")] = False,
    timeout: Annotated[
        float,
        typer.Option(min=0.1, help="give up when reading a topic makes no progress for this many seconds"),
    ] = 30.0,
) -> None:
    """Check the workers' holdings against a recomputation from form4.filings and form4.transactions.

    Recomputes every holding line by the last-reported-balance rule (superseded rows left out), asks the API for
    the lines of every owner the filings name, and prints one line per difference. Exit status 0: the same;
    1: some line differs; 2: could not check (settings, broker, topics or API).
    """
    import asyncio

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    from streams.drift import VerifyError, default_api
    from streams.drift import verify as check
    from streams.kafka_io import BrokerUnreachable

    settings = load_settings()
    urls = api or [default_api(settings)]
    for url in urls:
        if not url.startswith(("http://", "https://")):
            fail(f"--api must be a worker's address such as http://127.0.0.1:6066; got {url!r}", 2)
    console = Console(stderr=True)
    columns = (TextColumn("{task.description:<24}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, disable=not console.is_terminal, transient=True) as progress:
        tasks: dict[str, TaskID] = {}

        def advance(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task("owners' holdings" if stage == "holdings" else stage)
            progress.update(tasks[stage], completed=done, total=total or None)

        try:
            report = asyncio.run(check(settings, urls, idle_timeout=timeout, progress=advance))
        except (BrokerUnreachable, VerifyError) as exc:
            fail(str(exc), 2)
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except Exception as exc:  # never a traceback, and never exit 1 ("differs") for a failure to check
            fail(f"{type(exc).__name__}: {exc}", 2)
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        for difference in report.differences:
            typer.echo(difference.describe())
    kinds = ", ".join(
        f"{n} {kind}"
        for kind in ("missing", "unexpected", "different")
        if (n := sum(d.kind == kind for d in report.differences))
    )
    summary = (
        f"{report.expected_lines} expected lines, {report.served_lines} served, of {report.owners} owners; "
        f"recomputed from {report.filings} filings and {report.records} transaction records read"
    )
    typer.echo(f"holdings differ: {kinds}; {summary}" if kinds else f"holdings match: {summary}", err=True)
    raise typer.Exit(1 if report.differences else 0)


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
