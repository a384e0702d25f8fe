"""Use cases of alerts: release a rule set, raise or repeat an alert when a rule is met, and move an
alert through its lifecycle. Each runs on the event store inside the caller's transaction."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import structlog

from contracts.alerts import (
    RULES_STREAM,
    Audience,
    DeliveryAttempted,
    Fact,
    Rule,
    RulesReleased,
    Severity,
    SubscriptionCreated,
)
from libs.events.clock import BusinessClock, check_replay_period
from libs.events.commands import FoldedStreams, run
from libs.events.contracts import DomainEvent, EventRegistry
from libs.events.store import EventContext, Store
from libs.events.versions import Versions, version_stream
from services.alerts.domain import alert, subscription
from services.alerts.domain.alert import CustomerAlerts
from services.alerts.domain.backtest import MAX_DAYS, Backtest, Observed, replay
from services.alerts.domain.rules import FIRST_RULES, check
from services.alerts.domain.subscription import Subscription
from services.alerts.live import Hub
from services.alerts.settings import AlertsSettings

log = structlog.get_logger(__name__)

# Every version of the rule set; version 1 is the set Credo ships with.
RuleBook = Versions[tuple[Rule, ...]]


def _released(event: DomainEvent) -> tuple[int, tuple[Rule, ...]] | None:
    return (event.version, event.rules) if isinstance(event, RulesReleased) else None


@dataclass
class Parts:
    store: Store
    alerts: FoldedStreams[CustomerAlerts]
    rules: FoldedStreams[RuleBook]
    subscriptions: FoldedStreams[Subscription]
    clock: BusinessClock
    settings: AlertsSettings = field(default_factory=AlertsSettings)
    hub: Hub | None = None  # the live stream's, once the service runs

    @property
    def pause_after(self) -> int:
        return self.settings.pause_after


def alert_streams(store: Store) -> FoldedStreams[CustomerAlerts]:
    return FoldedStreams(store, stream_of=alert.stream_id, initial=alert.new, evolve=alert.evolve, capacity=5000)


def subscription_streams(store: Store) -> FoldedStreams[Subscription]:
    return FoldedStreams(store, stream_of=subscription.stream_id, initial=subscription.new, evolve=subscription.evolve)


def rule_stream(store: Store) -> FoldedStreams[RuleBook]:
    return version_stream(store, RULES_STREAM, FIRST_RULES, _released)


async def rule_book(parts: Parts, conn: Any) -> RuleBook:
    return (await parts.rules.load(conn, RULES_STREAM)).state


async def release_rules(parts: Parts, conn: Any, rules: Sequence[Rule], by: str, reason: str) -> int:
    check(rules)

    def release(book: RuleBook) -> list[DomainEvent]:
        return [
            RulesReleased(
                version=book.version + 1,
                rules=tuple(rules),
                released_by=by,
                reason=reason,
                released_on=parts.clock.today(),
            )
        ]

    ran = await run(parts.rules, conn, RULES_STREAM, release)
    return ran.after.state.version


async def signal(
    parts: Parts,
    conn: Any,
    customer_id: str,
    met: Sequence[tuple[Rule, Sequence[Fact]]],
    version: int,
    context: EventContext | None = None,
    day: date | None = None,
) -> None:
    """Rules met for one subject: each raises an alert, or repeats its open one."""
    today = day or parts.clock.today()

    def decide(state: CustomerAlerts) -> list[DomainEvent]:
        events: list[DomainEvent] = []
        for rule, facts in met:
            events += alert.signal(state, rule, version, facts, today, f"AL-{uuid.uuid4().hex[:12].upper()}")
            state = parts.alerts.fold(events[-1:], state)
        return events

    await run(parts.alerts, conn, customer_id, decide, context=context)


async def escalate(parts: Parts, conn: Any, customer_id: str, rules: Sequence[Rule], day: date) -> int:
    """Unacknowledged alerts past their rule's days go to the next role; answers how many."""
    ran = await run(parts.alerts, conn, customer_id, lambda s: alert.escalate(s, rules, day))
    return len(ran.events)


async def acknowledge(parts: Parts, conn: Any, customer_id: str, alert_id: str, by: str, note: str | None) -> None:
    await run(parts.alerts, conn, customer_id, lambda s: alert.acknowledge(s, alert_id, by, note))


async def assign(parts: Parts, conn: Any, customer_id: str, alert_id: str, to: str, by: str) -> None:
    await run(parts.alerts, conn, customer_id, lambda s: alert.assign(s, alert_id, to, by))


async def resolve(
    parts: Parts, conn: Any, customer_id: str, alert_id: str, by: str, note: str, may_resolve_any: bool
) -> None:
    await run(parts.alerts, conn, customer_id, lambda s: alert.resolve(s, alert_id, by, note, may_resolve_any))


async def suppress(parts: Parts, conn: Any, customer_id: str, alert_id: str, by: str, reason: str) -> None:
    await run(parts.alerts, conn, customer_id, lambda s: alert.suppress(s, alert_id, by, reason))


# -- subscriptions ------------------------------------------------------------------------------------------


async def subscribe(
    parts: Parts,
    conn: Any,
    *,
    channel: Literal["email", "webhook"],
    address: str,
    audience: Audience,
    severities: Sequence[Severity],
    rules: Sequence[str],
    by: str,
) -> str:
    subscription_id = f"SUB-{uuid.uuid4().hex[:10].upper()}"
    created = SubscriptionCreated(
        subscription_id=subscription_id,
        channel=channel,
        address=address,
        audience=audience,
        severities=tuple(severities),
        rules=tuple(rules),
        by=by,
    )
    await run(parts.subscriptions, conn, subscription_id, lambda s: subscription.create(s, created))
    return subscription_id


async def unsubscribe(parts: Parts, conn: Any, subscription_id: str, by: str, reason: str) -> None:
    await run(parts.subscriptions, conn, subscription_id, lambda s: subscription.cancel(s, by, reason))


async def resume(parts: Parts, conn: Any, subscription_id: str, by: str) -> None:
    await run(parts.subscriptions, conn, subscription_id, lambda s: subscription.resume(s, by))


async def record_attempt(parts: Parts, conn: Any, attempt: DeliveryAttempted) -> bool:
    """Records the attempt; answers whether the receiver is paused now."""
    ran = await run(
        parts.subscriptions,
        conn,
        attempt.subscription_id,
        lambda s: subscription.attempted(s, attempt, parts.pause_after),
    )
    return ran.after.state.paused


# -- the backtest -------------------------------------------------------------------------------------------


async def what_if(
    parts: Parts,
    conn: Any,
    registry: EventRegistry,
    rules: Sequence[Rule],
    start: date,
    end: date,
    customer_ids: Sequence[str] | None,
) -> Backtest:
    """What ``rules`` would have raised from ``start`` to ``end`` (at most a year, up to today) over
    the events alerts observed, changing nothing."""
    check(rules)
    check_replay_period(start, end, parts.clock.today(), MAX_DAYS)
    rows = await conn.fetch(
        "SELECT observed_on, customer_id, event_id, event_type, schema_version, data::text AS data FROM observed"
        " WHERE observed_on <= $1 ORDER BY seq",
        end,
    )
    started = time.monotonic()

    def replayed() -> Backtest:
        observed = (
            Observed(
                r["observed_on"],
                r["customer_id"],
                r["event_id"],
                registry.decode(r["event_type"], r["schema_version"], json.loads(r["data"])),
            )
            for r in rows
        )

        def progress(done: int) -> None:
            log.info(
                "rules-what-if.progress",
                events_done=done,
                events=len(rows),
                seconds=round(time.monotonic() - started, 1),
            )

        wanted = set(customer_ids) if customer_ids is not None else None
        return replay(rules, observed, start, end, wanted, progress)

    # Pure and CPU-bound: off the event loop, so the service keeps answering meanwhile.
    return await asyncio.to_thread(replayed)
