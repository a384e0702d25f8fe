"""profiles' read model: the credit files, written in the same transaction as their events, and the
credit standing scoring decides, projected from scoring.events."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from contracts.profiles import (
    BureauReportRecorded,
    ContactAdded,
    ContactChanged,
    ContactRetired,
    CreditReviewDue,
    CustomerRegistered,
    CustomerStatusChanged,
    FinancialStatementRecorded,
    InsuranceCoverCancelled,
    InsuranceCoverRecorded,
    ProfileUpdated,
    ReviewDateSet,
    TradeReferenceRecorded,
)
from contracts.scoring import (
    CreditHoldPlaced,
    CreditHoldReleased,
    CreditLimitSet,
    CreditTermsSet,
    CustomerScored,
)
from libs.events.consumer import Delivery
from libs.events.database import Connection, migrations_in
from libs.events.store import RecordedEvent

READ_MODEL = migrations_in(Path(__file__).parent / "migrations")


async def project(conn: Connection, events: Sequence[RecordedEvent]) -> None:
    for recorded in events:
        await apply(conn, recorded)
        await conn.execute(
            "UPDATE customers SET version = $2, updated_at = $3 WHERE customer_id = $1",
            recorded.customer_id,
            recorded.version,
            recorded.occurred_at,
        )


async def apply(conn: Connection, recorded: RecordedEvent) -> None:
    event, at = recorded.event, recorded.occurred_at
    if isinstance(event, CustomerRegistered):
        r = event.registration
        await conn.execute(
            "INSERT INTO customers (customer_id, legal_name, scheme, registration_number, country, industry, size,"
            " address, customer_since, erp_id, version, registered_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            event.customer_id,
            event.legal_name,
            r.scheme,
            r.number,
            r.country,
            event.industry,
            event.size,
            event.address,
            event.customer_since,
            event.erp_id,
            recorded.version,
            at,
        )
    elif isinstance(event, ProfileUpdated):
        await conn.execute(
            "UPDATE customers SET legal_name = $2, industry = $3, size = $4, address = $5, erp_id = $6"
            " WHERE customer_id = $1",
            event.customer_id,
            event.legal_name,
            event.industry,
            event.size,
            event.address,
            event.erp_id,
        )
    elif isinstance(event, ContactAdded | ContactChanged):
        await conn.execute(
            "INSERT INTO contacts (contact_id, customer_id, name, role, email, phone, billing)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (customer_id, contact_id)"
            " DO UPDATE SET name = excluded.name, role = excluded.role, email = excluded.email,"
            " phone = excluded.phone, billing = excluded.billing",
            event.contact_id,
            event.customer_id,
            event.name,
            event.role,
            event.email,
            event.phone,
            event.billing,
        )
    elif isinstance(event, ContactRetired):
        await conn.execute(
            "UPDATE contacts SET retired_at = $2, retired_reason = $3 WHERE customer_id = $4 AND contact_id = $1",
            event.contact_id,
            at,
            event.reason,
            event.customer_id,
        )
    elif isinstance(event, CustomerStatusChanged):
        await conn.execute(
            "UPDATE customers SET status = $2, status_reason = $3 WHERE customer_id = $1",
            event.customer_id,
            event.status,
            event.reason,
        )
    elif isinstance(event, ReviewDateSet):
        await conn.execute(
            "UPDATE customers SET review_on = $2, review_due_raised = false WHERE customer_id = $1",
            event.customer_id,
            event.review_on,
        )
    elif isinstance(event, CreditReviewDue):
        await conn.execute(
            "UPDATE customers SET review_due_raised = true WHERE customer_id = $1 AND review_on = $2",
            event.customer_id,
            event.review_on,
        )
    elif isinstance(event, TradeReferenceRecorded):
        limit = event.credit_limit
        await conn.execute(
            "INSERT INTO trade_references VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            event.reference_id,
            event.customer_id,
            event.supplier,
            event.contact,
            event.trading_since,
            limit.amount if limit else None,
            limit.currency if limit else None,
            event.payment_experience,
            event.notes,
            at,
        )
    elif isinstance(event, InsuranceCoverRecorded):
        await conn.execute(
            "INSERT INTO insurance_covers VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT"
            " (customer_id, insurer, policy_number) DO UPDATE SET insured_limit = excluded.insured_limit,"
            " currency = excluded.currency, expires_on = excluded.expires_on, recorded_at = excluded.recorded_at,"
            " cancelled_on = NULL, cancellation_reason = NULL",
            event.customer_id,
            event.insurer,
            event.policy_number,
            event.insured_limit.amount,
            event.insured_limit.currency,
            event.expires_on,
            at,
        )
    elif isinstance(event, InsuranceCoverCancelled):
        await conn.execute(
            "UPDATE insurance_covers SET cancelled_on = $4, cancellation_reason = $5"
            " WHERE customer_id = $1 AND insurer = $2 AND policy_number = $3",
            event.customer_id,
            event.insurer,
            event.policy_number,
            event.cancelled_on,
            event.reason,
        )
    elif isinstance(event, BureauReportRecorded):
        await conn.execute(
            "INSERT INTO bureau_reports (report_id, customer_id, provider, report_date, score, rating,"
            " adverse_records, raw, recorded_at, score_range) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10)",
            event.report_id,
            event.customer_id,
            event.provider,
            event.report_date,
            event.score,
            event.rating,
            json.dumps([r.model_dump(mode="json") for r in event.adverse_records]),
            event.raw,
            at,
            event.score_range.model_dump_json() if event.score_range else None,
        )
    elif isinstance(event, FinancialStatementRecorded):
        derived = event.ratios
        await conn.execute(
            "INSERT INTO statements (customer_id, period_end, period_months, currency, items, audited,"
            " current_ratio, debt_ratio, working_capital, altman_z, altman_zone, recorded_at)"
            " VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10, $11, $12)"
            " ON CONFLICT (customer_id, period_end, period_months) DO UPDATE SET currency = excluded.currency,"
            " items = excluded.items, audited = excluded.audited, current_ratio = excluded.current_ratio,"
            " debt_ratio = excluded.debt_ratio, working_capital = excluded.working_capital,"
            " altman_z = excluded.altman_z, altman_zone = excluded.altman_zone, recorded_at = excluded.recorded_at",
            event.customer_id,
            event.period_end,
            event.period_months,
            event.currency,
            json.dumps(event.items.model_dump(mode="json")),
            event.audited,
            derived.current_ratio,
            derived.debt_ratio,
            derived.working_capital,
            derived.altman_z,
            derived.altman_zone,
            at,
        )


# -- what scoring decided -----------------------------------------------------------------------------

STANDING_TOPIC = "scoring.events"


async def project_standing(conn: Connection, deliveries: Sequence[Delivery]) -> None:
    """The credit file's grade, score, limit, terms and holds, as scoring decides them."""
    for delivery in deliveries:
        event, at = delivery.event, delivery.envelope.time
        if not isinstance(
            event, CustomerScored | CreditLimitSet | CreditTermsSet | CreditHoldPlaced | CreditHoldReleased
        ):
            continue
        await conn.execute(
            "INSERT INTO credit_standing (customer_id) VALUES ($1) ON CONFLICT DO NOTHING", event.customer_id
        )
        match event:
            case CustomerScored():
                await conn.execute(
                    "UPDATE credit_standing SET grade = $2, score = $3, reasons = $4, scored_at = $5"
                    " WHERE customer_id = $1",
                    event.customer_id,
                    event.grade,
                    event.score,
                    json.dumps(event.reasons),
                    at,
                )
            case CreditLimitSet():
                await conn.execute(
                    "UPDATE credit_standing SET limit_amount = $2, standing_limit = $3, limit_currency = $4,"
                    " limit_expires_on = $5 WHERE customer_id = $1",
                    event.customer_id,
                    event.limit.amount,
                    event.standing_limit.amount,
                    event.limit.currency,
                    event.expires_on,
                )
            case CreditTermsSet():
                await conn.execute(
                    "UPDATE credit_standing SET credit_days = $2, discount_percent = $3, discount_days = $4"
                    " WHERE customer_id = $1",
                    event.customer_id,
                    event.credit_days,
                    event.discount_percent,
                    event.discount_days,
                )
            case CreditHoldPlaced():
                hold = json.dumps({"reason": event.reason, "by": event.by, "placed_at": at.isoformat()})
                await conn.execute(
                    "UPDATE credit_standing SET holds = holds || jsonb_build_object($2::text, $3::jsonb)"
                    " WHERE customer_id = $1",
                    event.customer_id,
                    event.hold_id,
                    hold,
                )
            case CreditHoldReleased():
                await conn.execute(
                    "UPDATE credit_standing SET holds = holds - $2::text WHERE customer_id = $1",
                    event.customer_id,
                    event.hold_id,
                )
