"""The alerts domain without I/O: what each rule sees in an event, one open alert per rule and
customer with its count, the lifecycle and who may close an alert, and the rule set's checks."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from pydantic import TypeAdapter, ValidationError

from contracts.alerts import AlertRaised, AlertRepeated, Fact, GradeDrop, Rule
from contracts.collections import CaseEscalated, PlanChanged, PromiseValued
from contracts.receivables import BalanceDisputed
from contracts.scoring import CreditHoldPlaced, CustomerScored, ScoreInputs
from libs.events.contracts import DomainEvent, Money
from libs.events.refusals import Refused
from services.alerts.domain import alert
from services.alerts.domain.alert import NotAssignee
from services.alerts.domain.rules import FIRST_RULES, RulesInvalid, check
from services.alerts.domain.triggers import Book, Memory, facts_for

DAY = date(2026, 6, 1)
RULES = {rule.rule_id: rule for rule in FIRST_RULES}
CNY = Money(amount=Decimal("0.00"), currency="CNY")


def scored(before: str | None, after: str) -> CustomerScored:
    return CustomerScored(
        customer_id="C-1",
        score=Decimal("41.5"),
        grade=after,
        previous_grade=before,
        components={},
        weights={},
        policy_version="p",
        inputs=ScoreInputs(as_of=DAY),
        cause="receivables.InvoiceFellOverdue",
    )


def look(
    rule: Rule, event: DomainEvent, memory: Memory | None = None, book: Book | None = None, event_id: str = "E-1"
) -> tuple[Fact, ...] | None:
    found = facts_for(rule, event, event_id, "C-1", memory or Memory(), book or Book(), DAY)
    return None if found is None else found.facts


def met(
    rule_id: str, event: DomainEvent, memory: Memory | None = None, book: Book | None = None
) -> dict[str, str] | None:
    facts = look(RULES[rule_id], event, memory, book)
    return None if facts is None else {f.name: f.value for f in facts}


def test_a_grade_drop_of_two_grades_or_into_d_or_e_raises_and_one_grade_above_them_does_not() -> None:
    assert met("grade-drop", scored("A", "C")) == {"previous_grade": "A", "grade": "C", "score": "41.5"}
    assert met("grade-drop", scored("C", "D")) is not None  # one grade, but into D
    assert met("grade-drop", scored("B", "C")) is None  # one grade, above D
    assert met("grade-drop", scored("D", "E")) is None  # already in D/E, one grade
    assert met("grade-drop", scored("C", "A")) is None  # a rise
    assert met("grade-drop", scored(None, "E")) is None  # a first grade is no drop
    by_one = GradeDrop(rule_id="any-drop", severity="info", by_grades=1, into=())
    assert look(by_one, scored("B", "C")) is not None


def test_each_rule_sees_its_own_event_and_keeps_the_event_id() -> None:
    hold = CreditHoldPlaced(customer_id="C-1", hold_id="H-1", reason="overdue 60 days", by="policy")
    assert met("hold-placed", hold) == {"hold_id": "H-1", "reason": "overdue 60 days", "by": "policy"}
    facts = look(RULES["hold-placed"], hold, event_id="E-9")
    assert facts is not None
    assert {(f.event_id, f.event_type) for f in facts} == {("E-9", "scoring.CreditHoldPlaced")}
    broken = PromiseValued(customer_id="C-1", promise_id="P-1", outcome="broken", paid=CNY, valued_on=DAY)
    assert met("broken-promise", broken) == {"promise_id": "P-1", "valued_on": "2026-06-01"}
    assert met("broken-promise", broken.model_copy(update={"outcome": "partially_kept"})) is None
    missed = PlanChanged(
        customer_id="C-1", plan_id="PL-1", change="instalment_missed", instalment=2, paid=CNY, due=CNY, on=DAY
    )
    assert met("plan-instalment-missed", missed) == {"plan_id": "PL-1", "instalment": "2"}
    assert met("plan-instalment-missed", missed.model_copy(update={"change": "cured"})) is None
    handed = CaseEscalated(
        customer_id="C-1",
        escalation_id="X-1",
        to="legal",
        reason="120 days",
        by="policy",
        escalated_on=DAY,
        open=(Money(amount=Decimal("12000.00"), currency="CNY"),),
        items=("I-1",),
        notices_sent=4,
        contacts=1,
        promises=0,
    )
    assert met("case-escalated", handed) == {
        "to": "legal",
        "reason": "120 days",
        "open": "12000.00 CNY",
        "by": "policy",
    }
    disputed = BalanceDisputed(
        customer_id="C-1", recorded_on=DAY, statement_id="S-1", disputed_by="陈会计", disputed_on=DAY, lines=()
    )
    assert met("statement-disputed", disputed) == {"statement_id": "S-1", "disputed_by": "陈会计"}
    assert met("hold-placed", disputed) is None


def test_one_open_alert_per_rule_and_customer_a_repeat_raises_its_count() -> None:
    rule = RULES["hold-placed"]
    hold = CreditHoldPlaced(customer_id="C-1", hold_id="H-1", reason="r", by="policy")
    facts = look(rule, hold)
    assert facts is not None
    state = alert.new("C-1")
    first = alert.signal(state, rule, 1, facts, DAY, "AL-1")
    assert isinstance(first[0], AlertRaised)
    assert (first[0].rule_id, first[0].rule_version, first[0].severity) == ("hold-placed", 1, "warning")
    state = alert.evolve(state, first[0])
    assert alert.signal(state, rule, 1, facts, DAY, "AL-2") == []  # the same facts again: a sweep run twice
    later = look(rule, hold, event_id="E-2")
    assert later is not None
    again = alert.signal(state, rule, 2, later, DAY, "AL-2")
    assert isinstance(again[0], AlertRepeated)
    assert (again[0].alert_id, again[0].count, again[0].rule_version) == ("AL-1", 2, 2)
    state = alert.evolve(state, again[0])

    # Acknowledged once (again: nothing), assigned, and resolved only by its assignee or a manager.
    for event in alert.acknowledge(state, "AL-1", "ana", None):
        state = alert.evolve(state, event)
    assert alert.acknowledge(state, "AL-1", "li", "seen") == []
    for event in alert.assign(state, "AL-1", "mei", "wang"):
        state = alert.evolve(state, event)
    with pytest.raises(NotAssignee, match="assigned to mei"):
        alert.resolve(state, "AL-1", "li", "done", may_resolve_any=False)
    for event in alert.resolve(state, "AL-1", "mei", "customer paid", may_resolve_any=False):
        state = alert.evolve(state, event)
    with pytest.raises(Refused, match="is resolved"):
        alert.suppress(state, "AL-1", "wang", "noise")

    # Closed, the rule met again raises a new alert.
    (new,) = alert.signal(state, rule, 2, facts, DAY, "AL-3")
    assert isinstance(new, AlertRaised)
    assert new.alert_id == "AL-3"


def test_a_rule_set_is_refused_naming_the_field() -> None:
    rules = TypeAdapter(list[Rule])
    with pytest.raises(ValidationError, match="threshold"):
        rules.validate_python([{"kind": "grade_drop", "rule_id": "g", "severity": "warning", "threshold": 3}])
    with pytest.raises(ValidationError, match="by_grades"):
        rules.validate_python([{"kind": "grade_drop", "rule_id": "g", "severity": "warning", "by_grades": 5}])
    with pytest.raises(ValidationError, match="kind"):
        rules.validate_python([{"kind": "moon_phase", "rule_id": "m", "severity": "info"}])
    with pytest.raises(RulesInvalid, match=r"rules\[1\]\.rule_id: hold-placed names more than one rule"):
        check([RULES["hold-placed"], RULES["hold-placed"]])
