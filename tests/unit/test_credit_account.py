"""The credit account: the approval chain with escalation past an approver's authority, no
self-approval, and a temporary limit that expires by itself."""

from __future__ import annotations

from datetime import date

import pytest

from contracts.scoring import CreditLimitApproved, CreditLimitEscalated, CreditLimitSet, RequestKind
from libs.events.contracts import DomainEvent, Money
from services.scoring import domain
from services.scoring.domain import CreditAccount, limits

TODAY = date(2026, 11, 23)
POLICY = limits.LimitPolicy()


def cny(amount: int) -> Money:
    return Money.of(amount, "CNY")


def fold(events: list[DomainEvent], account: CreditAccount) -> CreditAccount:
    for event in events:
        account = domain.evolve(account, event)
    return account


def requested(
    account: CreditAccount, request_id: str, kind: RequestKind, amount: int, until: date | None = None
) -> CreditAccount:
    events = domain.request_limit(account, "C-1", request_id, kind, cny(amount), until, "ana", "why", TODAY, POLICY)
    return fold(events, account)


def approved_by(
    account: CreditAccount, request_id: str, who: str, role: str
) -> tuple[CreditAccount, list[DomainEvent]]:
    events = domain.approve(account, request_id, who, [role], None, POLICY)
    return fold(events, account), events


def with_limit(amount: int) -> CreditAccount:
    account, _ = approved_by(requested(CreditAccount(), "R-0", "new", amount), "R-0", "li", "credit_analyst")
    return account


def test_a_request_above_an_approvers_authority_moves_up_tier_by_tier() -> None:
    account = requested(with_limit(50_000), "R-1", "increase", 2_000_000)
    assert account.requests["R-1"].waiting_for == "credit_analyst"
    with pytest.raises(domain.Refused, match="cannot approve their own request"):
        domain.approve(account, "R-1", "ana", ["finance_director"], None, POLICY)

    account, events = approved_by(account, "R-1", "li", "credit_analyst")  # 100,000 authority
    assert [(type(e), e.to_tier) for e in events if isinstance(e, CreditLimitEscalated)] == [
        (CreditLimitEscalated, "credit_manager")
    ]
    with pytest.raises(domain.Refused, match="waits for a credit_manager"):
        domain.approve(account, "R-1", "li", ["credit_analyst"], None, POLICY)
    account, events = approved_by(account, "R-1", "wang", "credit_manager")  # 1,000,000 authority
    assert account.requests["R-1"].waiting_for == "finance_director"
    account, events = approved_by(account, "R-1", "zhou", "finance_director")
    assert [type(e) for e in events] == [CreditLimitApproved, CreditLimitSet]
    assert account.limit_on(TODAY) == cny(2_000_000)
    with pytest.raises(domain.Refused, match="already approved"):
        domain.approve(account, "R-1", "zhou", ["finance_director"], None, POLICY)


def test_requests_that_make_no_sense_are_refused() -> None:
    with pytest.raises(domain.Refused, match="already has a limit"):
        requested(with_limit(50_000), "R-2", "new", 60_000)
    with pytest.raises(domain.Refused, match="an increase must exceed the current limit of 50000"):
        requested(with_limit(50_000), "R-2", "increase", 40_000)
    with pytest.raises(domain.Refused, match="above every tier's authority"):
        requested(with_limit(50_000), "R-2", "increase", 20_000_000)


def test_a_temporary_limit_expires_by_itself() -> None:
    until = date(2026, 12, 31)
    account, _ = approved_by(
        requested(with_limit(50_000), "T-1", "temporary", 80_000, until), "T-1", "li", "credit_analyst"
    )
    assert (account.limit_on(date(2026, 12, 30)), account.standing_limit) == (cny(80_000), cny(50_000))
    assert account.limit_on(until) == cny(50_000)  # in force until the expiry date, even before the sweep
    assert domain.expire_temporary(account, date(2026, 12, 30)) == []
    account = fold(domain.expire_temporary(account, until), account)
    assert (account.limit_on(until), account.temporary_until) == (cny(50_000), None)
    assert domain.expire_temporary(account, date(2027, 1, 1)) == []
    with pytest.raises(domain.Refused, match="must expire after today"):
        requested(account, "T-2", "temporary", 60_000, TODAY)


def test_nobody_approves_their_own_request_however_they_write_their_name() -> None:
    account = requested(with_limit(50_000), "R-1", "increase", 80_000)  # asked by "ana"
    with pytest.raises(domain.Refused, match="cannot approve their own request"):
        domain.approve(account, "R-1", " Ana ", ["credit_analyst"], None, POLICY)


def test_a_request_is_rejected_by_its_tier_or_withdrawn_by_its_requester() -> None:
    account = requested(with_limit(50_000), "R-1", "increase", 500_000)
    account, _ = approved_by(account, "R-1", "li", "credit_analyst")  # endorsed: waits for a credit manager
    with pytest.raises(domain.Refused, match="waits for a credit_manager"):
        domain.reject(account, "R-1", "li", ["credit_analyst"], "too much", POLICY)
    assert domain.reject(account, "R-1", "wang", ["credit_manager"], "too much", POLICY)
    assert domain.reject(account, "R-1", "ANA", ["credit_analyst"], "withdrawn", POLICY)  # the requester's own
