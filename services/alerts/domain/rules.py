"""The rule set: the version Credo ships with, and the checks a new version must pass."""

from __future__ import annotations

from collections.abc import Sequence

from contracts.alerts import (
    BrokenPromise,
    CaseEscalated,
    GradeDrop,
    HoldPlaced,
    PlanInstalmentMissed,
    Rule,
    StatementDisputed,
)
from libs.events.refusals import Refused

FIRST_RULES: tuple[Rule, ...] = (
    GradeDrop(rule_id="grade-drop", severity="warning", by_grades=2, into=("D", "E")),
    HoldPlaced(rule_id="hold-placed", severity="warning"),
    BrokenPromise(rule_id="broken-promise", severity="warning"),
    PlanInstalmentMissed(rule_id="plan-instalment-missed", severity="warning"),
    CaseEscalated(rule_id="case-escalated", severity="critical"),
    StatementDisputed(rule_id="statement-disputed", severity="info"),
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
