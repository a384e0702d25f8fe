"""FX rates to the base currency as receivables answers them: recorded, and proposed for a second person."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from libs.events.database import Connection
from libs.events.refusals import NotFound
from services.receivables.queries.views import FxProposalView, FxRateView


async def fx_rates(conn: Connection, currency: str | None) -> list[FxRateView]:
    rows = await conn.fetch(
        "SELECT * FROM fx_rates WHERE $1::text IS NULL OR currency = $1 ORDER BY rate_date DESC, currency", currency
    )
    return [FxRateView(**r) for r in rows]


async def latest_rate(conn: Connection, currency: str) -> Decimal | None:
    rate: Decimal | None = await conn.fetchval(
        "SELECT rate FROM fx_rates WHERE currency = $1 ORDER BY rate_date DESC LIMIT 1", currency
    )
    return rate


async def fx_proposals(conn: Connection, status: str | None) -> list[FxProposalView]:
    rows = await conn.fetch(
        "SELECT * FROM fx_rate_proposals WHERE $1::text IS NULL OR status = $1 ORDER BY proposed_on DESC, proposal_id",
        status,
    )
    return [FxProposalView(**r) for r in rows]


async def fx_proposal(conn: Connection, proposal_id: str) -> dict[str, Any]:
    row = await conn.fetchrow("SELECT * FROM fx_rate_proposals WHERE proposal_id = $1", proposal_id)
    if row is None:
        raise NotFound(f"no FX rate proposal {proposal_id}")
    return dict(row)
