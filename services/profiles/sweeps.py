"""The daily sweep of profiles: credit files whose review date has passed become due for review."""

from __future__ import annotations

from datetime import date

from libs.events.store import execute
from libs.events.sweeps import Sweep
from libs.service.kit import Kit
from services.profiles import domain


def sweeps(kit: Kit) -> list[Sweep]:
    async def credit_reviews_due(business_date: date) -> int:
        due = await kit.pool.fetch(
            "SELECT customer_id FROM customers WHERE review_on < $1 AND NOT review_due_raised ORDER BY review_on",
            business_date,
        )
        raised = 0
        for row in due:
            customer_id = row["customer_id"]
            raised += len(
                await execute(
                    kit.store,
                    domain.stream_id(customer_id),
                    customer_id=customer_id,
                    initial=domain.CreditFile(),
                    evolve=domain.evolve,
                    decide=lambda state: domain.review_due(state, business_date),
                )
            )
        return raised

    return [Sweep("profiles.credit-reviews-due", credit_reviews_due)]
