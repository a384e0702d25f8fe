"""alerts' own read model, written in the same transaction as its events: the rule set's versions,
each alert as it stands, and each alert's history."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from contracts.alerts import (
    AlertAcknowledged,
    AlertAssigned,
    AlertEvent,
    AlertRaised,
    AlertRepeated,
    AlertResolved,
    AlertSuppressed,
    RulesReleased,
)
from libs.events.database import Connection, migrations_in
from libs.events.store import RecordedEvent

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
            case AlertRaised():
                await conn.execute(
                    "INSERT INTO alerts (alert_id, customer_id, rule_id, rule_version, kind, severity, facts,"
                    " raised_on, last_seen_on) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $8)",
                    event.alert_id,
                    event.customer_id,
                    event.rule_id,
                    event.rule_version,
                    event.kind,
                    event.severity,
                    _facts(event),
                    event.raised_on,
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
        case AlertResolved():
            return event.note
        case AlertSuppressed():
            return event.reason
    return None
