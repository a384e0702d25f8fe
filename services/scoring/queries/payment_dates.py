"""What the payment-date model reads from scoring's read model, and the reports on what it
predicted: the model with its backtest and its live accuracy, a customer's predictions, and the
cash-in forecast beside what came in."""

from __future__ import annotations

import bisect
import json
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from libs.events.contracts import to_minor_unit
from libs.events.database import Connection
from services.scoring.domain import cash_in
from services.scoring.domain.payment_dates import Conduct, Item
from services.scoring.queries.facts import rates_on

_ITEMS = """
SELECT i.customer_id, i.invoice_id, i.issue_date, i.final_due, i.total, i.currency,
       jsonb_array_length(i.schedule) > 1 AS instalments, i.cash_discount, i.disputed_on,
       p.paid_on, i.settled_on
  FROM invoices i LEFT JOIN payment_experiences p USING (customer_id, invoice_id)
"""
_GRADES = "SELECT customer_id, scored_at::date AS on, grade FROM score_history ORDER BY customer_id, version"
_PROMISES = "SELECT customer_id, valued_on, kept FROM promise_outcomes ORDER BY customer_id, valued_on"


class Rates:
    """Each currency's rates by date: an amount converts at the latest rate on or before its day."""

    def __init__(self, rows: list[Any], base: str) -> None:
        self.base = base
        self.days: dict[str, list[date]] = defaultdict(list)
        self.rates: dict[str, list[Decimal]] = defaultdict(list)
        for r in sorted(rows, key=lambda r: (r["currency"], r["rate_date"])):
            self.days[r["currency"]].append(r["rate_date"])
            self.rates[r["currency"]].append(r["rate"])

    def on(self, currency: str, day: date) -> Decimal | None:
        if currency == self.base:
            return Decimal(1)
        k = bisect.bisect_right(self.days.get(currency, []), day)
        return self.rates[currency][k - 1] if k else None


async def rates(conn: Connection, base: str) -> Rates:
    return Rates(await conn.fetch("SELECT currency, rate_date, rate FROM fx_rates"), base)


async def history(conn: Connection, base: str) -> tuple[list[Item], dict[str, Conduct]]:
    """Every invoice the model may learn from or predict, with each customer's grades and promises."""
    known = await rates(conn, base)
    items = []
    for r in await conn.fetch(_ITEMS):
        rate = known.on(r["currency"], r["issue_date"])
        items.append(
            Item(
                r["customer_id"],
                r["invoice_id"],
                r["issue_date"],
                r["final_due"],
                float(r["total"] * rate) if rate is not None else float("nan"),
                r["instalments"],
                r["cash_discount"],
                r["paid_on"],
                r["settled_on"],
                r["disputed_on"],
            )
        )
    grades: dict[str, list[tuple[date, str]]] = defaultdict(list)
    for r in await conn.fetch(_GRADES):
        grades[r["customer_id"]].append((r["on"], r["grade"]))
    promises: dict[str, list[tuple[date, bool]]] = defaultdict(list)
    for r in await conn.fetch(_PROMISES):
        promises[r["customer_id"]].append((r["valued_on"], r["kept"]))
    conduct = {c: Conduct(tuple(grades.get(c, ())), tuple(promises.get(c, ()))) for c in {*grades, *promises}}
    return items, conduct


async def open_amounts(conn: Connection) -> dict[tuple[str, str], tuple[Decimal, str]]:
    rows = await conn.fetch("SELECT customer_id, invoice_id, open, currency FROM invoices WHERE open > 0")
    return {(r["customer_id"], r["invoice_id"]): (r["open"], r["currency"]) for r in rows}


# -- the model --------------------------------------------------------------------------------------------


async def latest_model(conn: Connection) -> tuple[dict[str, Any], bytes | None] | None:
    row = await conn.fetchrow("SELECT trained, model FROM payment_date_models ORDER BY version DESC LIMIT 1")
    return None if row is None else (json.loads(row["trained"]), row["model"])


_LIVE = """
SELECT count(*) AS scored,
       avg(abs(p.paid_on - x.paid_on))::numeric(10, 2) AS mae_days,
       (avg((abs(p.paid_on - x.paid_on) <= 7)::int))::numeric(6, 4) AS within_7_days,
       (avg((x.paid_on BETWEEN p.low AND p.high)::int))::numeric(6, 4) AS within_interval
  FROM payment_predictions p JOIN payment_experiences x USING (customer_id, invoice_id)
 WHERE p.predicted_on < x.paid_on AND p.model_version IS NOT DISTINCT FROM $1
"""


async def model_report(conn: Connection) -> dict[str, Any] | None:
    """The model in force, its backtest, every version trained, and how its stored predictions
    fared against the payments that came since."""
    latest = await latest_model(conn)
    if latest is None:
        return None
    trained, model = latest
    live = await conn.fetchrow(_LIVE, trained["version"])
    versions = await conn.fetch(
        "SELECT version, trained_on, trained->'backtest'->'overall' AS overall FROM payment_date_models"
        " ORDER BY version DESC"
    )
    assert live is not None
    return {
        **trained,
        "model_kept": model is not None,
        "live": {
            "predictions_scored": live["scored"],
            "mae_days": _text(live["mae_days"]),
            "within_7_days": _text(live["within_7_days"]),
            "within_interval": _text(live["within_interval"]),
        },
        "versions": [
            {"version": v["version"], "trained_on": v["trained_on"].isoformat(), "overall": json.loads(v["overall"])}
            for v in versions
        ],
    }


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


# -- predictions --------------------------------------------------------------------------------------------


async def latest_run(conn: Connection, on: date) -> date | None:
    found: date | None = await conn.fetchval(
        "SELECT max(predicted_on) FROM payment_predictions WHERE predicted_on <= $1", on
    )
    return found


async def predictions_of(conn: Connection, customer_id: str, on: date) -> dict[str, Any]:
    """The customer's open invoices as the run of ``on`` (or the latest before it) predicted them,
    each with what it came to if it has been paid since."""
    run = await latest_run(conn, on)
    rows = await conn.fetch(
        "SELECT p.*, x.paid_on AS actual FROM payment_predictions p"
        " LEFT JOIN payment_experiences x USING (customer_id, invoice_id)"
        " WHERE p.predicted_on = $1 AND p.customer_id = $2 ORDER BY p.paid_on, p.invoice_id",
        run,
        customer_id,
    )
    return {
        "customer_id": customer_id,
        "predicted_on": run.isoformat() if run else None,
        "invoices": [
            {
                "invoice_id": r["invoice_id"],
                "due_date": r["due_date"].isoformat(),
                "predicted_payment_date": r["paid_on"].isoformat(),
                "interval": {"from": r["low"].isoformat(), "to": r["high"].isoformat()},
                "late_probability": str(r["late_probability"]),
                "open": {"amount": str(r["open_amount"]), "currency": r["currency"]},
                "model_version": r["model_version"],
                "paid_on": r["actual"].isoformat() if r["actual"] else None,
                "error_days": (r["paid_on"] - r["actual"]).days if r["actual"] else None,
            }
            for r in rows
        ],
    }


# -- the cash-in forecast -------------------------------------------------------------------------------


async def expected_receipts(conn: Connection, day: date, base: str) -> list[cash_in.Expected]:
    """Promises and instalments still expected, in the base currency at the day's rates (an amount
    without a rate is left out)."""
    known = await rates_on(conn, day, base)
    return [
        cash_in.Expected(
            r["customer_id"],
            r["source"],
            r["due_date"],
            r["amount"] * known[r["currency"]],
            tuple(json.loads(r["invoices"])),
        )
        for r in await conn.fetch("SELECT * FROM expected_receipts ORDER BY source, reference, seq")
        if r["currency"] in known
    ]


async def receipts_predicted(conn: Connection, run: date, base: str) -> list[cash_in.Receipt]:
    known = await rates_on(conn, run, base)
    return [
        cash_in.Receipt(r["customer_id"], r["invoice_id"], r["paid_on"], r["open_amount"] * known[r["currency"]])
        for r in await conn.fetch(
            "SELECT customer_id, invoice_id, paid_on, open_amount, currency FROM payment_predictions"
            " WHERE predicted_on = $1",
            run,
        )
        if r["currency"] in known
    ]


async def cash_forecast(conn: Connection, on: date, base: str, weeks: int) -> dict[str, Any] | None:
    """The forecast the run of ``on`` (or the latest before it) made, and for each of the weeks
    before its first: the forecast made at the latest run before that week began, beside the cash
    received in it (payments not reversed, at the rate of their day)."""
    run = await latest_run(conn, on)
    if run is None:
        return None
    coming = await conn.fetch(
        "SELECT week_start, predicted, promised FROM cash_forecasts WHERE made_on = $1 ORDER BY week_start", run
    )
    first = cash_in.week_of(run)
    past_starts = [first - timedelta(days=7 * k) for k in range(weeks, 0, -1)]
    past = []
    known = await rates(conn, base)
    for start in past_starts:
        made = await conn.fetchrow(
            "SELECT f.made_on, f.predicted, f.promised FROM cash_forecasts f"
            " WHERE f.week_start = $1 AND f.made_on < $1 ORDER BY f.made_on DESC LIMIT 1",
            start,
        )
        received = Decimal(0)
        for r in await conn.fetch(
            "SELECT amount, currency, received_on FROM cash_received"
            " WHERE NOT reversed AND received_on >= $1 AND received_on < $2",
            start,
            start + timedelta(days=7),
        ):
            rate = known.on(r["currency"], r["received_on"])
            received += r["amount"] * rate if rate is not None else Decimal(0)
        forecast = None if made is None else made["predicted"] + made["promised"]
        past.append(
            {
                "week_start": start.isoformat(),
                "forecast": str(forecast) if forecast is not None else None,
                "forecast_made_on": made["made_on"].isoformat() if made else None,
                "received": str(to_minor_unit(received, base)),
                "difference": str(to_minor_unit(received, base) - forecast) if forecast is not None else None,
            }
        )
    later = await conn.fetchval("SELECT later FROM cash_forecast_runs WHERE made_on = $1", run)
    if later is not None:  # fewer weeks asked for: the rest of the thirteen come later
        later += sum((r["predicted"] + r["promised"] for r in coming[weeks:]), Decimal(0))
    return {
        "made_on": run.isoformat(),
        "currency": base,
        "weeks": [
            {
                "week_start": r["week_start"].isoformat(),
                "predicted": str(r["predicted"]),
                "promised": str(r["promised"]),
                "total": str(r["predicted"] + r["promised"]),
            }
            for r in coming[:weeks]
        ],
        "later": str(later) if later is not None else None,
        "past_weeks": past,
    }
