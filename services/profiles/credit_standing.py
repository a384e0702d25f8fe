"""The credit file's grade, score, limit, terms and holds, projected from scoring.events."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from libs.events.consumer import Delivery
from libs.events.contracts import to_minor_unit
from libs.events.database import Connection
from libs.service.kit import ConsumerSpec
from services.scoring.events import (
    CreditHoldPlaced,
    CreditHoldReleased,
    CreditLimitSet,
    CreditTermsSet,
    CustomerScored,
)
from services.scoring.events import registry as scoring_events

TOPIC = "scoring.events"
STANDING = (CustomerScored, CreditLimitSet, CreditTermsSet, CreditHoldPlaced, CreditHoldReleased)
registry = scoring_events


async def project(conn: Connection, deliveries: Sequence[Delivery]) -> None:
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


def render(row: Any) -> dict[str, Any]:
    """The credit file's ``credit`` section from a joined credit_standing row (its columns prefixed ``cs_``)."""
    if row["cs_customer_id"] is None:
        return {"grade": None, "score": None, "reasons": [], "limit": None, "terms": None, "holds": []}
    currency = row["cs_limit_currency"]
    limit = None
    if row["cs_limit_amount"] is not None:
        limit = {
            "in_force": {"amount": to_minor_unit(row["cs_limit_amount"], currency), "currency": currency},
            "standing": {"amount": to_minor_unit(row["cs_standing_limit"], currency), "currency": currency},
            "temporary_until": row["cs_limit_expires_on"],
        }
    terms = None
    if row["cs_credit_days"] is not None:
        terms = {k: row[f"cs_{k}"] for k in ("credit_days", "discount_percent", "discount_days")}
    return {
        "grade": row["cs_grade"],
        "score": row["cs_score"],
        "reasons": json.loads(row["cs_reasons"]),
        "scored_at": row["cs_scored_at"],
        "limit": limit,
        "terms": terms,
        "holds": [{"hold_id": k, **v} for k, v in json.loads(row["cs_holds"]).items()],
    }


CONSUMER = ConsumerSpec("credit-standing", [TOPIC], batch_handler=project)
