"""collections' own read model, written in the same transaction as its events: the policy's
versions, each case's summary, the steps with their inputs, the notices to send (the sender's
queue), the collector's tasks, and which promises and plans are still to value."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from contracts.collections import (
    CaseEscalated,
    CaseEvent,
    CollectorAssigned,
    ContactLogged,
    DunningPolicyReleased,
    DunningStepTaken,
    EscalationReported,
    NoticeFailed,
    NoticeSent,
    PlanAgreed,
    PlanChanged,
    PromiseMade,
    PromiseValued,
    StepReviewed,
)
from libs.events.database import Connection, migrations_in
from libs.events.store import RecordedEvent

READ_MODEL = migrations_in(Path(__file__).parent / "migrations")

# When a notice by email cannot be delivered, the customer gets a letter and the collector a call.
FALLBACK = ("letter", "phone")


def notice_id(step_id: str, channel: str) -> str:
    return f"{step_id}-{channel}"


async def _queue(conn: Connection, step: DunningStepTaken, channels: Sequence[str]) -> None:
    await conn.executemany(
        "INSERT INTO notices (notice_id, step_id, customer_id, channel, business_date) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT DO NOTHING",
        [(notice_id(step.step_id, c), step.step_id, step.customer_id, c, step.business_date) for c in channels],
    )


async def project(conn: Connection, events: Sequence[RecordedEvent]) -> None:
    # A daily run appends a step for thousands of cases at once: their writes go in a few statements.
    steps = [r for r in events if isinstance(r.event, DunningStepTaken)]
    await _steps(conn, steps)
    for recorded in events:
        event = recorded.event
        if isinstance(event, DunningStepTaken):
            continue
        if isinstance(event, DunningPolicyReleased):
            await conn.execute(
                "INSERT INTO policies (version, policy, released_by, reason, released_on) VALUES ($1, $2, $3, $4, $5)",
                event.version,
                event.policy.model_dump_json(),
                event.released_by,
                event.reason,
                event.released_on,
            )
            continue
        if not isinstance(event, CaseEvent):
            continue
        customer_id = event.customer_id
        await conn.execute(
            "INSERT INTO cases (customer_id, version) VALUES ($1, $2)"
            " ON CONFLICT (customer_id) DO UPDATE SET version = greatest(cases.version, excluded.version)",
            customer_id,
            recorded.version,
        )
        match event:
            case StepReviewed():
                row = await conn.fetchrow(
                    "UPDATE steps SET status = $2 WHERE step_id = $1 RETURNING event", event.step_id, event.decision
                )
                if row is not None and event.decision == "approved":
                    step = DunningStepTaken.model_validate(json.loads(row["event"]))
                    await _taken(conn, step, event.channels)
            case NoticeSent():
                await conn.execute(
                    "UPDATE notices SET status = 'sent', address = $2, message_id = $3, language = $4,"
                    " attempts = $5, claimed_until = NULL, error = NULL WHERE notice_id = $1",
                    event.notice_id,
                    event.address,
                    event.message_id,
                    event.language,
                    event.attempt,
                )
                if event.channel == "phone":
                    await conn.execute(
                        "INSERT INTO tasks (task_id, customer_id, kind, reason, created_on)"
                        " SELECT $1, $2, 'call', $3, business_date FROM notices WHERE notice_id = $1"
                        " ON CONFLICT DO NOTHING",
                        event.notice_id,
                        customer_id,
                        f"call {event.address} about the notice of step {event.step_id}",
                    )
            case NoticeFailed():
                await conn.execute(
                    "UPDATE notices SET status = CASE WHEN $4 THEN 'failed' ELSE 'pending' END, attempts = $2,"
                    " error = $3, claimed_until = NULL WHERE notice_id = $1",
                    event.notice_id,
                    event.attempt,
                    event.reason,
                    event.final,
                )
                if event.final and event.channel not in FALLBACK:
                    await conn.executemany(
                        "INSERT INTO notices (notice_id, step_id, customer_id, channel, business_date)"
                        " SELECT $1, step_id, customer_id, $2, business_date FROM notices WHERE notice_id = $3"
                        " ON CONFLICT DO NOTHING",
                        [(notice_id(event.step_id, c), c, event.notice_id) for c in FALLBACK],
                    )
            case ContactLogged():
                await conn.execute(
                    "UPDATE cases SET last_contact_on = greatest(last_contact_on, $2) WHERE customer_id = $1",
                    customer_id,
                    event.contacted_on,
                )
                if event.channel == "call":
                    await conn.execute(
                        "UPDATE tasks SET done_on = $2 WHERE customer_id = $1 AND kind = 'call' AND done_on IS NULL",
                        customer_id,
                        event.contacted_on,
                    )
            case PromiseMade():
                await conn.execute(
                    "INSERT INTO promises (promise_id, customer_id, outcome) VALUES ($1, $2, 'open')",
                    event.promise_id,
                    customer_id,
                )
            case PromiseValued():
                await conn.execute(
                    "UPDATE promises SET outcome = $2 WHERE promise_id = $1", event.promise_id, event.outcome
                )
                if event.outcome == "broken":
                    await conn.execute(
                        "UPDATE cases SET broken_promises = broken_promises + 1 WHERE customer_id = $1", customer_id
                    )
            case PlanAgreed():
                await conn.execute(
                    "INSERT INTO plans (plan_id, customer_id, status) VALUES ($1, $2, 'active')",
                    event.plan_id,
                    customer_id,
                )
            case PlanChanged(change="completed" | "defaulted"):
                await conn.execute("UPDATE plans SET status = $2 WHERE plan_id = $1", event.plan_id, event.change)
            case CaseEscalated():
                await conn.execute("UPDATE cases SET escalated = true WHERE customer_id = $1", customer_id)
            case EscalationReported():
                await conn.execute("UPDATE cases SET escalated = false WHERE customer_id = $1", customer_id)
            case CollectorAssigned():
                await conn.execute(
                    "UPDATE cases SET collector = $2 WHERE customer_id = $1", customer_id, event.collector
                )


async def _steps(conn: Connection, recorded: Sequence[RecordedEvent]) -> None:
    if not recorded:
        return
    steps = [r.event for r in recorded if isinstance(r.event, DunningStepTaken)]
    await conn.executemany(
        "INSERT INTO cases (customer_id, version) VALUES ($1, $2)"
        " ON CONFLICT (customer_id) DO UPDATE SET version = greatest(cases.version, excluded.version)",
        [(r.customer_id, r.version) for r in recorded],
    )
    await conn.executemany(
        "INSERT INTO steps (step_id, customer_id, business_date, level, status, event)"
        " VALUES ($1, $2, $3, $4, $5, $6::jsonb)",
        [
            (
                s.step_id,
                s.customer_id,
                s.business_date,
                s.level,
                "proposed" if s.proposed else "taken",
                s.model_dump_json(),
            )
            for s in steps
        ],
    )
    taken = [s for s in steps if not s.proposed]
    await conn.executemany(
        "UPDATE cases SET level = $2, last_contact_on = greatest(last_contact_on, $3) WHERE customer_id = $1",
        [(s.customer_id, s.level, s.business_date) for s in taken],
    )
    await conn.executemany(
        "INSERT INTO notices (notice_id, step_id, customer_id, channel, business_date) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT DO NOTHING",
        [(notice_id(s.step_id, c), s.step_id, s.customer_id, c, s.business_date) for s in taken for c in s.channels],
    )


async def _taken(conn: Connection, step: DunningStepTaken, channels: Sequence[str] | None = None) -> None:
    await conn.execute(
        "UPDATE cases SET level = $2, last_contact_on = greatest(last_contact_on, $3) WHERE customer_id = $1",
        step.customer_id,
        step.level,
        step.business_date,
    )
    await _queue(conn, step, channels or step.channels)
