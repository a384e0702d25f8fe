"""The provision matrix from a constructed history, by roll rates and by payment cohorts, checked
against the hand calculation in each test's comments; the overlay; the bands."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from services.receivables.domain.provision import (
    CoverChange,
    Open,
    band_of,
    cohorts,
    insured,
    restrict,
    roll_rates,
    with_overlay,
)

D = Decimal


def test_the_bands_by_days_past_due() -> None:
    assert [band_of(d) for d in (-5, 0, 1, 30, 31, 60, 61, 90, 91, 400)] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]


def test_roll_rates_multiplied_to_write_off() -> None:
    m0 = {"A": Open(0, D(1000)), "B": Open(1, D(500)), "C": Open(2, D(200)), "D": Open(3, D(100)), "E": Open(4, D(50))}
    m1 = {"A": Open(1, D(600)), "B": Open(2, D(250)), "C": Open(3, D(200)), "D": Open(4, D(100)), "F": Open(0, D(2000))}
    m2 = {"A": Open(2, D(300)), "B": Open(3, D(250)), "C": Open(4, D(100)), "D": Open(4, D(60)), "F": Open(1, D(1000))}
    found = roll_rates([m0, m1, m2], [{"E": D(50)}, {"D": D(40)}])
    # current: A 1,000 + F 2,000; rolled A 600 + F 1,000 = 53.3333 %
    # 1-30: B 500 + A 600; rolled 250 + 300 = 50 %;  31-60: C 200 + B 250; rolled all = 100 %
    # 61-90: D 100 + C 200; rolled 100 + 100 = 66.6667 %;  over 90: E 50 + D 100; written off 50 + 40 = 60 %
    assert found.balances == (D(3000), D(1100), D(450), D(300), D(150))
    assert found.rolled == (D(1600), D(550), D(450), D(200), D(90))
    assert found.rates == (D("53.3333"), D("50.0000"), D("100.0000"), D("66.6667"), D("60.0000"))
    # over 90: 60 %; 61-90: 66.6667 % x 60 % = 40 %; 31-60: 40 %; 1-30: 20 %; current: 53.3333 % x 20 % = 10.6667 %
    assert found.loss_rates == (D("10.6667"), D("20.0000"), D("40.0000"), D("40.0000"), D("60.0000"))


def test_payment_cohorts_the_never_paid_share_of_what_reached_each_band() -> None:
    billed = {"A": D(1000), "F": D(2000), "G": D(800)}
    m1 = {"A": Open(1, D(600)), "G": Open(4, D(800))}
    m2 = {"A": Open(2, D(300)), "F": Open(1, D(1000)), "G": Open(4, D(500))}
    found = cohorts(billed, [m1, m2], [{}, {"G": D(300)}])
    # Reached current: 1,000 + 2,000 + 800; 1-30: A 600 + F 1,000; 31-60: A 300; over 90: G 800.
    # Never paid: G, 300 written off and 500 still over 90 days.
    assert found.reached == (D(3800), D(1600), D(300), D(0), D(800))
    assert found.lost == (D(800), D(0), D(0), D(0), D(800))
    assert found.loss_rates == (D("21.0526"), D("0"), D("0"), D("0"), D("100.0000"))


def test_the_overlay_raises_each_rate_by_its_share_and_never_past_100() -> None:
    assert with_overlay([D("10.6667"), D("60"), D("95")], D(10)) == (D("11.7334"), D("66.0000"), D("100.0000"))
    assert with_overlay([D("10")], D(-20)) == (D("8.0000"),)


def test_insured_at_a_month_end_as_known_on_a_day() -> None:
    d = date.fromisoformat
    changes = [
        CoverChange("A", "P-1", d("2026-01-10"), expires_on=d("2026-12-31")),
        CoverChange("B", "P-2", d("2026-01-10"), expires_on=d("2026-04-30")),  # expires before May's end
        CoverChange("C", "P-3", d("2026-06-03"), expires_on=d("2026-12-31")),  # learnt of after May's end
        CoverChange("D", "P-4", d("2026-01-10"), expires_on=d("2026-12-31")),
        CoverChange("D", "P-4", d("2026-06-02"), cancelled_on=d("2026-05-15")),  # cancelled back to 15 May
        CoverChange("E", "P-5", d("2026-01-10"), expires_on=d("2026-12-31")),
        CoverChange("E", "P-5", d("2026-02-01"), cancelled_on=d("2026-02-01")),
        CoverChange("E", "P-5", d("2026-03-01"), expires_on=d("2026-09-30")),  # renewed after the cancellation
        CoverChange("F", "P-6", d("2026-01-10"), expires_on=d("2026-12-31")),
        CoverChange("F", "P-6", d("2026-01-10"), cancelled_on=d("2026-01-10")),  # same day: cancelled
    ]
    may = d("2026-05-31")
    assert insured(changes, may, known_on=may) == {"A", "D", "E"}
    # Known later, D's cancellation reaches back into May; C's cover, recorded in June, does not.
    assert insured(changes, may, known_on=d("2026-06-30")) == {"A", "E"}
    assert insured(changes, d("2026-04-30"), known_on=may) == {"A", "B", "D", "E"}


def test_a_segment_keeps_only_its_own_invoices() -> None:
    held = {"A": Open(1, D(10)), "B": Open(2, D(20))}
    assert restrict(held, frozenset({"B", "Z"})) == {"B": Open(2, D(20))}
