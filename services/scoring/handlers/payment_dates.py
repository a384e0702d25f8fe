"""The payment-date model's use cases: train it on the book's history and record the training,
predict every open invoice and keep the predictions, the week's cash-in forecast and each
customer's predicted lateness (published when it changes)."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import asyncpg

from contracts.scoring import PaymentDateModelTrained, PaymentLatenessPredicted
from libs.events.store import Append
from services.scoring.domain import cash_in
from services.scoring.domain import payment_dates as pd
from services.scoring.handlers.accounts import Parts
from services.scoring.queries import payment_dates as q
from services.scoring.queries.facts import rates_on

MODEL_STREAM = "payment-date-model"
MODEL_KEY = "models"  # the partition key of model trainings, which belong to no customer
SEED = 20_251_201
BACKTEST_ORIGINS = 3  # months, the last of them three months before training, so outcomes are known
BACKTEST_GAP_MONTHS = 3
CHUNK = 500


def lateness_stream(customer_id: str) -> str:
    return f"payment-lateness-{customer_id}"


class NotEnoughHistory(Exception):
    """Too few paid invoices to learn from."""


@dataclass(frozen=True)
class Trained:
    event: PaymentDateModelTrained
    model: pd.Model


def _train(items: list[pd.Item], conduct: dict[str, pd.Conduct], today: date, version: int, by: str) -> Trained:
    """Everything CPU-bound, for a worker thread: the backtest, then the model on all history."""
    started = time.perf_counter()
    origin = today + timedelta(days=1)  # at the close of today
    samples, labels = pd.training_samples(items, conduct, origin)
    if len(samples) < pd.MIN_SAMPLES:
        raise NotEnoughHistory(f"{len(samples)} samples; at least {pd.MIN_SAMPLES} are needed")
    origins = pd.month_starts_before(today, BACKTEST_ORIGINS, BACKTEST_GAP_MONTHS)
    tested = pd.backtest(items, conduct, origins, origin, SEED)
    model = pd.train(samples, labels, SEED)
    dues = [s.item.due_date for s in samples]
    event = PaymentDateModelTrained(
        version=version,
        trained_on=today,
        data_from=min(dues),
        data_to=max(dues),
        samples=len(samples),
        features=pd.FEATURES,
        parameters={**pd.PARAMETERS, "interval": f"{pd.INTERVAL[0]}-{pd.INTERVAL[1]}"},
        seed=SEED,
        backtest={"origins": tested.origins, "overall": tested.overall},
        model_digest=pd.digest(model.to_bytes()),
        training_seconds=round(time.perf_counter() - started, 2),
        trained_by=by,
    )
    return Trained(event, model)


async def train(parts: Parts, pool: asyncpg.Pool, by: str, today: date) -> PaymentDateModelTrained:
    """Train on the history as scoring knows it at the close of ``today``; record the training."""
    async with pool.acquire() as conn:
        items, conduct = await q.history(conn, parts.base_currency)
        version = int(await conn.fetchval("SELECT coalesce(max(version), 0) + 1 FROM payment_date_models"))
    trained = await asyncio.to_thread(_train, items, conduct, today, version, by)
    async with parts.store.transaction() as conn:
        await parts.store.append(MODEL_STREAM, version - 1, [trained.event], customer_id=MODEL_KEY, conn=conn)
        await conn.execute(
            "UPDATE payment_date_models SET model = $2 WHERE version = $1", version, trained.model.to_bytes()
        )
    return trained.event


def _predict(
    items: list[pd.Item], conduct: dict[str, pd.Conduct], today: date, model: pd.Model | None
) -> list[pd.Prediction]:
    samples = pd.open_at(items, conduct, today + timedelta(days=1))
    return pd.predict(model, samples) if model is not None else pd.predict_by_median(samples)


async def predict(parts: Parts, pool: asyncpg.Pool, today: date) -> int:
    """Predict every open invoice at the close of ``today`` with the model in force (the
    median-delay baseline before one is trained); keep the predictions, the forecast they make,
    and publish each customer's lateness where it changed. Answers how many were predicted."""
    base = parts.base_currency
    async with pool.acquire() as conn:
        items, conduct = await q.history(conn, base)
        latest = await q.latest_model(conn)
        amounts = await q.open_amounts(conn)
    version = latest[0]["version"] if latest and latest[1] is not None else None
    model = pd.Model.from_bytes(latest[1]) if latest and latest[1] is not None else None
    made = await asyncio.to_thread(_predict, items, conduct, today, model)
    made = [p for p in made if (p.item.customer_id, p.item.invoice_id) in amounts]
    rows = []
    for p in made:
        open_amount, currency = amounts[p.item.customer_id, p.item.invoice_id]
        row = (today, p.item.customer_id, p.item.invoice_id, version, p.item.due_date, p.paid_on, p.low, p.high)
        rows.append((*row, Decimal(str(p.late_probability)), open_amount, currency))
    async with parts.store.transaction() as conn:
        await conn.execute("DELETE FROM payment_predictions WHERE predicted_on = $1", today)
        await conn.copy_records_to_table(
            "payment_predictions",
            records=rows,
            columns=[
                "predicted_on",
                "customer_id",
                "invoice_id",
                "model_version",
                "due_date",
                "paid_on",
                "low",
                "high",
                "late_probability",
                "open_amount",
                "currency",
            ],
            schema_name="read_model",
        )
        await _record_forecast(conn, today, base)
    await _publish_lateness(parts, today, version)
    return len(rows)


async def _record_forecast(conn: Any, today: date, base: str) -> None:
    receipts = await q.receipts_predicted(conn, today, base)
    weeks, later = cash_in.forecast(today, receipts, await q.expected_receipts(conn, today, base), base)
    await conn.execute("DELETE FROM cash_forecasts WHERE made_on = $1", today)
    await conn.executemany(
        "INSERT INTO cash_forecasts (made_on, week_start, predicted, promised) VALUES ($1, $2, $3, $4)",
        [(today, w.start, w.predicted, w.promised) for w in weeks],
    )
    await conn.execute(
        "INSERT INTO cash_forecast_runs (made_on, later) VALUES ($1, $2)"
        " ON CONFLICT (made_on) DO UPDATE SET later = excluded.later",
        today,
        later,
    )


CHANGE_DAYS, CHANGE_PROBABILITY = 1, Decimal("0.05")


async def _publish_lateness(parts: Parts, today: date, version: int | None) -> None:
    """Each customer's predictions weighed by what is open (in the base currency at today's
    rates), published where the days late moved by a day or the probability by five points."""
    async with parts.store.transaction() as conn:
        rows = await conn.fetch(
            "SELECT customer_id, due_date, paid_on, late_probability, open_amount, currency FROM payment_predictions"
            " WHERE predicted_on = $1",
            today,
        )
        before = {
            r["customer_id"]: r
            for r in await conn.fetch(
                "SELECT customer_id, version, expected_days_late, late_probability FROM predicted_lateness"
            )
        }
        known = await rates_on(conn, today, parts.base_currency)
    weights: dict[str, list[tuple[Decimal, int, Decimal]]] = defaultdict(list)
    for r in rows:
        rate = known.get(r["currency"])
        if rate is not None:
            days_late = max(0, (r["paid_on"] - r["due_date"]).days)
            weights[r["customer_id"]].append((r["open_amount"] * rate, days_late, r["late_probability"]))
    events: list[tuple[str, int, PaymentLatenessPredicted]] = []
    for customer_id, parts_ in sorted(weights.items()):
        total = sum((w for w, _, _ in parts_), Decimal(0))
        if total <= 0:
            continue
        days = int((sum(w * d for w, d, _ in parts_) / total).to_integral_value(ROUND_HALF_UP))
        probability = (sum(w * p for w, _, p in parts_) / total).quantize(Decimal("0.01"), ROUND_HALF_UP)
        was = before.get(customer_id)
        if (
            was is not None
            and abs(was["expected_days_late"] - days) < CHANGE_DAYS
            and abs(was["late_probability"] - probability) < CHANGE_PROBABILITY
        ):
            continue
        event = PaymentLatenessPredicted(
            customer_id=customer_id,
            predicted_on=today,
            model_version=version,
            open_invoices=len(parts_),
            expected_days_late=days,
            late_probability=probability,
        )
        events.append((customer_id, was["version"] if was else 0, event))
    for start in range(0, len(events), CHUNK):
        appends = [Append(lateness_stream(c), at, [e], c) for c, at, e in events[start : start + CHUNK]]
        async with parts.store.transaction() as conn:
            await parts.store.append_all(conn, appends)


RETRAIN_DAYS = 30


async def on_schedule(parts: Parts, pool: asyncpg.Pool, day: date) -> int:
    """The daily sweep, for today only (a day caught up later is not predicted after the fact):
    train when no model is kept or the last is RETRAIN_DAYS old and the history suffices; predict."""
    if day != parts.clock.today():
        return 0
    async with pool.acquire() as conn:
        latest = await q.latest_model(conn)
    stale = (
        latest is None
        or latest[1] is None
        or date.fromisoformat(latest[0]["trained_on"]) <= day - timedelta(days=RETRAIN_DAYS)
    )
    recorded = 0
    if stale:
        try:
            await train(parts, pool, "schedule", day)
            recorded = 1
        except NotEnoughHistory:
            pass  # the baseline predicts until the history suffices
    await predict(parts, pool, day)
    return recorded
