"""`form4 sink` throughput: rows per second from the output topics into the history store.

    .venv/bin/python bench/sink.py [--filings 2000] [--batch 5000] [--postgres]

Real outputs of real filings (samples/, the same generator as tests/test_sink.py: one filing message, one record
per transaction row, the alerts the rules raise) are produced onto the three topics of the embedded Tansu broker
first; then the sink starts as a subprocess and the script samples the offsets it has committed to the database.
The rate is measured from the sink's "sink started" log line (partitions assigned and positioned) to its
last commit: process start-up is excluded, the first fetch is not. `--postgres` writes into a
throwaway PostgreSQL server (Debian's package, as in the tests) instead of SQLite. Tansu, the sink and the
database share the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streams.broker import EmbeddedBroker  # noqa: E402
from streams.topics import Topics, ensure_topics  # noqa: E402
from tests.broker import unique_name  # noqa: E402
from tests.test_sink import SinkProcess, outputs, publish, snapshot, stored_offsets  # noqa: E402


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--filings", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=5000, help="FORM4_SINK_BATCH_SIZE")
    parser.add_argument("--postgres", action="store_true", help="into a throwaway PostgreSQL server")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-sink-"))
    server = None
    if args.postgres:
        from tests.postgres import PostgresServer, _bin_dir

        bin_dir = _bin_dir()
        if bin_dir is None:
            raise SystemExit("PostgreSQL is not installed: make postgres")
        server = PostgresServer(bin_dir).start()
        url = server.database()
    else:
        url = f"sqlite:///{workdir}/history.sqlite3"
    broker = EmbeddedBroker()
    broker.start()
    sink: SinkProcess | None = None
    try:
        topics = Topics(unique_name("bench"))
        await ensure_topics(broker.bootstrap, topics, partitions=4)
        messages = outputs(0, args.filings)
        ends = await publish(broker.bootstrap, topics, messages)
        total = sum(ends.values())
        sink = SinkProcess(broker, topics.prefix, url, workdir, batch_size=args.batch).start()
        deadline = time.monotonic() + 600
        started: float | None = None
        while True:
            if started is None and "sink started" in sink.log():
                started = time.monotonic()
            done = sum(stored_offsets(url).values())
            if done >= total:
                finished = time.monotonic()
                break
            if not sink.alive() or time.monotonic() > deadline:
                raise SystemExit("the sink stopped or took too long:\n" + sink.log()[-2000:])
            await asyncio.sleep(0.02)
        assert started is not None
        db = snapshot(url)
        rows = len(db["filings"]) + len(db["transactions"]) + len(db["alerts"])
        owner_rows = len(db["transaction_owners"]) + len(db["alert_owners"])
        elapsed = finished - started
        print(
            f"{'postgresql' if args.postgres else 'sqlite'}: {total} messages ({args.filings} filings) -> "
            f"{rows} rows + {owner_rows} owner rows in {elapsed:.2f} s: {total / elapsed:,.0f} messages/s, "
            f"{(rows + owner_rows) / elapsed:,.0f} rows/s (batch {args.batch})"
        )
    finally:
        if sink is not None:
            sink.kill(signal.SIGTERM)
        broker.stop()
        if server is not None:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
