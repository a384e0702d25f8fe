"""The daily sweep of profiles: credit files whose review date has passed become due for review."""

from __future__ import annotations

from datetime import date

from libs.events.sweeps import Sweep
from libs.service.kit import Kit
from services.profiles import handlers


def sweeps(kit: Kit) -> list[Sweep]:
    parts: handlers.Parts = kit.parts

    async def credit_reviews_due(business_date: date) -> int:
        due = await kit.pool.fetch(
            "SELECT customer_id FROM customers WHERE review_on < $1 AND NOT review_due_raised ORDER BY review_on",
            business_date,
        )
        raised = 0
        for row in due:
            async with parts.store.transaction() as conn:
                ran = await handlers.raise_review_due(parts, conn, row["customer_id"], business_date)
            raised += len(ran.recorded)
        return raised

    return [Sweep("profiles.credit-reviews-due", credit_reviews_due)]
