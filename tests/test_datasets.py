"""Seeding the insiders' histories from the SEC's Form 3/4/5 data sets (``form4 ingest datasets``), without a
broker: data sets in the SEC's format built from the corpus filings (tests/datasets.py) are read into the same
``hist`` state that processing those filings builds; seeds are bounded, deterministic, idempotent and merge in
any order; form4.raw recognises them; downloads go through the EDGAR client to the local replay server.
"""

from __future__ import annotations

import asyncio
import functools
import io
import json
import zipfile
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from streams.alerts import RulesConfig, alert_step
from streams.alerts.history import HISTORY_YEARS, History, classify
from streams.ingest.datasets import (
    SEED_MAX_BYTES,
    DatasetError,
    parse_date,
    read_histories,
    seeds,
)
from streams.ingest.edgar import EdgarClient
from streams.ingest.seeding import (
    Seeder,
    Source,
    last_finished_quarter,
    parse_quarter,
    quarter_range,
    quarter_url,
    source_of,
)
from streams.ingest.state import IngestState
from streams.models import MAX_SEED_HISTORIES, DeadLetter, Filing, HistorySeed, SeededHistory
from streams.parse import ParseError, parse_filing
from streams.process import Source as RawSource
from streams.process import is_duplicate, process_filing, process_seed, read_event, seed_seen_key
from streams.state import MAX_VALUE_BYTES, DictState
from tests.datasets import COLUMNS, DOCS, DatasetBuilder, accession_of, quarterly_datasets, write_dataset
from tests.edgar_server import USER_AGENT, EdgarReplay, Garbage, Status, Truncate
from tests.fixtures_index import all_fixture_paths, corpus_paths
from tests.test_alerts import load, records_from_filing

RULES = RulesConfig()
HOGAN = "d1d6fca1cd55.xml"  # MSFT EVP Hogan: one open-market sale, 2024-03-11
MSFT, HOGAN_CIK = "0000789019", "0001626431"


# ------------------------------------------------------------------------------------------------ helpers


@functools.cache
def corpus_filings() -> list[Filing]:
    """Every fixture and corpus filing that parses, once per accession (made-up ones for bare XML)."""
    seen: set[str] = set()
    out = []
    for path in [*corpus_paths(), *all_fixture_paths()]:
        if path.suffix not in (".xml", ".txt"):
            continue
        try:
            filing = parse_filing(path.read_bytes())
        except ParseError:
            continue
        if accession_of(filing) not in seen:
            seen.add(accession_of(filing))
            out.append(filing)
    return out


def processed(filings: list[Filing]) -> DictState:
    """The state the worker builds from these filings: originals first (the order the seed assumes)."""
    state = DictState()
    for filing in sorted(filings, key=lambda f: f.derived.is_amendment):
        if not is_duplicate(filing, state):
            process_filing(filing, state, RULES)
    return state


def seeded(paths: list[Path], state: DictState | None = None) -> DictState:
    state = state if state is not None else DictState()
    for path in paths:
        histories, _ = read_histories(path)
        for seed in seeds(histories, str(path)):
            process_seed(seed, state, RULES)
    return state


def hist(state: DictState) -> dict[str, Any]:
    return {k: v for k, v in state.data.items() if k.startswith("hist|")}


def moved(filing: Filing, accession: str, day: date) -> Filing:
    """A real filing as another one: its trades on ``day``, filed two days later (owners, codes, amounts as
    filed)."""
    return filing.model_copy(
        update={
            "accession_number": accession,
            "period_of_report": day,
            "filed_date": day + timedelta(days=2),
            "acceptance_datetime": None,
            "raw_sha256": f"{accession}-moved",
            "transactions": [t.model_copy(update={"transaction_date": day}) for t in filing.transactions],
        }
    )


def hogan_years(days: list[date]) -> list[Filing]:
    hogan = load(HOGAN)
    return [moved(hogan, f"0001209191-{d:%y}-{i:06d}", d) for i, d in enumerate(days, 1)]


# ------------------------------------------------------------------------------------------------ the format


@pytest.mark.skipif(not DOCS.is_dir(), reason="the SEC's data-set documentation is not beside the checkout")
def test_builder_writes_every_table_and_column_of_the_secs_metadata() -> None:
    metadata = json.loads((DOCS / "FORM_345_metadata.json").read_text())
    expected = {t["url"]: tuple(c["name"] for c in t["tableSchema"]["columns"]) for t in metadata["tables"]}
    assert expected == COLUMNS


def test_sec_dates_and_ciks_are_read_as_the_sec_writes_them(tmp_path: Path) -> None:
    assert parse_date("27-MAR-2025") == date(2025, 3, 27)
    assert parse_date("05-jan-2024") == date(2024, 1, 5)
    assert parse_date("2024-01-05") == date(2024, 1, 5)
    assert parse_date("31-FEB-2024") is None and parse_date("") is None and parse_date("03/27/2025") is None
    hogan = load(HOGAN)
    path = write_dataset(tmp_path / "q.zip", [moved(hogan, "0001209191-24-000001", date(2024, 3, 11))])
    with zipfile.ZipFile(path) as z:
        submission = z.read("SUBMISSION.tsv").decode().splitlines()
        trans = z.read("NONDERIV_TRANS.tsv").decode().splitlines()
    assert submission[1].split("\t")[:3] == ["0001209191-24-000001", "13-MAR-2024", "11-MAR-2024"]
    assert submission[1].split("\t")[9] == "789019"  # no leading zeros
    assert "11-MAR-2024" in trans[1].split("\t") and "S" in trans[1].split("\t")
    histories, report = read_histories(path)
    assert list(histories) == [(MSFT, HOGAN_CIK)]
    assert histories[(MSFT, HOGAN_CIK)].months["sell"] == {"2024-03": (date(2024, 3, 11), date(2024, 3, 11))}
    assert report.submissions == 1 and report.rows == report.rows_counted == len(hogan.transactions)


# ------------------------------------------------------------------------------------------------ equivalence


def test_seeded_history_equals_the_history_processing_the_corpus_builds(tmp_path: Path) -> None:
    """Every corpus and fixture filing, as one data set and as one data set per quarter of filing dates: the
    ``hist`` values the seeds leave are exactly those process_filing leaves (every key, every month, since)."""
    filings = corpus_filings()
    live = hist(processed(filings))
    assert sum(1 for v in live.values() if v["buy"] or v["sell"]) >= 50  # open-market traders, not only since
    whole = write_dataset(tmp_path / "all.zip", filings)
    assert hist(seeded([whole])) == live
    dated = [f for f in filings if f.filed_date or f.period_of_report]
    quarters = quarterly_datasets(tmp_path, dated)
    assert len(quarters) > 10
    by_quarter = seeded(list(quarters.values()))
    assert hist(by_quarter) == hist(processed(dated))
    # And in the other order, twice: unions commute and seeds seen before are skipped.
    again = seeded(list(reversed(quarters.values())))
    assert hist(seeded(list(quarters.values()), again)) == hist(by_quarter)


def test_amendments_and_implausible_dates_add_nothing_as_live(tmp_path: Path) -> None:
    hogan = load(HOGAN)
    original = moved(hogan, "0001209191-23-000001", date(2023, 3, 10))
    amendment = moved(hogan, "0001209191-23-000002", date(2023, 5, 10)).model_copy(
        update={"document_type": "4/A", "derived": hogan.derived.model_copy(update={"is_amendment": True})}
    )
    typo = moved(hogan, "0001209191-23-000003", date(2023, 6, 10))
    typo = typo.model_copy(  # a trade dated 2035 on a 2023 filing: date_plausible says no, live and seeded
        update={
            "transactions": [
                t.model_copy(
                    update={
                        "transaction_date": date(2035, 6, 10),
                        "derived": t.derived.model_copy(update={"date_plausible": False}),
                    }
                )
                for t in typo.transactions
            ]
        }
    )
    filings = [original, amendment, typo]
    path = write_dataset(tmp_path / "q.zip", filings)
    assert hist(seeded([path])) == hist(processed(filings))
    (value,) = hist(seeded([path])).values()
    assert value["sell"] == {"2023-03": ["2023-03-10", "2023-03-10"]} and value["since"] == "2023-03-10"


def test_joint_filers_each_get_the_filings_history(tmp_path: Path) -> None:
    joint = [f for f in corpus_filings() if len({o.cik for o in f.reporting_owners}) > 2 and f.transactions]
    assert joint
    path = write_dataset(tmp_path / "joint.zip", joint)
    state = seeded([path])
    assert hist(state) == hist(processed(joint))
    owners = {k.split("|")[2] for k in hist(state)}
    assert len(owners) >= 3


# ------------------------------------------------------------------------------------------------ the window


def test_a_seed_of_earlier_years_classifies_a_later_live_trade(tmp_path: Path) -> None:
    """Four years of March sales seeded, 2020-2023; Hogan's real 2024-03-11 sale through alert_step: routine.
    The window is the state's own (HISTORY_YEARS calendar years down from the insider's newest trade), so a
    seed ending in year Y-1 keeps Y-3..Y-1 for a trade in Y."""
    days = [date(2020, 3, 5), date(2021, 3, 9), date(2022, 3, 14), date(2023, 3, 20)]
    paths = list(quarterly_datasets(tmp_path, hogan_years(days)).values())
    state = seeded(paths)
    records, alerts, _ = alert_step(records_from_filing(load(HOGAN)), state, RULES)
    assert records[0].trader_pattern == "routine"
    assert records[0].history_known_since == date(2021, 1, 1)  # the 2024 trade's look-back starts there
    assert alerts[0].trader_pattern == "routine" and alerts[0].severity == "info"
    # Different months each year: opportunistic; two years only: insufficient.
    for days, pattern in (
        ([date(2021, 1, 5), date(2022, 5, 4), date(2023, 9, 1)], "opportunistic"),
        ([date(2022, 3, 14), date(2023, 3, 20)], "insufficient"),
    ):
        path = write_dataset(tmp_path / f"{pattern}.zip", hogan_years(days))
        history = History.from_json(seeded([path]).get(f"hist|{MSFT}|{HOGAN_CIK}"))
        assert classify(history, date(2024, 3, 11), "sell") == pattern


def test_seeded_histories_keep_four_years_down_from_the_newest_trade(tmp_path: Path) -> None:
    days = [date(2005 + i // 12, i % 12 + 1, 10) for i in range(0, 240, 5)]  # twenty years, every 5 months
    path = write_dataset(tmp_path / "long.zip", hogan_years(days))
    histories, _ = read_histories(path)
    history = histories[(MSFT, HOGAN_CIK)]
    years = {int(m[:4]) for m in history.months["sell"]}
    assert years == set(range(2024 - HISTORY_YEARS + 1, 2025)) and history.since == date(2005, 1, 10)
    live = DictState()
    for filing in hogan_years(days):
        process_filing(filing, live, RULES)
    assert hist(seeded([path])) == hist(live)


# ------------------------------------------------------------------------------------------------ seeds


def many_histories(issuers: int, owners: int) -> dict[tuple[str, str], History]:
    out = {}
    for i in range(issuers):
        for o in range(owners):
            history = History()
            for m in range(48):  # four full years, both sides: the largest a pruned history gets
                history.add(date(2021 + m // 12, m % 12 + 1, 1), "buy")
                history.add(date(2021 + m // 12, m % 12 + 1, 28), "sell")
            out[(f"{i + 1:010d}", f"{1_000_000 + o:010d}")] = history
    return out


def test_seeds_are_bounded_deterministic_and_cover_every_history() -> None:
    histories = many_histories(issuers=2, owners=300)
    first = list(seeds(histories, "test"))
    assert [s.seed_id for s in first] == [s.seed_id for s in seeds(dict(reversed(histories.items())), "test")]
    assert {(s.issuer_cik, h.owner_cik) for s in first for h in s.histories} == set(histories)
    assert len(first) > 2  # split within an issuer
    for seed in first:
        assert len(seed.model_dump_json()) <= SEED_MAX_BYTES
        assert len(seed.histories) <= MAX_SEED_HISTORIES
        assert [h.owner_cik for h in seed.histories] == sorted(h.owner_cik for h in seed.histories)
    state = DictState()
    for seed in first:
        process_seed(seed, state, RULES)
    assert all(len(json.dumps(v)) <= MAX_VALUE_BYTES for v in state.data.values())
    assert len(hist(state)) == len(histories)


def test_process_seed_merges_once_and_publishes_nothing() -> None:
    history = History()
    history.add(date(2023, 3, 1), "sell")
    seed = HistorySeed.build(MSFT, [history.to_seeded(HOGAN_CIK)], "test")
    state = DictState()
    out = process_seed(seed, state, RULES)
    assert out.changed == [HOGAN_CIK] and not out.duplicate
    assert state.get(seed_seen_key(seed)) == seed.seed_id
    assert set(state.data) == {f"hist|{MSFT}|{HOGAN_CIK}", f"seen|seed:{seed.seed_id}"}
    again = process_seed(seed, state, RULES)
    assert again.duplicate and again.changed == []
    # A filing processed after it adds to the same history; seeding again then changes nothing.
    process_filing(load(HOGAN), state, RULES)
    value = state.get(f"hist|{MSFT}|{HOGAN_CIK}")
    assert value["sell"] == {"2023-03": ["2023-03-01", "2023-03-01"], "2024-03": ["2024-03-11", "2024-03-11"]}
    state.put(seed_seen_key(seed), None)
    assert process_seed(seed, state, RULES).changed == []


def test_read_event_recognises_seeds_and_refuses_bad_ones() -> None:
    history = History()
    history.add(date(2023, 3, 1), "buy")
    seed = HistorySeed.build(MSFT, [history.to_seeded(HOGAN_CIK)], "2023q1_form345.zip")
    value = seed.model_dump_json().encode()
    assert read_event(value, RawSource(), 1 << 20) == seed
    reordered = json.dumps({k: v for k, v in reversed(json.loads(value).items())}).encode()
    assert read_event(reordered, RawSource(), 1 << 20) == seed  # "kind" need not come first
    tampered = json.loads(value)
    tampered["histories"][0]["buy"]["2023-03"] = ["2023-03-01", "2023-03-02"]
    for bad, fragment in (
        (json.dumps(tampered), "seed_id is not the hash"),
        (value.replace(b"history_seed", b"history_seeds"), "not a history seed: kind"),
        (value.replace(b'"2023-03"', b'"2023-13"'), "not a history seed: histories.0.buy"),
    ):
        outcome = read_event(bad.encode() if isinstance(bad, str) else bad, RawSource(), 1 << 20)
        assert isinstance(outcome, DeadLetter) and outcome.reason == "invalid_envelope", outcome
        assert fragment in outcome.message, outcome.message
    with pytest.raises(ValueError):
        HistorySeed.build(MSFT, [], None)
    SeededHistory(owner_cik=HOGAN_CIK)  # since and months may be empty


# ------------------------------------------------------------------------------------------------ the reader


def test_header_drift_line_endings_and_malformed_lines(tmp_path: Path) -> None:
    """Columns are found by name (AFF10B5ONE appears in recent quarters), CRLF and a BOM are fine, short
    lines and unreadable values are counted and skipped."""
    filings = hogan_years([date(2023, 3, 20)])
    builder = DatasetBuilder()
    builder.add(filings[0])
    plain = builder.write(tmp_path / "plain.zip")
    drifted = builder.write(tmp_path / "drift.zip", extra_submission_column="AFF10B5ONE")
    assert read_histories(drifted)[0] == read_histories(plain)[0]
    with zipfile.ZipFile(plain) as z:
        tables = {n: z.read(n) for n in z.namelist()}
    tables["NONDERIV_TRANS.tsv"] = b"\xef\xbb\xbf" + tables["NONDERIV_TRANS.tsv"].replace(b"\n", b"\r\n")
    tables["NONDERIV_TRANS.tsv"] += b"0001209191-23-000009\t7\n"  # cut short
    tables["REPORTINGOWNER.tsv"] += b"0001209191-23-000001\tnot-a-cik\tX\n"
    messy = tmp_path / "messy.zip"
    with zipfile.ZipFile(messy, "w") as z:
        for name, data in tables.items():
            z.writestr(name, data)
    histories, report = read_histories(messy)
    assert histories == read_histories(plain)[0]
    assert report.malformed == 2


def test_what_is_not_a_data_set_is_one_line(tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"<html>not a zip</html>")
    with pytest.raises(DatasetError, match="not a ZIP file"):
        read_histories(junk)
    empty = tmp_path / "other.zip"
    with zipfile.ZipFile(empty, "w") as z:
        z.writestr("SUBMISSION.tsv", "ACCESSION_NUMBER\n")
    with pytest.raises(DatasetError, match=r"no REPORTINGOWNER\.tsv, NONDERIV_TRANS\.tsv"):
        read_histories(empty)
    renamed = tmp_path / "renamed.zip"
    with zipfile.ZipFile(renamed, "w") as z:
        for name in ("SUBMISSION.tsv", "REPORTINGOWNER.tsv", "NONDERIV_TRANS.tsv"):
            z.writestr(name, "ACCESSION_NUMBER\tSOMETHING\n")
    with pytest.raises(DatasetError, match=r"SUBMISSION\.tsv has no FILING_DATE"):
        read_histories(renamed)


def test_progress_reports_each_table_to_its_end(tmp_path: Path) -> None:
    path = write_dataset(tmp_path / "q.zip", hogan_years([date(2023, 3, 20)]))
    seen: dict[str, tuple[int, int]] = {}
    read_histories(path, on_progress=lambda table, done, total: seen.__setitem__(table, (done, total)))
    assert set(seen) == {"SUBMISSION.tsv", "REPORTINGOWNER.tsv", "NONDERIV_TRANS.tsv", "DERIV_TRANS.tsv"}
    assert all(done == total > 0 for done, total in seen.values())


# ------------------------------------------------------------------------------------------------ sources


def test_quarters_urls_and_paths(tmp_path: Path) -> None:
    assert parse_quarter("2022q1") == (2022, 1) and parse_quarter("2024Q4") == (2024, 4)
    with pytest.raises(ValueError, match="2024q4"):
        parse_quarter("2024-4")
    assert len(quarter_range((2022, 1), (2024, 4))) == 12  # three years: a dozen requests
    assert quarter_range((2023, 4), (2024, 1)) == [(2023, 4), (2024, 1)]
    assert last_finished_quarter(date(2025, 2, 1)) == (2024, 4)
    assert last_finished_quarter(date(2025, 8, 1)) == (2025, 2)
    assert quarter_url("https://www.sec.gov", 2024, 4) == (
        "https://www.sec.gov/files/structureddata/data/insider-transactions-data-sets/2024q4_form345.zip"
    )
    zip_path = write_dataset(tmp_path / "2023q1_form345.zip", [])
    assert source_of(str(zip_path), "https://x").path == zip_path
    assert source_of("2023q1", "https://x").url == quarter_url("https://x", 2023, 1)
    assert source_of("https://h/d/2020q2_form345.zip", "https://x").label == "2020q2_form345.zip"
    with pytest.raises(ValueError, match="no such file"):
        source_of(str(tmp_path / "missing.zip"), "https://x")


# ------------------------------------------------------------------------------------------------ downloads


class FakeProducer:
    """What the seeder asks of aiokafka's producer: send() -> a future the broker resolves. Records sends."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]] = []

    async def send(self, topic: str, *, value: bytes, key: bytes, headers: list[tuple[str, bytes]]) -> Any:
        self.sent.append((topic, key, value, headers))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


@pytest.fixture
def quarters(tmp_path: Path) -> dict[str, bytes]:
    paths = quarterly_datasets(tmp_path / "q", hogan_years([date(2021, 3, 9), date(2022, 3, 14)]))
    return {p.name: p.read_bytes() for p in paths.values()}


@pytest.fixture
def edgar(quarters: dict[str, bytes]) -> Iterator[EdgarReplay]:
    with EdgarReplay([], datasets=quarters) as server:
        yield server


async def seed_all(
    tmp_path: Path, edgar: EdgarReplay, sources: list[Source], **options: Any
) -> tuple[list[Any], FakeProducer]:
    producer = FakeProducer()
    state = IngestState(tmp_path / "ingest.sqlite3")
    try:
        async with EdgarClient(
            edgar.base_url, USER_AGENT, rate=5, backoff_base=0.05, max_attempts=4
        ) as client:
            seeder = Seeder(state, producer, "form4.raw", client, tmp_path / "datasets", **options)  # type: ignore[arg-type]
            return [await seeder.seed(s) for s in sources], producer
    finally:
        state.close()


def quarter_sources(edgar: EdgarReplay, *quarters: str) -> list[Source]:
    return [source_of(q, edgar.base_url) for q in quarters]


async def test_download_retries_cut_and_garbled_bodies_then_seeds(tmp_path: Path, edgar: EdgarReplay) -> None:
    edgar.inject(r"2021q1_form345\.zip", Truncate())
    edgar.inject(r"2021q1_form345\.zip", Garbage())
    edgar.inject(r"2022q1_form345\.zip", Status(503, retry_after="0"))
    outcomes, producer = await seed_all(tmp_path, edgar, quarter_sources(edgar, "2021q1", "2022q1", "2023q1"))
    assert [o.status for o in outcomes] == ["published", "published", "not_published"]
    assert [r.status for r in edgar.requests if "2021q1" in r.path] == [200, 200, 200]  # cut, garbled, whole
    assert {r.user_agent for r in edgar.requests} == {USER_AGENT}
    assert [(topic, key) for topic, key, _, _ in producer.sent] == [("form4.raw", MSFT.encode())] * 2
    for _, _, value, headers in producer.sent:
        assert dict(headers)["schema"] == b"history_seed"
        seed = read_event(value, RawSource(), 1 << 20)
        assert isinstance(seed, HistorySeed) and seed.issuer_cik == MSFT
    assert not list((tmp_path / "datasets").glob("*.zip"))  # kept only until published


async def test_seeded_quarters_are_skipped_without_a_request(tmp_path: Path, edgar: EdgarReplay) -> None:
    sources = quarter_sources(edgar, "2021q1", "2022q1")
    await seed_all(tmp_path, edgar, sources)
    before = len(edgar.requests)
    outcomes, producer = await seed_all(tmp_path, edgar, sources)
    assert [o.status for o in outcomes] == ["already_seeded"] * 2
    assert len(edgar.requests) == before and producer.sent == []
    # The same bytes from a local copy are recognised too; --force seeds again (harmless: a union).
    local = tmp_path / "copy.zip"
    local.write_bytes(edgar.datasets["2021q1_form345.zip"])
    outcomes, producer = await seed_all(tmp_path, edgar, [source_of(str(local), edgar.base_url)])
    assert outcomes[0].status == "already_seeded"
    outcomes, producer = await seed_all(tmp_path, edgar, sources, force=True)
    assert [o.status for o in outcomes] == ["published"] * 2 and len(producer.sent) == 2


async def test_a_download_kept_from_an_interrupted_run_is_not_fetched_again(
    tmp_path: Path, edgar: EdgarReplay
) -> None:
    from streams.ingest.seeding import cache_path

    (source,) = quarter_sources(edgar, "2021q1")
    assert source.url is not None
    cached = cache_path(tmp_path / "datasets", source.url)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(edgar.datasets["2021q1_form345.zip"])  # downloaded, then the broker was down
    cached.with_name(cached.name + ".part").write_bytes(b"PK\x03\x04 half a file")  # and a cut-off rewrite
    outcomes, producer = await seed_all(tmp_path, edgar, [source])
    assert outcomes[0].status == "published" and len(producer.sent) == 1
    assert edgar.requests == []
    # A corrupt cached file is downloaded again.
    cached.write_bytes(b"PK\x03\x04 corrupt")
    outcomes, _ = await seed_all(tmp_path, edgar, [source], force=True)
    assert outcomes[0].status == "published" and len(edgar.requests) == 1


async def test_a_bad_local_file_fails_in_one_line_and_the_others_go_on(
    tmp_path: Path, edgar: EdgarReplay
) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    good = tmp_path / "good.zip"
    good.write_bytes(edgar.datasets["2022q1_form345.zip"])
    outcomes, producer = await seed_all(
        tmp_path, edgar, [source_of(str(junk), edgar.base_url), source_of(str(good), edgar.base_url)]
    )
    assert [o.status for o in outcomes] == ["failed", "published"]
    assert "\n" not in outcomes[0].message and "not a ZIP file" in outcomes[0].message
    assert len(producer.sent) == 1


def test_a_zip_of_the_builder_is_what_the_reader_reads() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, columns in COLUMNS.items():
            z.writestr(f"2024q1/{name}", "\t".join(columns) + "\n")
    assert read_histories(io.BytesIO(buffer.getvalue()))[0] == {}  # tables in a folder, no rows


# ------------------------------------------------------------------------------------------------ end to end


def seeds_merged(worker: Any) -> float:
    """The worker's form4_history_seeds_total{outcome="merged"}."""
    import re
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/metrics", timeout=5) as response:
        text = response.read().decode()
    m = re.search(r'^form4_history_seeds_total\{outcome="merged"\} ([0-9.e+]+)$', text, re.M)
    return float(m.group(1)) if m else 0.0


@pytest.mark.broker
@pytest.mark.slow
async def test_three_seeded_years_name_the_pattern_of_a_later_real_filing(
    broker: Any, workers: Any, tmp_path: Path
) -> None:
    """`form4 ingest datasets --from 2021q1 --to 2023q4` against the replay server (12 quarters, one request
    each, one cut off and retried), a real worker merging the seeds; then Hogan's real 2024-03-11 sale streams
    through: its record and its alert say routine, not insufficient. The seeds published nothing; running the
    command again makes no request and sends nothing."""
    from streams.models import TransactionRecord
    from tests.broker import consume_all, produce, unique_name, wait_for
    from tests.edgar_server import Ingester

    prefix = unique_name("seed")
    filings = hogan_years([date(2021, 3, 9), date(2022, 3, 14), date(2023, 3, 20)])
    datasets = {p.name: p.read_bytes() for p in quarterly_datasets(tmp_path / "q", filings).values()}
    for year, quarter in quarter_range((2021, 1), (2023, 4)):  # the other quarters: Hogan did not trade
        name = f"{year}q{quarter}_form345.zip"
        datasets.setdefault(name, write_dataset(tmp_path / name, []).read_bytes())
    worker = workers(prefix)
    (tmp_path / "ingest").mkdir()
    with EdgarReplay([], datasets=datasets) as edgar:
        edgar.inject(r"2022q1_form345\.zip", Truncate())
        await worker.ready()
        command = ("datasets", "--from", "2021q1", "--to", "2023q4")
        first = Ingester(broker, prefix, edgar, tmp_path / "ingest").start(*command)
        assert first.wait(timeout=120) == 0, first.log_tail()
        assert len(edgar.requests) == 13 and edgar.max_in_window(1.0) <= 5
        assert "12 data sets: 12 seeded (3 seeds of 3 insider histories" in first.log_tail()
        await wait_for(lambda: seeds_merged(worker) >= 3, timeout=60, message=worker.log_tail)
        again = Ingester(broker, prefix, edgar, tmp_path / "ingest").start(*command)
        assert again.wait(timeout=120) == 0, again.log_tail()
        assert "0 seeded" in again.log_tail() and "12 already seeded" in again.log_tail()
        assert len(edgar.requests) == 13
    raw = await consume_all(broker.bootstrap, f"{prefix}.raw", 3, timeout=30, extra_wait=1.0)
    assert {r.key for r in raw} == {MSFT.encode()} and len(raw) == 3  # the second run sent nothing

    await produce(
        broker.bootstrap, f"{prefix}.raw", [(Path(__file__).parents[1] / "samples" / HOGAN).read_bytes()]
    )
    (record,) = await consume_all(broker.bootstrap, f"{prefix}.transactions", 1, timeout=60, extra_wait=1.0)
    assert record.value is not None
    sale = TransactionRecord.model_validate_json(record.value)
    assert sale.trader_pattern == "routine" and sale.history_known_since == date(2021, 3, 9)
    (alert,) = await consume_all(broker.bootstrap, f"{prefix}.alerts", 1, timeout=30, extra_wait=1.0)
    assert alert.value is not None
    body = json.loads(alert.value)
    assert body["trader_pattern"] == "routine" and body["severity"] == "info"
    assert "a routine trader" in body["message"]
    filings_out = await consume_all(broker.bootstrap, f"{prefix}.filings", 1, timeout=30, extra_wait=1.0)
    assert len(filings_out) == 1  # the seeds became no filing, no record, no alert


@pytest.mark.broker
@pytest.mark.slow
async def test_a_seed_merged_after_the_live_filing_revises_its_record_and_alert(
    broker: Any, workers: Any, tmp_path: Path
) -> None:
    """A desk goes live first: Hogan's real 2024-03-11 sale is published as insufficient (no history), its alert
    at medium. Then `form4 ingest datasets` seeds 2021-2023 (data sets built from the corpus filing moved to
    those years): the worker republishes the record under its txn_id as routine and revises the alert under its
    alert_id (its last revision: routine, info), as the seed-first order gives."""
    from streams.models import TransactionRecord
    from tests.broker import consume_all, produce, unique_name, wait_for
    from tests.edgar_server import Ingester

    prefix = unique_name("seedlast")
    filings = hogan_years([date(2021, 3, 9), date(2022, 3, 14), date(2023, 3, 20)])
    datasets = {p.name: p.read_bytes() for p in quarterly_datasets(tmp_path / "q", filings).values()}
    worker = workers(prefix)
    await worker.ready()
    await produce(
        broker.bootstrap, f"{prefix}.raw", [(Path(__file__).parents[1] / "samples" / HOGAN).read_bytes()]
    )
    (first,) = await consume_all(broker.bootstrap, f"{prefix}.transactions", 1, timeout=60, extra_wait=1.0)
    assert first.value is not None
    assert TransactionRecord.model_validate_json(first.value).trader_pattern == "insufficient"
    (alert,) = await consume_all(broker.bootstrap, f"{prefix}.alerts", 1, timeout=30, extra_wait=1.0)
    assert alert.value is not None and json.loads(alert.value)["severity"] == "medium"

    (tmp_path / "ingest").mkdir()
    with EdgarReplay([], datasets=datasets) as edgar:
        names = sorted(datasets)
        seeding = Ingester(broker, prefix, edgar, tmp_path / "ingest").start(
            "datasets", *(str(tmp_path / "q" / name) for name in names)
        )
        assert seeding.wait(timeout=120) == 0, seeding.log_tail()
    await wait_for(lambda: seeds_merged(worker) >= 3, timeout=60, message=worker.log_tail)
    # One seed per quarter with a trade; each changes what the 2024 sale reads (its history_known_since, then its
    # gap year, then its pattern), so each republishes it: 1 + 3 messages, all under the same key.
    records = await consume_all(broker.bootstrap, f"{prefix}.transactions", 4, timeout=60, extra_wait=1.0)
    assert {r.key for r in records} == {first.key} and len(records) == 4  # republished under its txn_id
    assert records[-1].value is not None
    revised = TransactionRecord.model_validate_json(records[-1].value)
    assert revised.trader_pattern == "routine" and revised.history_known_since == date(2021, 3, 9)
    alerts = await consume_all(broker.bootstrap, f"{prefix}.alerts", 4, timeout=30, extra_wait=1.0)
    assert {a.key for a in alerts} == {alert.key} and len(alerts) == 4  # revised under its alert_id
    assert alerts[-1].value is not None
    body = json.loads(alerts[-1].value)
    assert (body["revision"], body["trader_pattern"], body["severity"]) == (3, "routine", "info")
    assert "a routine trader" in body["message"]
