"""What an event of another service tells a rule: the facts that meet it, or nothing."""

from __future__ import annotations

from contracts.alerts import (
    BrokenPromise,
    CaseEscalated,
    Fact,
    GradeDrop,
    HoldPlaced,
    PlanInstalmentMissed,
    Rule,
    StatementDisputed,
)
from contracts.collections import CaseEscalated as CaseHandedOver
from contracts.collections import PlanChanged, PromiseValued
from contracts.receivables import BalanceDisputed
from contracts.scoring import CreditHoldPlaced, CustomerScored
from libs.events.contracts import DomainEvent

GRADES = "ABCDE"


def facts_for(rule: Rule, event: DomainEvent, event_id: str) -> tuple[Fact, ...] | None:
    """The facts with which ``event`` (of id ``event_id``) meets ``rule``, or None."""

    def fact(name: str, value: object) -> Fact:
        return Fact(name=name, value=str(value), event_id=event_id, event_type=event.event_type)

    match rule, event:
        case GradeDrop(), CustomerScored(previous_grade=str() as before):
            drop = GRADES.index(event.grade) - GRADES.index(before)
            entered = event.grade in rule.into and before not in rule.into
            if drop >= rule.by_grades or entered:
                return (fact("previous_grade", before), fact("grade", event.grade), fact("score", event.score))
        case HoldPlaced(), CreditHoldPlaced():
            return (fact("hold_id", event.hold_id), fact("reason", event.reason), fact("by", event.by))
        case BrokenPromise(), PromiseValued(outcome="broken"):
            return (fact("promise_id", event.promise_id), fact("valued_on", event.valued_on))
        case PlanInstalmentMissed(), PlanChanged(change="instalment_missed"):
            return (fact("plan_id", event.plan_id), fact("instalment", event.instalment))
        case CaseEscalated(), CaseHandedOver():
            amounts = ", ".join(f"{m.amount} {m.currency}" for m in event.open)
            return (fact("to", event.to), fact("reason", event.reason), fact("open", amounts), fact("by", event.by))
        case StatementDisputed(), BalanceDisputed():
            return (fact("statement_id", event.statement_id), fact("disputed_by", event.disputed_by))
    return None
