"""The credit check's answers: approve within the limit, review near it, hold over it or on hold."""

from __future__ import annotations

from decimal import Decimal

from services.scoring.domain import checks

D = Decimal


def test_approve_within_the_limit_counting_reservations() -> None:
    decision = checks.decide(D(30_000), D(100_000), D(50_000), D(20_000), [], "B")
    assert (decision.outcome, decision.available) == ("approve", D(30_000))


def test_review_just_over_the_limit_and_hold_well_over_it() -> None:
    near = checks.decide(D(35_000), D(100_000), D(50_000), D(20_000), [], "B")
    assert near.outcome == "review"
    assert near.reasons == ("the order exceeds available credit (30000 of 100000) by 5000",)
    assert checks.decide(D(45_000), D(100_000), D(50_000), D(20_000), [], "B").outcome == "hold"


def test_holds_no_limit_and_poor_grades() -> None:
    held = checks.decide(D(1), D(100_000), D(0), D(0), ["overdue past 60 days"], "A")
    assert (held.outcome, held.reasons) == ("hold", ("credit hold: overdue past 60 days",))
    assert checks.decide(D(1), None, D(0), D(0), [], None).outcome == "review"
    assert checks.decide(D(1), D(100_000), D(0), D(0), [], "E").outcome == "review"
