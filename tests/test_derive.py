"""Unit tests for the pure derived-value functions in streams.derive."""

from __future__ import annotations

import time
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.derive.calendar import (
    AD_HOC_CLOSURES,
    business_days_between,
    is_business_day,
    is_late_filing,
    us_federal_holidays,
)
from streams.derive.codes import (
    CODE_DESCRIPTIONS,
    category,
    date_plausible,
    edgar_display_code,
    is_open_market,
)
from streams.derive.plans import mentions_10b5_1, plan_adoption_date
from streams.derive.prices import (
    StatedRange,
    choose_range,
    is_weighted_average_text,
    nearest_range,
    price_ranges,
    stated_ranges,
)
from streams.derive.roles import normalize_roles
from streams.models import Category, Role

D = Decimal

# ------------------------------------------------------------------------------------------------ calendar


def test_holidays_2024_exact() -> None:
    assert us_federal_holidays(2024) == {
        date(2024, 1, 1),
        date(2024, 1, 15),  # MLK
        date(2024, 2, 19),  # Washington's Birthday
        date(2024, 5, 27),  # Memorial Day
        date(2024, 6, 19),  # Juneteenth
        date(2024, 7, 4),
        date(2024, 9, 2),  # Labor Day
        date(2024, 10, 14),  # Columbus Day
        date(2024, 11, 11),
        date(2024, 11, 28),  # Thanksgiving
        date(2024, 12, 24),  # executive order
        date(2024, 12, 25),
    }


def test_saturday_new_year_is_observed_in_previous_year() -> None:
    # 2022-01-01 was a Saturday: observed Friday 2021-12-31, which belongs to 2021's calendar.
    assert date(2021, 12, 31) in us_federal_holidays(2021)
    assert date(2021, 12, 31) not in us_federal_holidays(2022)
    assert date(2022, 1, 1) not in us_federal_holidays(2022)
    assert not is_business_day(date(2021, 12, 31))
    assert is_business_day(date(2022, 1, 3))  # no Monday shift for a Saturday holiday


def test_sunday_new_year_is_observed_monday() -> None:
    assert date(2023, 1, 2) in us_federal_holidays(2023)
    assert not is_business_day(date(2023, 1, 2))
    assert date(2022, 12, 30) not in us_federal_holidays(2022)


@pytest.mark.parametrize(
    ("observed", "why"),
    [
        (date(2021, 6, 18), "Juneteenth 2021 (Saturday) -> Friday"),
        (date(2022, 6, 20), "Juneteenth 2022 (Sunday) -> Monday"),
        (date(2026, 7, 3), "July 4 2026 (Saturday) -> Friday"),
        (date(2021, 7, 5), "July 4 2021 (Sunday) -> Monday"),
        (date(2023, 11, 10), "Veterans Day 2023 (Saturday) -> Friday"),
        (date(2021, 12, 24), "Christmas 2021 (Saturday) -> Friday"),
        (date(2022, 12, 26), "Christmas 2022 (Sunday) -> Monday"),
        (date(2025, 1, 9), "Carter day of mourning"),
        (date(2018, 12, 5), "G. H. W. Bush day of mourning"),
        (date(2004, 6, 11), "Reagan day of mourning"),
        (date(2007, 1, 2), "Ford day of mourning"),
        (date(2019, 12, 24), "Christmas Eve executive order"),
        (date(2020, 12, 24), "Christmas Eve executive order"),
    ],
)
def test_observed_and_ad_hoc_closures(observed: date, why: str) -> None:
    assert observed in us_federal_holidays(observed.year), why
    assert not is_business_day(observed), why


def test_juneteenth_and_mlk_start_years() -> None:
    assert not {date(2020, 6, 19), date(2020, 6, 18), date(2020, 6, 22)} & us_federal_holidays(2020)
    assert date(1986, 1, 20) in us_federal_holidays(1986)
    assert not any(d.month == 1 and d.day > 1 for d in us_federal_holidays(1985))


def test_weekend_days_are_never_business_days() -> None:
    assert not is_business_day(date(2024, 3, 9))
    assert not is_business_day(date(2024, 3, 10))
    assert is_business_day(date(2024, 3, 11))


@pytest.mark.parametrize("year", [1, 2, 1899, 1970, 1999, 2021, 2022, 2026, 2100, 9998, 9999])
def test_holidays_are_weekdays_of_their_own_year(year: int) -> None:
    days = us_federal_holidays(year)
    assert len(days) >= 9
    assert all(d.year == year and d.weekday() < 5 for d in days)


def test_ad_hoc_closures_are_weekdays() -> None:
    assert all(d.weekday() < 5 for d in AD_HOC_CLOSURES)


def test_year_9999_handles_next_new_year_without_overflow() -> None:
    # 9999-12-31 is a Friday, so New Year's Day 10000 (a Saturday) is observed on it.
    assert date(9999, 12, 31) in us_federal_holidays(9999)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (date(2024, 3, 4), date(2024, 3, 6), 2),  # Monday trade, Wednesday filing: on time
        (date(2024, 3, 4), date(2024, 3, 7), 3),  # Thursday: late
        (date(2024, 3, 4), date(2024, 3, 4), 0),
        (date(2024, 3, 8), date(2024, 3, 11), 1),  # Friday -> Monday
        (date(2024, 3, 9), date(2024, 3, 10), 0),  # Saturday -> Sunday
        (date(2024, 3, 9), date(2024, 3, 11), 1),  # weekend trade, Monday filing
        (date(2024, 11, 27), date(2024, 12, 2), 2),  # across Thanksgiving
        (date(2024, 11, 27), date(2024, 11, 29), 1),
        (date(2024, 12, 23), date(2024, 12, 27), 2),  # across Christmas Eve closure and Christmas
        (date(2021, 12, 30), date(2022, 1, 4), 2),  # across the 2021-12-31 observed New Year
        (date(2022, 12, 30), date(2023, 1, 3), 1),  # across the 2023-01-02 observed New Year
        (date(2024, 7, 4), date(2024, 7, 5), 1),  # starting on a holiday
        (date(2024, 7, 3), date(2024, 7, 4), 0),  # ending on a holiday
        (date(2023, 12, 31), date(2024, 12, 31), 250),  # all of 2024: 262 weekdays - 12 closures
        (date(2024, 3, 6), date(2024, 3, 4), -2),  # reversed
        (date(2024, 12, 2), date(2024, 11, 27), -2),
    ],
)
def test_business_days_between(start: date, end: date, expected: int) -> None:
    assert business_days_between(start, end) == expected


def _naive_business_days(start: date, end: date) -> int:
    if end < start:
        return -_naive_business_days(end, start)
    return sum(is_business_day(start + timedelta(days=i)) for i in range(1, (end - start).days + 1))


@settings(max_examples=300, deadline=None)
@given(
    start=st.dates(min_value=date(1995, 1, 1), max_value=date(2035, 12, 31)),
    span=st.integers(min_value=-800, max_value=800),
)
def test_business_days_between_matches_day_by_day_loop(start: date, span: int) -> None:
    end = start + timedelta(days=span)
    assert business_days_between(start, end) == _naive_business_days(start, end)


@settings(max_examples=200, deadline=None)
@given(
    a=st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)),
    b=st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)),
    c=st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)),
)
def test_business_days_between_is_additive_over_all_years(a: date, b: date, c: date) -> None:
    assert business_days_between(a, c) == business_days_between(a, b) + business_days_between(b, c)
    assert business_days_between(a, b) == -business_days_between(b, a)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (date(1, 1, 1), date(1, 3, 15)),
        (date(9999, 10, 1), date(9999, 12, 31)),
        (date(22, 1, 10), date(22, 2, 28)),  # year "0022"
        (date(1965, 12, 20), date(1966, 1, 10)),
    ],
)
def test_extreme_years_match_naive_loop(start: date, end: date) -> None:
    assert business_days_between(start, end) == _naive_business_days(start, end)


def test_whole_supported_range_and_typo_spans() -> None:
    total = business_days_between(date(1, 1, 1), date(9999, 12, 31))
    assert 0 < total < (date(9999, 12, 31) - date(1, 1, 1)).days * 5 // 7
    assert business_days_between(date(9999, 12, 31), date(1, 1, 1)) == -total
    # A typo'd 2035 trade filed in 2025 gives a large negative lag instead of an error.
    assert business_days_between(date(2035, 1, 10), date(2025, 1, 14)) < -2400
    assert business_days_between(date(22, 3, 1), date(2022, 3, 3)) > 490_000  # 2,000 years of ~250 days


def test_business_days_between_is_fast() -> None:
    start = date(2024, 1, 2)
    began = time.perf_counter()
    for i in range(20_000):
        business_days_between(start + timedelta(days=i % 300), start + timedelta(days=i % 300 + 4))
    assert time.perf_counter() - began < 2.0


@pytest.mark.parametrize(
    ("lag", "timeliness", "expected"),
    [
        (2, None, False),
        (3, None, True),
        (0, "", False),
        (1, "L", True),
        (None, "L", True),
        (None, "l", True),
        (None, None, None),
        (None, "E", None),
        (5, "E", True),
        (-3, None, False),
    ],
)
def test_is_late_filing(lag: int | None, timeliness: str | None, expected: bool | None) -> None:
    assert is_late_filing(lag, timeliness) is expected


# --------------------------------------------------------------------------------------------------- roles


def _roles(
    title: str | None,
    *,
    officer: bool = True,
    director: bool = False,
    ten: bool = False,
    other: bool = False,
    other_text: str | None = None,
    remarks: str | None = None,
) -> list[Role]:
    return normalize_roles(
        is_director=director,
        is_officer=officer,
        is_ten_percent_owner=ten,
        is_other=other,
        officer_title=title,
        other_text=other_text,
        remarks=remarks,
    )


R = Role


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("CEO", [R.CEO]),
        ("Chief Executive Officer", [R.CEO]),
        ("Chief Exec. Officer", [R.CEO]),
        ("Interim CEO", [R.CEO]),
        ("co-CEO", [R.CEO]),
        ("Principal Executive Officer", [R.CEO]),
        ("EVP & CFO", [R.CFO]),
        ("EVP, Chief Financial Officer", [R.CFO]),
        ("Principal Financial Officer", [R.CFO]),
        ("Vice President, CFO", [R.CFO]),
        ("SENIOR VICE PRESIDENT/CFO", [R.CFO]),
        ("Chief Operating Officer", [R.COO]),
        ("COO, CFO", [R.CFO, R.COO]),
        ("Interim CEO & Interim CFO", [R.CEO, R.CFO]),
        ("President", [R.PRESIDENT]),
        ("Pres. and CEO", [R.CEO, R.PRESIDENT]),
        ("President & CEO", [R.CEO, R.PRESIDENT]),
        ("CEO/President", [R.CEO, R.PRESIDENT]),
        ("President-US Automotive Group", [R.PRESIDENT]),
        ("SVP, GC and Government Affairs", [R.GENERAL_COUNSEL]),
        ("General Counsel and Corp Sec", [R.GENERAL_COUNSEL]),
        ("Sr MD Gen Counsel & Corp Secr", [R.GENERAL_COUNSEL]),
        ("SVP-GENERAL COUNSEL", [R.GENERAL_COUNSEL]),
        ("Chief Legal Officer", [R.GENERAL_COUNSEL]),
        ("SVP, CLO & Secretary", [R.GENERAL_COUNSEL]),
        ("Chairman & CEO", [R.CEO, R.CHAIR]),
        ("CEO & COB", [R.CEO, R.CHAIR]),
        ("CEO and Chairman of the Board", [R.CEO, R.CHAIR]),
        ("Pres, Prod Architect & Chairmn", [R.PRESIDENT, R.CHAIR]),  # truncated "Chairman"
        ("Executive Chairman", [R.CHAIR, R.OTHER_OFFICER]),
        ("Chairwoman", [R.CHAIR, R.OTHER_OFFICER]),
        ("Chairperson", [R.CHAIR, R.OTHER_OFFICER]),
        # Qualified titles are not the role itself.
        ("Vice President", [R.OTHER_OFFICER]),
        ("Vice-President", [R.OTHER_OFFICER]),
        ("VICE PRESIDENT", [R.OTHER_OFFICER]),
        ("Sr. Vice Pres.", [R.OTHER_OFFICER]),
        ("VP, Human Resources", [R.OTHER_OFFICER]),
        ("SVP", [R.OTHER_OFFICER]),
        ("EVP, Operations", [R.OTHER_OFFICER]),
        ("Exec. Vice Chairman", [R.OTHER_OFFICER]),
        ("Vice Chairman", [R.OTHER_OFFICER]),
        ("Vice Executive Chairman", [R.OTHER_OFFICER]),
        ("Deputy General Counsel", [R.OTHER_OFFICER]),
        ("Assistant General Counsel", [R.OTHER_OFFICER]),
        ("Chief Accounting Officer", [R.OTHER_OFFICER]),
        ("Chief Technology Officer", [R.OTHER_OFFICER]),
        ("Executive Officer of", [R.OTHER_OFFICER]),
        ("Secretary", [R.OTHER_OFFICER]),
        # Words containing role letters are not roles.
        ("Head of Cooperative Programs", [R.OTHER_OFFICER]),
        ("Presiding Officer", [R.OTHER_OFFICER]),
    ],
)
def test_officer_titles(title: str, expected: list[Role]) -> None:
    assert _roles(title) == expected


def test_roles_follow_enum_order_without_duplicates() -> None:
    roles = _roles("Chairman, CEO, Co-CEO & Pres", director=True, ten=True, other=True)
    assert roles == [R.CEO, R.PRESIDENT, R.CHAIR, R.DIRECTOR, R.TEN_PERCENT_OWNER, R.OTHER]


def test_flags_alone() -> None:
    assert _roles(None, officer=False, director=True) == [R.DIRECTOR]
    assert _roles(None, officer=False, ten=True) == [R.TEN_PERCENT_OWNER]
    assert _roles(None, officer=False, other=True, other_text="Member of a Group") == [R.OTHER]
    assert _roles(None, officer=True) == [R.OTHER_OFFICER]
    assert _roles("", officer=False) == []


def test_other_text_never_makes_a_ten_percent_owner() -> None:
    assert _roles(None, officer=False, other=True, other_text="Former 10% Owner") == [R.OTHER]
    assert _roles(None, officer=False, other=True, other_text="Chief Executive Officer") == [R.OTHER]


def test_title_without_officer_flag() -> None:
    assert _roles("VP Sales", officer=False) == [R.OTHER_OFFICER]
    assert _roles("CEO", officer=False, director=True) == [R.CEO, R.DIRECTOR]
    # Board-only titles on a non-officer do not make an officer.
    assert _roles("Chairman of the Board", officer=False, director=True) == [R.CHAIR, R.DIRECTOR]
    assert _roles("Director", officer=False, director=True) == [R.DIRECTOR]
    assert _roles("Director & 10% Owner", officer=False, director=True, ten=True) == [
        R.DIRECTOR,
        R.TEN_PERCENT_OWNER,
    ]
    assert _roles("Vice Chairman", officer=False, director=True) == [R.DIRECTOR]


@pytest.mark.parametrize(
    "placeholder", ["See Remarks", "see remarks below", "See Remarks (1)", "SEE REMARKS."]
)
def test_see_remarks_uses_remarks_text(placeholder: str) -> None:
    remarks = "Title: Senior Vice President of Quality and Enabling Functions"
    assert _roles(placeholder, remarks=remarks) == [R.OTHER_OFFICER]
    assert _roles(placeholder, remarks="Title: President and Chief Executive Officer") == [R.CEO, R.PRESIDENT]
    assert _roles(placeholder, remarks="Chief Financial Officer and Treasurer") == [R.CFO]


def test_see_remarks_without_remarks() -> None:
    assert _roles("See Remarks", remarks=None) == [R.OTHER_OFFICER]
    assert _roles("See Remarks", officer=False, other=True, remarks=None) == [R.OTHER]
    # A placeholder on a non-officer whose remarks name no role adds no officer role.
    assert _roles("See Remarks", officer=False, director=True, remarks="Exhibit 24: Power of Attorney") == [
        R.DIRECTOR
    ]


def test_see_remarks_title_line_is_preferred_over_the_rest_of_the_remarks() -> None:
    remarks = "Title: EVP, Operations; the reporting person disclaims beneficial ownership held by the CEO."
    assert _roles("See Remarks", remarks=remarks) == [R.OTHER_OFFICER]


# --------------------------------------------------------------------------------------------------- plans


@pytest.mark.parametrize(
    "text",
    [
        "pursuant to a Rule 10b5-1 trading plan",
        "Rule 10b5-1(c)",
        "a 10b5-1(c) plan",
        "effected under a 10b5-1 trading plan",
        "pursuant to a 10b-5-1 plan",
        "pursuant to a 10b5–1 plan",  # en dash
        "pursuant to a 10b5—1 plan",  # em dash
        "pursuant to a 10b 5-1 plan",
        "pursuant to a 10b51 plan",
        "pursuant to a 10b5 1 plan",
        "Rule 10b5-1(c)(1)",
        "RULE 10B5-1 TRADING PLAN",
        "Rule 10b5-1.",
        "a 10b-5 - 1 plan",
    ],
)
def test_mentions_10b5_1(text: str) -> None:
    assert mentions_10b5_1(text)


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "Rule 10b-5",
        "in violation of Rule 10b-5 under the Exchange Act",
        "Rule 10b-5(b)",
        "subject to Rule 10b-5.",
        "Rule 10b5",
        "Rule 10b5 under the Act",
        "Rule 10b-5 1 share was withheld",  # rule 10b-5, then a number
        "Rule 10b5-12",
        "Section 10(b) and Rule 16b-3",
        "Article 10B Trust",
        "an amount of 110b5-1",
    ],
)
def test_does_not_mention_10b5_1(text: str | None) -> None:
    assert not mentions_10b5_1(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "The sales were effected pursuant to a Rule 10b5-1 trading plan adopted by the reporting "
            "person on August 14, 2023.",
            date(2023, 8, 14),
        ),
        ("Sold under a Rule 10b5-1 plan adopted on 8/14/2023.", date(2023, 8, 14)),
        ("Sold under a Rule 10b5-1 plan adopted on 2023-08-14.", date(2023, 8, 14)),
        ("Pursuant to a 10b5-1 trading plan entered into on May 30, 2024.", date(2024, 5, 30)),
        ("Pursuant to a 10b5-1 trading plan adopted May 30, 2024.", date(2024, 5, 30)),
        (
            "Pursuant to a Rule 10b5-1 plan adopted on March 3, 2023 and modified on June 1, 2023.",
            date(2023, 3, 3),
        ),
        (
            "Pursuant to a Rule 10b5-1 plan modified on June 1, 2023, originally adopted on March 3, 2023.",
            date(2023, 3, 3),
        ),
        ("Pursuant to a Rule 10b5-1 trading plan adopted on December 6, 2024.", date(2024, 12, 6)),
        ("Pursuant to a Rule 10b5-1 trading plan adopted on Dec. 6, 2024.", date(2024, 12, 6)),
        ("Pursuant to a Rule 10b5-1 trading plan adopted on Sept. 5, 2023.", date(2023, 9, 5)),
        ("Pursuant to a Rule 10b5-1 trading plan adopted on Sep 5th, 2023.", date(2023, 9, 5)),
        ("Pursuant to a Rule 10b5-1 trading plan adopted on 5 September 2023.", date(2023, 9, 5)),
        ("Pursuant to a Rule 10b5-1 trading plan adopted on 8/14/23.", date(2023, 8, 14)),
        (
            "THE TRANSACTIONS WERE EFFECTED PURSUANT TO A RULE 10B5-1 TRADING PLAN PREVIOUSLY ADOPTED ON "
            "SEPTEMBER  14, 2021 AND ESTABLISHED BY THE REPORTING PERSON.",
            date(2021, 9, 14),
        ),
        (
            "This transaction was made pursuant to a Rule 10b5-1 trading plan adopted by the reporting "
            "person's trust on February 26, 2019.",
            date(2019, 2, 26),
        ),
        (
            "The reported sale was made pursuant to a pre-arranged program for selling shares of Class A "
            "Common Stock adopted on December 13, 2024 pursuant to Rule 10b5-1 under the Exchange Act.",
            date(2024, 12, 13),
        ),
        ("Mr. Smith entered into a Rule 10b5-1 trading plan on May 30, 2024.", date(2024, 5, 30)),
        ("The plan was adopted by Mr. Smith on May 30, 2024 under Rule 10b5-1.", date(2024, 5, 30)),
        (
            "Shares were sold under a Rule 10b5-1 trading plan. The plan was adopted on April 2, 2024.",
            date(2024, 4, 2),
        ),
        ("Sales under a 10b5-1 plan (adoption date of April 2, 2024).", date(2024, 4, 2)),
        ("Sales under a 10b5-1 plan dated April 2, 2024.", date(2024, 4, 2)),
        ("Sales under a 10b5-1 plan adopted effective as of April 2, 2024.", date(2024, 4, 2)),
        ("Sales under a 10b5-1 plan. Such plan was entered into on 2 April 2024.", date(2024, 4, 2)),
    ],
)
def test_plan_adoption_date(text: str, expected: date) -> None:
    assert plan_adoption_date(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "The sales reported on this Form 4 were effected pursuant to a Rule 10b5-1 trading plan adopted by "
        "the holder.",
        # The date is a trade date in the next sentence.
        "All transactions were effected pursuant to a Rule 10b5-1 Trading Plan adopted by the Reporting "
        "Person. Related transactions effected by the Reporting Person on April 13, 2022 are reported on "
        "additional Form 4.",
        # The date belongs to the sales, not the adoption.
        "Pursuant to a 10b5-1 plan adopted by the holder, and the sales on May 1, 2024 completed it.",
        "Pursuant to a 10b5-1 plan modified on June 1, 2023.",
        "Pursuant to a Rule 10b5-1 plan adopted in August 2023.",
        "Pursuant to a Rule 10b5-1 plan adopted on February 30, 2023.",  # not a real date
        "Pursuant to a Rule 10b5-1 plan adopted on 13/45/2023.",
        # A date in a text that never mentions a 10b5-1 plan.
        "The award was adopted on May 1, 2024 under the 2020 Equity Incentive Plan.",
        "In violation of Rule 10b-5, the plan was adopted on May 1, 2024.",
        "Pursuant to a 10b5-1 plan dated as of the date the holder chose, on April 2, 2024.",
        # A later sentence about another plan.
        "Shares sold under a 10b5-1 plan. The 2020 Equity Incentive Plan was adopted on May 1, 2020.",
    ],
)
def test_no_plan_adoption_date(text: str | None) -> None:
    assert plan_adoption_date(text) is None


# -------------------------------------------------------------------------------------------------- prices


@pytest.mark.parametrize(
    "text",
    [
        "The price reported in Column 4 is a weighted average price.",
        "The weighted-average sale price",
        "weighted avg. price",
        "WEIGHTED AVERAGE",
        "prices are weighted averages of the fills",
        "The price is a volume weighted average price; shares sold at prices ranging from $1.00 to $1.20.",
        # The other order (issue 12).
        "The price reported is an average weighted price. These shares were sold at prices ranging from $26.08 "
        "to $26.10, inclusive.",
        "Average-weighted sale price",
        "avg. weighted price",
    ],
)
def test_is_weighted_average_text(text: str) -> None:
    assert is_weighted_average_text(text)


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "The price reported is the closing price.",
        "weighted voting rights",
        # A market VWAP in an earn-out condition, not an average of the filer's fills.
        "vesting if the volume weighted average price equals or exceeds $12.00 for 20 trading days",
    ],
)
def test_is_not_weighted_average_text(text: str | None) -> None:
    assert not is_weighted_average_text(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("at prices ranging from $188.970 to $189.960, inclusive", [(D("188.970"), D("189.960"))]),
        ("at prices ranging from $159.42 to $160.41, inclusive.", [(D("159.42"), D("160.41"))]),
        ("in multiple transactions at prices between $10.00 and $10.50", [(D("10.00"), D("10.50"))]),
        ("ranged from $1,234.50 to $1,240.00", [(D("1234.50"), D("1240.00"))]),
        ("a range of $5.01 to $5.25", [(D("5.01"), D("5.25"))]),
        ("sold at $12.01 - $12.50", [(D("12.01"), D("12.50"))]),
        ("sold at $12.01-$12.50", [(D("12.01"), D("12.50"))]),
        ("sold from $0.5 to $0.75", [(D("0.5"), D("0.75"))]),
        ("sold at $24.00 – $24.20", [(D("24.00"), D("24.20"))]),
        ("sold at $ 24.00 through $ 24.20", [(D("24.00"), D("24.20"))]),
        ("at prices ranging from 10.00 to 10.50", [(D("10.00"), D("10.50"))]),  # no $, but "price" nearby
        ("prices from $12.50 to $12.01", [(D("12.01"), D("12.50"))]),  # reversed: returned as (min, max)
        ("from $1,000.150 to $1,001.140", [(D("1000.150"), D("1001.140"))]),
        # Issue 12: a range stated without the words "weighted average".
        ("Share price on this transaction ranged from $143.68 to $143.93", [(D("143.68"), D("143.93"))]),
        ("at prices ranging from $١٠ to $١١", []),  # other scripts' digits are not amounts
        (
            "(1) prices ranging from $10.00 to $10.49; (2) prices ranging from $10.50 to $10.99; "
            "(3) $11.00-$11.40.",
            [(D("10.00"), D("10.49")), (D("10.50"), D("10.99")), (D("11.00"), D("11.40"))],
        ),
        # Issue 17: the lowest and the highest price stated apart, either order, and close variants.
        (
            "The lowest price at which the shares were sold was $10.00 and the highest price was $10.50.",
            [(D("10.00"), D("10.50"))],
        ),
        (
            "the highest price paid was $10.50 and the lowest price paid was $10.00",
            [(D("10.00"), D("10.50"))],
        ),
        ("with a low price of $5.01 and a high price of $5.25", [(D("5.01"), D("5.25"))]),
        ("prices ranged from a low of $24.00 to a high of $24.20", [(D("24.00"), D("24.20"))]),
        ("sold at prices as low as $9.80 and as high as $10.20", [(D("9.80"), D("10.20"))]),
        ("The low and high prices were $7.10 and $7.30, respectively.", [(D("7.10"), D("7.30"))]),
        ("the lowest price was 10.00 and the highest price was 10.50", [(D("10.00"), D("10.50"))]),  # no $
        (
            "the lowest price was $1,000.150 and the highest price was $1,001.140; (2) prices ranging from "
            "$1,001.150 to $1,002.100",
            [(D("1000.150"), D("1001.140")), (D("1001.150"), D("1002.100"))],
        ),
    ],
)
def test_price_ranges(text: str, expected: list[tuple[Decimal, Decimal]]) -> None:
    found = price_ranges(text)
    assert found == expected
    assert [tuple(str(x) for x in r) for r in found] == [tuple(str(x) for x in r) for r in expected]


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "The reporting person sold 10 to 20 shares each day.",  # no $ and no "price"
        "Between 100 and 200 employees",
        "at $10.00 and $10.50",  # "and" needs "between"
        "between $1 and 500 shares",
        "vests on 2023-08-14",
        "price effective 2023-08-14",  # a dash range needs a $ on its first amount
        "options expire 1-2 years",
        "price rose by 5 to 10%",
        "price: sold on 8/14 to 8/16",
        # TSLA 0000899243-21-044235 F19: a typo'd high amount is no amount, not "$1" (a range $1-$1,139.920).
        "at prices ranging from $1,139.920 to $1,1140.890, inclusive.",
        "the highest price was $10.50",  # one end only
        "the lowest price was $10.00 and the lowest bid was $9.00",  # two lows
        "a low of 5 and a high of 10 employees",  # no price
        "a low price of $10 and a high price of 500 shares",
    ],
)
def test_no_price_ranges(text: str | None) -> None:
    assert price_ranges(text) == []


@pytest.mark.parametrize(
    ("text", "currency", "low", "high"),
    [
        ("at prices ranging from C$10.00 to C$10.50", "CAD", "10.00", "10.50"),
        ("at prices ranging from CDN $10.00 to CDN $10.50", "CAD", "10.00", "10.50"),
        ("at prices ranging from CAD 10.00 to CAD 10.50", "CAD", "10.00", "10.50"),
        ("at prices ranging from CAD$10.00 to 10.50", "CAD", "10.00", "10.50"),
        ("at prices ranging from $10.00 to $10.50 CAD", "CAD", "10.00", "10.50"),
        ("at prices ranging from 10.00 to 10.50 Canadian dollars", "CAD", "10.00", "10.50"),
        (
            "The price is in Canadian dollars. Sold at prices ranging from $10.00 to $10.50.",
            "CAD",
            "10.00",
            "10.50",
        ),
        ("at prices ranging from €10.00 to €10.50", "EUR", "10.00", "10.50"),
        ("at prices ranging from EUR 10.00 to EUR 10.50", "EUR", "10.00", "10.50"),
        ("sold at €10.00 - €10.50", "EUR", "10.00", "10.50"),
        ("at prices ranging from 10.00 to 10.50 euros", "EUR", "10.00", "10.50"),
        ("at prices ranging from £10.00 to £10.50", "GBP", "10.00", "10.50"),
        ("at prices ranging from GBP 10.00 to GBP 10.50", "GBP", "10.00", "10.50"),
        ("at prices ranging from 250 to 260 pence", "GBX", "250", "260"),
        ("at prices between NIS 4.10 and NIS 4.30", "ILS", "4.10", "4.30"),
        ("at prices ranging from ₪4.10 to ₪4.30", "ILS", "4.10", "4.30"),
        ("at prices ranging from HK$4.10 to HK$4.30", "HKD", "4.10", "4.30"),
        ("the lowest price was C$10.00 and the highest price was C$10.50", "CAD", "10.00", "10.50"),
        ("at prices ranging from C$10.00 to $10.50", "CAD", "10.00", "10.50"),  # one amount marked is enough
    ],
)
def test_a_range_in_another_currency_is_not_dollars(text: str, currency: str, low: str, high: str) -> None:
    """Issue 17: C$, CAD, €, EUR, £, GBP, NIS ranges keep their currency and are never read as dollars."""
    assert stated_ranges(text) == [StatedRange(D(low), D(high), currency)]
    assert price_ranges(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "at prices ranging from US$10.00 to US$10.50, converted from C$ at 0.74",  # marked US: dollars
        "at prices ranging from $10.00 to $10.50 (USD)",
        "Euro Pacific Capital LLC sold at prices ranging from $10.00 to $10.50",  # a name, not the currency
        "at prices ranging from $10.00 to $10.50; the Class A $0.001 par value stock",
    ],
)
def test_dollar_ranges_stay_dollars(text: str) -> None:
    assert stated_ranges(text) == [StatedRange(D("10.00"), D("10.50"), "USD")]
    assert price_ranges(text) == [(D("10.00"), D("10.50"))]


def test_choose_range_by_price() -> None:
    ranges = [(D("10.00"), D("10.49")), (D("10.50"), D("10.99")), (D("11.00"), D("11.40"))]
    assert choose_range(ranges, D("10.7123")) == (D("10.50"), D("10.99"))
    assert choose_range(ranges, D("10.00")) == (D("10.00"), D("10.49"))  # bounds inclusive
    assert choose_range(ranges, D("11.40")) == (D("11.00"), D("11.40"))
    assert choose_range(ranges, D("12")) is None
    assert choose_range(ranges, D("10.495")) is None


def test_choose_range_takes_a_rounded_price_as_inside() -> None:
    """Mastech 0000899243-20-024361: $5.14 reported for fills from $5.1386 to $5.1390 (the cent's half either
    way); a price written to as many places as the range is not widened."""
    assert choose_range([(D("5.1386"), D("5.1390"))], D("5.14")) == (D("5.1386"), D("5.1390"))
    assert choose_range([(D("4.9637"), D("4.99"))], D("4.96")) == (D("4.9637"), D("4.99"))
    assert choose_range([(D("5.1386"), D("5.1390"))], D("5.15")) is None
    assert choose_range([(D("10.00"), D("10.49"))], D("10.50")) is None
    # $10 stands for 9.5-10.5; a $0 price (a grant, a gift) is no rounded average.
    assert choose_range([(D("9.60"), D("9.80"))], D("10")) == (D("9.60"), D("9.80"))
    assert choose_range([(D("0.10"), D("0.40"))], D("0")) is None


def test_nearest_range_within_the_slack() -> None:
    ranges = [(D("1003.600"), D("1004.590")), (D("1005.600"), D("1006.390"))]
    # TSLA 0000899243-21-047607 row 3: $1,005.129, between the two; nearer the second.
    assert nearest_range(ranges, D("1005.129"), D("0.10")) == (D("1005.600"), D("1006.390"))
    assert nearest_range([(D("663.91"), D("664.90"))], D("634.4608"), D("0.10")) == (D("663.91"), D("664.90"))
    assert nearest_range([(D("663.91"), D("664.90"))], D("634.4608"), D("0.04")) is None
    assert nearest_range([(D("188.970"), D("189.960"))], D("189578"), D("0.10")) is None  # far off: no range
    assert nearest_range([(D("0"), D("0"))], D("1"), D("0.10")) is None
    assert nearest_range([], D("1"), D("0.10")) is None


def test_choose_range_narrowest_when_several_contain_price() -> None:
    ranges = [(D("10"), D("12")), (D("10.5"), D("11")), (D("10.4"), D("11.1"))]
    assert choose_range(ranges, D("10.75")) == (D("10.5"), D("11"))


def test_choose_range_without_price() -> None:
    one = [(D("1"), D("2"))]
    assert choose_range(one, None) == (D("1"), D("2"))
    assert choose_range(one + one, None) == (D("1"), D("2"))  # the same range from two footnotes
    assert choose_range([(D("1"), D("2")), (D("3"), D("4"))], None) is None
    assert choose_range([], None) is None
    assert choose_range([], D("1")) is None


# --------------------------------------------------------------------------------------------------- codes


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("P", Category.OPEN_MARKET_PURCHASE),
        ("S", Category.OPEN_MARKET_SALE),
        ("A", Category.GRANT_AWARD),
        ("F", Category.TAX_WITHHOLDING),
        ("M", Category.OPTION_EXERCISE),
        ("X", Category.OPTION_EXERCISE),
        ("O", Category.OPTION_EXERCISE),
        ("C", Category.CONVERSION),
        ("G", Category.GIFT),
        ("D", Category.DISPOSITION_TO_ISSUER),
        ("J", Category.OTHER),
        ("W", Category.OTHER),
        ("I", Category.OTHER),
        ("Q", Category.OTHER),
        ("", Category.OTHER),
        (None, Category.OTHER),
        (" s ", Category.OPEN_MARKET_SALE),
        ("p", Category.OPEN_MARKET_PURCHASE),
        ("SV", Category.OTHER),  # a display code is not a code
    ],
)
def test_category(code: str | None, expected: Category) -> None:
    assert category(code) is expected


def test_is_open_market() -> None:
    assert is_open_market("P")
    assert is_open_market(" s")
    assert not is_open_market("F")  # tax withholding looks like a sale but is not
    assert not is_open_market("M")
    assert not is_open_market(None)
    assert not is_open_market("")


def test_code_descriptions_cover_all_18_codes() -> None:
    assert set(CODE_DESCRIPTIONS) == set("ACDEFGHIJLMOPSUWXZ")
    assert CODE_DESCRIPTIONS["F"].startswith("Payment of the exercise price or tax liability")
    assert CODE_DESCRIPTIONS["G"] == "Bona fide gift"
    assert "out-of-the-money" in CODE_DESCRIPTIONS["O"]
    assert "in-the-money" in CODE_DESCRIPTIONS["X"]
    assert "will or the laws of descent" in CODE_DESCRIPTIONS["W"]
    assert "Rule 16b-3(f)" in CODE_DESCRIPTIONS["I"]


@pytest.mark.parametrize(
    ("code", "swap", "timeliness", "expected"),
    [
        ("S", None, None, "S"),
        ("S", False, "", "S"),
        ("S", True, None, "SK"),
        ("G", False, "E", "GV"),
        ("J", True, "E", "JKV"),
        ("P", None, "L", "P"),  # late is not voluntary
        ("p", None, " e ", "PV"),
        (None, True, "E", None),
        ("", True, "E", None),
    ],
)
def test_edgar_display_code(
    code: str | None, swap: bool | None, timeliness: str | None, expected: str | None
) -> None:
    assert edgar_display_code(code, equity_swap_involved=swap, timeliness=timeliness) == expected


@pytest.mark.parametrize(
    ("d", "period", "filed", "expected"),
    [
        (None, date(2025, 1, 10), date(2025, 1, 14), True),
        (date(2025, 1, 10), date(2025, 1, 10), date(2025, 1, 14), True),
        (date(2035, 1, 10), date(2025, 1, 10), date(2025, 1, 14), False),  # ELDN year typo
        (date(22, 3, 1), date(2022, 3, 1), date(2022, 3, 3), False),  # year 0022
        (date(1989, 12, 31), None, None, False),
        (date(1990, 1, 1), None, None, True),
        (date(2025, 1, 15), date(2025, 1, 10), date(2025, 1, 14), True),  # one day after filing: tolerated
        (date(2025, 1, 16), date(2025, 1, 10), date(2025, 1, 14), False),
        (date(2025, 1, 11), date(2025, 1, 10), None, True),  # no filing date: period of report + 1 day
        (date(2025, 1, 12), date(2025, 1, 10), None, False),
        (date(2015, 1, 10), date(2025, 1, 10), date(2025, 1, 14), True),  # exactly 10 years back
        (date(2015, 1, 9), date(2025, 1, 10), date(2025, 1, 14), False),
        (date(2014, 3, 1), date(2024, 2, 29), None, True),  # leap-day period: 10 years back is March 1
        (date(2014, 2, 28), date(2024, 2, 29), None, False),
        (date(2035, 1, 10), None, None, True),  # nothing to compare against
        (date(9999, 12, 31), None, date(9999, 12, 31), True),  # no overflow at the end of the calendar
    ],
)
def test_date_plausible(d: date | None, period: date | None, filed: date | None, expected: bool) -> None:
    assert date_plausible(d, period_of_report=period, filed=filed) is expected


def test_an_adoption_date_outside_the_bounds_is_not_taken() -> None:
    """A typo'd year no later step could use (date windows, lags) gives no adoption date."""
    assert plan_adoption_date("Rule 10b5-1 trading plan adopted on May 1, 0001.") is None
    assert plan_adoption_date("Rule 10b5-1 trading plan adopted on May 1, 2024.") == date(2024, 5, 1)
    assert plan_adoption_date("Rule 10b5-1 trading plan adopted on ٢٠٢٤-٠٥-٠١.") is None  # not ASCII digits
