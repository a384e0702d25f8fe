"""Benchmark of the payment-date model on the ERP simulator's book.

    python -m bench.payment_dates [--customers 5000] [--invoices 500000]

The book's documents are read as the model reads scoring's invoices (an invoice is paid on the
value date of the last payment naming it; a lump sum without remittance pays the customer's oldest
open invoices in its currency first, as receivables allocates it), and timed through the model's
own functions: the training samples and their features, the four fits, the rolling-origin
backtest, and the prediction of every invoice open at the end of the book. Raw, in the same run:
the same four fits on a random matrix of the same shape (what the library alone costs), and one
vectorised pass over the same samples reading a column (what building any feature matrix costs).
Prints the backtest's metrics for the model beside each baseline. Assertions: none.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

import numpy as np

from services.scoring.domain import payment_dates as pd
from tools import erp_simulator as sim

START = date(2025, 1, 1)
TODAY = date(2025, 12, 31)


def items_of(book: sim.Book) -> list[pd.Item]:
    invoices: dict[str, dict[str, object]] = {}
    owed: dict[str, Decimal] = {}
    by_customer: dict[tuple[str, str], list[str]] = defaultdict(list)
    paid_on: dict[str, date] = {}
    for d in book.documents:
        if d.topic == sim.INVOICES and d.revision == 1:
            terms = d.data["terms"]
            issue = date.fromisoformat(d.data["issue_date"])
            dues = [date.fromisoformat(i["due_date"]) for i in terms.get("instalments", [])]
            due = max(dues) if dues else issue + timedelta(days=terms["net_days"])
            number = d.data["number"]
            total = Decimal(d.data["net"]["amount"]) + Decimal(d.data["tax"]["amount"])
            invoices[number] = {"customer": d.customer, "issue": issue, "due": due, "amount": float(total)}
            invoices[number] |= {"instalments": bool(dues), "discount": "discount" in terms}
            owed[number] = total
            by_customer[d.customer, d.data["net"]["currency"]].append(number)
        elif d.topic == sim.CREDIT_NOTES:
            number = d.data["invoice_document_id"].removeprefix("INV-")
            owed[number] -= Decimal(d.data["amount"]["amount"])
        elif d.topic == sim.PAYMENTS and d.revision == 1:
            day = date.fromisoformat(d.data["value_date"])
            left = Decimal(d.data["amount"]["amount"])
            named = [r["invoice_number"] for r in d.data["remittance"]]
            targets = named or [n for n in by_customer[d.customer, d.data["amount"]["currency"]] if owed[n] > 0]
            for number in targets:
                taken = min(left, owed[number])
                owed[number] -= taken
                left -= taken
                if owed[number] <= 0:
                    paid_on[number] = day
                if left <= 0:
                    break
    return [
        pd.Item(
            str(v["customer"]),
            n,
            v["issue"],  # type: ignore[arg-type]
            v["due"],  # type: ignore[arg-type]
            float(v["amount"]),  # type: ignore[arg-type]
            bool(v["instalments"]),
            bool(v["discount"]),
            paid_on.get(n),
        )
        for n, v in invoices.items()
    ]


def _timed(what: str, started: float) -> float:
    took = time.perf_counter() - started
    print(f"  {what}: {took:.2f} s", flush=True)
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--invoices", type=int, default=500_000)
    args = parser.parse_args()
    print(f"generating the simulator's book: {args.customers:,} customers, {args.invoices:,} invoices", flush=True)
    items = items_of(sim.generate(7, args.customers, args.invoices, start=START))
    origin = TODAY + timedelta(days=1)
    started = time.perf_counter()
    samples, labels = pd.training_samples(items, {}, origin)
    features = _timed(f"training samples and features ({len(samples):,})", started)
    started = time.perf_counter()
    model = pd.train(samples, labels, 7)
    fits = _timed("the four fits", started)
    started = time.perf_counter()
    tested = pd.open_at(items, {}, origin)
    pd.predict(model, tested)
    predicting = _timed(f"predicting every open invoice ({len(tested):,})", started)
    started = time.perf_counter()
    result = pd.backtest(items, {}, pd.month_starts_before(TODAY, 3, 3), origin, 7)
    backtest = _timed("the rolling-origin backtest (3 origins)", started)

    # Raw, same run: the library's fits alone on a matrix of the same shape, and one pass over the samples.
    rng = np.random.default_rng(7)
    x = rng.normal(size=(len(samples), len(pd.FEATURES)))
    y = rng.normal(scale=20, size=len(samples))
    started = time.perf_counter()
    pd.train([pd.Sample(samples[0].item, samples[0].at, tuple(r)) for r in x.tolist()], y.tolist(), 7)
    raw_fits = _timed("raw: the four fits on a random matrix", started)
    started = time.perf_counter()
    np.array([s.item.due_date.toordinal() - s.at.toordinal() for s in samples])
    raw_pass = _timed("raw: one pass over the samples", started)

    print()
    print("| work | Credo | raw, same run | ratio |")
    print("|---|---|---|---|")
    print(f"| training samples and features | {features:.2f} s | {raw_pass:.2f} s | {features / raw_pass:.1f}x |")
    print(f"| four fits | {fits:.2f} s | {raw_fits:.2f} s | {fits / raw_fits:.1f}x |")
    print(f"| predict every open invoice | {predicting:.2f} s | | |")
    print(f"| backtest, 3 origins | {backtest:.2f} s | | |")
    print()
    print("| predictor | MAE days | within ±7 days | AUC | paid | judged |")
    print("|---|---|---|---|---|---|")
    for name, m in result.overall.items():
        figures = [m["mae_days"], m["within_7_days"], m["auc"], m["paid"], m["judged_late_or_on_time"]]
        print(f"| {name} | " + " | ".join(str(f) for f in figures) + " |")


if __name__ == "__main__":
    main()
