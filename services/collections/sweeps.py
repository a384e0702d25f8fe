"""The daily sweep of collections: promises and plans valued as their dates pass, then the dunning
run (steps, notices and escalations by policy) for every customer with open items."""

from __future__ import annotations

from datetime import date

from libs.events.sweeps import Sweep
from libs.service.kit import Kit
from services.collections import handlers, queries

CHUNK = 200  # customers per transaction


async def run_day(kit: Kit, business_date: date) -> int:
    """Value promises and plans, dun, and place on the worklist every customer with something open;
    answers the events recorded."""
    parts: handlers.Parts = kit.parts
    async with kit.pool.acquire() as conn:
        customers = await queries.customers_to_dun(conn)
    emitted = 0
    for start in range(0, len(customers), CHUNK):
        chunk = customers[start : start + CHUNK]
        async with parts.store.transaction() as conn:
            emitted += await handlers.value_commitments(parts, conn, chunk, business_date)
            known = await parts.facts.of(conn, chunk)  # read once for the run and the worklist
            emitted += await handlers.dunning_run(parts, conn, chunk, business_date, known)
            items = {c: facts.items for c, facts in known.items()}
            await queries.refresh_worklist(conn, chunk, business_date, parts.base_currency, items)
        parts.notices_queued()  # committed: the sender finds them
    return emitted


def sweeps(kit: Kit) -> list[Sweep]:
    async def dunning_run(business_date: date) -> int:
        return await run_day(kit, business_date)

    return [Sweep("collections.dunning-run", dunning_run)]
