"""The payment-date model's pure parts: features that know only what came before the prediction,
training samples and their labels, the baselines, the metrics, and the cash-in forecast's rules."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import numpy as np

from services.scoring.domain import cash_in
from services.scoring.domain import payment_dates as pd


def D(text: str) -> date:
    return date.fromisoformat(text)


def _paid(n: int, customer: str, issued: str, days_late: int, amount: float = 1000.0) -> pd.Item:
    issue = D(issued)
    due = issue + timedelta(days=30)
    return pd.Item(customer, f"{customer}-{n}", issue, due, amount, paid_on=due + timedelta(days=days_late))


def _book() -> list[pd.Item]:
    """A customer paying 10, 20, … 60 days late, and an open invoice of theirs."""
    items = [_paid(n, "C1", f"2025-0{n}-01", 10 * n) for n in range(1, 7)]
    return [*items, pd.Item("C1", "C1-open", D("2025-09-01"), D("2025-10-01"), 5000.0)]


def _feature(sample: pd.Sample, name: str) -> float:
    return sample.features[pd.FEATURES.index(name)]


def test_a_prediction_uses_only_what_was_known_before_its_day() -> None:
    items = _book()
    day = D("2025-08-15")
    assert "C1-open" not in {s.item.invoice_id for s in pd.open_at(items, {}, day)}  # not issued yet
    samples = {s.item.invoice_id: s for s in pd.open_at(items, {}, day)}
    # Paid before 2025-08-15: the first five (10 … 50 days late); the sixth, due 2025-07-01, is paid 2025-08-30.
    sixth = samples["C1-6"]
    assert _feature(sixth, "paid_count") == 5
    assert _feature(sixth, "mean_delay") == 30
    assert _feature(sixth, "median_delay_5") == 30
    assert _feature(sixth, "last_delay") == 50
    assert _feature(sixth, "days_past_due") == 45
    assert _feature(sixth, "overdue_count") == 1
    # Everything that happens on or after the day changes nothing of it: a new invoice, the sixth
    # paid a month later instead, and disputed meanwhile.
    sixth_later = pd.Item(
        "C1", "C1-6", D("2025-06-01"), D("2025-07-01"), 1000.0, paid_on=D("2025-09-30"), disputed_on=D("2025-08-15")
    )
    later = [
        *[i for i in items if i.invoice_id != "C1-6"],
        sixth_later,
        pd.Item("C1", "C1-late", D("2025-08-15"), D("2025-09-14"), 9e6, paid_on=D("2025-08-16")),
    ]
    again = {s.item.invoice_id: s for s in pd.open_at(later, {}, day)}
    np.testing.assert_array_equal(again["C1-6"].features, sixth.features)  # blanks (no trend yet) alike


def test_the_grade_and_promises_count_from_the_day_they_were_given() -> None:
    items = _book()
    conduct = {
        "C1": pd.Conduct(grades=((D("2025-08-01"), "B"), (D("2025-08-20"), "D")), promises=((D("2025-08-10"), False),))
    }
    [sixth] = [s for s in pd.open_at(items, conduct, D("2025-08-15")) if s.item.invoice_id == "C1-6"]
    assert _feature(sixth, "grade") == 2  # B; the D came later
    assert _feature(sixth, "promises_broken") == 1
    assert _feature(sixth, "promises_kept_share") == 0


def test_training_looks_at_each_invoice_before_it_was_paid_and_only_when_settled_long_enough_ago() -> None:
    items = _book()
    samples, labels = pd.training_samples(items, {}, D("2025-10-01"))
    looked = {(s.item.invoice_id, s.at) for s in samples}
    # Due more than 60 days before the origin: the invoices due 2025-02-01 … 2025-07-31.
    assert {i for i, _ in looked} == {"C1-1", "C1-2", "C1-3", "C1-4", "C1-5", "C1-6"}
    # The first (paid 10 days late) looked at when issued and at its due date, never after payment.
    assert {at for i, at in looked if i == "C1-1"} == {D("2025-01-01"), D("2025-01-31")}
    assert all(s.item.paid_on is None or s.at < s.item.paid_on for s in samples)
    assert dict(zip([s.item.invoice_id for s in samples], labels, strict=True))["C1-6"] == 60
    # An invoice still open (123 days past due at the origin) is expected to wait as long again
    # after the origin as it had waited since each look.
    open_long = pd.Item("C1", "C1-old", D("2025-05-01"), D("2025-05-31"), 100.0)
    samples, labels = pd.training_samples([*items, open_long], {}, D("2025-10-01"))
    old = {s.at: lbl for s, lbl in zip(samples, labels, strict=True) if s.item.invoice_id == "C1-old"}
    assert old == {
        D("2025-05-01"): 123 + 153,  # issued
        D("2025-05-31"): 123 + 123,  # due
        D("2025-06-30"): 123 + 93,
        D("2025-07-30"): 123 + 63,
        D("2025-09-28"): 123 + 3,  # 120 days past due; 180 would be after the origin
    }


def test_the_baselines_and_the_metrics() -> None:
    items = _book()
    tested = [s for s in pd.open_at(items, {}, D("2025-09-15")) if s.item.invoice_id == "C1-open"]
    base = pd.baseline_delays(tested)
    # Paid before 2025-09-15: all six, 10 … 60 days late.
    assert base["due_date"].tolist() == [0.0]
    assert base["median_delay"].tolist() == [40.0]  # of the last five: 20 … 60
    assert base["last_delay"].tolist() == [60.0]
    # MAE and the share within 7 days over paid invoices; the AUC over those not yet due.
    s1 = pd.Sample(
        pd.Item("C", "a", D("2025-01-01"), D("2025-02-01"), 1.0, paid_on=D("2025-02-11")), D("2025-01-10"), ()
    )
    s2 = pd.Sample(
        pd.Item("C", "b", D("2025-01-01"), D("2025-02-01"), 1.0, paid_on=D("2025-01-30")), D("2025-01-10"), ()
    )
    s3 = pd.Sample(pd.Item("C", "c", D("2025-01-01"), D("2025-02-01"), 1.0), D("2025-01-10"), ())  # unpaid, late
    found = pd.measure([s1, s2, s3], [D("2025-02-01")] * 3, np.array([0.9, 0.1, 0.8]), D("2025-06-01"))
    assert found.mae_days == 6.0  # 10 and 2 days off
    assert found.within_7_days == 0.5
    assert found.auc == 1.0  # both late ones scored above the one on time
    assert (found.paid, found.judged) == (2, 3)


def test_the_median_baseline_predicts_before_a_model_is_trained() -> None:
    [open_] = [s for s in pd.open_at(_book(), {}, D("2025-09-15")) if s.item.invoice_id == "C1-open"]
    [made] = pd.predict_by_median([open_])
    # Due 2025-10-01; the last five paid 20 … 60 days late: median 40, from 20 to 60.
    assert (made.paid_on, made.low, made.high) == (D("2025-11-10"), D("2025-10-21"), D("2025-11-30"))
    assert made.late_probability == 1.0


def test_the_model_is_seeded_and_never_predicts_before_the_day() -> None:
    items = [_paid(n, f"C{c}", f"2025-0{1 + n % 6}-{1 + c:02d}", 5 * c + n % 3) for c in range(1, 9) for n in range(40)]
    samples, labels = pd.training_samples(items, {}, D("2025-12-01"))
    one, two = pd.train(samples, labels, 7), pd.train(samples, labels, 7)
    assert pd.digest(one.to_bytes()) == pd.digest(two.to_bytes())
    tested = pd.open_at([*items, pd.Item("C8", "new", D("2025-11-01"), D("2025-11-20"), 1000.0)], {}, D("2025-12-01"))
    [made] = pd.predict(one, tested)
    assert made.paid_on >= D("2025-12-01")
    assert made.low <= made.paid_on <= made.high


# -- the cash-in forecast -------------------------------------------------------------------------------------


def test_the_forecast_puts_each_receipt_in_its_week_and_promises_in_place_of_what_they_cover() -> None:
    day = D("2026-03-04")  # a Wednesday: the first week starts Monday 2026-03-02
    receipts = [
        cash_in.Receipt("C1", "I-1", D("2026-03-01"), Decimal("100.004")),  # before the day: in the first week
        cash_in.Receipt("C1", "I-2", D("2026-03-10"), Decimal("200")),
        cash_in.Receipt("C2", "I-3", D("2026-03-11"), Decimal("300")),  # named by C2's plan
        cash_in.Receipt("C3", "I-4", D("2026-03-12"), Decimal("400")),
        cash_in.Receipt("C3", "I-5", D("2026-03-20"), Decimal("500")),
        cash_in.Receipt("C1", "I-6", D("2026-06-01"), Decimal("600")),  # after the 13 weeks
    ]
    expected = [
        cash_in.Expected("C2", "plan", D("2026-03-16"), Decimal("150"), ("I-3",)),
        cash_in.Expected("C2", "plan", D("2026-04-16"), Decimal("150"), ("I-3",)),
        cash_in.Expected("C3", "promise", D("2026-03-05"), Decimal("450"), ()),  # C3's earliest predictions give way
    ]
    weeks, later = cash_in.forecast(day, receipts, expected, "CNY")
    assert len(weeks) == 13
    assert weeks[0].start == D("2026-03-02")
    by_week = {w.start: (w.predicted, w.promised) for w in weeks if w.total}
    assert by_week == {
        D("2026-03-02"): (Decimal("100.00"), Decimal("450.00")),
        D("2026-03-09"): (Decimal("200.00"), Decimal(0)),  # I-4's 400 taken by the promise
        D("2026-03-16"): (Decimal("450.00"), Decimal("150.00")),  # I-5 less the promise's other 50
        D("2026-04-13"): (Decimal(0), Decimal("150.00")),
    }
    assert later == Decimal("600.00")
