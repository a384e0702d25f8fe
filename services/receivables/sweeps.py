"""The daily sweep of receivables: invoices fall overdue, and age from bucket to bucket."""

from __future__ import annotations

from datetime import date

from libs.events.sweeps import Sweep
from libs.service.kit import Kit
from services.receivables import domain
from services.receivables.accounts import accounts_of

# Open instalments past due whose days past due have reached a bucket beyond the last announced.
_CROSSING = """
SELECT DISTINCT customer_id FROM instalments
 WHERE open > 0 AND due_date < $1 AND width_bucket(($1::date - due_date) - 1, $2::int[]) > overdue_bucket
"""


def sweeps(kit: Kit) -> list[Sweep]:
    async def invoices_fall_overdue(business_date: date) -> int:
        accounts = accounts_of(kit.store)
        customers = [
            r["customer_id"] for r in await kit.pool.fetch(_CROSSING, business_date, list(domain.DEFAULT_BOUNDARIES))
        ]
        emitted = 0
        for start in range(0, len(customers), 200):
            async with kit.store.transaction() as conn:
                loaded = await accounts.load_many(conn, customers[start : start + 200])
                decisions = {c: (a, domain.fall_overdue(a.account, business_date)) for c, a in loaded.items()}
                await accounts.append(conn, decisions)
            emitted += sum(len(events) for _, events in decisions.values())
        return emitted

    return [Sweep("receivables.invoices-fall-overdue", invoices_fall_overdue)]
