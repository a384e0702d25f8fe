"""The daily sweep of scoring: temporary limits expire, the policy's holds are looked at again
where time alone changed the facts (days past due grow, reservations lapse), and every open
invoice's payment date is predicted (the model trained again each month)."""

from __future__ import annotations

from datetime import date

from libs.events.sweeps import Sweep
from libs.service.kit import Kit
from services.scoring import handlers
from services.scoring.handlers import payment_dates as predictions

_EXPIRING = "SELECT customer_id FROM credit_accounts WHERE limit_expires_on <= $1 ORDER BY 1"
# Customers with an instalment past the policy's days (a schedule's first due date is its
# earliest), or whose reservations lapsed since yesterday.
_PAST_DAYS = "SELECT customer_id FROM invoices WHERE open > 0 AND (schedule->0->>0)::date < $1::date - $2::int"
_LAPSED = (
    "SELECT customer_id FROM credit_checks"
    " WHERE outcome = 'approve' AND released_on IS NULL AND reserved_until = $1::date - 1"
)
_PRUNE_LAPSED = """
UPDATE credit_accounts SET reservations = coalesce(
    (SELECT jsonb_object_agg(key, value) FROM jsonb_each(reservations) WHERE (value->>2)::date >= $1), '{}')
 WHERE EXISTS (SELECT FROM jsonb_each(reservations) WHERE (value->>2)::date < $1)
"""
CHUNK = 200


def sweeps(kit: Kit) -> list[Sweep]:
    parts: handlers.Parts = kit.parts

    async def temporary_limits_expire(business_date: date) -> int:
        expired = 0
        for row in await kit.pool.fetch(_EXPIRING, business_date):
            async with parts.store.transaction() as conn:
                ran = await handlers.on_account(parts, conn, handlers.ExpireTemporaryLimit(row["customer_id"]))
            expired += bool(ran.recorded)
        return expired

    async def policy_holds(business_date: date) -> int:
        days = parts.policies.holds.overdue_days
        rows = await kit.pool.fetch(_LAPSED, business_date)
        if days is not None:
            rows += await kit.pool.fetch(_PAST_DAYS, business_date, days)
        customers = sorted({r["customer_id"] for r in rows})
        await kit.pool.execute(_PRUNE_LAPSED, business_date)  # they no longer count; this only tidies
        changed = 0
        for start in range(0, len(customers), CHUNK):
            async with parts.store.transaction() as conn:
                again = handlers.Reconsider(holds=set(customers[start : start + CHUNK]))
                changed += len(await handlers.reconsider(parts, conn, again))
        return changed

    async def payment_dates(business_date: date) -> int:
        return await predictions.on_schedule(parts, kit.pool, business_date)

    return [
        Sweep("scoring.temporary-limits-expire", temporary_limits_expire),
        Sweep("scoring.policy-holds", policy_holds),
        Sweep("scoring.payment-dates", payment_dates),
    ]
