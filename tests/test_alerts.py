"""Alert rules on real filings (samples/, tests/fixtures/) and on hand-built records for the edges."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from streams.alerts import (
    ClusterState,
    FirstPurchaseState,
    RulesConfig,
    RulesError,
    alert_id,
    cluster_step,
    evaluate_filing,
    first_purchase_step,
    load_rules,
)
from streams.alerts.text import format_money, format_percent, format_shares, issuer_label, plan_phrase
from streams.models import (
    Alert,
    Category,
    Filing,
    Issuer,
    OwnerRef,
    PriceStatus,
    Role,
    TransactionDerived,
    TransactionRecord,
)
from streams.parse import parse_filing

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
FIXTURES = ROOT / "tests" / "fixtures"
DEFAULTS = RulesConfig()

# Bare XML documents cannot name their accession; the pipeline gets it from the feed (samples/README.md).
ACCESSIONS = {
    "0489944b8445.xml": "0000899243-20-034355",
    "04d337729984.xml": "0001062993-23-020702",
    "1802ceb9915e.xml": "0001181431-12-066021",
    "18827c13b358.xml": "0001494730-19-000001",
    "740a690e7b77.xml": "0001209191-21-051298",
    "9705c5b72606.xml": "0001321655-24-000183",
    "a87531161a19.xml": "0000950170-24-012830",
    "bb7c217dfdef.xml": "0001494730-20-000001",
    "cf75d5f8fd8b.xml": "0001062993-22-008150",
    "ea115ebcdc32.xml": "0001288257-12-000028",
}


# ------------------------------------------------------------------------------------------------ helpers


def load(name: str) -> Filing:
    """A real filing from samples/ or tests/fixtures/*/."""
    path = SAMPLES / name
    if not path.exists():
        path = next(FIXTURES.glob(f"*/{name}"))
    return parse_filing(path.read_bytes(), accession_number=ACCESSIONS.get(name))


def records_from_filing(filing: Filing) -> list[TransactionRecord]:
    """One TransactionRecord per transaction row, with the filing's context copied on (test-only helper)."""
    owners = [OwnerRef(**o.model_dump(include=set(OwnerRef.model_fields))) for o in filing.reporting_owners]
    roles = sorted({r for o in owners for r in o.roles}, key=list(Role).index)
    joint = sorted(o.cik for o in owners) if len(owners) > 1 else []
    return [
        TransactionRecord(
            **t.model_dump(),
            accession_number=filing.accession_number,
            document_type=filing.document_type,
            is_amendment=filing.derived.is_amendment,
            period_of_report=filing.period_of_report,
            acceptance_datetime=filing.acceptance_datetime,
            filed_date=filing.filed_date,
            issuer=filing.issuer,
            reporting_owners=owners,
            owner_roles=roles,
            joint_group=joint,
            aff10b5one=filing.aff10b5one,
        )
        for t in filing.transactions
    ]


def real(name: str) -> list[TransactionRecord]:
    return records_from_filing(load(name))


ACME = Issuer(cik="0000000042", name="Acme Corp", trading_symbol="ACME")
CATEGORIES = {
    "S": Category.OPEN_MARKET_SALE,
    "P": Category.OPEN_MARKET_PURCHASE,
    "F": Category.TAX_WITHHOLDING,
    "A": Category.GRANT_AWARD,
    "M": Category.OPTION_EXERCISE,
}
Owner = tuple[str, str, tuple[Role, ...]]
JANE: Owner = ("0000000101", "DOE JANE", (Role.CFO,))


def record(
    *,
    code: str = "S",
    shares: str = "1000",
    price: str | None = "100",
    following: str | None = "100000",
    owners: list[Owner] | None = None,
    accession: str = "0000000001-24-000001",
    row: int = 0,
    day: date = date(2024, 3, 11),
    table: str = "non_derivative",
    amendment: bool = False,
    plan: bool | None = None,
    lag: int | None = 1,
    value_flags: tuple[str, ...] = (),
    direct: str = "D",
    nature: str | None = None,
    title: str = "Common Stock",
    issuer: Issuer = ACME,
    document_type: str | None = None,
    timeliness: str | None = None,
    plausible: bool = True,
) -> TransactionRecord:
    """A hand-built record: an S of 1,000 shares at $100 by CFO DOE JANE unless told otherwise."""
    refs = [OwnerRef(cik=c, name=n, roles=list(r)) for c, n, r in (owners or [JANE])]
    n_shares, n_price = Decimal(shares), Decimal(price) if price is not None else None
    doc_type = document_type or ("4/A" if amendment else "4")
    return TransactionRecord(
        table=table,  # type: ignore[arg-type]
        row_index=row,
        security_title=title,
        transaction_form_type="4",
        shares_owned_following=Decimal(following) if following is not None else None,
        direct_indirect=direct,
        nature_of_ownership=nature,
        txn_id=f"{accession}-{table[0]}{row}",
        transaction_date=day,
        transaction_code=code,
        transaction_timeliness=timeliness,
        shares=n_shares,
        price_per_share=n_price,
        acquired_disposed="D" if code in ("S", "F") else "A",
        derived=TransactionDerived(
            price_status=PriceStatus.REPORTED if n_price else PriceStatus.MISSING,
            dollar_value=n_shares * n_price if n_price else None,
            category=CATEGORIES[code],
            is_open_market=code in ("S", "P"),
            tenb51_plan=plan,
            filing_lag_business_days=lag,
            is_late=(lag > 2 if lag is not None else None) if doc_type == "4" else False,
            date_plausible=plausible,
            value_flags=list(value_flags),
        ),
        accession_number=accession,
        document_type=doc_type,
        is_amendment=amendment,
        acceptance_datetime=datetime(2024, 3, 13, 18, 0, tzinfo=UTC),
        filed_date=day + timedelta(days=lag or 0),
        issuer=issuer,
        reporting_owners=refs,
        owner_roles=sorted({r for o in refs for r in o.roles}, key=list(Role).index),
        joint_group=sorted(o.cik for o in refs) if len(refs) > 1 else [],
    )


def rules_of(alerts: list[Alert]) -> list[str]:
    return sorted(a.rule for a in alerts)


def only(alerts: list[Alert], rule: str) -> Alert:
    matching = [a for a in alerts if a.rule == rule]
    assert len(matching) == 1, [a.rule for a in alerts]
    return matching[0]


def rules(**overrides: dict[str, object]) -> RulesConfig:
    return RulesConfig.model_validate(overrides)


# ------------------------------------------------------------------------------------------------ rules file


def test_defaults_are_the_issue_thresholds() -> None:
    assert DEFAULTS.large_disposition.min_value == Decimal(1_000_000)
    assert DEFAULTS.large_disposition.min_fraction == Decimal("0.20")
    assert Role.DIRECTOR in DEFAULTS.large_disposition.roles
    assert Role.TEN_PERCENT_OWNER not in DEFAULTS.large_disposition.roles
    assert DEFAULTS.executive_sale.roles == [Role.CEO, Role.CFO]
    assert DEFAULTS.insider_purchase.min_value == Decimal(100_000)
    assert DEFAULTS.insider_purchase.include_ten_percent_owners is False
    assert (DEFAULTS.cluster_buy.min_insiders, DEFAULTS.cluster_buy.window_days) == (3, 7)
    assert DEFAULTS.late_filing.min_business_days == 3
    assert DEFAULTS.first_purchase.enabled


def test_no_file_means_defaults() -> None:
    assert load_rules(None) == DEFAULTS


def test_example_file_documents_every_default() -> None:
    assert load_rules(ROOT / "rules.example.toml") == DEFAULTS


def test_example_file_spells_out_every_option() -> None:
    import tomllib

    example = tomllib.loads((ROOT / "rules.example.toml").read_text())
    assert set(example) == set(RulesConfig.model_fields)
    for name, field in RulesConfig.model_fields.items():
        assert field.annotation is not None
        assert set(example[name]) == set(field.annotation.model_fields), name  # type: ignore[union-attr]


def test_toml_override_keeps_other_defaults(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text('[large_disposition]\nmin_value = 250000\nmin_fraction = 0.1\nseverity = "high"\n')
    loaded = load_rules(path)
    assert loaded.large_disposition.min_value == Decimal(250_000)
    assert loaded.large_disposition.min_fraction == Decimal("0.1")  # a TOML float, kept exact
    assert loaded.large_disposition.severity == "high"
    assert loaded.executive_sale == DEFAULTS.executive_sale


def test_json_override(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"cluster_buy": {"min_insiders": 2, "window_days": 30}}))
    loaded = load_rules(path)
    assert (loaded.cluster_buy.min_insiders, loaded.cluster_buy.window_days) == (2, 30)


def test_typo_in_a_key_names_file_key_and_allowed_keys(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text("[large_disposition]\nmin_valu = 5\n")
    with pytest.raises(RulesError) as err:
        load_rules(path)
    message = str(err.value)
    assert str(path) in message
    assert "large_disposition.min_valu: unknown key" in message
    assert "min_value" in message
    assert isinstance(err.value, ValueError)


def test_typo_in_a_rule_name_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text("[insider_purchases]\nmin_value = 5\n")
    with pytest.raises(RulesError, match=r"insider_purchases: unknown key \(allowed: cluster_buy"):
        load_rules(path)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[late_filing]\nseverity = "urgent"\n', "late_filing.severity"),
        ("[large_disposition]\nmin_fraction = 2\n", "large_disposition.min_fraction"),
        ('[executive_sale]\nroles = ["king"]\n', "executive_sale.roles.0"),
        ("[cluster_buy\n", "not valid TOML"),
    ],
)
def test_bad_values_are_errors_naming_the_key(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(RulesError, match=str(path)) as err:
        load_rules(path)
    assert fragment in str(err.value)


def test_unknown_extension_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match=r"\.toml or \.json"):
        load_rules(tmp_path / "rules.yaml")
    with pytest.raises(RulesError, match="cannot read"):
        load_rules(tmp_path / "missing.toml")


def test_disabled_rule_emits_nothing(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text("[executive_sale]\nenabled = false\n")
    maestri = real("63f718a06c6b.xml")
    assert rules_of(evaluate_filing(maestri, DEFAULTS)) == ["executive_sale", "large_disposition"]
    assert rules_of(evaluate_filing(maestri, load_rules(path))) == ["large_disposition"]


# ------------------------------------------------------------------------------------------------ real filings

EXPECTED_PER_FILING = {
    "03db0cd95749.txt": [],  # TSVT grants
    "0489944b8445.xml": ["insider_purchase"],  # ABCL Thiel $60M at the IPO
    "04d337729984.xml": ["insider_purchase"],  # SQ Botha, 4 days
    "0de306b08345.txt": ["late_filing"],  # BETR SoftBank, 58 business days
    "1802ceb9915e.xml": ["insider_purchase"],  # SCTY Musk
    "18827c13b358.xml": ["insider_purchase"],  # TSLA Musk
    "2e57f1f60cd6.txt": [],  # Form 3
    "390f203637a3.txt": [],  # ARW A + F
    "5dbf54396c88.txt": [],  # Form 3
    "63f718a06c6b.xml": ["executive_sale", "large_disposition"],  # AAPL Maestri (CFO)
    "71b9ada5bb7b.txt": ["executive_sale", "large_disposition"],  # TSLA Musk (CEO)
    "740a690e7b77.xml": [],  # ADGI joint 10% owners
    "7a623a2c1264.txt": [],  # LRCX 4/A gift
    "7d4eb693d440.txt": [],  # NVDA F $3.2M
    "881ec4fa6083.txt": ["large_disposition"],  # TSLA Baglino
    "8c3021d80e53.txt": [],  # PDEX small S
    "9705c5b72606.xml": ["large_disposition"],  # PLTR Thiel (director)
    "a280bfdc99f7.txt": [],  # WDAY CEO F $2.8M
    "a6ab43128199.txt": ["large_disposition"],  # AAPL Adams (GC)
    "a87531161a19.xml": [],  # GUTS joint 10% owners
    "b3bf39b410b1.xml": ["executive_sale", "large_disposition"],  # AAPL Cook (CEO)
    "b5398ed6a545.txt": ["large_disposition"],  # DKNG Dodge
    "bb7c217dfdef.xml": ["insider_purchase"],  # TSLA Musk
    "c5a57bec1af9.txt": [],  # ISBA $5k
    "cf75d5f8fd8b.xml": ["insider_purchase"],  # NTRA Botha
    "d1d6fca1cd55.xml": ["large_disposition"],  # MSFT Hogan
    "ea115ebcdc32.xml": ["insider_purchase"],  # SCTY Musk $990k
    "f9c7e592fdb8.txt": [],  # AAR $100k S
}


def test_every_sample_is_covered() -> None:
    names = {p.name for p in SAMPLES.iterdir() if p.suffix in (".xml", ".txt")}
    assert names == set(EXPECTED_PER_FILING)


@pytest.mark.parametrize(("name", "expected"), sorted(EXPECTED_PER_FILING.items()))
def test_sample_per_filing_alerts(name: str, expected: list[str]) -> None:
    assert rules_of(evaluate_filing(real(name), DEFAULTS)) == expected


def test_maestri_sentence_and_amounts() -> None:
    alert = only(evaluate_filing(real("63f718a06c6b.xml"), DEFAULTS), "executive_sale")
    assert alert.message == (
        "CFO Maestri Luca sold 243,431 AAPL shares ($28.5M) in open-market sales on 2020-10-09, "
        "69% of the direct holding, under a 10b5-1 plan."
    )
    assert alert.dollar_value == Decimal("28454649.59")
    assert alert.severity == "high"
    assert alert.tenb51_plan is True


def test_hogan_fractional_shares_and_no_plan() -> None:
    alert = only(evaluate_filing(real("d1d6fca1cd55.xml"), DEFAULTS), "large_disposition")
    assert alert.shares == Decimal("21955.333")
    assert "Officer Hogan Kathleen T sold 21,955.333 MSFT shares ($8.9M)" in alert.message
    assert alert.message.endswith("12% of the direct holding, not under a 10b5-1 plan.")
    assert alert.tenb51_plan is False


def test_cook_tax_withholding_rows_do_not_count() -> None:
    records = real("b3bf39b410b1.xml")
    f_rows = [r for r in records if r.transaction_code == "F"]
    s_rows = [r for r in records if r.transaction_code == "S"]
    for alert in evaluate_filing(records, DEFAULTS):
        assert alert.txn_ids == sorted(r.txn_id for r in s_rows)
        assert not set(alert.txn_ids) & {r.txn_id for r in f_rows}
        assert alert.shares == Decimal(265160)
        assert alert.dollar_value == Decimal("54667179.36")  # the S rows only, not the $59.7M withheld


@pytest.mark.parametrize("name", ["7d4eb693d440.txt", "a280bfdc99f7.txt", "390f203637a3.txt"])
def test_large_tax_withholding_never_alerts(name: str) -> None:
    records = real(name)
    assert any(r.transaction_code == "F" and (r.derived.dollar_value or 0) > 100_000 for r in records)
    assert evaluate_filing(records, rules(large_disposition={"min_value": 1, "min_fraction": "0.0001"})) == []


def test_musk_tranches_are_one_alert_with_summed_value() -> None:
    records = real("71b9ada5bb7b.txt")
    alert = only(evaluate_filing(records, DEFAULTS), "executive_sale")
    assert len(alert.txn_ids) == 9
    assert alert.shares == Decimal(4_400_000)
    assert alert.dollar_value == sum((r.derived.dollar_value or Decimal(0)) for r in records)
    assert alert.accession_numbers == ["0000899243-22-035394"]
    assert alert.acceptance_datetime is not None
    assert alert.message.startswith("CEO Musk Elon sold 4,400,000 TSLA shares ($843.2M)")
    assert "of the indirect holding (by Trust), 10b5-1 status not stated." in alert.message


def test_thirty_row_filing_is_one_alert() -> None:
    alerts = evaluate_filing(real("01447cb7c756.xml"), DEFAULTS)  # TSLA, the 30-row cap
    assert rules_of(alerts) == ["executive_sale", "large_disposition"]
    assert all(len(a.txn_ids) == 30 for a in alerts)


def test_sum_of_sub_million_tranches_crosses_the_threshold() -> None:
    records = real("5618fb46ea3e.xml")  # AFRM director Rabois: 4 rows, each under $1M
    assert all((r.derived.dollar_value or 0) < 1_000_000 for r in records)
    alert = only(evaluate_filing(records, DEFAULTS), "large_disposition")
    assert alert.dollar_value == Decimal("1109656.80")
    assert "Director Rabois Keith sold 16,086 AFRM shares ($1.1M)" in alert.message


def test_small_sale_of_a_whole_line_alerts_by_fraction() -> None:
    alert = only(evaluate_filing(real("842e33f8da8c.xml"), DEFAULTS), "large_disposition")
    assert alert.dollar_value == Decimal("192711.2424")
    assert "($193K)" in alert.message
    assert "100% of the direct holding" in alert.message


def test_small_officer_sale_does_not_alert() -> None:
    records = real("f9c7e592fdb8.txt")  # AAR: $100k, 3.8% of the line
    assert evaluate_filing(records, DEFAULTS) == []
    assert rules_of(evaluate_filing(records, rules(large_disposition={"min_value": 100_000}))) == [
        "large_disposition"
    ]


def test_joint_filer_sale_is_one_alert_with_every_owner() -> None:
    alert = only(evaluate_filing(real("802ddfb552bb.xml"), DEFAULTS), "large_disposition")  # LNKD Hoffman
    assert [o.cik for o in alert.owners] == ["0001519339", "0001521103"]
    assert alert.dollar_value == Decimal("8056534.2588")  # not doubled for two owners
    assert alert.message.startswith("Director Hoffman Reid and 1 joint filer sold 78,667 LNKD shares")


@pytest.mark.parametrize("name", ["740a690e7b77.xml", "a87531161a19.xml"])
def test_joint_ten_percent_owner_purchase(name: str) -> None:
    records = real(name)
    assert evaluate_filing(records, DEFAULTS) == []  # 10% owners are not officers or directors
    with_owners = rules(insider_purchase={"include_ten_percent_owners": True})
    alert = only(evaluate_filing(records, with_owners), "insider_purchase")
    purchase = next(r for r in records if r.transaction_code == "P")
    assert alert.dollar_value == purchase.derived.dollar_value  # once, not per owner
    assert len(alert.owners) == len(records[0].reporting_owners) > 1
    assert "joint filers bought" in alert.message


def test_derivative_purchase_is_not_an_open_market_buy() -> None:
    records = real("6aae503a271b.xml")  # Unity: P of $60M convertible notes (derivative table)
    assert records[0].transaction_code == "P"
    assert evaluate_filing(records, rules(insider_purchase={"include_ten_percent_owners": True})) == []
    assert first_purchase_step(None, records, DEFAULTS)[1] == []


def test_late_softbank_filing_is_one_alert() -> None:
    records = real("0de306b08345.txt")
    alert = only(evaluate_filing(records, DEFAULTS), "late_filing")
    assert alert.severity == "low"
    assert alert.txn_ids == sorted(r.txn_id for r in records)
    assert alert.dollar_value is None
    assert alert.message == (
        "10% owner SOFTBANK GROUP CORP. and 7 joint filers reported 2 BETR transactions late: filed "
        "2025-03-07, 58 business days after the 2024-12-09 trade (the deadline is 2 business days)."
    )


def test_amendment_raises_no_sale_or_purchase_alert() -> None:
    assert evaluate_filing(real("7a623a2c1264.txt"), DEFAULTS) == []  # LRCX 4/A, 49 days after the gift
    sale = [record(shares="50000", amendment=True)]  # a $5M CFO sale restated by a 4/A
    assert evaluate_filing(sale, DEFAULTS) == []
    assert first_purchase_step(None, [record(code="P", amendment=True)], DEFAULTS)[1] == []


def test_all_samples_through_every_rule_and_replayed() -> None:
    """The samples as the pipeline sees them: per-filing rules plus per-issuer state, then a full replay."""
    clusters: dict[str, ClusterState] = {}
    firsts: dict[str, FirstPurchaseState] = {}
    names = sorted(EXPECTED_PER_FILING)
    emitted: list[list[Alert]] = []
    for _ in range(2):
        run: list[Alert] = []
        for name in names:
            records = real(name)
            if not records:
                continue
            cik = records[0].issuer.cik
            run += evaluate_filing(records, DEFAULTS)
            clusters[cik], more = cluster_step(clusters.get(cik), records, DEFAULTS)
            run += more
            firsts[cik], more = first_purchase_step(firsts.get(cik), records, DEFAULTS)
            run += more
        emitted.append(run)
    first_run, replay = emitted
    assert Counter(a.rule for a in first_run) == {
        "large_disposition": 8,
        "insider_purchase": 7,
        "first_purchase": 8,  # ABCL, SQ, SCTY (once for two filings), TSLA, ADGI, GUTS, ISBA, NTRA
        "executive_sale": 3,
        "late_filing": 1,
    }
    assert len({a.alert_id for a in first_run}) == len(first_run)
    # Replaying every filing: the stateful rules stay quiet, the per-filing ones repeat the same ids.
    assert {a.alert_id for a in replay} == {
        a.alert_id
        for a in first_run
        if a.rule in {"large_disposition", "insider_purchase", "executive_sale", "late_filing"}
    }


# ------------------------------------------------------------------------------------------------ thresholds


@pytest.mark.parametrize(
    ("shares", "price", "alerts"),
    [("10000", "100", True), ("10000", "99.999999", False), ("9999", "100", False)],
)
def test_sale_value_threshold_at_and_under(shares: str, price: str, alerts: bool) -> None:
    found = evaluate_filing([record(shares=shares, price=price, following="10000000")], DEFAULTS)
    assert ("large_disposition" in rules_of(found)) is alerts
    assert ("executive_sale" in rules_of(found)) is alerts


@pytest.mark.parametrize(("shares", "price", "alerts"), [("1000", "100", True), ("1000", "99.99", False)])
def test_purchase_value_threshold_at_and_under(shares: str, price: str, alerts: bool) -> None:
    found = evaluate_filing([record(code="P", shares=shares, price=price)], DEFAULTS)
    assert (rules_of(found) == ["insider_purchase"]) is alerts


@pytest.mark.parametrize(("following", "alerts"), [("4000", True), ("4001", False)])
def test_fraction_threshold_at_and_under(following: str, alerts: bool) -> None:
    # 1,000 sold out of 5,000 is exactly 20%; out of 5,001 just under. $100k is far below $1M.
    found = evaluate_filing([record(following=following)], DEFAULTS)
    assert (rules_of(found) == ["large_disposition"]) is alerts


def test_fraction_is_per_line_and_the_largest_wins() -> None:
    rows = [
        record(row=0, shares="1000", following="99000"),  # 1% of the direct line
        record(row=1, shares="500", following="1500", direct="I", nature="by Trust"),
        record(row=2, shares="500", following="1000", direct="I", nature="by Trust"),  # 1,000 of 2,000: 50%
    ]
    alert = only(evaluate_filing(rows, DEFAULTS), "large_disposition")
    assert "50% of the indirect holding (by Trust)" in alert.message
    assert alert.shares == Decimal(2000)


def test_tax_withholding_never_counts() -> None:
    rows = [record(row=0, code="F", shares="50000"), record(row=1, shares="100", following="99900")]
    assert evaluate_filing(rows, DEFAULTS) == []  # $5M withheld, a $10k sale
    assert evaluate_filing([record(code="F", shares="50000", following="0")], DEFAULTS) == []


def test_tranches_aggregate_into_one_alert() -> None:
    rows = [record(row=i, shares="4000", following=str(1_000_000 - 4000 * (i + 1))) for i in range(3)]
    alert = only(evaluate_filing(rows, DEFAULTS), "executive_sale")
    assert alert.dollar_value == Decimal(1_200_000)
    assert alert.txn_ids == sorted(r.txn_id for r in rows)
    assert "sold 12,000 ACME shares ($1.2M)" in alert.message


def test_unpriced_rows_say_at_least() -> None:
    rows = [record(row=0, shares="12000"), record(row=1, shares="5000", price=None)]
    alert = only(evaluate_filing(rows, DEFAULTS), "executive_sale")
    assert alert.dollar_value == Decimal(1_200_000)
    assert alert.shares == Decimal(17000)
    assert "(at least $1.2M)" in alert.message
    unpriced = only(evaluate_filing([record(price=None, following="0")], DEFAULTS), "large_disposition")
    assert unpriced.dollar_value is None and "(value not reported)" in unpriced.message


def test_implausible_price_adds_no_dollars() -> None:
    rows = [record(price="24035774.40", value_flags=("price_implausible",), following="10000000")]
    assert evaluate_filing(rows, DEFAULTS) == []


def test_derivative_sale_does_not_count() -> None:
    assert evaluate_filing([record(shares="100000", table="derivative")], DEFAULTS) == []


def test_executive_sale_is_ceo_or_cfo_only() -> None:
    counsel: Owner = ("0000000102", "ROE RICHARD", (Role.GENERAL_COUNSEL,))
    found = evaluate_filing([record(shares="50000", owners=[counsel], following="10000000")], DEFAULTS)
    assert rules_of(found) == ["large_disposition"]
    assert found[0].message.startswith("General Counsel ROE RICHARD sold 50,000 ACME shares ($5.0M)")


def test_ten_percent_owner_sale_is_not_an_insider_disposition() -> None:
    fund: Owner = ("0000000103", "BIG FUND LP", (Role.TEN_PERCENT_OWNER,))
    assert evaluate_filing([record(shares="50000", owners=[fund], following="0")], DEFAULTS) == []


@pytest.mark.parametrize(
    ("plans", "phrase", "flag"),
    [
        ((True, True), "under a 10b5-1 plan.", True),
        ((False, False), "not under a 10b5-1 plan.", False),
        ((None, None), "10b5-1 status not stated.", None),
        ((True, False), "partly under a 10b5-1 plan.", None),
    ],
)
def test_plan_flag_of_an_alert(plans: tuple[bool | None, ...], phrase: str, flag: bool | None) -> None:
    rows = [record(row=i, shares="10000", plan=p) for i, p in enumerate(plans)]
    alert = only(evaluate_filing(rows, DEFAULTS), "executive_sale")
    assert alert.message.endswith(", " + phrase)
    assert alert.tenb51_plan is flag


# ------------------------------------------------------------------------------------------------ late filing


@pytest.mark.parametrize(("lag", "alerts"), [(3, True), (2, False), (None, False)])
def test_late_filing_threshold(lag: int | None, alerts: bool) -> None:
    found = evaluate_filing([record(code="A", price="0", lag=lag)], DEFAULTS)
    assert (rules_of(found) == ["late_filing"]) is alerts


def test_late_filing_lists_late_rows_and_max_lag() -> None:
    rows = [
        record(row=0, code="A", price="0", lag=2),
        record(row=1, code="A", price="0", lag=4, day=date(2024, 3, 4)),
        record(row=2, code="A", price="0", lag=9, day=date(2024, 2, 26)),
    ]
    alert = only(evaluate_filing(rows, DEFAULTS), "late_filing")
    assert alert.txn_ids == sorted([rows[1].txn_id, rows[2].txn_id])
    assert "reported 2 ACME transactions late" in alert.message
    assert "9 business days after the 2024-02-26 trade" in alert.message
    assert (alert.window_start, alert.window_end) == (date(2024, 2, 26), date(2024, 3, 4))


def test_late_filing_threshold_is_configurable_and_marked_rows_count() -> None:
    assert (
        evaluate_filing([record(code="A", price="0", lag=4)], rules(late_filing={"min_business_days": 5}))
        == []
    )
    marked = [record(code="A", price="0", lag=None, timeliness="L")]
    assert only(evaluate_filing(marked, DEFAULTS), "late_filing").message.endswith(
        "(marked late by the filer)."
    )
    form5 = [record(code="A", price="0", lag=40, document_type="5")]  # Form 5 rows follow another deadline
    assert evaluate_filing(form5, DEFAULTS) == []


# ------------------------------------------------------------------------------------------------ ids


def test_alert_id_is_deterministic_and_order_independent() -> None:
    a = alert_id("cluster_buy", "0000000042", date(2024, 1, 2), ["b", "a", "c"])
    assert a == alert_id("cluster_buy", "0000000042", date(2024, 1, 2), ["c", "b", "a"])
    assert a != alert_id("first_purchase", "0000000042", date(2024, 1, 2), ["a", "b", "c"])
    assert a != alert_id("cluster_buy", "0000000043", date(2024, 1, 2), ["a", "b", "c"])
    assert a != alert_id("cluster_buy", "0000000042", date(2024, 1, 3), ["a", "b", "c"])
    assert a != alert_id("cluster_buy", "0000000042", date(2024, 1, 2), ["a", "b"])


def test_same_records_give_same_ids_in_any_order() -> None:
    records = real("a6ab43128199.txt")
    first = evaluate_filing(records, DEFAULTS)
    again = evaluate_filing(list(reversed(real("a6ab43128199.txt"))), DEFAULTS)
    assert [a.alert_id for a in first] == [a.alert_id for a in again]
    assert first[0].alert_id == alert_id(
        "large_disposition", "0000320193", date(2022, 5, 4), first[0].txn_ids
    )


# ------------------------------------------------------------------------------------------------ cluster buys


def insider(n: int, roles: tuple[Role, ...] = (Role.DIRECTOR,)) -> Owner:
    return (f"{n:010d}", f"INSIDER {n}", roles)


def buy(
    n: int,
    day: date,
    *,
    owners: list[Owner] | None = None,
    shares: str = "1000",
    plausible: bool = True,
    issuer: Issuer = ACME,
) -> list[TransactionRecord]:
    """One filing by insider n (or a joint group) with one open-market purchase of 1,000 shares at $100."""
    accession = f"0000000{n:03d}-24-{day:%m%d}00"
    owners = owners or [insider(n)]
    return [
        record(
            code="P",
            shares=shares,
            day=day,
            owners=owners,
            accession=accession,
            plausible=plausible,
            issuer=issuer,
        )
    ]


def feed(
    filings: list[list[TransactionRecord]], state: ClusterState | None = None, config: RulesConfig = DEFAULTS
) -> tuple[ClusterState | None, list[Alert]]:
    alerts: list[Alert] = []
    for records in filings:
        state, more = cluster_step(state, records, config)
        alerts += more
    return state, alerts


D = date(2024, 11, 1)


def test_three_insiders_within_seven_days_is_a_cluster() -> None:
    _, alerts = feed([buy(1, D), buy(2, D + timedelta(days=3)), buy(3, D + timedelta(days=6))])
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.rule == "cluster_buy" and alert.severity == "high"
    assert (alert.window_start, alert.window_end) == (D, D + timedelta(days=6))
    assert [o.cik for o in alert.owners] == [insider(n)[0] for n in (1, 2, 3)]
    assert alert.dollar_value == Decimal(300_000)
    assert alert.alert_id == alert_id("cluster_buy", ACME.cik, D, alert.txn_ids)
    assert alert.message == (
        "3 insiders bought ACME shares in open-market purchases within 7 days (2024-11-01 to 2024-11-07): "
        "Director INSIDER 1 ($100K), Director INSIDER 2 ($100K), Director INSIDER 3 ($100K); $300K in total."
    )


def test_three_insiders_over_eight_days_is_not_a_cluster() -> None:
    state, alerts = feed([buy(1, D), buy(2, D + timedelta(days=3)), buy(3, D + timedelta(days=7))])
    assert alerts == []
    assert state is not None
    assert [p.transaction_date for p in state.purchases] == [D + timedelta(days=3), D + timedelta(days=7)]


def test_one_joint_filing_of_three_owners_is_one_insider() -> None:
    joint = [insider(1), insider(2), insider(3, (Role.TEN_PERCENT_OWNER,))]
    state, alerts = feed([buy(1, D, owners=joint)])
    assert alerts == []
    state, alerts = feed([buy(4, D), buy(5, D)], state)
    assert len(alerts) == 1  # the joint group, insider 4, insider 5
    assert "Director INSIDER 1 and 2 joint filers ($100K)" in alerts[0].message


def test_real_joint_filings_do_not_make_a_cluster() -> None:
    # ADGI's 4 owners and GUTS's 6 owners, moved onto one issuer and one week: still 2 insiders at most.
    adgi, guts = real("740a690e7b77.xml"), real("a87531161a19.xml")
    day = adgi[0].transaction_date
    assert day is not None
    moved = [r.model_copy(update={"issuer": ACME, "transaction_date": day}) for r in [*adgi, *guts]]
    state, alerts = cluster_step(None, moved, DEFAULTS)
    assert alerts == []
    assert len(state.purchases) == 2


def test_same_person_alone_and_jointly_counts_once() -> None:
    person, fund = insider(5), insider(1, (Role.TEN_PERCENT_OWNER,))  # the fund's CIK sorts first
    filings = [buy(5, D), buy(1, D + timedelta(days=1), owners=[fund, person]), buy(2, D + timedelta(days=2))]
    _, alerts = feed(filings)
    assert alerts == []  # insider 5 (alone and with the fund) and insider 2
    _, alerts = feed([*filings, buy(3, D + timedelta(days=3))])
    assert len(alerts) == 1 and alerts[0].message.startswith("3 insiders bought")


def test_replaying_a_filing_adds_nothing() -> None:
    filings = [buy(1, D), buy(2, D + timedelta(days=1)), buy(3, D + timedelta(days=2))]
    state, alerts = feed(filings)
    assert state is not None and len(alerts) == 1
    replayed, again = feed(filings, state)
    assert again == []
    assert replayed == state
    # A worker that crashed before saving the state re-derives the very same alert id.
    before, _ = feed(filings[:2])
    _, rederived = feed(filings[2:], before)
    assert [a.alert_id for a in rederived] == [alerts[0].alert_id]


def test_a_fourth_insider_gives_a_new_alert_a_repeat_buyer_does_not() -> None:
    state, alerts = feed([buy(1, D), buy(2, D), buy(3, D + timedelta(days=1))])
    assert len(alerts) == 1
    state, fourth = feed([buy(4, D + timedelta(days=2))], state)
    assert len(fourth) == 1
    assert fourth[0].alert_id != alerts[0].alert_id
    assert len(fourth[0].owners) == 4 and fourth[0].message.startswith("4 insiders bought")
    state, repeat = feed([buy(2, D + timedelta(days=3), shares="7")], state)
    assert repeat == []


def test_a_late_filed_purchase_can_complete_a_cluster() -> None:
    state, alerts = feed([buy(2, D + timedelta(days=3)), buy(3, D + timedelta(days=5))])
    assert alerts == []
    _, alerts = feed([buy(1, D)], state)  # dated before the others, reported last
    assert len(alerts) == 1
    assert (alerts[0].window_start, alerts[0].window_end) == (D, D + timedelta(days=5))


def test_cluster_state_is_bounded_and_json_round_trips() -> None:
    state, _ = feed([buy(n, D + timedelta(days=n)) for n in range(1, 30)])
    assert state is not None
    assert len(state.purchases) == 7  # only the last window_days of dates
    restored = ClusterState.model_validate_json(state.model_dump_json())
    assert restored == state
    _, stale = feed([buy(50, D)], restored)  # far behind the window: ignored
    assert stale == []


def test_cluster_ignores_implausible_dates_and_small_purchases() -> None:
    state, _ = feed([buy(1, D), buy(2, D)])
    state, alerts = feed([buy(3, date(2035, 11, 1), plausible=False)], state)
    assert (
        alerts == [] and state is not None and len(state.purchases) == 2
    )  # the typo'd date did not flush it
    config = rules(cluster_buy={"min_value": 150_000})
    _, alerts = feed([buy(1, D), buy(2, D), buy(3, D, shares="1499")], config=config)
    assert alerts == []


def test_cluster_rule_disabled_still_tracks() -> None:
    off = rules(cluster_buy={"enabled": False})
    state, alerts = feed([buy(1, D), buy(2, D), buy(3, D)], config=off)
    assert alerts == [] and state is not None and len(state.purchases) == 3


def test_state_refuses_another_issuer() -> None:
    state, _ = feed([buy(1, D)])
    other = Issuer(cik="0000000099", name="Other", trading_symbol="OTH")
    with pytest.raises(ValueError, match="0000000099"):
        cluster_step(state, buy(2, D, issuer=other), DEFAULTS)


# ------------------------------------------------------------------------------------------------ first purchase


def test_first_purchase_then_second_is_one_alert() -> None:
    state, first = first_purchase_step(None, real("1802ceb9915e.xml"), DEFAULTS)  # SCTY Musk at the IPO
    state, second = first_purchase_step(state, real("ea115ebcdc32.xml"), DEFAULTS)  # 8 days later
    assert len(first) == 1 and second == []
    assert first[0].severity == "info"
    assert first[0].message == (
        "First open-market purchase of SCTY seen from Director Musk Elon: 1,875,000 shares ($15.0M) on 2012-12-18."
    )
    assert state.buyers == ["0001494730"]
    replayed, again = first_purchase_step(state, real("1802ceb9915e.xml"), DEFAULTS)
    assert again == [] and replayed == state


def test_first_purchase_of_a_joint_group_names_the_new_owners() -> None:
    state, _ = first_purchase_step(None, buy(1, D), DEFAULTS)
    joint = [insider(1), insider(7, (Role.TEN_PERCENT_OWNER,))]
    state, alerts = first_purchase_step(state, buy(7, D, owners=joint), DEFAULTS)
    assert len(alerts) == 1
    assert alerts[0].message.endswith("(first for INSIDER 7).")
    assert FirstPurchaseState.model_validate_json(state.model_dump_json()).buyers == [
        insider(1)[0],
        insider(7)[0],
    ]


def test_first_purchase_ignores_sales_and_respects_min_value_and_enabled() -> None:
    assert first_purchase_step(None, [record()], DEFAULTS)[1] == []
    state, alerts = first_purchase_step(
        None, buy(1, D, shares="1"), rules(first_purchase={"min_value": 1000})
    )
    assert alerts == [] and state.buyers == [insider(1)[0]]  # remembered: a later buy is not "first"
    state, alerts = first_purchase_step(None, buy(1, D), rules(first_purchase={"enabled": False}))
    assert alerts == [] and state.buyers == [insider(1)[0]]


# ------------------------------------------------------------------------------------------------ text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("4200000", "$4.2M"),
        ("950000", "$950K"),
        ("12345", "$12,345"),
        ("12345.49", "$12,345"),
        ("999600", "$1.0M"),
        ("843204980.20", "$843.2M"),
        ("1200000000", "$1.2B"),
        ("100000", "$100K"),
    ],
)
def test_money_format(value: str, text: str) -> None:
    assert format_money(Decimal(value)) == text


def test_shares_percent_and_labels() -> None:
    assert format_shares(Decimal("106150.00")) == "106,150"
    assert format_shares(Decimal("21955.3330")) == "21,955.333"
    assert format_percent(Decimal("0.2")) == "20%"
    assert format_percent(Decimal("0.001")) == "less than 1%"
    assert plan_phrase(None) == "10b5-1 status not stated"
    assert issuer_label(Issuer(cik="0000000001", name="Quiet Co", trading_symbol="NONE")) == "Quiet Co"
    assert issuer_label(Issuer(cik="0000000001")) == "CIK 0000000001"
