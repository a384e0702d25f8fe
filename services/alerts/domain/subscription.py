"""A subscription: which alerts go to an email address or a webhook, and how its receiver is doing.
Every attempt to deliver is recorded; a receiver that failed ``pause_after`` attempts in a row is
paused until someone resumes it, and what waits for it is delivered then."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from contracts.alerts import (
    DeliveryAttempted,
    ReceiverPaused,
    ReceiverResumed,
    SubscriptionCancelled,
    SubscriptionCreated,
)
from libs.events.contracts import DomainEvent
from libs.events.refusals import NotFound, Refused


def stream_id(subscription_id: str) -> str:
    return f"subscription-{subscription_id}"


@dataclass(frozen=True, slots=True)
class Subscription:
    subscription_id: str
    created: SubscriptionCreated | None = None
    cancelled: bool = False
    paused: bool = False
    failures: int = 0  # failed attempts in a row


def new(subscription_id: str) -> Subscription:
    return Subscription(subscription_id)


def evolve(state: Subscription, event: DomainEvent) -> Subscription:
    match event:
        case SubscriptionCreated():
            return replace(state, created=event)
        case SubscriptionCancelled():
            return replace(state, cancelled=True)
        case DeliveryAttempted():
            return replace(state, failures=0 if event.delivered else state.failures + 1)
        case ReceiverPaused():
            return replace(state, paused=True)
        case ReceiverResumed():
            return replace(state, paused=False, failures=0)
    return state


def _existing(state: Subscription) -> SubscriptionCreated:
    if state.created is None:
        raise NotFound(f"no subscription {state.subscription_id}")
    return state.created


def create(state: Subscription, created: SubscriptionCreated) -> list[DomainEvent]:
    if state.created is not None:
        return [] if state.created == created else _taken(state)
    return [created]


def _taken(state: Subscription) -> list[DomainEvent]:
    raise Refused(f"subscription {state.subscription_id} exists with other settings")


def cancel(state: Subscription, by: str, reason: str) -> list[DomainEvent]:
    _existing(state)
    if state.cancelled:
        return []
    return [SubscriptionCancelled(subscription_id=state.subscription_id, by=by, reason=reason)]


def resume(state: Subscription, by: str) -> list[DomainEvent]:
    _existing(state)
    if not state.paused:
        raise Refused(f"subscription {state.subscription_id} is not paused")
    return [ReceiverResumed(subscription_id=state.subscription_id, by=by)]


def attempted(state: Subscription, attempt: DeliveryAttempted, pause_after: int) -> list[DomainEvent]:
    """An attempt recorded; the receiver paused when it makes ``pause_after`` failures in a row."""
    events: list[DomainEvent] = [attempt]
    failures = 0 if attempt.delivered else state.failures + 1
    if not state.paused and failures >= pause_after:
        events.append(
            ReceiverPaused(
                subscription_id=state.subscription_id, failures=failures, last_error=attempt.error or "failed"
            )
        )
    return events


@dataclass(frozen=True, slots=True)
class Addressed:
    """What a subscription is matched against: the alert as it stands."""

    severity: str
    rule_id: str
    notify: str  # the role it is with
    assignee: str | None
    collector: str | None  # the customer's


def matches(
    severities: Sequence[str],
    rules: Sequence[str],
    role: str | None,
    person: str | None,
    portfolio: str | None,
    alert: Addressed,
) -> bool:
    """Every part a subscription sets must hold; an unset part does not narrow it."""
    return (
        alert.severity in severities
        and (not rules or alert.rule_id in rules)
        and (role is None or role == alert.notify)
        and (person is None or person == alert.assignee)
        and (portfolio is None or portfolio == alert.collector)
    )
