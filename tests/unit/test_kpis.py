"""The credit manager's figures, each on the worked example that defines it, and on the edges."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from services.receivables.domain.kpis import (
    MonthSales,
    OpenAmount,
    Period,
    Snapshot,
    average_days_delinquent,
    best_possible_dso,
    cei,
    count_back_dso,
    figures,
    months_spanned,
    provision,
    simple_dso,
)

D = Decimal


def test_simple_dso_is_45_days_for_15000_on_10000_of_sales_in_30_days() -> None:
    assert simple_dso(D(15000), D(10000), 30) == D("45.00")
    assert simple_dso(D(15000), D(0), 30) is None  # no sales: no DSO


def test_count_back_dso_is_73_71_days_and_stops_at_a_month_without_sales() -> None:
    months = [MonthSales(D(100000), 30), MonthSales(D(80000), 30), MonthSales(D(70000), 30)]
    assert count_back_dso(D(212000), months) == (D("73.71"), True)
    assert count_back_dso(D(100000), months) == (D("30.00"), True)  # exactly the latest month
    assert count_back_dso(D(50000), months) == (D("15.00"), True)
    gap = [MonthSales(D(100000), 31), MonthSales(D(0), 30), MonthSales(D(70000), 31)]
    assert count_back_dso(D(150000), gap) == (D("31.00"), False)  # not exhausted: a month without sales
    assert count_back_dso(D(0), months) == (D("0"), True)


def test_best_possible_dso_12_and_add_33() -> None:
    dso, best = simple_dso(D(15000), D(10000), 30), best_possible_dso(D(4000), D(10000), 30)
    assert best == D("12.00")
    assert average_days_delinquent(dso, best) == D("33.00")
    # The invoice-weighted variant: (1,000 x 10 + 3,000 x 40) / 4,000 = 32.5 days.
    day = date(2026, 6, 30)
    late = [OpenAmount("C-1", f"I-{n}", f"N-{n}", D(a), day - timedelta(days=d), d) for n, (a, d) in enumerate(
        [(1000, 10), (3000, 40), (500, 0)])]  # fmt: skip
    assert Snapshot.of(day, late).weighted_days_past_due == D("32.50")  # the current 500 has no weight
    assert Snapshot.of(day, late[2:]).weighted_days_past_due is None


def test_cei_55_93_percent_with_s_divided_by_n_and_79_63_without() -> None:
    assert cei(D(6200), D(10890), 3, D(6340), D(3590)) == D("55.93")
    assert cei(D(6200), D(10890), 3, D(6340), D(3590), divide_by_months=False) == D("79.63")


def test_the_provision_matrix_on_the_aging_gives_580000() -> None:
    balances = {"current": D(15_000_000), "1-30": D(7_500_000), "31-60": D(4_000_000), "61-90": D(2_500_000),
                "over 90": D(1_000_000)}  # fmt: skip
    rates = {"current": D("0.3"), "1-30": D("1.6"), "31-60": D("3.6"), "61-90": D("6.6"), "over 90": D("10.6")}
    per_band, total = provision(balances, rates)
    assert per_band == {"current": D(45000), "1-30": D(120000), "31-60": D(144000), "61-90": D(165000),
                        "over 90": D(106000)}  # fmt: skip
    assert total == D("580000.00")


def test_a_period_s_figures_from_its_snapshots() -> None:
    start, end = date(2026, 4, 1), date(2026, 6, 30)

    def item(amount: str, days: int) -> OpenAmount:
        return OpenAmount("C-1", f"I-{amount}", f"N-{amount}", D(amount), date(2026, 6, 30), days)

    period = Period(
        start=start,
        end=end,
        months=months_spanned(start, end),
        beginning=Snapshot.of(date(2026, 3, 31), (item("6200", 5),)),
        ending=Snapshot.of(end, (item("3590", 0), item("1000", 20), item("1750", 95))),
        sales=D(10890),
        monthly_sales=(MonthSales(D(4000), 30), MonthSales(D(3890), 31), MonthSales(D(3000), 30)),
        collected=D(10750),
        fell_due=D(12000),
        promised=D(1100),
    )
    found = figures(period)
    assert period.days == 91
    assert period.months == 3
    assert found.receivables == D(6340)
    assert found.cei == D("55.93")
    assert found.dso == D("52.98")  # 6,340 / 10,890 x 91
    assert found.count_back_dso == D("48.65")  # 30 + 31 x 2,340 / 3,890 = 30 + 18.65
    assert found.best_possible_dso == D("30.00")  # 3,590 / 10,890 x 91
    assert found.add == D("22.98")
    assert found.weighted_days_past_due == D("67.73")  # (1,000 x 20 + 1,750 x 95) / 2,750
    assert (found.percent_current, found.percent_over_90) == (D("56.62"), D("27.60"))
    assert found.collected_to_fell_due == D("89.58")
    assert found.collection_progress == D("40.00")  # 1,100 promised / 2,750 past due
