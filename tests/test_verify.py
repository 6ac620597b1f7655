"""The drift check's pure part (streams.verify): the holdings a worker serves against a recomputation from what
the topics hold. The worker is simulated with its own pure steps in a chosen arrival order (process_filing on
the issuer side; retract_line, then update_line on the owner side, as the holdings agent does), so every test
compares what a real worker would serve after that order with what verify recomputes from the topics."""

from __future__ import annotations

import itertools
import json
import os
import random
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from streams.alerts import load_rules
from streams.broker import EmbeddedBroker, free_port
from streams.drift import drift, verify
from streams.holdings import lines, retract_line, update_line
from streams.kafka_io import read_to_end
from streams.models import Filing, HoldingState, TransactionRecord
from streams.parse import parse_filing
from streams.process import identity, is_duplicate, process_filing
from streams.records import holding_candidates, holding_key_string, transaction_records
from streams.settings import Settings
from streams.state import DictState
from streams.verify import COMPARED_FIELDS, Difference, Expectation, compare, differences
from tests.broker import consume_all, produce, unique_name, wait_for
from tests.test_amendments import AMENDMENT, ORIGINAL, PREFERRED, amendment, original, second_amendment, tsla

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted(p for p in (ROOT / "samples").iterdir() if p.suffix in (".xml", ".txt"))
RULES = load_rules(None)
OWNER = "0001790565"


def worker(*filings: Filing) -> tuple[list[TransactionRecord], list[HoldingState]]:
    """What a worker publishes on form4.transactions (the latest record per key) and serves as holdings after
    the filings arrive in this order."""
    issuers: dict[str, DictState] = defaultdict(DictState)
    owners = DictState()
    records: dict[str, TransactionRecord] = {}
    for filing in filings:
        state = issuers[filing.issuer.cik]
        if is_duplicate(filing, state):
            continue
        out = process_filing(filing, state, RULES)
        for record in out.published_records():
            records[record.txn_id] = record
        for (
            retraction
        ) in out.retract:  # an owner's retractions before its candidates, as the agent sends them
            retract_line(owners, retraction)
        for candidate in out.holdings:
            update_line(owners, f"o|{candidate.key.owner_cik}", candidate)
    ciks = {o.cik for f in filings for o in f.reporting_owners}
    served = [HoldingState.model_validate(line) for cik in sorted(ciks) for line in lines(owners, f"o|{cik}")]
    return list(records.values()), served


def check(filings: list[Filing], served: list[HoldingState] | None = None) -> list[Difference]:
    """Verify's answer for the topics these filings leave, against ``served`` (default: the worker's table)."""
    records, table = worker(*filings)
    return differences(filings, records, table if served is None else served)


def by_title(served: list[HoldingState], title: str) -> HoldingState:
    return next(line for line in served if line.key.security_title == title)


def test_every_sample_in_any_arrival_order_matches() -> None:
    filings = [parse_filing(p.read_bytes()) for p in SAMPLES]
    assert check(filings) == []
    for seed in range(3):
        shuffled = filings[:]
        random.Random(seed).shuffle(shuffled)
        records, served = worker(*shuffled)
        assert differences(filings, records, served) == []  # the topics' order is not the worker's
    holding_rows = [line for line in worker(*filings)[1] if line.source_kind == "holding"]
    assert holding_rows  # lines from holding rows, which form4.transactions does not carry: filings are read


def test_a_late_older_row_never_overwrites_newer_state_and_a_worker_that_let_it_is_reported() -> None:
    newer = tsla(accession="0001790565-23-000010", filed=date(2023, 8, 1), accepted_at="090000")
    older = tsla()  # the same rows, accepted the day before: an older report of the same lines
    sale = older.transactions[1].model_copy(update={"shares_owned_following": Decimal("70000")})
    older = older.model_copy(update={"transactions": [older.transactions[0], sale, older.transactions[2]]})
    records, served = worker(newer, older)  # the older filing arrives last
    assert differences([newer, older], records, served) == []
    assert by_title(served, "COMMON STOCK").source_accession == newer.accession_number

    # A worker that let the late older row overwrite the line: every field that comes from the row differs.
    stale = next(c for c in worker(older)[1] if c.key.security_title == "COMMON STOCK")
    wrong = [stale if line.key == stale.key else line for line in served]
    found = differences([newer, older], records, wrong)
    assert [(d.kind, d.key, d.fields) for d in found] == [
        (
            "different",
            holding_key_string(stale.key),
            ("shares_owned", "acceptance_datetime", "source_accession", "source_row_id"),
        )
    ]
    assert found[0].describe() == (
        f"different   {holding_key_string(stale.key)}  shares_owned: worker 70000, expected 66834.25; "
        "acceptance_datetime: worker 2023-07-31T19:21:15-04:00, expected 2023-08-01T09:00:00-04:00; "
        f"source_accession: worker {ORIGINAL}, expected {newer.accession_number}; "
        f"source_row_id: worker {stale.source_row_id}, expected {found[0].expected.source_row_id}"  # type: ignore[union-attr]
    )


@pytest.mark.parametrize("order", [("original", "amendment"), ("amendment", "original")])
def test_an_amendment_that_supersedes_rows_matches_in_either_order(order: tuple[str, ...]) -> None:
    make = {"original": original, "amendment": amendment}
    filings = [make[name]() for name in order]
    records, served = worker(*filings)
    assert {r.superseded_by for r in records if r.accession_number == ORIGINAL} == {AMENDMENT}
    assert differences(filings, records, served) == []
    expectation = Expectation(records)
    for filing in filings:
        expectation.add(filing)
    assert {line.source_accession for line in expectation.expected_lines().values()} == {AMENDMENT}
    assert PREFERRED.upper() not in {
        line.key.security_title for line in expectation.expected_lines().values()
    }


def test_a_worker_that_kept_a_superseded_balance_is_reported_with_why() -> None:
    stale = by_title(worker(original())[1], PREFERRED.upper())
    records, served = worker(original(), amendment())
    found = differences([original(), amendment()], records, [*served, stale])
    assert [(d.kind, d.key) for d in found] == [("unexpected", holding_key_string(stale.key))]
    assert found[0].note == f"the worker's row is superseded by {AMENDMENT}"
    assert (
        found[0]
        .describe()
        .startswith(f"unexpected  {holding_key_string(stale.key)}  the worker has 66834.25")
    )


def test_a_retracted_line_with_an_older_live_row_is_accepted_either_way() -> None:
    """The amendment restates the preferred rows as common stock, and an older filing reported the preferred
    line too. Original first: the worker retracts the line; amendment first: it keeps the older row. Both are
    what the worker does (README, Amendments), so both pass; the superseded balance itself does not."""
    older = tsla(accession="0001790565-23-000005", filed=date(2023, 7, 20), title=PREFERRED)
    outcomes = {}
    for order in itertools.permutations((older, original(), amendment())):
        records, served = worker(*order)
        assert differences(list(order), records, served) == [], [f.accession_number for f in order]
        line = next((x for x in served if x.key.security_title == PREFERRED.upper()), None)
        outcomes[line.source_accession if line else None] = order
    assert set(outcomes) == {None, older.accession_number}
    stale = by_title(worker(original())[1], PREFERRED.upper())
    records, served = worker(older, original(), amendment())
    found = differences([older, original(), amendment()], records, [*served, stale])
    assert [(d.kind, d.note) for d in found] == [
        ("different", f"the worker's row is superseded by {AMENDMENT}")
    ]


@pytest.mark.parametrize("order", list(itertools.permutations(("original", "first", "second"))))
def test_two_amendments_in_any_arrival_order_match(order: tuple[str, ...]) -> None:
    make = {"original": original, "first": amendment, "second": second_amendment}
    assert check([make[name]() for name in order]) == []


def test_a_line_only_on_one_side_is_missing_or_unexpected_in_key_order() -> None:
    filings = [parse_filing(p.read_bytes()) for p in SAMPLES[:6]]
    records, served = worker(*filings)
    dropped, extra_source = served[0], served[1]
    extra = extra_source.model_copy(
        update={"key": extra_source.key.model_copy(update={"security_title": "NOT REPORTED"})}
    )
    found = differences(filings, records, [*served[1:], extra])
    assert [(d.kind, d.key) for d in found] == sorted(
        [("missing", holding_key_string(dropped.key)), ("unexpected", holding_key_string(extra.key))],
        key=lambda kind_key: kind_key[1],
    )
    missing = next(d for d in found if d.kind == "missing")
    assert missing.expected is not None and missing.served is None
    assert missing.describe().endswith("; the worker has no line")
    assert missing.to_json()["expected"]["source_row_id"] == dropped.source_row_id  # type: ignore[index]


def test_tied_rows_are_each_accepted_and_previous_shares_is_not_compared() -> None:
    """Two bare documents (no acceptance time) reporting the same line on the same day at the same position:
    the one that arrived last stands, so either is right."""
    xml = next(p for p in SAMPLES if p.name == "63f718a06c6b.xml").read_bytes()
    one = parse_filing(xml)
    two = parse_filing(xml.replace(b"243431", b"243432"))  # another document: its own sha256 identity
    assert identity(one) != identity(two) and one.acceptance_datetime is None
    for order in ((one, two), (two, one)):
        records, served = worker(*order)
        assert differences([one, two], records, served) == []
        changed = [line.model_copy(update={"previous_shares_owned": Decimal(1)}) for line in served]
        assert differences([one, two], records, changed) == []
    assert "previous_shares_owned" not in COMPARED_FIELDS


def test_values_are_compared_as_values() -> None:
    filings = [tsla()]
    records, served = worker(*filings)
    same = [
        line.model_copy(
            update={
                "shares_owned": line.shares_owned * Decimal("1.00") if line.shares_owned else None,
                "acceptance_datetime": line.acceptance_datetime.astimezone(UTC)
                if line.acceptance_datetime
                else None,
            }
        )
        for line in served
    ]
    assert differences(filings, records, same) == []
    changed = [line.model_copy(update={"as_of_date": date(2023, 7, 28)}) for line in served]
    assert {d.fields for d in differences(filings, records, changed)} == {("as_of_date",)}


def test_a_filing_fed_again_with_other_holdings_is_listed_as_rewritten() -> None:
    expectation = Expectation()
    filing = tsla()
    expectation.add(filing)
    expectation.add(filing)  # a duplicate on the topic changes nothing
    assert expectation.rewritten == set() and expectation.filings == 1
    sale = filing.transactions[1].model_copy(update={"shares_owned_following": Decimal(1)})
    expectation.add(filing.model_copy(update={"transactions": [filing.transactions[0], sale]}))
    assert expectation.rewritten == {ORIGINAL}


def test_differences_serialise_for_scripts() -> None:
    records, served = worker(tsla())
    found = compare(Expectation(records), served)  # no filing read: every served line is unexpected
    assert {d.kind for d in found} == {"unexpected"}
    as_json = found[0].to_json()
    assert set(as_json) == {"key", "kind", "fields", "expected", "served", "note"}
    assert as_json["served"]["acceptance_datetime"] == "2023-07-31T19:21:15-04:00"  # type: ignore[index]
    assert datetime.fromisoformat(as_json["served"]["acceptance_datetime"]).tzinfo is not None  # type: ignore[index]


# ------------------------------------------------------------------------------------ on the embedded broker


def form4(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.broker
@pytest.mark.slow
async def test_form4_verify_against_a_worker_over_the_samples(broker: EmbeddedBroker, workers) -> None:  # type: ignore[no-untyped-def]
    """A worker over the samples agrees with the recomputation (exit 0); a record republished as superseded,
    which the worker never saw, makes the line it gave differ (exit 1, the line printed); a worker that cannot
    be reached is an operator error (exit 2, one line)."""
    prefix = unique_name("verify")
    worker_process = workers(prefix)
    await worker_process.ready()
    docs = [p.read_bytes() for p in SAMPLES]
    keys = [parse_filing(d).issuer.cik.encode() for d in docs]
    await produce(broker.bootstrap, f"{prefix}.raw", docs, keys=keys)
    await consume_all(broker.bootstrap, f"{prefix}.filings", len(docs), timeout=60)
    settings = Settings(broker_url=broker.url, topic_prefix=prefix, web_port=worker_process.web_port)
    await wait_for(
        lambda: _no_drift(settings), timeout=30, interval=0.5, message=worker_process.log_tail
    )  # the holdings agent may still be applying the last candidates
    report = await verify(settings)
    assert (report.filings, report.owners) == (len(docs), len({o for d in docs for o in _owners(d)}))
    assert report.expected_lines == report.served_lines > 0

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FORM4_")},
        "FORM4_BROKER_URL": broker.url,
        "FORM4_TOPIC_PREFIX": prefix,
        "FORM4_WEB_PORT": str(worker_process.web_port),
    }
    same = form4(env, "verify")
    assert (same.returncode, same.stdout) == (0, ""), same.stderr
    assert same.stderr.startswith(f"holdings match: {report.expected_lines} expected lines")

    # Musk's last sale on 2022-11-08 gives his common-stock line; say an amendment superseded it.
    musk = parse_filing((ROOT / "samples/71b9ada5bb7b.txt").read_bytes())
    last = musk.transactions[-1]
    line_key = next(
        holding_key_string(c.key) for c in holding_candidates(musk) if c.source_row_id == last.txn_id
    )
    record = next(r for r in transaction_records(musk) if r.txn_id == last.txn_id)
    superseded = record.model_copy(update={"superseded_by": "0000899243-22-999999"})
    await produce(
        broker.bootstrap, f"{prefix}.transactions", [superseded.model_dump_json()], keys=[record.txn_id]
    )
    differ = form4(env, "verify")
    assert differ.returncode == 1, differ.stderr
    assert differ.stdout.splitlines() == [
        next(line for line in differ.stdout.splitlines() if line.startswith(f"different   {line_key}  "))
    ]
    assert "shares_owned: worker " in differ.stdout
    assert "(the worker's row is superseded by 0000899243-22-999999)" in differ.stdout
    assert differ.stderr.startswith("holdings differ: 1 different;")
    as_json = form4(env, "verify", "--json")
    assert as_json.returncode == 1
    body = json.loads(as_json.stdout)
    assert body["equal"] is False
    assert [(d["kind"], d["key"], d["served"]["source_row_id"]) for d in body["differences"]] == [
        ("different", line_key, last.txn_id)
    ]

    nobody = form4(env, "verify", "--api", f"http://127.0.0.1:{free_port()}")
    assert nobody.returncode == 2 and nobody.stdout == ""
    assert nobody.stderr.startswith("error: cannot reach the worker API at http://127.0.0.1:")
    assert len(nobody.stderr.splitlines()) == 1 and "Traceback" not in nobody.stderr
    elsewhere = form4({**env, "FORM4_TOPIC_PREFIX": unique_name("none")}, "verify")
    assert elsewhere.returncode == 2 and len(elsewhere.stderr.splitlines()) == 1
    assert "does not exist: check FORM4_TOPIC_PREFIX" in elsewhere.stderr


@pytest.mark.broker
async def test_a_topic_is_read_to_its_true_end_with_multi_record_batches(broker: EmbeddedBroker) -> None:
    """Tansu answers ListOffsets with the newest batch's base offset + 1 (streaming-notes §5.4): the reader
    goes by the high watermark of its fetches, so every record of batched sends comes back."""
    topic = unique_name("end")
    values = [str(n).encode() for n in range(1000)]
    await produce(
        broker.bootstrap, topic, values, keys=[str(n % 7).encode() for n in range(1000)], linger_ms=50
    )
    seen: list[tuple[int, int]] = []
    read = [
        r
        async for r in read_to_end(broker.url, topic, idle_timeout=10, on_progress=lambda *p: seen.append(p))
    ]
    assert sorted(int(r.value or b"") for r in read) == list(range(1000))
    assert seen[-1] == (1000, 1000)


async def _no_drift(settings: Settings) -> bool:
    return await drift(settings) == []


def _owners(document: bytes) -> list[str]:
    return [o.cik for o in parse_filing(document).reporting_owners]
