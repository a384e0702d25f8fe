"""Recommended limits with their calculation, and the approval chain's authority tiers."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.scoring.domain import limits


def test_the_recommendation_is_the_lowest_of_needs_net_worth_and_cover() -> None:
    # Grade B: needs 400,000 a month x 60/30 x 1.2 = 960,000; 15% of 5,000,000 = 750,000; cover 800,000.
    advice = limits.recommend("B", Decimal(400_000), 60, Decimal(5_000_000), Decimal(800_000))
    assert advice.amount == Decimal(750_000)
    assert advice.calculation[0].endswith("= 960000.00")
    assert "750000.00" in advice.calculation[1]
    # No statement: needs, capped by the cover and rounded down to thousands.
    advice = limits.recommend("A", Decimal("123456.78"), 30, None, Decimal(150_000))
    assert advice.amount == Decimal(150_000)
    assert limits.recommend("A", Decimal("99999.99"), 30, None, None).amount == Decimal(149_000)
    assert limits.recommend("E", Decimal(100_000), 30, Decimal(10**9), None).amount == 0


def test_approval_within_authority_escalation_above_it_and_never_ones_own() -> None:
    within = limits.approve(Decimal(80_000), "ana", "li", ["credit_analyst"], None)
    assert (within.decision, within.tier) == ("approved", "credit_analyst")

    above = limits.approve(Decimal(2_000_000), "ana", "li", ["credit_analyst"], "credit_analyst")
    assert (above.decision, above.tier) == ("escalated", "credit_manager")
    higher = limits.approve(Decimal(2_000_000), "ana", "wang", ["credit_manager"], "credit_manager")
    assert (higher.decision, higher.tier) == ("escalated", "finance_director")
    with pytest.raises(limits.NotAllowed, match="waits for a finance_director"):
        limits.approve(Decimal(2_000_000), "ana", "wang", ["credit_manager"], "finance_director")
    done = limits.approve(Decimal(2_000_000), "ana", "zhou", ["finance_director"], "finance_director")
    assert (done.decision, done.tier) == ("approved", "finance_director")

    with pytest.raises(limits.NotAllowed, match="cannot approve their own request"):
        limits.approve(Decimal(1), "ana", "ana", ["finance_director"], None)
    with pytest.raises(limits.NotAllowed, match="no approval authority"):
        limits.approve(Decimal(1), "ana", "bo", ["viewer"], None)
    with pytest.raises(limits.NotAllowed, match="above every tier"):
        limits.approve(Decimal(20_000_000), "ana", "zhou", ["finance_director"], None)
