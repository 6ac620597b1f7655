"""History that catches up, and one final result in any arrival order (issue 17, points 2 and 3).

Real TSLA filings (officer Baglino's exercise-and-sale of 2023-07-27, tests/fixtures/txt/881ec4fa6083.txt) and
copies of it moved to July of the three years before, a 4/A that corrects the security title, a later 4/A that
also corrects the balance, and a joint filing of Baglino with a second owner, go through the worker's pure steps
(``process_filing`` on the issuer side, the holdings agent's ``retract_line`` / ``update_line`` on the owner side)
in every kind of order. What a compacted topic keeps (the last value per key, tombstones deleting) and what the
API serves (the holdings lines of both sides, the issuer's flow report) must end the same.

Arrival-dependent by design and left out of the comparison: an alert's ``revision`` / ``is_revision`` (they count
the updates that reached it).
"""

from __future__ import annotations

import json
import random
import re
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from streams.alerts import RulesConfig, flow_report
from streams.alerts.history import History, history_key
from streams.alerts.revise import MAX_INDEXED_PER_YEAR, published_key
from streams.holdings import forget_previous, lines, retract_line, update_line
from streams.models import Filing, HistorySeed, HoldingRetraction, SeededHistory
from streams.parse import parse_filing
from streams.process import Outputs, process_filing, process_seed
from streams.state import DictState
from tests.fixtures_index import fixture_bytes

TSLA = fixture_bytes("txt/881ec4fa6083.txt")
ISSUER = "0001318605"
BAGLINO = "0001790565"
PARTNER = "0009999901"
ORIGINAL = "0001790565-23-000009"
RULES = RulesConfig()


def tsla(accession: str, **changes: Any) -> Filing:
    filing = parse_filing(tsla_bytes(accession, **changes))
    assert filing.derived.is_amendment == (changes.get("cites") is not None)
    return filing


def tsla_bytes(
    accession: str,
    *,
    year: int = 2023,
    filed: str = "20230731",
    accepted: str = "192115",
    title: str | None = None,
    cites: str | None = None,
    balance: str | None = None,
    joint: bool = False,
) -> bytes:
    """The real filing, changed where asked: accession, trade year, filing day, acceptance time, the common stock
    rows' title, made a 4/A citing ``cites``, the sale's balance, a second reporting owner."""
    data = TSLA.replace(ORIGINAL.encode(), accession.encode())
    data = data.replace(b"20230731192115", f"{filed}{accepted}".encode()).replace(b"20230731", filed.encode())
    data = data.replace(b"2023-07-27", f"{year}-07-27".encode())
    if title is not None:
        data = re.sub(
            rb"(<nonDerivativeTransaction>\s*<securityTitle>\s*<value>)Common Stock(</value>)",
            lambda m: m.group(1) + title.encode() + m.group(2),
            data,
        )
    if cites is not None:
        data = re.sub(rb"(TYPE:\s*)4\n", rb"\g<1>4/A\n", data)
        data = data.replace(b"<documentType>4</documentType>", b"<documentType>4/A</documentType>")
        data = data.replace(
            b"</periodOfReport>",
            f"</periodOfReport><dateOfOriginalSubmission>{cites}</dateOfOriginalSubmission>".encode(),
        )
    if balance is not None:
        data = data.replace(b"<value>66834.25</value>", f"<value>{balance}</value>".encode())
    if joint:
        start, end = (
            data.index(b"<reportingOwner>"),
            data.index(b"</reportingOwner>") + len(b"</reportingOwner>"),
        )
        other = data[start:end].replace(BAGLINO.encode(), PARTNER.encode())
        other = other.replace(b"Baglino Andrew D", b"Baglino Family Trust")
        data = data[:end] + other + data[end:]
    return data


def earlier_years() -> list[Filing]:
    return [tsla(f"0001790565-{y % 100}-000001", year=y, filed=f"{y}0731") for y in (2020, 2021, 2022)]


RELATED: dict[str, tuple[str, dict[str, Any]]] = {
    **{
        str(y): (f"0001790565-{y % 100}-000001", {"year": y, "filed": f"{y}0731"}) for y in (2020, 2021, 2022)
    },
    "original": (ORIGINAL, {"title": "Variable Rate Demand Preferred Shares"}),
    "title 4/A": ("0001790565-23-000012", {"filed": "20230814", "accepted": "161502", "cites": "2023-07-31"}),
    "balance 4/A": (
        "0001790565-23-000015",
        {"filed": "20230820", "accepted": "101500", "cites": "2023-07-31", "balance": "66800.25"},
    ),
    "joint": ("0001790565-23-000020", {"filed": "20230918", "accepted": "170000", "joint": True}),
}


def related() -> dict[str, Filing]:
    return {name: tsla(accession, **changes) for name, (accession, changes) in RELATED.items()}


def related_bytes() -> dict[str, bytes]:
    return {name: tsla_bytes(accession, **changes) for name, (accession, changes) in RELATED.items()}


class Worker:
    """The worker's pure steps with its topics compacted: the issuer side's state, the owner side's state, and
    the last value per key of form4.transactions, form4.alerts and form4.holdings."""

    def __init__(self) -> None:
        self.issuer_state = DictState()
        self.owner_state = DictState()
        self.records: dict[str, Any] = {}
        self.alerts: dict[str, Any] = {}
        self.holdings: dict[str, Any] = {}
        self.outputs: list[Outputs] = []

    def filing(self, filing: Filing) -> Outputs:
        out = process_filing(filing, self.issuer_state, RULES)
        self.outputs.append(out)
        self._publish(out.published_records(), out.alerts, out.withdrawn)
        for item in [*out.retract, *out.holdings]:  # the holdings agent: retractions first, per owner
            if isinstance(item, HoldingRetraction):
                if (updated := forget_previous(self.owner_state, item)) is not None:
                    self.holdings[updated.key.model_dump_json()] = updated.model_dump(mode="json")
                if (gone := retract_line(self.owner_state, item)) is not None:
                    self.holdings.pop(gone.key.model_dump_json(), None)
            elif (new := update_line(self.owner_state, f"o|{item.key.owner_cik}", item)) is not None:
                self.holdings[new.key.model_dump_json()] = new.model_dump(mode="json")
        return out

    def seed(self, seed: HistorySeed) -> None:
        out = process_seed(seed, self.issuer_state, RULES)
        self._publish(out.revision.records, out.revision.alerts, out.revision.withdrawn)

    def _publish(self, records: list[Any], alerts: list[Any], withdrawn: list[str]) -> None:
        for record in records:
            self.records[record.txn_id] = record.model_dump(mode="json")
        for alert in alerts:
            self.alerts[alert.alert_id] = alert.model_dump(mode="json", exclude={"revision", "is_revision"})
        for alert_id in withdrawn:
            self.alerts.pop(alert_id, None)

    def final(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "alerts": self.alerts,
            "holdings": self.holdings,
            "api_owner_lines": {o: _by_key(lines(self.owner_state, f"o|{o}")) for o in (BAGLINO, PARTNER)},
            "api_issuer_lines": _by_key(lines(self.issuer_state, f"i|{ISSUER}")),
            "api_flow": flow_report(self.issuer_state, ISSUER, date(2023, 12, 31)),
        }


def _by_key(found: list[dict[str, Any]]) -> dict[str, Any]:
    return {str(sorted(line["key"].items())): line for line in found}


def run(order: list[str], filings: dict[str, Filing]) -> Worker:
    worker = Worker()
    for name in order:
        worker.filing(filings[name])
    return worker


def baglino_sale(worker: Worker, accession: str) -> dict[str, Any]:
    (sale,) = (
        r
        for r in worker.records.values()
        if r["accession_number"] == accession and r["transaction_code"] == "S"
    )
    return sale


# ------------------------------------------------------------------------------------- revised when history comes


def test_the_prior_years_arriving_after_a_trade_revise_its_record_and_alert() -> None:
    """The issue's case: the newest filing first, its three prior years after it (a desk goes live, then
    backfills). The 2023 sale ends routine with the history the years give, and its alert is revised to say so."""
    filings = related()
    late = run(["original", "2020", "2021", "2022"], filings)
    ahead = run(["2020", "2021", "2022", "original"], filings)
    sale = baglino_sale(late, ORIGINAL)
    assert sale["trader_pattern"] == "routine"
    assert sale["history_known_since"] == "2020-07-27"
    assert sale == baglino_sale(ahead, ORIGINAL)
    assert late.alerts == ahead.alerts
    (event,) = [a for a in late.alerts.values() if ORIGINAL in a["accession_numbers"]]
    assert event["trader_pattern"] == "routine" and event["severity"] == "info"
    assert "a routine trader" in event["message"]
    # Published as revisions by the filing that completed the history, under the same ids.
    last = late.outputs[-1]
    assert sale["txn_id"] in {r.txn_id for r in last.revised}
    (revised,) = [a for a in last.alerts if a.alert_id == event["alert_id"]]
    assert revised.is_revision and revised.revision >= 1
    assert late.outputs[0].alerts[0].alert_id == event["alert_id"]  # first said insufficient, same id
    assert late.outputs[0].records[1].trader_pattern == "insufficient"


def test_a_seed_merged_after_the_live_filing_revises_it() -> None:
    """History seeded from the SEC's data sets after the live filing was published: the record and its alert
    are revised, exactly as if the seed had come first."""
    filing = related()["original"]
    seed = HistorySeed.build(
        ISSUER,
        [
            SeededHistory(
                owner_cik=BAGLINO,
                since=date(2020, 7, 27),
                sell={f"{y}-07": (date(y, 7, 27), date(y, 7, 27)) for y in (2020, 2021, 2022)},
            )
        ],
    )
    live_first = Worker()
    live_first.filing(filing)
    live_first.seed(seed)
    seed_first = Worker()
    seed_first.seed(seed)
    seed_first.filing(filing)
    assert baglino_sale(live_first, ORIGINAL)["trader_pattern"] == "routine"
    assert live_first.final() == seed_first.final()
    # The same seed again changes nothing and republishes nothing.
    again = process_seed(seed, live_first.issuer_state, RULES)
    assert again.duplicate and again.revision.records == [] and again.revision.alerts == []


def test_live_order_reads_no_published_filing_again() -> None:
    """In live order, a new trade changes only the look-back of later years: no earlier record is re-read."""
    worker = run(["2020", "2021", "2022", "original", "joint"], related())
    assert all(out.revised == [] for out in worker.outputs)


def test_one_busy_insider_keeps_the_index_bounded_and_revisions_bounded() -> None:
    """400 filings of one insider in one year, then their prior years: each index key stays within its bound, and
    the filing that changes the look-back re-reads at most the indexed filings."""
    worker = Worker()
    for n in range(400):
        worker.filing(tsla(f"0001790565-23-{100 + n:06d}", filed="20230731"))
    entries = worker.issuer_state.get(published_key(ISSUER, BAGLINO, 2023))
    assert len(entries) == MAX_INDEXED_PER_YEAR
    revised = [len(worker.filing(f).revised) for f in earlier_years()]
    assert max(revised) <= MAX_INDEXED_PER_YEAR and revised[-1] > 0
    history = History.from_json(worker.issuer_state.get(history_key(ISSUER, BAGLINO)))
    assert history.newest_year == 2023


# ------------------------------------------------------------------------------------------- any arrival order


def test_every_field_converges_in_any_arrival_order() -> None:
    """The related filings in chronological order, reversed, and 40 random orders: the same compacted topics
    (records, alerts, holdings) and the same API answers."""
    filings = related()
    names = list(filings)
    orders = [names, names[::-1], *(random.Random(seed).sample(names, len(names)) for seed in range(40))]
    reference = run(names, filings).final()
    assert reference["records"] and reference["alerts"] and reference["holdings"]
    for order in orders:
        final = run(order, filings).final()
        for part, want in reference.items():
            assert final[part] == want, f"{part} differs for order {order}"


def test_the_issues_three_cases_converge() -> None:
    """A 4/A before its original: its open-market records carry a trader_pattern; history_known_since is the same
    in both orders; a 4/A that corrects a balance leaves the same previous balance in both orders."""
    filings = related()
    for order in (["original", "title 4/A"], ["title 4/A", "original"]):
        worker = run(order, filings)
        amended = baglino_sale(worker, "0001790565-23-000012")
        assert amended["trader_pattern"] == "insufficient" and amended["history_known_since"] == "2023-07-27"
    one = run(["original", "title 4/A", "balance 4/A"], filings)
    other = run(["balance 4/A", "title 4/A", "original"], filings)
    assert one.final()["holdings"] == other.final()["holdings"]
    common = [h for h in one.holdings.values() if h["key"]["security_title"] == "COMMON STOCK"]
    assert {h["shares_owned"] for h in common} >= {str(Decimal("66800.25"))}


@pytest.mark.parametrize("seed", range(3))
def test_with_a_seed_among_them_any_order_ends_the_same(seed: int) -> None:
    filings = related()
    history = SeededHistory(
        owner_cik=BAGLINO, since=date(2019, 7, 1), sell={"2019-07": (date(2019, 7, 1), date(2019, 7, 1))}
    )
    items: list[Any] = [*filings.values(), HistorySeed.build(ISSUER, [history])]
    finals = []
    for order in (items, random.Random(seed).sample(items, len(items))):
        worker = Worker()
        for item in order:
            worker.seed(item) if isinstance(item, HistorySeed) else worker.filing(item)
        finals.append(worker.final())
    assert finals[0] == finals[1]


# ------------------------------------------------------------------------------------------- the real worker


def compacted(messages: list[Any], drop: frozenset[str] = frozenset()) -> dict[str, Any]:
    """What a compacted topic keeps: the last value per key, a tombstone deleting it."""
    out: dict[str, Any] = {}
    for m in messages:
        if m.value is None:
            out.pop(m.key.decode(), None)
        else:
            out[m.key.decode()] = {k: v for k, v in json.loads(m.value).items() if k not in drop}
    return out


@pytest.mark.broker
@pytest.mark.slow
async def test_two_workers_fed_opposite_orders_end_with_the_same_topics_and_api(
    broker: Any, workers: Any
) -> None:
    """The related filings in chronological order to one worker and reversed to another (each on its own
    topics), as production runs them: the compacted records, alerts and holdings topics and the holdings API of
    both owners end the same, and equal the pure steps' result."""
    from tests.broker import consume_all, produce, unique_name, wait_for

    docs = related_bytes()
    names = list(docs)
    reference = run(names, related()).final()
    runs = {}
    for label, order in (("chrono", names), ("reversed", names[::-1])):
        prefix = unique_name(f"order-{label}")
        worker = workers(prefix)
        await worker.ready()
        await produce(
            broker.bootstrap, f"{prefix}.raw", [docs[n] for n in order], keys=[ISSUER.encode()] * len(order)
        )
        await consume_all(broker.bootstrap, f"{prefix}.filings", len(order), timeout=120)

        async def api_settled(worker: Any = worker) -> bool:
            served = {o: worker.get(f"/holdings/owner/{o}")[1] or [] for o in (BAGLINO, PARTNER)}
            return {o: _by_key(lines) for o, lines in served.items()} == reference["api_owner_lines"]

        await wait_for(api_settled, timeout=60, interval=0.5, message=worker.log_tail)
        topics = {}
        for name, drop in (("transactions", frozenset()), ("alerts", frozenset({"revision", "is_revision"}))):
            messages = await consume_all(broker.bootstrap, f"{prefix}.{name}", timeout=30, quiet=2.0)
            topics[name] = compacted(messages, drop)
        holdings = await consume_all(broker.bootstrap, f"{prefix}.holdings", timeout=30, quiet=2.0)
        topics["holdings"] = compacted(holdings)
        runs[label] = topics
    assert runs["chrono"] == runs["reversed"]
    assert runs["chrono"]["transactions"] == reference["records"]
    assert runs["chrono"]["alerts"] == reference["alerts"]
    assert {json.dumps(v["key"], sort_keys=True) for v in runs["chrono"]["holdings"].values()} == {
        json.dumps(v["key"], sort_keys=True) for v in reference["holdings"].values()
    }
