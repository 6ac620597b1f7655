"""alert_step on real filings: one alert per event with revisions, routine/opportunistic history, first purchase over
known history, discretionary flow windows, idempotent redelivery and bounded state (all through the state port)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from streams.alerts import RulesConfig, alert_step, event_alert_id, flow_report, load_rules
from streams.alerts.aggregate import group_key, owner_ciks
from streams.alerts.events import HORIZON_DAYS, MAX_TXN_IDS
from streams.alerts.flow import WINDOWS
from streams.alerts.history import HISTORY_YEARS, History, classify, gap_years, is_first_purchase
from streams.alerts.rules import RulesError
from streams.alerts.step import CLUSTER_MAX_BYTES, read_cluster
from streams.derive.enrich import row_id
from streams.models import Alert, Issuer, Role, TransactionRecord
from streams.state import MAX_VALUE_BYTES, DictState, Staged, unpack
from tests.test_alerts import EXPECTED_PER_FILING, buy, real, record, rules

DEFAULTS = RulesConfig()
ACME = Issuer(cik="0000000042", name="Acme Corp", trading_symbol="ACME")
D = date(2025, 6, 2)


def moved(
    records: list[TransactionRecord],
    accession: str,
    *,
    day: date | None = None,
    filed: date | None = None,
    issuer: Issuer | None = None,
    rows: slice = slice(None),
) -> list[TransactionRecord]:
    """Copies of a real filing's rows as another filing: new accession and txn_ids, optionally another trade date,
    filing date and issuer (the owners, codes, shares, prices and plan flags stay as filed)."""
    out = []
    for r in records[rows]:
        update: dict[str, object] = {
            "accession_number": accession,
            "txn_id": row_id(accession, r.table, "transaction", r.row_index),
        }
        if day is not None:
            update["transaction_date"] = day
        if filed is not None:
            update["filed_date"] = filed
        if issuer is not None:
            update["issuer"] = issuer
        out.append(r.model_copy(update=update))
    return out


def run(
    filings: list[list[TransactionRecord]], state: DictState | None = None, config: RulesConfig = DEFAULTS
):
    state = state if state is not None else DictState()
    alerts: list[Alert] = []
    for records in filings:
        _, more, _ = alert_step(records, state, config)
        alerts += more
    return state, alerts


def assert_bounded(state: DictState) -> None:
    for k, v in state.data.items():
        assert len(json.dumps(v)) <= MAX_VALUE_BYTES, k
        assert k.split("|")[0] in {"hist", "event", "flow", "cluster"}, k


# ------------------------------------------------------------------------------------------------ the demo


def test_demo_samples_raise_one_alert_per_event_and_replay_raises_nothing_new() -> None:
    filings = [real(n) for n in sorted(EXPECTED_PER_FILING)]
    state, alerts = run([f for f in filings if f])
    per_event = Counter(a.alert_id for a in alerts)
    assert max(per_event.values()) == 1
    sales = [a for a in alerts if "executive_sale" in a.rules]
    assert {(a.issuer.trading_symbol, a.owners[0].name) for a in sales} == {
        ("AAPL", "Maestri Luca"),
        ("AAPL", "COOK TIMOTHY D"),
        ("TSLA", "Musk Elon"),
    }
    for alert in sales:  # once, with both rules, at the higher severity
        assert alert.rules == ["executive_sale", "large_disposition"]
        assert alert.rule == "executive_sale" and alert.severity == "high"
        assert alert.revision == 0 and not alert.is_revision
    # Before: the three executive sales were each also a separate large_disposition alert (25 alerts).
    assert (
        Counter(a.rule for a in alerts)
        == {
            "insider_purchase": 11,  # one per buyer and trade day (SQ Botha: 4 days; SCTY Musk: 3 days in 2 filings)
            "large_disposition": 8,  # PLTR Thiel 3 days, DKNG Dodge 2, TSLA Baglino, AAPL Adams, MSFT Hogan
            "executive_sale": 3,
            "late_filing": 1,
        }
    )
    assert "first_purchase" not in {r for a in alerts for r in a.rules}  # no history: no "first" claim
    assert_bounded(state)
    before = json.dumps(state.data, sort_keys=True)
    _, replay = run([f for f in filings if f], state)
    # Nothing new: the events remembered stay quiet; late_filing (memoryless) and the samples' trades older than
    # the event horizon before the newest sample (2025) are republished identical, same id and revision 0.
    assert "late_filing" in [a.rule for a in replay]
    assert all(a in alerts and a.revision == 0 for a in replay)
    assert json.dumps(state.data, sort_keys=True) == before


def test_records_carry_pattern_on_open_market_rows_only() -> None:
    records, _, _ = alert_step(real("b3bf39b410b1.xml"), DictState(), DEFAULTS)  # Cook: S, F and M rows
    assert {r.transaction_code for r in records} == {"S", "F", "M"}
    for r in records:
        if r.transaction_code == "S":
            assert r.trader_pattern == "insufficient" and r.history_known_since == date(2019, 8, 24)
        else:
            assert r.trader_pattern is None and r.history_known_since is None


# ------------------------------------------------------------------------------------------------ events


def test_same_day_sale_split_over_two_filings_is_one_alert_crossing_on_the_sum() -> None:
    rabois = real("5618fb46ea3e.xml")  # AFRM director: 4 tranches on 2024-12-12, $1.11M in all
    first = moved(rabois, "0001820953-24-000101", rows=slice(0, 2))  # $899K
    second = moved(rabois, "0001820953-24-000102", rows=slice(2, 4))  # $211K
    state, alerts = run([first])
    assert alerts == []  # under $1M and 20% of the line (the line fraction is on the rows so far)
    state, alerts = run([second], state)
    (alert,) = alerts
    assert alert.rule == "large_disposition" and alert.revision == 0
    assert alert.dollar_value == Decimal("1109656.80")
    assert alert.accession_numbers == ["0001820953-24-000101", "0001820953-24-000102"]
    assert alert.alert_id == event_alert_id(
        rabois[0].issuer.cik, group_key(owner_ciks(rabois[0])), date(2024, 12, 12), "sell"
    )
    assert alert.message.endswith("reported in 2 filings.")


def test_a_later_filing_revises_the_alert_under_the_same_id() -> None:
    musk = real("71b9ada5bb7b.txt")  # 9 tranches, $843.2M, one day
    state, first = run([moved(musk, "0000899243-22-000001", rows=slice(0, 4))])
    state, second = run([moved(musk, "0000899243-22-000002", rows=slice(4, 9))], state)
    assert len(first) == len(second) == 1
    assert second[0].alert_id == first[0].alert_id
    assert (first[0].revision, first[0].is_revision) == (0, False)
    assert (second[0].revision, second[0].is_revision) == (1, True)
    assert second[0].dollar_value == sum((r.derived.dollar_value or Decimal(0)) for r in musk)
    assert second[0].shares == Decimal(4_400_000) and len(second[0].txn_ids) == 9
    assert second[0].rules == ["executive_sale", "large_disposition"]
    # The same second filing redelivered: nothing new, nothing doubled.
    _, again = run([moved(musk, "0000899243-22-000002", rows=slice(4, 9))], state)
    assert again == []
    state, third = run([moved(musk, "0000899243-22-000003", rows=slice(0, 1))], state)
    assert third[0].revision == 2 and third[0].shares == Decimal(4_400_000) + musk[0].shares


def test_redelivery_before_the_state_was_saved_repeats_the_same_alert() -> None:
    """A crash after sending but before applying the staged writes: the retry publishes the identical alert."""
    musk = real("71b9ada5bb7b.txt")
    base = DictState()
    run([moved(musk, "0000899243-22-000001", rows=slice(0, 4))], base)
    second = moved(musk, "0000899243-22-000002", rows=slice(4, 9))
    lost = Staged(base.get)
    _, sent, _ = alert_step(second, lost, DEFAULTS)  # writes never applied
    retry = Staged(base.get)
    _, resent, _ = alert_step(second, retry, DEFAULTS)
    assert resent == sent and resent[0].revision == 1
    retry.apply(base)
    assert alert_step(second, base, DEFAULTS)[1] == []


def test_amendments_add_to_no_event_and_other_days_are_other_events() -> None:
    sale = [record(shares="50000", amendment=True)]  # a $5M CFO sale restated by a 4/A
    assert run([sale])[1] == []
    days = [record(shares="20000", row=0), record(shares="20000", row=1, day=date(2024, 3, 12))]
    _, alerts = run([days])
    assert sorted(a.window_start for a in alerts) == [date(2024, 3, 11), date(2024, 3, 12)]  # type: ignore[type-var]
    assert len({a.alert_id for a in alerts}) == 2


def test_joint_filers_are_one_insider_and_one_event() -> None:
    hoffman = real("802ddfb552bb.xml")  # LNKD, two owners
    _, alerts = run([hoffman])
    (alert,) = alerts
    assert alert.dollar_value == Decimal("8056534.2588") and len(alert.owners) == 2


def test_event_state_stays_bounded_with_thousands_of_tranches() -> None:
    state = DictState()
    for n in range(300):  # 300 filings of 10 tranches each, one insider, one day
        rows = [record(shares="10", accession=f"0000000001-24-{n:06d}", row=i) for i in range(10)]
        _, alerts, _ = alert_step(rows, state, DEFAULTS)
    assert alerts[0].revision >= 1
    assert len(alerts[0].txn_ids) == MAX_TXN_IDS
    assert alerts[0].shares == Decimal(30_000)  # every tranche counted, however many ids are listed
    assert_bounded(state)


def test_cluster_window_lives_under_its_key_and_replays_quietly() -> None:
    filings = [buy(1, D), buy(2, D + timedelta(days=2)), buy(3, D + timedelta(days=4))]
    state, alerts = run(filings)
    clusters = [a for a in alerts if a.rule == "cluster_buy"]
    assert len(clusters) == 1 and len(clusters[0].owners) == 3
    assert len(read_cluster(state.data[f"cluster|{filings[0][0].issuer.cik}"])["purchases"]) == 3
    _, again = run(filings, state)
    assert again == []
    state, _ = run([buy(n, D + timedelta(days=6)) for n in range(4, 400)])
    assert_bounded(state)


def test_a_window_over_its_byte_budget_gives_up_its_oldest_purchases_first() -> None:
    """Big joint filings with non-ASCII names push the cluster window past CLUSTER_MAX_BYTES (counted in UTF-8
    bytes of the stored JSON): what stays is the newest purchases, in order, within the budget."""

    def group(n: int) -> list[tuple[str, str, tuple[Role, ...]]]:
        return [
            (f"{n:04d}{i:06d}", f"ŁUKASIEWICZ-MÜLLER ØRSTED {n} {i} " * 3, (Role.DIRECTOR,)) for i in range(8)
        ]

    filings = [buy(n, D, owners=group(n)) for n in range(1, 120)]
    state, _ = run(filings)
    text = unpack(state.data[f"cluster|{ACME.cik}"])
    kept = [p["accession_number"] for p in json.loads(text)["purchases"]]
    every = [f[0].accession_number for f in filings]
    size = len(text.encode())
    assert 0 <= CLUSTER_MAX_BYTES - size < size / len(kept)  # within the budget, by less than one entry
    assert kept == every[-len(kept) :] and len(kept) < len(every)  # the newest, in order
    before = state.data[f"cluster|{ACME.cik}"]
    _, again = run(filings[-1:], state)
    assert again == [] and state.data[f"cluster|{ACME.cik}"] == before  # a replay changes nothing


def test_old_events_leave_the_state() -> None:
    state = DictState()
    hogan = real("d1d6fca1cd55.xml")
    for i in range(600):  # a sale every day for 600 days, each filed two days later
        day = D + timedelta(days=i)
        filing = moved(hogan, f"0000000042-25-{i:06d}", issuer=ACME, day=day, filed=day + timedelta(days=2))
        alert_step(filing, state, DEFAULTS)
    events = sorted(k for k in state.data if k.startswith("event|") and k.count("|") == 4)
    index = state.data[f"event|{ACME.cik}"]
    assert len(events) == len(index["events"]) == HORIZON_DAYS - 1  # trade dates from newest filed - 400 days
    assert events[0].split("|")[3] == (D + timedelta(days=601 - HORIZON_DAYS)).isoformat()
    assert_bounded(state)
    # A trade older than the horizon alerts on its own rows, leaves nothing behind, and repeats identically.
    old = moved(hogan, "0000000042-25-999999", issuer=ACME, day=D, filed=D + timedelta(days=601))
    before = dict(state.data)
    first, again = alert_step(old, state, DEFAULTS)[1], alert_step(old, state, DEFAULTS)[1]
    assert first == again and first[0].revision == 0
    assert {k for k in state.data if k.startswith("event|")} == {k for k in before if k.startswith("event|")}
    # Another filing of the same old trade: its own alert, which does not replace the first on the topic.
    other = moved(hogan, "0000000042-25-999998", issuer=ACME, day=D, filed=D + timedelta(days=602))
    second = alert_step(other, state, DEFAULTS)[1]
    assert len(second) == 1 and second[0].revision == 0
    assert second[0].alert_id != first[0].alert_id


# ------------------------------------------------------------------------------------------------ history


def hogan_years(months: list[date]) -> list[list[TransactionRecord]]:
    """MSFT officer Hogan's real 2024-03-11 sale, moved to each of ``months`` as separate earlier filings."""
    hogan = real("d1d6fca1cd55.xml")
    return [moved(hogan, f"0001209191-{d:%y}-{i:06d}", day=d) for i, d in enumerate(months)]


def test_routine_seller_is_told_from_an_opportunistic_one() -> None:
    hogan = real("d1d6fca1cd55.xml")
    routine_state, _ = run(hogan_years([date(2021, 3, 5), date(2022, 3, 14), date(2023, 3, 20)]))
    records, alerts, _ = alert_step(hogan, routine_state, DEFAULTS)
    assert records[0].trader_pattern == "routine"
    assert records[0].history_known_since == date(2021, 3, 5)
    (alert,) = alerts
    assert alert.severity == "info"  # default: routine trades at the lowest severity
    assert alert.trader_pattern == "routine"
    assert "a routine trader (same month in each of the last 3 years)" in alert.message

    opportunistic_state, _ = run(hogan_years([date(2021, 1, 5), date(2022, 5, 14), date(2023, 9, 20)]))
    records, alerts, _ = alert_step(hogan, opportunistic_state, DEFAULTS)
    assert records[0].trader_pattern == "opportunistic"
    assert alerts[0].severity == "medium" and "an opportunistic trade" in alerts[0].message

    short_state, _ = run(hogan_years([date(2022, 3, 14), date(2023, 3, 20)]))
    records, alerts, _ = alert_step(hogan, short_state, DEFAULTS)
    assert records[0].trader_pattern == "insufficient"
    assert records[0].history_gap_years == [] and alerts[0].history_gap_years == []
    assert "history since 2022-03-14 too short to classify" in alerts[0].message


def test_a_year_without_a_trade_is_named_not_called_too_short() -> None:
    """Hogan sold in March 2020, 2021 and 2023, not in 2022: his 2024 sale is unclassified because 2022 has no
    sale, not because four years of history are too short; the record and the alert say which year."""
    hogan = real("d1d6fca1cd55.xml")
    state, _ = run(hogan_years([date(2020, 3, 5), date(2021, 3, 5), date(2023, 3, 20)]))
    records, alerts, _ = alert_step(hogan, state, DEFAULTS)
    assert records[0].trader_pattern == "insufficient"
    # The look-back of a 2024 trade starts on 1 January 2021; the 2020 sale before it changes no classification.
    assert records[0].history_known_since == date(2021, 1, 1)
    assert records[0].history_gap_years == [2022]
    (alert,) = alerts
    assert (alert.trader_pattern, alert.history_gap_years) == ("insufficient", [2022])
    assert (
        "no open-market sale seen in 2022 (history since 2021-01-01), so neither routine nor opportunistic"
        in alert.message
    )
    assert "too short" not in alert.message


def test_gap_years_only_where_the_history_covers_the_year() -> None:
    history = History()
    for day in (date(2021, 6, 1), date(2023, 3, 1)):
        history.add(day, "sell")
    # Trade in 2024: 2021 has a sale, 2022 none (the history starts in 2021: it covers 2022 whole), 2023 one.
    assert classify(history, date(2024, 5, 1), "sell") == "insufficient"
    assert gap_years(history, date(2024, 5, 1), "sell") == [2022]
    # Trade in 2025: 2022 still a gap; 2024 too (no sale seen that year).
    assert gap_years(history, date(2025, 5, 1), "sell") == [2022, 2024]
    # Purchases: none at all in a history since 2021: 2022 and 2023 are gaps, 2021 (partly seen) is not.
    assert gap_years(history, date(2024, 5, 1), "buy") == [2022, 2023]
    late = History()
    late.add(date(2022, 6, 1), "sell")
    late.add(date(2023, 3, 1), "sell")
    assert gap_years(late, date(2024, 5, 1), "sell") == []  # 2021 was before the history: too short
    assert gap_years(History(), date(2024, 5, 1), "sell") == []
    # An old trade classified after newer ones: the years the history no longer keeps are not called gaps.
    pruned = History()
    for year in (2012, 2013, 2014, 2017, 2023):
        pruned.add(date(year, 3, 1), "sell")
    pruned.prune()  # keeps 2017-2023
    assert gap_years(pruned, date(2016, 5, 1), "sell") == []
    assert gap_years(pruned, date(2020, 5, 1), "sell") == [2018, 2019]  # within what is kept: named


@pytest.mark.parametrize(("policy", "severity"), [("keep", "medium"), ("lowest", "info"), ("suppress", None)])
def test_routine_policy(policy: str, severity: str | None) -> None:
    state, _ = run(hogan_years([date(2021, 3, 5), date(2022, 3, 14), date(2023, 3, 20)]))
    _, alerts, _ = alert_step(real("d1d6fca1cd55.xml"), state, rules(trader_pattern={"routine": policy}))
    assert [a.severity for a in alerts] == ([severity] if severity else [])


def test_purchases_do_not_make_a_seller_routine() -> None:
    history = History()
    for year in (2022, 2023, 2024):  # D is in 2025
        history.add(date(year, 3, 1), "buy")
    assert classify(history, D, "buy") == "routine"
    assert classify(history, D, "sell") == "insufficient"


def test_history_keeps_four_years_and_the_earliest_date() -> None:
    state = DictState()
    hogan = real("d1d6fca1cd55.xml")
    for i in range(240):  # twenty years of monthly sales
        day = date(2005 + i // 12, i % 12 + 1, 10)
        alert_step(moved(hogan, f"0001209191-{i:02d}-{i:06d}", day=day), state, DEFAULTS)
    (value,) = [v for k, v in state.data.items() if k.startswith("hist|")]
    assert len(value["sell"]) == HISTORY_YEARS * 12 and value["since"] == "2005-01-10"
    assert_bounded(state)


def test_first_purchase_needs_known_history() -> None:
    first, second, sale = real("18827c13b358.xml"), real("bb7c217dfdef.xml"), real("71b9ada5bb7b.txt")
    # TSLA Musk: bought 2019-05-02 and 2020-02-14. A fresh start knows nothing, so neither is a "first purchase"
    # (the old rule called the 2019 one first), and the second comes 9 months into the known history.
    _, alerts = run([first, second], config=rules(first_purchase={"min_history_years": 1}))
    assert [a.rules for a in alerts] == [["insider_purchase"], ["insider_purchase"]]
    # The 2020 buy moved to 2025, after the 2022 sale: no purchase in the 2 years before, history since 2019.
    later = moved(second, "0001494730-25-000001", day=date(2025, 2, 14))
    _, alerts = run([first, sale, later])
    assert alerts[-1].rules == ["insider_purchase", "first_purchase"]
    assert "the first open-market purchase in at least 2 years of known history" in alerts[-1].message
    _, alerts = run([first, sale, later], config=rules(first_purchase={"min_history_years": 3}))
    assert alerts[-1].rules == ["insider_purchase", "first_purchase"]
    one_year_on = moved(second, "0001494730-20-000002", day=date(2020, 2, 14) + timedelta(days=366))
    _, alerts = run([first, second, one_year_on])
    assert alerts[-1].rules == ["insider_purchase"]


def test_first_purchase_window_edges() -> None:
    history = History()
    history.add(date(2020, 1, 15), "sell")
    history.add(date(2021, 6, 1), "buy")
    assert not is_first_purchase(history, date(2023, 6, 1), 2)  # the buy is exactly 2 years before
    assert is_first_purchase(history, date(2023, 6, 2), 2)
    assert not is_first_purchase(history, date(2022, 1, 14), 2)  # history shorter than 2 years
    assert is_first_purchase(history, date(2021, 6, 1), 1)  # the same day's own buy is not "before"


# ------------------------------------------------------------------------------------------------ flow


def test_flow_windows_equal_a_hand_computation() -> None:
    hogan = real("d1d6fca1cd55.xml")  # S $8,869,076.31868, not under a plan
    maestri = real("63f718a06c6b.xml")  # S $28,454,649.59 under a plan: not discretionary
    ntra = real("cf75d5f8fd8b.xml")  # P $5,005,411.1344 (3 rows), plan not stated
    musk = real("18827c13b358.xml")  # P $24,999,840.0
    end = date(2025, 6, 30)
    filings = [
        moved(hogan, "0000000042-25-000001", issuer=ACME, day=end - timedelta(days=2), filed=end),
        moved(maestri, "0000000042-25-000002", issuer=ACME, filed=end - timedelta(days=10)),
        moved(ntra, "0000000042-25-000003", issuer=ACME, filed=end - timedelta(days=29)),  # in the 30 days
        moved(musk, "0000000042-25-000004", issuer=ACME, filed=end - timedelta(days=30)),  # 31st day back
        moved(hogan, "0000000042-25-000005", issuer=ACME, filed=end - timedelta(days=200)),
        moved(
            hogan, "0000000042-25-000006", issuer=ACME, filed=end - timedelta(days=365)
        ),  # out of every window
        moved(ntra, "0000000042-25-000007", issuer=ACME, filed=end + timedelta(days=1)),  # after the end
    ]
    state, _ = run(filings)
    report = flow_report(state, ACME.cik, end)
    assert report["issuer_cik"] == ACME.cik and report["end"] == "2025-06-30"
    assert [w["days"] for w in report["windows"]] == list(WINDOWS)
    by_days = {w["days"]: w for w in report["windows"]}
    assert by_days[30] == {
        "days": 30,
        "purchases_usd": "5005411.1344",
        "sales_usd": "8869076.31868",
        "net_usd": "-3863665.18428",
        "buyers": 1,
        "sellers": 1,
        "net_insiders": 0,
    }
    assert by_days[90]["purchases_usd"] == "30005251.1344"  # + Musk
    assert (by_days[90]["buyers"], by_days[90]["sellers"]) == (2, 1)
    assert by_days[180] == {**by_days[90], "days": 180}
    assert by_days[365]["sales_usd"] == "17738152.63736"  # Hogan twice (the same person counted once)
    assert (by_days[365]["sellers"], by_days[365]["net_insiders"]) == (1, 1)
    # Redelivered filings change nothing.
    run(filings, state)
    assert flow_report(state, ACME.cik, end) == report
    assert_bounded(state)


def test_flow_turn_alert_when_enabled() -> None:
    ntra, musk = real("cf75d5f8fd8b.xml"), real("18827c13b358.xml")
    config = rules(flow_turn={"enabled": True, "min_net_usd": 20_000_000, "min_net_insiders": 2})
    state, alerts = run([moved(ntra, "0000000042-25-000003", issuer=ACME, filed=D)], config=config)
    assert [a.rule for a in alerts] == ["insider_purchase"]  # $5M, one buyer: not yet
    state, alerts = run(
        [moved(musk, "0000000042-25-000004", issuer=ACME, filed=D + timedelta(days=5))], state, config
    )
    turn = [a for a in alerts if a.rule == "flow_turn"]
    assert len(turn) == 1 and turn[0].severity == "low"
    assert turn[0].dollar_value == Decimal("30005251.1344")
    assert "2 buyers and 0 sellers in the 90 days of filings to 2025-06-07" in turn[0].message
    _, alerts = run(
        [moved(musk, "0000000042-25-000005", issuer=ACME, filed=D + timedelta(days=6))], state, config
    )
    assert "flow_turn" not in [a.rule for a in alerts]  # already positive: no new turn
    assert "flow_turn" not in [
        a.rule for a in run([moved(ntra, "x", issuer=ACME, filed=D)])[1]
    ]  # off by default


def test_flow_index_keeps_a_year_of_buckets() -> None:
    state = DictState()
    hogan = real("d1d6fca1cd55.xml")
    for i in range(800):
        alert_step(
            moved(hogan, f"0000000042-25-{i:06d}", issuer=ACME, filed=D + timedelta(days=i)), state, DEFAULTS
        )
    buckets = [k for k in state.data if k.startswith("flow|") and k.count("|") == 2]
    assert len(buckets) == 365 and len(state.data[f"flow|{ACME.cik}"]["days"]) == 365
    assert_bounded(state)


# ------------------------------------------------------------------------------------------------ rules


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[flow_turn]\nwindow_days = 60\n", "flow_turn.window_days"),
        ("[first_purchase]\nmin_history_years = 4\n", "first_purchase.min_history_years"),
        ('[trader_pattern]\nroutine = "hide"\n', "trader_pattern.routine"),
        ("[trader_pattern]\nopportunistic = 1\n", "trader_pattern.opportunistic: unknown key"),
    ],
)
def test_new_options_are_validated(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(RulesError, match=fragment):
        load_rules(path)
