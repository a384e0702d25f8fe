"""The daily sweep of receivables: invoices fall overdue, and age from bucket to bucket."""

from __future__ import annotations

from datetime import date

from libs.events.sweeps import Sweep
from libs.service.kit import Kit
from services.receivables import domain, handlers

# Open instalments past due whose days past due have reached a bucket beyond the last announced.
_CROSSING = """
SELECT DISTINCT customer_id FROM instalments
 WHERE open > 0 AND due_date < $1 AND width_bucket(($1::date - due_date) - 1, $2::int[]) > overdue_bucket
"""
CHUNK = 200


def sweeps(kit: Kit) -> list[Sweep]:
    parts: handlers.Parts = kit.parts

    async def invoices_fall_overdue(business_date: date) -> int:
        customers = [
            r["customer_id"] for r in await kit.pool.fetch(_CROSSING, business_date, list(domain.DEFAULT_BOUNDARIES))
        ]
        emitted = 0
        for start in range(0, len(customers), CHUNK):
            async with parts.store.transaction() as conn:
                emitted += await handlers.fall_overdue(parts, conn, customers[start : start + CHUNK], business_date)
        return emitted

    return [Sweep("receivables.invoices-fall-overdue", invoices_fall_overdue)]
