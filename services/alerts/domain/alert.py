"""A customer's alerts, folded from its events: at most one open alert per rule; a repeat raises its
count. An alert is raised, then acknowledged and assigned in either order, then resolved or
suppressed; a resolved or suppressed alert is closed, and the rule met again raises a new one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date

from immutables import Map

from contracts.alerts import (
    ESCALATES_TO,
    AlertAcknowledged,
    AlertAssigned,
    AlertEscalated,
    AlertRaised,
    AlertRepeated,
    AlertResolved,
    AlertSuppressed,
    Fact,
    Rule,
)
from libs.events.contracts import DomainEvent
from libs.events.refusals import NotFound, Refused


def stream_id(customer_id: str) -> str:
    return f"alerts-{customer_id}"


@dataclass(frozen=True, slots=True)
class Alert:
    alert_id: str
    rule_id: str
    count: int = 1
    acknowledged_by: str | None = None
    assignee: str | None = None
    closed: str | None = None  # resolved, suppressed
    raised_on: date | None = None
    notify: str = "credit_analyst"  # the role it is with now
    level: int = 0  # escalations so far
    waiting_since: date | None = None  # raised, or last escalated
    facts: tuple[Fact, ...] = ()  # the latest
    last_seen_on: date | None = None


@dataclass(frozen=True, slots=True)
class CustomerAlerts:
    customer_id: str
    alerts: Map[str, Alert] = field(default_factory=Map)  # by alert id
    open_by_rule: Map[str, str] = field(default_factory=Map)  # rule id -> its open alert's id

    def alert(self, alert_id: str) -> Alert:
        found = self.alerts.get(alert_id)
        if found is None:
            raise NotFound(f"no alert {alert_id} for customer {self.customer_id}")
        return found


def new(customer_id: str) -> CustomerAlerts:
    return CustomerAlerts(customer_id=customer_id)


def evolve(state: CustomerAlerts, event: DomainEvent) -> CustomerAlerts:
    match event:
        case AlertRaised():
            alert = Alert(
                event.alert_id,
                event.rule_id,
                raised_on=event.raised_on,
                notify=event.notify,
                waiting_since=event.raised_on,
                facts=event.facts,
                last_seen_on=event.raised_on,
            )
            return replace(
                state,
                alerts=state.alerts.set(alert.alert_id, alert),
                open_by_rule=state.open_by_rule.set(alert.rule_id, alert.alert_id),
            )
        case AlertRepeated():
            repeated = replace(
                state.alerts[event.alert_id], count=event.count, facts=event.facts, last_seen_on=event.repeated_on
            )
            return _with(state, repeated)
        case AlertEscalated():
            escalated = replace(
                state.alerts[event.alert_id], notify=event.to, level=event.level, waiting_since=event.escalated_on
            )
            return _with(state, escalated)
        case AlertAcknowledged():
            return _with(state, replace(state.alerts[event.alert_id], acknowledged_by=event.by))
        case AlertAssigned():
            return _with(state, replace(state.alerts[event.alert_id], assignee=event.to))
        case AlertResolved() | AlertSuppressed():
            how = "resolved" if isinstance(event, AlertResolved) else "suppressed"
            closed = replace(state.alerts[event.alert_id], closed=how)
            return replace(_with(state, closed), open_by_rule=state.open_by_rule.delete(closed.rule_id))
    return state


def _with(state: CustomerAlerts, alert: Alert) -> CustomerAlerts:
    return replace(state, alerts=state.alerts.set(alert.alert_id, alert))


# -- decisions -------------------------------------------------------------------------------------------


def signal(
    state: CustomerAlerts, rule: Rule, version: int, facts: Sequence[Fact], day: date, alert_id: str
) -> list[DomainEvent]:
    """The rule met: a new alert, or the open one's count raised with the latest facts; the same
    facts on the same day again (a sweep run twice for a date) change nothing."""
    open_id = state.open_by_rule.get(rule.rule_id)
    if open_id is not None:
        alert = state.alerts[open_id]
        if alert.facts == tuple(facts) and alert.last_seen_on == day:
            return []
        return [
            AlertRepeated(
                customer_id=state.customer_id,
                alert_id=open_id,
                rule_version=version,
                count=alert.count + 1,
                facts=tuple(facts),
                repeated_on=day,
            )
        ]
    return [
        AlertRaised(
            customer_id=state.customer_id,
            alert_id=alert_id,
            rule_id=rule.rule_id,
            rule_version=version,
            kind=rule.kind,
            severity=rule.severity,
            facts=tuple(facts),
            raised_on=day,
            notify=rule.notify,
        )
    ]


def escalate(state: CustomerAlerts, rules: Sequence[Rule], day: date) -> list[DomainEvent]:
    """Each open alert nobody acknowledged within its rule's days (counted from when it was raised or
    last escalated) goes to the next role; one with nobody above it stays where it is."""
    within = {rule.rule_id: rule.acknowledge_within_days for rule in rules}
    events: list[DomainEvent] = []
    for alert_id in state.open_by_rule.values():
        alert = state.alerts[alert_id]
        days = within.get(alert.rule_id)
        higher = ESCALATES_TO.get(alert.notify)
        if alert.acknowledged_by or days is None or higher is None or alert.waiting_since is None:
            continue
        if (day - alert.waiting_since).days >= days:
            events.append(
                AlertEscalated(
                    customer_id=state.customer_id, alert_id=alert_id, to=higher, level=alert.level + 1, escalated_on=day
                )
            )
    return events


class NotAssignee(Refused):
    """A person who may not close this alert."""


def _open(state: CustomerAlerts, alert_id: str) -> Alert:
    alert = state.alert(alert_id)
    if alert.closed is not None:
        raise Refused(f"alert {alert_id} is {alert.closed}")
    return alert


def acknowledge(state: CustomerAlerts, alert_id: str, by: str, note: str | None) -> list[DomainEvent]:
    alert = _open(state, alert_id)
    if alert.acknowledged_by is not None:
        return []  # acknowledged already: nothing to record again
    return [AlertAcknowledged(customer_id=state.customer_id, alert_id=alert_id, by=by, note=note)]


def assign(state: CustomerAlerts, alert_id: str, to: str, by: str) -> list[DomainEvent]:
    alert = _open(state, alert_id)
    if alert.assignee == to:
        return []
    return [AlertAssigned(customer_id=state.customer_id, alert_id=alert_id, to=to, by=by)]


def resolve(state: CustomerAlerts, alert_id: str, by: str, note: str, may_resolve_any: bool) -> list[DomainEvent]:
    """Only the assignee resolves an alert, or someone who may resolve any (a credit manager)."""
    alert = _open(state, alert_id)
    if not may_resolve_any and alert.assignee != by:
        whose = f"assigned to {alert.assignee}" if alert.assignee else "not assigned"
        raise NotAssignee(f"alert {alert_id} is {whose}: only its assignee or a credit manager resolves it")
    return [AlertResolved(customer_id=state.customer_id, alert_id=alert_id, by=by, note=note)]


def suppress(state: CustomerAlerts, alert_id: str, by: str, reason: str) -> list[DomainEvent]:
    _open(state, alert_id)
    return [AlertSuppressed(customer_id=state.customer_id, alert_id=alert_id, by=by, reason=reason)]
