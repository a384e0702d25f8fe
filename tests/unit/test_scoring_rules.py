"""Scoring's rules beyond the scorecard: what is overdue on an instalment schedule, the holds
policy keeps, terms through the approval chain, reservations, and a what-if policy's checks."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest

from contracts.scoring import CreditHoldPlaced, CreditHoldReleased, CreditLimitApproved, CreditTermsSet
from libs.events.contracts import DomainEvent, Money
from services.scoring import domain
from services.scoring.domain import CreditAccount, HoldPolicy, Terms, limits, policy
from services.scoring.domain.exposure import months_between, net_of_credit, overdue_of
from services.scoring.projections import active_reservations
from services.scoring.settings import ScoringSettings, policies_from

TODAY = date(2026, 11, 23)
POLICY = limits.LimitPolicy()


def fold(events: list[DomainEvent], account: CreditAccount) -> CreditAccount:
    for event in events:
        account = domain.evolve(account, event)
    return account


def test_what_was_paid_settles_the_earliest_instalments_first() -> None:
    schedule = [
        (date(2026, 9, 30), Decimal(400)),
        (date(2026, 10, 31), Decimal(300)),
        (date(2026, 12, 31), Decimal(300)),
    ]
    # 500 paid: the first instalment and 100 of the second; 200 of the second is 23 days late.
    assert overdue_of(schedule, Decimal(1000), Decimal(500), TODAY) == (Decimal(200), 23)
    # Nothing paid: both past instalments are overdue, the oldest 54 days.
    assert overdue_of(schedule, Decimal(1000), Decimal(1000), TODAY) == (Decimal(700), 54)
    assert overdue_of(schedule, Decimal(1000), Decimal(300), TODAY) == (Decimal(0), 0)
    # A credit note that cut the total leaves less open: the schedule is not yet paid in full.
    assert overdue_of([(date(2026, 11, 1), Decimal(1000))], Decimal(1000), Decimal(250), TODAY) == (Decimal(250), 22)


def test_months_trading_counts_whole_months() -> None:
    assert months_between(date(2021, 11, 23), TODAY) == 60
    assert months_between(date(2021, 11, 24), TODAY) == 59
    assert months_between(date(2027, 1, 1), TODAY) == 0


def test_policy_holds_are_placed_and_released_with_the_facts() -> None:
    account = CreditAccount(customer_id="C-1", standing_limit=Money.of(100_000, "CNY"))
    rules = HoldPolicy(over_limit=True, overdue_days=60)
    placed = domain.policy_holds(account, Decimal("100000.01"), 61, TODAY, rules)
    assert [(type(e), e.hold_id) for e in placed] == [  # type: ignore[attr-defined]
        (CreditHoldPlaced, domain.OVER_LIMIT),
        (CreditHoldPlaced, domain.OVERDUE),
    ]
    assert placed[1].reason == "an invoice is 61 days past due (policy: 60)"  # type: ignore[attr-defined]
    held = fold(placed, account)
    assert domain.policy_holds(held, Decimal(100_000), 61, TODAY, rules) == [
        CreditHoldReleased(
            customer_id="C-1", hold_id=domain.OVER_LIMIT, reason="exposure is within the limit", by="policy"
        )
    ]
    assert domain.policy_holds(held, Decimal("100000.01"), 61, TODAY, rules) == []  # nothing new to say
    by_hand = fold(domain.place_hold(account, "C-1", "manual-1", "cheque bounced", "wang"), account)
    assert domain.policy_holds(by_hand, Decimal(0), 0, TODAY, rules) == []  # a person's hold is a person's
    never = HoldPolicy(over_limit=False, overdue_days=None)
    assert domain.policy_holds(account, Decimal(10**9), 999, TODAY, never) == []


def test_terms_beyond_the_grades_default_need_the_second_tier() -> None:
    account = CreditAccount(customer_id="C-1")
    within = domain.request_terms(account, "C-1", "T-1", Terms(45), "B", "ana", "usual", POLICY)
    assert within[0].waiting_for == "credit_analyst"  # type: ignore[attr-defined]
    longer = domain.request_terms(account, "C-1", "T-2", Terms(60, Decimal(2), 10), "B", "ana", "big order", POLICY)
    account = fold(longer, account)
    with pytest.raises(domain.Refused, match="waits for a credit_manager"):
        domain.approve(account, "T-2", "li", ["credit_analyst"], None, POLICY)
    approved = domain.approve(account, "T-2", "wang", ["credit_manager"], None, POLICY)
    assert [type(e) for e in approved] == [CreditLimitApproved, CreditTermsSet]
    assert fold(approved, account).terms == Terms(60, Decimal(2), 10)
    with pytest.raises(domain.Refused, match="both its percent and its days"):
        domain.request_terms(account, "C-1", "T-3", Terms(30, Decimal(2)), "B", "ana", "x", POLICY)
    with pytest.raises(domain.Refused, match="shorter than the credit period"):
        domain.request_terms(account, "C-1", "T-3", Terms(30, Decimal(2), 30), "B", "ana", "x", POLICY)


def test_reservations_lapse_on_their_date() -> None:
    raw = json.dumps({"CC-1": ["SO-1", "6000.00", "2026-11-23"], "CC-2": ["SO-2", "10.50", "2026-11-22"]})
    assert active_reservations(raw, TODAY) == {"CC-1": ("SO-1", Decimal("6000.00"))}


def test_a_what_if_policy_must_make_sense() -> None:
    now = policies_from(ScoringSettings())
    changed = policy.changed(now, grade_floors={"A": Decimal(70)}, hold_overdue_days=30, version="v2")
    assert dict(changed.scorecard.grade_floors)["A"] == Decimal(70)
    assert (changed.scorecard.version, changed.holds.overdue_days) == ("v2", 30)
    assert dict(now.scorecard.grade_floors)["A"] == Decimal(80)  # the live policy is untouched
    with pytest.raises(ValueError, match="grade floors run from A down to D"):
        policy.changed(now, grade_floors={"B": Decimal(90)})
    zero = dict.fromkeys(now.scorecard.weights, Decimal(0))
    with pytest.raises(ValueError, match="not all zero"):
        policy.changed(now, weights=zero)


def test_a_cash_discount_is_gated_like_the_credit_days() -> None:
    account = CreditAccount(customer_id="C-1")
    small = domain.request_terms(account, "C-1", "T-1", Terms(45, Decimal(2), 10), "B", "ana", "usual", POLICY)
    assert small[0].waiting_for == "credit_analyst"  # type: ignore[attr-defined]
    bigger = domain.request_terms(account, "C-1", "T-2", Terms(45, Decimal(3), 10), "B", "ana", "usual", POLICY)
    assert bigger[0].waiting_for == "credit_manager"  # type: ignore[attr-defined]
    with pytest.raises(domain.Refused, match="more than 0 and at most 10 percent"):
        domain.request_terms(account, "C-1", "T-3", Terms(60, Decimal(99), 10), "B", "ana", "x", POLICY)


def test_a_policy_hold_is_released_by_policy_or_a_credit_manager_and_comes_back_while_its_cause_remains() -> None:
    account = CreditAccount(customer_id="C-1")
    rules = HoldPolicy(over_limit=True, overdue_days=60)
    held = fold(domain.policy_holds(account, Decimal(0), 75, TODAY, rules), account)
    with pytest.raises(domain.Refused, match="only a credit manager may release it by hand"):
        domain.release_hold(held, domain.OVERDUE, "they promised", "li", ["credit_analyst"])
    released = fold(
        domain.release_hold(held, domain.OVERDUE, "promised to pay Friday", "wang", ["credit_manager"]), held
    )
    assert domain.OVERDUE not in released.holds
    again = domain.policy_holds(released, Decimal(0), 76, TODAY, rules)
    assert [e.hold_id for e in again] == [domain.OVERDUE]  # type: ignore[attr-defined]


def test_a_credit_file_on_hold_or_closed_holds_the_account() -> None:
    account = CreditAccount(customer_id="C-1", standing_limit=Money.of(100_000, "CNY"))
    rules = HoldPolicy()
    placed = domain.policy_holds(account, Decimal(0), 0, TODAY, rules, ("closed", "ceased trading"))
    assert [(e.hold_id, e.reason) for e in placed] == [  # type: ignore[attr-defined]
        (domain.CREDIT_FILE, "the credit file is closed: ceased trading")
    ]
    held = fold(placed, account)
    assert [e.hold_id for e in domain.policy_holds(held, Decimal(0), 0, TODAY, rules)] == [domain.CREDIT_FILE]  # type: ignore[attr-defined]
    assert fold(domain.policy_holds(held, Decimal(0), 0, TODAY, rules), held).holds == {}


def test_overdue_is_net_of_what_the_customer_has_with_us() -> None:
    items = [(date(2026, 8, 1), Decimal(500)), (date(2026, 9, 1), Decimal(300))]
    assert net_of_credit(items, Decimal(0), TODAY) == (Decimal(800), 114)
    assert net_of_credit(items, Decimal(600), TODAY) == (Decimal(200), 83)  # the oldest taken first
    assert net_of_credit(items, Decimal(800), TODAY) == (Decimal(0), 0)
