"""The scorecard's rules against hand-worked examples: PAYDEX, Altman Z″ strength, renormalised
weights, grades and reason codes."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from contracts.scoring import ScoredPayment, ScoreInputs
from services.scoring.domain import scorecard

TODAY = date(2026, 11, 23)


def paid(amount: str, days: int, on: date = date(2026, 10, 1)) -> ScoredPayment:
    return ScoredPayment(amount=Decimal(amount), days_beyond_terms=days, paid_on=on)


@pytest.mark.parametrize(
    ("days", "index"),
    [(-45, "100"), (-30, "100"), (-15, "90"), (0, "80"), (15, "70"), (30, "50"), (45, "45"), (60, "40"), (90, "30"),
     (120, "20"), (200, "20")],
)  # fmt: skip
def test_paydex_anchors_and_interpolation(days: int, index: str) -> None:
    assert scorecard.paydex([paid("1000", days)], TODAY) == Decimal(index)


def test_paydex_weights_by_amount_over_the_last_twelve_months() -> None:
    # 3,000 on terms and 1,000 forty days late: (0 x 3000 + 40 x 1000) / 4000 = 10 days -> 80 - 10 x 10/15.
    payments = [paid("3000", 0), paid("1000", 40), paid("99999", 300, on=date(2025, 10, 1))]
    assert scorecard.paydex(payments, TODAY) == Decimal(80) - Decimal(10) * Decimal(10) / Decimal(15)
    assert scorecard.paydex([paid("5", 0, on=date(2025, 1, 1))], TODAY) is None


def test_financial_strength_from_altman_z_and_liquidity() -> None:
    # Z'' 1.85 is halfway from distress (1.10) to safe (2.60): 50; current ratio 1.25 is halfway: 50.
    assert scorecard.financial_strength(Decimal("1.85"), Decimal("1.25")) == Decimal(50)
    assert scorecard.financial_strength(Decimal("3.03"), None) == Decimal(100)
    assert scorecard.financial_strength(Decimal("-1.45"), Decimal("0.4")) == Decimal(0)
    assert scorecard.financial_strength(None, None) is None


def test_a_component_without_data_is_left_out_and_the_weights_renormalised() -> None:
    inputs = ScoreInputs(as_of=TODAY, payments=[paid("1000", 0)], balance=Decimal(1000), overdue=Decimal(0))
    result = scorecard.score(inputs)
    # payment 80 (weight 35) and delinquency 100 (weight 20): (35 x 80 + 20 x 100) / 55 = 87.27
    assert result.left_out == ("financial_strength", "history", "bureau")
    assert result.weights == {"payment_behaviour": Decimal("63.64"), "delinquency": Decimal("36.36")}
    assert result.score == Decimal("87.27")
    assert result.grade == "A"
    assert result.reasons == ("payment_behaviour",)


def test_grade_and_the_three_reasons_that_cost_the_most() -> None:
    inputs = ScoreInputs(
        as_of=TODAY,
        payments=[paid("1000", 60)],  # 40
        balance=Decimal(1000),
        overdue=Decimal(500),
        oldest_days_past_due=60,  # (50 x 0.5) + (60 x 0.5) = 55
        altman_z=Decimal("1.85"),
        current_ratio=Decimal("1.25"),  # 50
        months_trading=30,
        invoices_paid=25,  # 50
        bureau_score=70,
        bureau_score_min=0,
        bureau_score_max=100,
        adverse_records=1,  # 50
    )
    result = scorecard.score(inputs)
    # 0.35 x 40 + 0.20 x 55 + 0.20 x 50 + 0.10 x 50 + 0.15 x 50 = 14 + 11 + 10 + 5 + 7.5 = 47.5
    assert result.score == Decimal("47.50")
    assert result.grade == "D"
    # costs: payment 21, financial 10, delinquency 9, bureau 7.5, history 5
    assert result.reasons == ("payment_behaviour", "financial_strength", "delinquency")
    assert scorecard.score(inputs) == result  # the same inputs and policy, the same score


def test_a_bureau_score_is_placed_on_its_own_scale() -> None:
    # 350 on 300-850 is 50/550 of the way: 9.09, "very poor"; on an unknown scale it is not used.
    on_its_scale = ScoreInputs(as_of=TODAY, bureau_score=350, bureau_score_min=300, bureau_score_max=850)
    assert scorecard.bureau(on_its_scale, scorecard.Policy()) == Decimal(50) * 100 / 550
    unknown = ScoreInputs(as_of=TODAY, bureau_score=350, bureau_provider="Nowhere")
    assert scorecard.bureau(unknown, scorecard.Policy()) is None
    by_policy = scorecard.Policy(bureau_scales={"Nowhere": (300, 850)})
    assert scorecard.bureau(unknown, by_policy) == scorecard.bureau(on_its_scale, scorecard.Policy())
    # A report's own scale wins over the policy's.
    assert scorecard.bureau(on_its_scale, scorecard.Policy(bureau_scales={"": (0, 350)})) == Decimal(50) * 100 / 550


def test_a_thin_file_grades_no_better_than_unrated() -> None:
    # A very good bureau score alone: 100 points, but one component and no payment history.
    alone = ScoreInputs(as_of=TODAY, bureau_score=850, bureau_score_min=300, bureau_score_max=850)
    result = scorecard.score(alone)
    assert (result.score, result.grade) == (Decimal("100.00"), "C")
    assert result.notes == ("thin file: 1 component(s) without payment history grade no better than C",)
    poor = ScoreInputs(as_of=TODAY, bureau_score=350, bureau_score_min=300, bureau_score_max=850)
    assert scorecard.score(poor).grade == "E"  # the cap limits good grades only
    # Payment history is enough on its own; so are two components.
    assert scorecard.score(ScoreInputs(as_of=TODAY, payments=[paid("1000", -30)])).grade == "A"
    two = ScoreInputs(as_of=TODAY, balance=Decimal(100), overdue=Decimal(0), bureau_score=90, bureau_score_min=0,
                      bureau_score_max=100)  # fmt: skip
    assert scorecard.score(two).grade == "A"


@pytest.mark.parametrize(
    ("previous", "points", "grade"),
    [
        (None, "64.00", "C"),  # no grade yet: the plain grade
        ("C", "66.99", "C"),  # not yet 2 points above B's floor of 65
        ("C", "67.00", "B"),
        ("B", "63.00", "B"),  # within 2 points below B's floor
        ("B", "62.99", "C"),
        ("B", "49.00", "D"),  # a fall past the band drops to the plain grade at once
        ("D", "82.00", "A"),  # a rise past A's floor and band goes straight up
        ("D", "81.00", "B"),  # A needs 82, B needs 67
    ],
)
def test_a_grade_moves_only_beyond_a_band_around_each_floor(previous: str | None, points: str, grade: str) -> None:
    assert scorecard.grade(Decimal(points), scorecard.Policy(), previous) == grade  # type: ignore[arg-type]


def test_a_score_hovering_at_a_floor_does_not_flip_the_grade() -> None:
    grades, previous = [], None
    for points in ("65.50", "64.20", "65.80", "64.10", "65.30", "63.40", "66.00"):
        previous = scorecard.grade(Decimal(points), scorecard.Policy(), previous)
        grades.append(previous)
    assert grades == ["B"] * 7


def test_broken_promises_cost_payment_behaviour_ten_points_each() -> None:
    on_terms = (ScoredPayment(amount=Decimal(1000), days_beyond_terms=0, paid_on=date(2026, 5, 1)),)
    base = ScoreInputs(as_of=date(2026, 6, 1), payments=on_terms, balance=Decimal(0), overdue=Decimal(0))
    assert scorecard.payment_behaviour(base, scorecard.Policy()) == Decimal(80)
    twice = base.model_copy(update={"broken_promises": 2})
    assert scorecard.payment_behaviour(twice, scorecard.Policy()) == Decimal(60)
    no_payments = ScoreInputs(as_of=date(2026, 6, 1), broken_promises=6)
    assert scorecard.payment_behaviour(no_payments, scorecard.Policy()) == Decimal(0)  # 50 less 60, held at 0
    assert any("2 promise(s) to pay broken" in n for n in scorecard.score(twice).notes)
