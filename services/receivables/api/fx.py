"""FX rates to the base currency: recorded, proposed and confirmed by a second person."""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import Field

from libs.events.contracts import AcceptedCurrency, BoundedDecimal, BusinessDate
from libs.service.idempotency import idempotent
from libs.service.kit import KitDep
from libs.service.views import Body, answer
from services.receivables import handlers
from services.receivables.api.base import (
    Finance,
    Readers,
    parts_of,
)
from services.receivables.queries import fx
from services.receivables.queries import views as v

router = APIRouter()

# -- FX rates ----------------------------------------------------------------------------------------------------


class FxRate(Body):
    currency: AcceptedCurrency
    rate: BoundedDecimal = Field(gt=0, max_digits=24, description="units of the base currency for one unit of this one")
    rate_date: BusinessDate


@router.post(
    "/fx-rates",
    status_code=201,
    response_model=v.FxRateAnswer,
    summary="Record an FX rate to the base currency",
    responses={
        202: {
            "model": v.FxRateAnswer,
            "description": "more than 20 % away from the rate in force: proposed, for a second person",
        }
    },
)
async def record_rate(body: FxRate, request: Request, kit: KitDep, caller: Finance) -> Response:
    """A rate from its date on. One more than 20 % away from the latest rate of its currency is only
    proposed (202) until another finance director confirms it."""
    command = handlers.RecordFxRate(
        f"FX-{uuid.uuid4().hex[:10].upper()}", body.currency, body.rate, body.rate_date, caller.subject
    )
    async with idempotent(request, caller) as scope:
        if scope.replay:
            return scope.replay
        event = await handlers.record_fx_rate(parts_of(kit), scope.conn, command)
        status = 201 if event.event_type == "receivables.FxRateRecorded" else 202
        return scope.keep(answer(v.FxRateAnswer(**event.model_dump()), status))


@router.get("/fx-rates", response_model=list[v.FxRateView], summary="Recorded FX rates, newest first")
async def list_rates(kit: KitDep, _: Readers, currency: AcceptedCurrency | None = None) -> Response:
    """Every rate to the base currency, with who recorded and who confirmed it."""
    async with kit.pool.acquire() as conn:
        return answer(await fx.fx_rates(conn, currency))


@router.get(
    "/fx-rates/proposals",
    response_model=list[v.FxProposalView],
    summary="Rates waiting for a second person's confirmation",
)
async def list_proposals(
    kit: KitDep, _: Readers, status: Literal["waiting", "confirmed"] | None = "waiting"
) -> Response:
    """Rates far from the one in force, proposed by one finance director and waiting for another."""
    async with kit.pool.acquire() as conn:
        return answer(await fx.fx_proposals(conn, status))


@router.post(
    "/fx-rates/proposals/{proposal_id}/confirmation",
    status_code=201,
    response_model=v.FxRateAnswer,
    summary="Confirm a proposed rate",
)
async def confirm_rate(proposal_id: str, request: Request, kit: KitDep, caller: Finance) -> Response:
    """A second finance director confirms a proposed rate: from now on it is the rate of its date."""
    async with idempotent(request, caller) as scope:
        if scope.replay:
            return scope.replay
        event = await handlers.confirm_fx_rate(
            parts_of(kit), scope.conn, handlers.ConfirmFxRate(proposal_id, caller.subject)
        )
        return scope.keep(answer(v.FxRateAnswer(**event.model_dump()), 201))
