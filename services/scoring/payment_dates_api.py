"""HTTP API of the payment-date model: the model in force with its backtest and live accuracy,
training it again, a customer's predicted payment dates, and the 13-week cash-in forecast."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from contracts.scoring import PaymentDateModelTrained
from libs.events.contracts import BusinessDate, Money
from libs.service.errors import Problem
from libs.service.idempotency import idempotent
from libs.service.kit import KitDep
from services.scoring.api import Managers, Readers, parts_of
from services.scoring.handlers import payment_dates as run
from services.scoring.queries import payment_dates as q

router = APIRouter(tags=["payment dates"])


class LiveAccuracy(BaseModel):
    """The stored predictions of this version made before their invoice's payment, against it."""

    predictions_scored: int
    mae_days: str | None
    within_7_days: str | None
    within_interval: str | None


class VersionTrained(BaseModel):
    version: int
    trained_on: date
    overall: dict[str, Any]


class ModelReport(PaymentDateModelTrained):
    model_kept: bool = Field(description="false after a rebuilt read model, until the schedule trains again")
    live: LiveAccuracy
    versions: list[VersionTrained]


class Interval(BaseModel):
    from_: date = Field(alias="from")
    to: date


class PredictedInvoice(BaseModel):
    invoice_id: str
    due_date: date
    predicted_payment_date: date
    interval: Interval
    late_probability: str
    open: Money
    model_version: int | None
    paid_on: date | None
    error_days: int | None = Field(description="predicted less actual, in days")


class CustomerPredictions(BaseModel):
    customer_id: str
    predicted_on: date | None
    invoices: list[PredictedInvoice]


class ForecastWeek(BaseModel):
    week_start: date
    predicted: str
    promised: str
    total: str


class PastWeek(BaseModel):
    week_start: date
    forecast: str | None
    forecast_made_on: date | None
    received: str
    difference: str | None = Field(description="received less forecast")


class CashForecast(BaseModel):
    made_on: date
    currency: str
    weeks: list[ForecastWeek]
    later: str | None
    past_weeks: list[PastWeek]


@router.get(
    "/models/payment-date",
    response_model=ModelReport,
    summary="The payment-date model in force: its backtest beside the baselines, and its live accuracy",
    responses={404: {"description": "no model trained yet"}},
)
async def get_model(kit: KitDep, _: Readers) -> Response:
    """The latest training as recorded (version, data window, samples, parameters, the
    rolling-origin backtest per origin and overall for the model and the three baselines: the due
    date, the customer's median delay over its last five paid invoices, its last delay), how the
    predictions stored since fared against the payments that came, and every version trained."""
    async with kit.pool.acquire() as conn:
        found = await q.model_report(conn)
    if found is None:
        raise Problem(404, "Not found", "no payment-date model has been trained yet", kind="not-found")
    return JSONResponse(found)


@router.post(
    "/models/payment-date/trainings",
    status_code=201,
    response_model=PaymentDateModelTrained,
    responses={409: {"description": "too little paid history to learn from"}},
    summary="Train the payment-date model now, then predict every open invoice with it",
)
async def train_model(request: Request, kit: KitDep, caller: Managers) -> Response:
    """What the monthly schedule does, on demand: the backtest, the model on all history known at
    the close of today, recorded as ``PaymentDateModelTrained``; then today's predictions."""
    parts = parts_of(kit)
    async with idempotent(request, caller) as scope:
        if scope.replay:
            return scope.replay
        try:
            trained = await run.train(parts, kit.pool, caller.subject, kit.clock.today())
        except run.NotEnoughHistory as e:
            raise Problem(409, "Not enough history", str(e), kind="not-enough-history") from None
        await run.predict(parts, kit.pool, kit.clock.today())
        return scope.keep(JSONResponse(trained.model_dump(mode="json"), status_code=201))


@router.get(
    "/customers/{customer_id}/payment-predictions",
    response_model=CustomerPredictions,
    summary="Predicted payment dates of open invoices",
)
async def get_predictions(
    customer_id: str,
    kit: KitDep,
    _: Readers,
    on: Annotated[BusinessDate | None, Query(description="the run of this day, or the latest before it")] = None,
) -> Response:
    """Each open invoice as the day's run predicted it: the date, its interval, the probability of
    paying after the due date, and (once paid) the actual date and the error in days."""
    async with kit.pool.acquire() as conn:
        return JSONResponse(await q.predictions_of(conn, customer_id, on or kit.clock.today()))


@router.get(
    "/cash-forecast",
    response_model=CashForecast,
    summary="The 13-week cash-in forecast, and forecast against received for past weeks",
    responses={404: {"description": "no prediction run yet"}},
)
async def get_cash_forecast(
    kit: KitDep,
    _: Readers,
    on: Annotated[BusinessDate | None, Query(description="the run of this day, or the latest before it")] = None,
    weeks: Annotated[int, Query(ge=1, le=13)] = 13,
) -> Response:
    """Week by week (Monday to Sunday) in the base currency: what the predictions bring, what
    promises and plan instalments bring, their total; what is predicted later; and for the weeks
    before, the forecast made when each began beside the cash received in it."""
    today = kit.clock.today()
    day = on or today
    if day > today:
        raise Problem(422, "Invalid date", f"on {day} is after today's business date {today}", kind="invalid-date")
    async with kit.pool.acquire() as conn:
        found: dict[str, Any] | None = await q.cash_forecast(conn, day, parts_of(kit).base_currency, weeks)
    if found is None:
        raise Problem(404, "Not found", f"no prediction run on or before {day}", kind="not-found")
    return JSONResponse(found)
