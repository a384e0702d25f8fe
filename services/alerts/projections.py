"""alerts' own read model, written in the same transaction as its events: the rule set's versions,
each alert as it stands, and each alert's history."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from contracts.alerts import (
    AlertAcknowledged,
    AlertAssigned,
    AlertEscalated,
    AlertEvent,
    AlertRaised,
    AlertRepeated,
    AlertResolved,
    AlertSuppressed,
    DeliveryAttempted,
    ReceiverPaused,
    ReceiverResumed,
    RulesReleased,
    SubscriptionCancelled,
    SubscriptionCreated,
)
from libs.events.database import Connection, migrations_in
from libs.events.store import RecordedEvent
from services.alerts.domain.subscription import Addressed, matches

READ_MODEL = migrations_in(Path(__file__).parent / "migrations")


def _facts(event: AlertRaised | AlertRepeated) -> str:
    return json.dumps([f.model_dump() for f in event.facts], ensure_ascii=False)


async def project(conn: Connection, events: Sequence[RecordedEvent]) -> None:
    for recorded in events:
        event = recorded.event
        match event:
            case RulesReleased():
                await conn.execute(
                    "INSERT INTO rule_sets VALUES ($1, $2::jsonb, $3, $4, $5)",
                    event.version,
                    json.dumps([r.model_dump(mode="json") for r in event.rules]),
                    event.released_by,
                    event.reason,
                    event.released_on,
                )
                continue
            case SubscriptionCreated():
                audience = event.audience
                await conn.execute(
                    "INSERT INTO subscriptions (subscription_id, channel, address, role, person, portfolio, severities,"
                    " rules, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
                    event.subscription_id,
                    event.channel,
                    event.address,
                    audience.role,
                    audience.person,
                    audience.portfolio,
                    list(event.severities),
                    list(event.rules),
                    event.by,
                )
                continue
            case SubscriptionCancelled():
                await conn.execute(
                    "UPDATE subscriptions SET cancelled = true WHERE subscription_id = $1", event.subscription_id
                )
                await conn.execute(
                    "UPDATE deliveries SET status = 'cancelled' WHERE subscription_id = $1 AND status = 'pending'",
                    event.subscription_id,
                )
                continue
            case DeliveryAttempted():
                await conn.execute(
                    "UPDATE subscriptions SET failures = CASE WHEN $2 THEN 0 ELSE failures + 1 END,"
                    " last_error = CASE WHEN $2 THEN last_error ELSE $3 END WHERE subscription_id = $1",
                    event.subscription_id,
                    event.delivered,
                    event.error,
                )
                await conn.execute(
                    "UPDATE deliveries SET attempts = $3, status = CASE WHEN $4 THEN 'delivered' ELSE status END,"
                    " last_error = $5 WHERE delivery_id = $1 AND subscription_id = $2",
                    event.delivery_id,
                    event.subscription_id,
                    event.attempt,
                    event.delivered,
                    event.error,
                )
                await conn.execute(
                    "INSERT INTO delivery_attempts VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
                    event.subscription_id,
                    event.delivery_id,
                    event.alert_id,
                    event.attempt,
                    event.delivered,
                    event.status,
                    event.error,
                    recorded.occurred_at,
                )
                continue
            case ReceiverPaused() | ReceiverResumed():
                await conn.execute(
                    "UPDATE subscriptions SET paused = $2, failures = CASE WHEN $2 THEN failures ELSE 0 END"
                    " WHERE subscription_id = $1",
                    event.subscription_id,
                    isinstance(event, ReceiverPaused),
                )
                if isinstance(event, ReceiverResumed):
                    await conn.execute(
                        "UPDATE deliveries SET next_attempt_at = now()"
                        " WHERE subscription_id = $1 AND status = 'pending'",
                        event.subscription_id,
                    )
                    await conn.execute("SELECT pg_notify($1, $2)", CHANGED, str(recorded.position))
                continue
            case AlertRaised():
                await conn.execute(
                    "INSERT INTO alerts (alert_id, customer_id, rule_id, rule_version, kind, severity, facts,"
                    " raised_on, last_seen_on, notify, waiting_since)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $8, $9, $8)",
                    event.alert_id,
                    event.customer_id,
                    event.rule_id,
                    event.rule_version,
                    event.kind,
                    event.severity,
                    _facts(event),
                    event.raised_on,
                    event.notify,
                )
            case AlertRepeated():
                await conn.execute(
                    "UPDATE alerts SET count = $2, facts = $3::jsonb, rule_version = $4, last_seen_on = $5"
                    " WHERE alert_id = $1",
                    event.alert_id,
                    event.count,
                    _facts(event),
                    event.rule_version,
                    event.repeated_on,
                )
            case AlertEscalated():
                await conn.execute(
                    "UPDATE alerts SET notify = $2, level = $3, waiting_since = $4 WHERE alert_id = $1",
                    event.alert_id,
                    event.to,
                    event.level,
                    event.escalated_on,
                )
            case AlertAcknowledged():
                await conn.execute(
                    "UPDATE alerts SET acknowledged_by = $2 WHERE alert_id = $1", event.alert_id, event.by
                )
            case AlertAssigned():
                await conn.execute("UPDATE alerts SET assignee = $2 WHERE alert_id = $1", event.alert_id, event.to)
            case AlertResolved() | AlertSuppressed():
                closed = "resolved" if isinstance(event, AlertResolved) else "suppressed"
                note = event.note if isinstance(event, AlertResolved) else event.reason
                await conn.execute(
                    "UPDATE alerts SET closed = $2, closed_by = $3, closed_note = $4 WHERE alert_id = $1",
                    event.alert_id,
                    closed,
                    event.by,
                    note,
                )
        if isinstance(event, AlertEvent):
            await conn.execute(
                "INSERT INTO alert_history VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                event.alert_id,
                recorded.position,
                event.event_type.removeprefix("alerts."),
                _by(event),
                _detail(event),
                recorded.occurred_at,
            )
            await _enqueue(conn, recorded, event)
            await conn.execute("SELECT pg_notify($1, $2)", CHANGED, str(recorded.position))


CHANGED = "alerts_changed"  # notified, on commit, with the position of each alert event

_ADDRESSED = """
SELECT a.severity, a.rule_id, a.notify, a.assignee, p.collector
  FROM alerts a LEFT JOIN portfolios p ON p.customer_id = a.customer_id WHERE a.alert_id = $1
"""
_SUBSCRIBED = "SELECT * FROM subscriptions WHERE NOT cancelled"


async def _enqueue(conn: Connection, recorded: RecordedEvent, event: AlertEvent) -> None:
    """A delivery for each subscription the alert, as it stands after ``event``, matches."""
    row = await conn.fetchrow(_ADDRESSED, event.alert_id)
    if row is None:
        return
    addressed = Addressed(row["severity"], row["rule_id"], row["notify"], row["assignee"], row["collector"])
    payload: str | None = None
    for sub in await conn.fetch(_SUBSCRIBED):
        if not matches(sub["severities"], sub["rules"], sub["role"], sub["person"], sub["portfolio"], addressed):
            continue
        payload = payload or json.dumps(
            {
                "id": str(recorded.event_id),
                "type": event.event_type,
                "occurred_at": recorded.occurred_at.isoformat(),
                "customer_id": event.customer_id,
                "alert_id": event.alert_id,
                "data": recorded.data,
            },
            ensure_ascii=False,
        )
        await conn.execute(
            "INSERT INTO deliveries (delivery_id, subscription_id, alert_id, payload) VALUES ($1, $2, $3, $4::jsonb)"
            " ON CONFLICT DO NOTHING",
            str(recorded.event_id),
            sub["subscription_id"],
            event.alert_id,
            payload,
        )


def _by(event: AlertEvent) -> str | None:
    match event:
        case AlertAcknowledged() | AlertAssigned() | AlertResolved() | AlertSuppressed():
            return event.by
    return None


def _detail(event: AlertEvent) -> str | None:
    match event:
        case AlertRaised() | AlertRepeated():
            return "; ".join(f"{f.name} {f.value}" for f in event.facts)
        case AlertAcknowledged():
            return event.note
        case AlertAssigned():
            return f"to {event.to}"
        case AlertEscalated():
            return f"to {event.to}"
        case AlertResolved():
            return event.note
        case AlertSuppressed():
            return event.reason
    return None
