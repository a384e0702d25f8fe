"""scoring's own read model, written in the same transaction as its events: the credit account
each customer has now, its score history, limit and terms requests, and credit checks."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from contracts.scoring import (
    CreditCheckDecided,
    CreditHoldPlaced,
    CreditHoldReleased,
    CreditLimitApproved,
    CreditLimitEscalated,
    CreditLimitRejected,
    CreditLimitRequested,
    CreditLimitSet,
    CreditTermsRequested,
    CreditTermsSet,
    CustomerScored,
    PaymentDateModelTrained,
    PaymentLatenessPredicted,
)
from libs.events.database import Connection, migrations_in
from libs.events.store import RecordedEvent
from services.scoring.domain import stream_id

READ_MODEL = migrations_in(Path(__file__).parent / "migrations")


def score_stream(customer_id: str) -> str:
    return f"credit-score-{customer_id}"


def check_stream(decision_id: str) -> str:
    return f"credit-check-{decision_id}"


async def ensure_accounts(conn: Connection, customer_ids: Sequence[str]) -> None:
    if not customer_ids:
        return
    await conn.execute(
        "INSERT INTO credit_accounts (customer_id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING",
        list(customer_ids),
    )


async def project(conn: Connection, events: Sequence[RecordedEvent]) -> None:
    await ensure_accounts(conn, sorted({r.customer_id for r in events if not isinstance(r.event, _NO_ACCOUNT)}))
    checked = [_check_row(r.event, r.occurred_at) for r in events if isinstance(r.event, CreditCheckDecided)]
    if checked:  # many at once, as the credit-check desk appends them
        await conn.executemany(_CHECKED, checked)
    for recorded in events:
        if isinstance(recorded.event, CreditCheckDecided):
            continue
        await _apply(conn, recorded)
        column = {
            stream_id(recorded.customer_id): "account_version",
            score_stream(recorded.customer_id): "score_version",
        }
        if recorded.stream_id in column:
            await conn.execute(
                f"UPDATE credit_accounts SET {column[recorded.stream_id]} = $2, updated_at = $3 WHERE customer_id = $1",
                recorded.customer_id,
                recorded.version,
                recorded.occurred_at,
            )


_NO_ACCOUNT = (CreditCheckDecided, PaymentDateModelTrained)  # a check has its own table; a model is the book's


async def _apply(conn: Connection, recorded: RecordedEvent) -> None:
    event, at = recorded.event, recorded.occurred_at
    match event:
        case PaymentDateModelTrained():
            await conn.execute(
                "INSERT INTO payment_date_models (version, trained_on, trained, recorded_at)"
                " VALUES ($1, $2, $3::jsonb, $4) ON CONFLICT DO NOTHING",
                event.version,
                event.trained_on,
                json.dumps(recorded.data, ensure_ascii=False),
                at,
            )
        case PaymentLatenessPredicted():
            await conn.execute(
                "INSERT INTO predicted_lateness (customer_id, version, predicted_on, expected_days_late,"
                " late_probability) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (customer_id) DO UPDATE SET"
                " version = excluded.version, predicted_on = excluded.predicted_on,"
                " expected_days_late = excluded.expected_days_late, late_probability = excluded.late_probability",
                event.customer_id,
                recorded.version,
                event.predicted_on,
                event.expected_days_late,
                event.late_probability,
            )
        case CustomerScored():
            await conn.execute(
                "INSERT INTO score_history (customer_id, version, score, grade, previous_grade, reasons, components,"
                " weights, left_out, policy_version, inputs, cause, scored_at, notes)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                event.customer_id,
                recorded.version,
                event.score,
                event.grade,
                event.previous_grade,
                json.dumps(event.reasons),
                json.dumps({k: str(v) for k, v in event.components.items()}),
                json.dumps({k: str(v) for k, v in event.weights.items()}),
                json.dumps(event.left_out),
                event.policy_version,
                event.inputs.model_dump_json(),
                event.cause,
                at,
                json.dumps(event.notes),
            )
            await conn.execute(
                "UPDATE credit_accounts SET score = $2, grade = $3, reasons = $4, components = $5, left_out = $6,"
                " policy_version = $7, inputs_digest = $8, scored_at = $9, notes = $10 WHERE customer_id = $1",
                event.customer_id,
                event.score,
                event.grade,
                json.dumps(event.reasons),
                json.dumps({k: str(v) for k, v in event.components.items()}),
                json.dumps(event.left_out),
                event.policy_version,
                inputs_digest(event),
                at,
                json.dumps(event.notes),
            )
        case CreditLimitRequested() | CreditTermsRequested():
            amount = event.amount if isinstance(event, CreditLimitRequested) else None
            terms = event if isinstance(event, CreditTermsRequested) else None
            await conn.execute(
                "INSERT INTO limit_requests (request_id, customer_id, kind, amount, currency, expires_on, credit_days,"
                " discount_percent, discount_days, requested_by, reason, waiting_for, requested_at, steps)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::jsonb)",
                event.request_id,
                event.customer_id,
                event.kind if isinstance(event, CreditLimitRequested) else "terms",
                amount.amount if amount else None,
                amount.currency if amount else None,
                event.expires_on if isinstance(event, CreditLimitRequested) else None,
                terms.credit_days if terms else None,
                terms.discount_percent if terms else None,
                terms.discount_days if terms else None,
                event.requested_by,
                event.reason,
                event.waiting_for,
                at,
                _step("requested", event.requested_by, at, event.reason),
            )
        case CreditLimitEscalated():
            await _request_step(
                conn, event.request_id, _step("endorsed", event.by, at, event.note), waiting_for=event.to_tier
            )
        case CreditLimitApproved():
            await _request_step(
                conn, event.request_id, _step(f"approved ({event.tier})", event.by, at, event.note), "approved", at
            )
        case CreditLimitRejected():
            await _request_step(conn, event.request_id, _step("rejected", event.by, at, event.reason), "rejected", at)
        case CreditLimitSet():
            await conn.execute(
                "UPDATE credit_accounts SET limit_amount = $2, standing_limit = $3, limit_currency = $4,"
                " limit_expires_on = $5, limit_reason = $6 WHERE customer_id = $1",
                event.customer_id,
                event.limit.amount,
                event.standing_limit.amount,
                event.limit.currency,
                event.expires_on,
                event.reason,
            )
        case CreditTermsSet():
            await conn.execute(
                "UPDATE credit_accounts SET credit_days = $2, discount_percent = $3, discount_days = $4"
                " WHERE customer_id = $1",
                event.customer_id,
                event.credit_days,
                event.discount_percent,
                event.discount_days,
            )
        case CreditHoldPlaced():
            hold = {"reason": event.reason, "by": event.by, "placed_at": at.isoformat()}
            await conn.execute(
                "UPDATE credit_accounts SET holds = holds || jsonb_build_object($2::text, $3::jsonb)"
                " WHERE customer_id = $1",
                event.customer_id,
                event.hold_id,
                json.dumps(hold),
            )
        case CreditHoldReleased():
            await conn.execute(
                "UPDATE credit_accounts SET holds = holds - $2::text WHERE customer_id = $1",
                event.customer_id,
                event.hold_id,
            )


def _check_row(event: CreditCheckDecided, at: datetime) -> tuple[object, ...]:
    reservation = None
    if event.outcome == "approve":
        assert event.reserved_until is not None
        held = [event.order_ref, str(event.amount_in_base.amount), event.reserved_until.isoformat()]
        reservation = json.dumps({event.decision_id: held})
    return (
        event.decision_id,
        event.customer_id,
        event.order_ref,
        event.amount.amount,
        event.amount.currency,
        event.amount_in_base.amount,
        event.outcome,
        event.available.amount,
        json.dumps(event.reasons),
        event.reserved_until,
        event.checked_by,
        at,
        event.replaces,
        f"replaced by check {event.decision_id}",
        reservation,
    )


# One statement, as a credit check waits for it: the check, the release of the one it
# replaces, and the reservations on the account's row.
_CHECKED = """
WITH checked AS (
    INSERT INTO credit_checks (decision_id, customer_id, order_ref, amount, currency, amount_in_base, outcome,
                               available, reasons, reserved_until, checked_by, decided_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
), replaced AS (
    UPDATE credit_checks SET released_on = $12::timestamptz::date, released_reason = $14
     WHERE decision_id = $13 AND released_on IS NULL
)
UPDATE credit_accounts SET reservations = (reservations - coalesce($13, '')) || coalesce($15::jsonb, '{}')
 WHERE customer_id = $2
"""


def reserved_total(raw: str, today: date) -> Decimal:
    """What an account's reservations in force add up to, in the base currency."""
    return sum((amount for _, amount in active_reservations(raw, today).values()), Decimal(0))


def active_reservations(raw: str, today: date) -> dict[str, tuple[str, Decimal]]:
    """An account's reservations still in force: decision id -> (order ref, amount in base)."""
    found: dict[str, list[str]] = json.loads(raw)
    return {
        decision: (order, Decimal(amount))
        for decision, (order, amount, until) in found.items()
        if date.fromisoformat(until) >= today
    }


def inputs_digest(event: CustomerScored) -> str:
    """What makes a score new: its inputs apart from the day, and the policy."""
    inputs = event.inputs.model_dump_json(exclude={"as_of"})
    return hashlib.sha256(f"{event.policy_version}:{inputs}".encode()).hexdigest()


def _step(what: str, by: str, at: object, note: str | None) -> str:
    return json.dumps([{"step": what, "by": by, "at": str(at), "note": note}])


async def _request_step(
    conn: Connection,
    request_id: str,
    step: str,
    status: str | None = None,
    decided_at: object = None,
    waiting_for: str | None = None,
) -> None:
    await conn.execute(
        "UPDATE limit_requests SET steps = steps || $2::jsonb, status = coalesce($3, status),"
        " decided_at = coalesce($4, decided_at), waiting_for = coalesce($5, waiting_for) WHERE request_id = $1",
        request_id,
        step,
        status,
        decided_at,
        waiting_for,
    )
