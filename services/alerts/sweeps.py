"""alerts' daily sweeps: unacknowledged alerts escalate to the next role, and credit-insurance cover
coming within a rule's days of its expiry raises an alert."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from contracts.alerts import ESCALATES_TO, InsuranceExpiring
from libs.events.sweeps import Sweep
from libs.service.kit import Kit
from services.alerts import handlers
from services.alerts.domain.triggers import Cover, expiring


def sweeps(kit: Kit) -> Sequence[Sweep]:
    parts: handlers.Parts = kit.parts

    async def escalation(day: date) -> int:
        async with kit.pool.acquire() as conn:
            rules = (await handlers.rule_book(parts, conn)).current
            customers = await conn.fetch(
                "SELECT DISTINCT customer_id FROM alerts WHERE closed IS NULL AND acknowledged_by IS NULL"
                " AND notify = ANY($1::text[]) AND waiting_since < $2 ORDER BY customer_id",
                list(ESCALATES_TO),
                day,
            )
        escalated = 0
        for row in customers:
            async with parts.store.transaction() as conn:
                escalated += await handlers.escalate(parts, conn, row["customer_id"], rules, day)
        return escalated

    async def insurance_expiry(day: date) -> int:
        async with kit.pool.acquire() as conn:
            book = await handlers.rule_book(parts, conn)
        raised = 0
        for rule in book.current:
            if not isinstance(rule, InsuranceExpiring):
                continue
            async with kit.pool.acquire() as conn:
                covers = await conn.fetch(
                    "SELECT * FROM covers WHERE expires_on = $1 ORDER BY customer_id, policy_number",
                    day + timedelta(days=rule.within_days),
                )
            for r in covers:
                cover = Cover(r["insurer"], r["insured"], r["currency"], r["expires_on"], r["event_id"])
                facts = expiring(rule, cover, r["policy_number"], day)
                if facts is None:
                    continue
                async with parts.store.transaction() as conn:
                    await handlers.signal(parts, conn, r["customer_id"], [(rule, facts)], book.version, day=day)
                raised += 1
        return raised

    return [Sweep("escalation", escalation), Sweep("insurance-expiry", insurance_expiry)]
