"""The rule set: the version Credo ships with, and the checks a new version must pass."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from contracts.alerts import (
    BrokenPromise,
    BureauAdverse,
    BureauScoreDrop,
    CaseEscalated,
    Concentration,
    DeadLetter,
    ExposureOverLimit,
    GradeDrop,
    HoldPlaced,
    InsuranceCancelled,
    InsuranceExpiring,
    InsuranceReduced,
    ItemOverdue,
    LimitUse,
    OverdueShareRise,
    PlanInstalmentMissed,
    ReviewOverdue,
    Rule,
    ScoreDrop,
    StatementDisputed,
    TopConcentration,
)
from libs.events.refusals import Refused

FIRST_RULES: tuple[Rule, ...] = (
    GradeDrop(rule_id="grade-drop", severity="warning", by_grades=2, into=("D", "E"), acknowledge_within_days=2),
    ScoreDrop(rule_id="score-drop", severity="warning", points=Decimal(15), within_days=30, acknowledge_within_days=2),
    LimitUse(rule_id="limit-use", severity="info", percent=Decimal(80)),
    ExposureOverLimit(rule_id="over-limit", severity="warning", notify="credit_manager", acknowledge_within_days=1),
    HoldPlaced(rule_id="hold-placed", severity="warning"),
    ItemOverdue(rule_id="item-overdue", severity="warning", days=60, notify="collector", acknowledge_within_days=2),
    OverdueShareRise(
        rule_id="overdue-share-rise", severity="warning", points=Decimal(20), within_days=30, notify="collector"
    ),
    BrokenPromise(rule_id="broken-promise", severity="warning", notify="collector", acknowledge_within_days=2),
    PlanInstalmentMissed(
        rule_id="plan-instalment-missed", severity="warning", notify="collector", acknowledge_within_days=2
    ),
    CaseEscalated(rule_id="case-escalated", severity="critical", notify="credit_manager", acknowledge_within_days=1),
    BureauAdverse(rule_id="bureau-adverse", severity="warning", acknowledge_within_days=2),
    BureauScoreDrop(rule_id="bureau-score-drop", severity="info", points=20),
    StatementDisputed(rule_id="statement-disputed", severity="info", notify="collector"),
    InsuranceExpiring(rule_id="insurance-expiring", severity="warning", within_days=30),
    InsuranceReduced(rule_id="insurance-reduced", severity="warning"),
    InsuranceCancelled(rule_id="insurance-cancelled", severity="warning", acknowledge_within_days=2),
    ReviewOverdue(rule_id="review-overdue", severity="info"),
    Concentration(rule_id="concentration", severity="info", percent=Decimal(10), notify="credit_manager"),
    TopConcentration(
        rule_id="top-concentration", severity="info", top=10, percent=Decimal(50), notify="credit_manager"
    ),
    DeadLetter(rule_id="dead-letter", severity="critical", notify="admin"),
)


class RulesInvalid(Refused):
    """A rule set that does not hold together; ``field`` says where."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def check(rules: Sequence[Rule]) -> Sequence[Rule]:
    """Rule ids are unique: an alert names its rule by id."""
    if not rules:
        raise RulesInvalid("rules", "at least one rule")
    seen: set[str] = set()
    for n, rule in enumerate(rules):
        if rule.rule_id in seen:
            raise RulesInvalid(f"rules[{n}].rule_id", f"{rule.rule_id} names more than one rule")
        seen.add(rule.rule_id)
    return rules
