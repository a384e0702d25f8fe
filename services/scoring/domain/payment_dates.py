"""When an open invoice will be paid: features read as they were at the moment of prediction, a
gradient-boosting model (scikit-learn, seeded, CPU only), the three baselines it must beat, and the
rolling-origin backtest that measures them side by side.

Everything here is arithmetic on days: a date is its ordinal, a delay is the payment date less the
invoice's last due date (negative: paid early). An amount is a feature here, never money.

What a prediction at day ``s`` may know: the customer's invoices issued before ``s``, the payments
dated before ``s``, disputes opened before ``s``, grades given before ``s`` and promises valued
before ``s``. Nothing dated ``s`` or later enters a feature, so the outcome cannot leak into it.
"""

from __future__ import annotations

import bisect
import hashlib
import io
import pickle
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from statistics import median
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.metrics import roc_auc_score

Floats = npt.NDArray[np.float64]

FEATURES: tuple[str, ...] = (
    "days_past_due",  # of this invoice, at the prediction
    "days_to_due",
    "terms_days",
    "log_amount",
    "amount_to_median",  # this amount ÷ the median of the customer's earlier invoices
    "instalments",
    "cash_discount",
    "disputed",  # this invoice has a dispute opened
    "paid_count",  # the customer's invoices paid before the prediction
    "mean_delay",
    "median_delay_5",  # over the last five paid
    "last_delay",
    "delay_trend",  # the last three paid less the three before them
    "late_share",
    "delay_spread",  # standard deviation
    "open_count",  # the customer's invoices open at the prediction
    "overdue_count",
    "oldest_overdue_days",
    "disputes_90_days",
    "grade",  # A = 1 … E = 5; blank before the first score
    "promises_kept_share",
    "promises_broken",
    "due_month",  # the season
    "tenure_days",  # since the customer's first invoice
)
GRADES = {"A": 1.0, "B": 2.0, "C": 3.0, "D": 4.0, "E": 5.0}
# Days after the due date at which a still-unpaid invoice is looked at again in training, so the
# model knows what being overdue says.
LOOKS_AFTER_DUE = (0, 30, 60, 120, 180)
# Training takes invoices due more than SETTLED_AFTER days before the origin.
SETTLED_AFTER = 60
LAST_PAID = 5  # the median-delay baseline's window
NO_DAY = np.iinfo(np.int64).max // 2  # "never", for a date that has not come


@dataclass(frozen=True, slots=True)
class Item:
    """An invoice as the model sees it. ``paid_on``: the day payments settled it in full;
    ``closed_on``: the day nothing was left open by any means (credit notes, write-off)."""

    customer_id: str
    invoice_id: str
    issue_date: date
    due_date: date
    amount: float  # in the base currency; a feature only
    instalments: bool = False
    cash_discount: bool = False
    paid_on: date | None = None
    closed_on: date | None = None
    disputed_on: date | None = None


@dataclass(frozen=True, slots=True)
class Conduct:
    """A customer's grades and valued promises, each with its business date."""

    grades: tuple[tuple[date, str], ...] = ()
    promises: tuple[tuple[date, bool], ...] = ()  # (valued on, kept)


@dataclass(frozen=True, slots=True)
class Sample:
    """An invoice looked at on ``at``: its features then, and (in training) the delay it came to."""

    item: Item
    at: date
    features: tuple[float, ...]
    spread: tuple[float, ...] = ()  # the delays of the customer's last five paid invoices


def _ord(day: date | None) -> int:
    return day.toordinal() if day is not None else NO_DAY


def _medians_of_last(values: Floats, window: int) -> Floats:
    """For every k from 0: the median of the last ``window`` of the first k values (none for k = 0)."""
    head = [median(values[:k].tolist()) for k in range(1, min(window, len(values) + 1))]
    tail: Floats = np.median(sliding_window_view(values, window), axis=1) if len(values) >= window else np.empty(0)
    return np.concatenate([[np.nan], head, tail])


class _Customer:
    """One customer's history arranged so that its features at many days are a few binary searches."""

    def __init__(self, items: Sequence[Item], conduct: Conduct, before: date | None = None) -> None:
        """``before``: the items as they stood at the start of that day (as ``_history_at`` gives them)."""
        if before is not None:
            items = [i for i in items if i.issue_date < before]

        def then(day: date | None) -> date | None:
            return day if before is None or (day is not None and day < before) else None

        issue = np.array([i.issue_date.toordinal() for i in items], dtype=np.int64)
        due = np.array([i.due_date.toordinal() for i in items], dtype=np.int64)
        closed = np.array([_ord(then(i.closed_on) or then(i.paid_on)) for i in items], dtype=np.int64)
        self.issued_sorted = np.sort(issue)
        self.due_sorted = np.sort(due)
        self.closed_sorted = np.sort(closed)
        self.closed_after_due_sorted = np.sort(np.maximum(closed, due))
        self.due, self.closed = due, closed
        self.first_issue = int(issue.min()) if len(items) else NO_DAY
        # The median amount of the first k invoices by issue date, for every k.
        running: list[float] = []
        medians = [float("nan")]
        for amount in (i.amount for i in sorted(items, key=lambda i: i.issue_date)):
            bisect.insort(running, amount)
            n = len(running)
            medians.append(running[n // 2] if n % 2 else (running[n // 2 - 1] + running[n // 2]) / 2)
        self.amount_medians = np.array(medians)
        # Paid invoices by payment date, with the statistics of every prefix.
        paid = sorted((paid_on, i.invoice_id, i.due_date) for i in items if (paid_on := then(i.paid_on)) is not None)
        self.paid_days = np.array([_ord(paid_on) for paid_on, _, _ in paid], dtype=np.int64)
        delays = np.array([(paid_on - due).days for paid_on, _, due in paid], dtype=np.float64)
        self.delays = delays
        self.delay_sum = np.concatenate([[0.0], np.cumsum(delays)])
        self.delay_squares = np.concatenate([[0.0], np.cumsum(delays**2)])
        self.late_sum = np.concatenate([[0.0], np.cumsum(delays > 0)])
        self.median_last = _medians_of_last(delays, LAST_PAID)
        self.disputes = np.sort(
            np.array([_ord(d) for i in items if (d := then(i.disputed_on)) is not None], dtype=np.int64)
        )
        self.grade_days = np.array([_ord(d) for d, _ in conduct.grades], dtype=np.int64)
        self.grades = np.array([float("nan"), *(GRADES.get(g, float("nan")) for _, g in conduct.grades)])
        promises = sorted(conduct.promises)
        self.promise_days = np.array([_ord(d) for d, _ in promises], dtype=np.int64)
        self.kept_sum = np.concatenate([[0.0], np.cumsum([float(k) for _, k in promises])])

    def paid_before(self, day: int) -> int:
        return int(np.searchsorted(self.paid_days, day, "left"))

    def features(self, items: Sequence[Item], at: Sequence[int]) -> Floats:
        """One row of FEATURES for each item looked at on its day (an ordinal)."""
        days = np.array(at, dtype=np.int64)
        if not len(days):
            return np.empty((0, len(FEATURES)))
        due = np.array([_ord(i.due_date) for i in items], dtype=np.int64)
        issue = np.array([_ord(i.issue_date) for i in items], dtype=np.int64)
        amount = np.array([i.amount for i in items], dtype=np.float64)
        disputed = np.array([_ord(i.disputed_on) for i in items], dtype=np.int64) < days
        with np.errstate(divide="ignore", invalid="ignore"):
            k = np.searchsorted(self.paid_days, days, "left")
            some = k > 0
            mean = np.where(some, self.delay_sum[k] / np.maximum(k, 1), np.nan)
            spread = np.where(some, np.sqrt(np.maximum(self.delay_squares[k] / np.maximum(k, 1) - mean**2, 0)), np.nan)
            s = self.delay_sum
            trend = np.where(
                k >= 6,
                (s[k] - s[np.maximum(k - 3, 0)]) / 3 - (s[np.maximum(k - 3, 0)] - s[np.maximum(k - 6, 0)]) / 3,
                np.nan,
            )
            last = np.where(some, self.delays[np.maximum(k - 1, 0)] if len(self.delays) else np.nan, np.nan)
            issued = np.searchsorted(self.issued_sorted, days, "left")
            open_count = issued - np.searchsorted(self.closed_sorted, days, "left")
            overdue_count = np.searchsorted(self.due_sorted, days, "left") - np.searchsorted(
                self.closed_after_due_sorted, days, "left"
            )
            overdue = (self.due[None, :] < days[:, None]) & (self.closed[None, :] >= days[:, None])
            oldest_due = np.where(overdue, self.due[None, :], NO_DAY).min(axis=1, initial=NO_DAY)
            oldest = np.where(oldest_due < NO_DAY, days - oldest_due, 0)
            disputes = np.searchsorted(self.disputes, days, "left") - np.searchsorted(self.disputes, days - 90, "left")
            g = np.searchsorted(self.grade_days, days, "left")
            p = np.searchsorted(self.promise_days, days, "left")
            median_amount = self.amount_medians[issued]
            columns = [
                np.maximum(0, days - due),
                np.maximum(0, due - days),
                due - issue,
                np.log1p(np.maximum(amount, 0.0)),
                np.where((issued > 0) & (median_amount != 0), amount / median_amount, np.nan),
                [float(i.instalments) for i in items],
                [float(i.cash_discount) for i in items],
                disputed,
                k,
                mean,
                self.median_last[k],
                last,
                trend,
                np.where(some, self.late_sum[k] / np.maximum(k, 1), np.nan),
                spread,
                open_count,
                overdue_count,
                oldest,
                disputes,
                self.grades[g],
                np.where(p > 0, self.kept_sum[p] / np.maximum(p, 1), np.nan),
                p - self.kept_sum[p],
                [float(i.due_date.month) for i in items],
                np.where((self.first_issue != NO_DAY) & (days > self.first_issue), days - self.first_issue, 0),
            ]
        return np.column_stack([np.asarray(c, dtype=np.float64) for c in columns])


def _by_customer(items: Iterable[Item]) -> dict[str, list[Item]]:
    found: dict[str, list[Item]] = {}
    for i in items:
        found.setdefault(i.customer_id, []).append(i)
    return found


def _history_at(items: Sequence[Item], day: date) -> list[Item]:
    """The items as they stood at the start of ``day``: issued before it, with what happened later forgotten."""
    return [
        Item(
            i.customer_id,
            i.invoice_id,
            i.issue_date,
            i.due_date,
            i.amount,
            i.instalments,
            i.cash_discount,
            i.paid_on if i.paid_on and i.paid_on < day else None,
            i.closed_on if i.closed_on and i.closed_on < day else None,
            i.disputed_on if i.disputed_on and i.disputed_on < day else None,
        )
        for i in items
        if i.issue_date < day
    ]


def is_open(item: Item, day: date) -> bool:
    """Issued before ``day`` and not closed before it."""
    closed = item.closed_on or item.paid_on
    return item.issue_date < day and (closed is None or closed >= day)


def training_samples(
    items: Iterable[Item], conduct: dict[str, Conduct], origin: date
) -> tuple[list[Sample], list[float]]:
    """What the model may learn from at ``origin``: each invoice issued before it, looked at on its
    issue date and again at its due date and 30, 60, 120 and 180 days after while still unpaid, each look
    before the origin. Only invoices due more than SETTLED_AFTER days before the origin, each look
    labelled by ``_delay``. Invoices closed without payment (credit notes, write-off) teach no
    delay."""
    samples: list[Sample] = []
    labels: list[float] = []
    for customer_id, own in _by_customer(items).items():
        known = _history_at(own, origin)
        history = _Customer(known, conduct.get(customer_id, Conduct()))
        looked: list[tuple[Item, date]] = []
        for item in known:
            if (origin - item.due_date).days <= SETTLED_AFTER:
                continue  # too recent: only its quick payers would be known, which would teach paying early
            if item.paid_on is None and item.closed_on is not None:
                continue
            looks = [item.issue_date, *(item.due_date + timedelta(days=d) for d in LOOKS_AFTER_DUE)]
            for at in sorted(set(looks)):
                if at >= origin or (item.paid_on is not None and item.paid_on <= at) or at < item.issue_date:
                    continue
                looked.append((item, at))
                labels.append(_delay(item, at, origin))
        samples += _samples(history, looked)
    return samples, labels


def _delay(item: Item, at: date, origin: date) -> float:
    """The delay a look at ``at`` learns: the actual one when paid before the origin; for one
    still open, as long again after the origin as it has waited since the look (what has waited
    long is expected to wait long), which keeps the model from promising that every old debt is
    paid the day after training."""
    if item.paid_on is not None:
        return float((item.paid_on - item.due_date).days)
    return float((origin - item.due_date).days + (origin - at).days)


def _samples(history: _Customer, looked: Sequence[tuple[Item, date]], last: tuple[float, ...] = ()) -> list[Sample]:
    rows = history.features([i for i, _ in looked], [at.toordinal() for _, at in looked])
    return [Sample(i, at, tuple(row), last) for (i, at), row in zip(looked, rows.tolist(), strict=True)]


def open_at(items: Iterable[Item], conduct: dict[str, Conduct], day: date) -> list[Sample]:
    """Every invoice open at ``day``, with its features from what was known before it (the sample
    keeps the item whole, so that what happened later can judge the prediction)."""
    samples: list[Sample] = []
    for customer_id, own in _by_customer(items).items():
        history = _Customer(own, conduct.get(customer_id, Conduct()), before=day)
        k = history.paid_before(day.toordinal())
        last = tuple(float(d) for d in history.delays[max(0, k - LAST_PAID) : k])
        samples += _samples(history, [(i, day) for i in own if is_open(i, day)], last)
    return samples


# -- the model --------------------------------------------------------------------------------------------

PARAMETERS: dict[str, Any] = {"max_iter": 60, "learning_rate": 0.15, "max_leaf_nodes": 15, "min_samples_leaf": 40}
INTERVAL = (0.1, 0.9)  # the predicted interval's quantiles


@dataclass(frozen=True)
class Model:
    """Four seeded gradient-boosting models: the median delay, the interval's two quantiles and
    the probability of paying after the due date."""

    median: HistGradientBoostingRegressor
    low: HistGradientBoostingRegressor
    high: HistGradientBoostingRegressor
    late: HistGradientBoostingClassifier | None  # None when the history has only one class

    def to_bytes(self) -> bytes:
        out = io.BytesIO()
        pickle.dump(self, out, protocol=5)
        return out.getvalue()

    @staticmethod
    def from_bytes(data: bytes) -> Model:
        # Only ever bytes this service wrote to its own read model.
        model = pickle.loads(data)
        assert isinstance(model, Model)
        return model


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def train(samples: Sequence[Sample], labels: Sequence[float], seed: int, *, interval: bool = True) -> Model:
    x = np.array([s.features for s in samples], dtype=np.float64)
    x[:, np.isnan(x).all(axis=0)] = 0.0  # a feature no sample knows (no grade yet) cannot be binned; it splits nothing
    y = np.array(labels, dtype=np.float64)

    def regressor(**loss: Any) -> HistGradientBoostingRegressor:
        return HistGradientBoostingRegressor(**loss, **PARAMETERS, random_state=seed, early_stopping=False).fit(x, y)

    # Lateness is open only before the due date (an invoice unpaid after it is late already):
    # the classifier learns from those looks alone, else it spends itself on the obvious ones.
    before_due = x[:, FEATURES.index("days_to_due")] > 0
    late = y[before_due] > 0
    classifier = (
        HistGradientBoostingClassifier(**PARAMETERS, random_state=seed, early_stopping=False).fit(x[before_due], late)
        if 0 < late.sum() < len(late)
        else None
    )
    median_model = regressor(loss="absolute_error")
    if interval:
        low, high = (regressor(loss="quantile", quantile=q) for q in INTERVAL)
    else:
        low = high = median_model
    return Model(median_model, low, high, classifier)


@dataclass(frozen=True, slots=True)
class Prediction:
    item: Item
    at: date
    paid_on: date
    low: date
    high: date
    late_probability: float


def predict(model: Model, samples: Sequence[Sample]) -> list[Prediction]:
    """The predicted payment date of each sample's invoice, never before the day of prediction,
    with its interval around it and the probability of paying after the due date."""
    if not samples:
        return []
    x = np.array([s.features for s in samples], dtype=np.float64)
    delays = [model.median.predict(x), model.low.predict(x), model.high.predict(x)]
    late = model.late.predict_proba(x)[:, 1] if model.late is not None else np.where(delays[0] > 0, 1.0, 0.0)
    late = np.where(x[:, FEATURES.index("days_past_due")] > 0, 1.0, late)  # past due already: late for certain
    # Whole days, half to even (as round() does), from the due date, and never before the day.
    due = np.array([s.item.due_date.toordinal() for s in samples], dtype=np.int64)
    at = np.array([s.at.toordinal() for s in samples], dtype=np.int64)
    mid, low, high = (np.maximum(at, due + np.rint(d).astype(np.int64)) for d in delays)
    low, high = np.minimum(low, mid), np.maximum(high, mid)
    # A few hundred distinct days among many predictions: each made once.
    day = {o: date.fromordinal(o) for o in np.unique(np.concatenate([mid, low, high])).tolist()}
    probability = np.round(late, 4).tolist()  # to four places (round() per value costs more than the model)
    return [
        Prediction(s.item, s.at, day[m], day[lo], day[hi], p)
        for s, m, lo, hi, p in zip(samples, mid.tolist(), low.tolist(), high.tolist(), probability, strict=True)
    ]


def predict_by_median(samples: Sequence[Sample]) -> list[Prediction]:
    """Before a model is trained: the median delay of the customer's last five paid invoices (none:
    the due date), the interval their least and greatest delay, the probability of paying late the
    share of all its paid invoices paid late (none paid: one half)."""
    at = {name: FEATURES.index(name) for name in ("median_delay_5", "late_share")}
    found = []
    for s in samples:
        history = s.features
        mid_delay = history[at["median_delay_5"]]
        mid_delay = 0.0 if np.isnan(mid_delay) else mid_delay
        spread = s.spread
        low_delay, high_delay = (min(spread), max(spread)) if spread else (mid_delay, mid_delay)
        mid, low, high = (
            max(s.at, s.item.due_date + timedelta(days=round(d))) for d in (mid_delay, low_delay, high_delay)
        )
        late = history[at["late_share"]]
        found.append(
            Prediction(s.item, s.at, mid, min(low, mid), max(high, mid), 0.5 if np.isnan(late) else round(late, 4))
        )
    return found


# -- the baselines ----------------------------------------------------------------------------------------

BASELINES = ("due_date", "median_delay", "last_delay")


def baseline_delays(samples: Sequence[Sample]) -> dict[str, Floats]:
    """The delay each baseline predicts: none (the due date), the median of the customer's last
    five paid invoices, the last one's; none without a paid invoice."""
    median_at = FEATURES.index("median_delay_5")
    last_at = FEATURES.index("last_delay")
    x = np.array([s.features for s in samples], dtype=np.float64).reshape(len(samples), len(FEATURES))
    return {
        "due_date": np.zeros(len(samples)),
        "median_delay": np.nan_to_num(x[:, median_at], nan=0.0),
        "last_delay": np.nan_to_num(x[:, last_at], nan=0.0),
    }


# -- measuring ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Metrics:
    """MAE in days and the share within ±7 days over the invoices paid; AUC of late against on
    time over those not yet due at the prediction whose outcome is known."""

    mae_days: float | None
    within_7_days: float | None
    auc: float | None
    paid: int
    judged: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "mae_days": self.mae_days,
            "within_7_days": self.within_7_days,
            "auc": self.auc,
            "paid": self.paid,
            "judged_late_or_on_time": self.judged,
        }


def measure(samples: Sequence[Sample], predicted: Sequence[date], lateness: Floats, outcome_by: date) -> Metrics:
    """``predicted`` dates and ``lateness`` scores (higher: later) against what happened by
    ``outcome_by``: an invoice paid by then has its error; one unpaid past due by then is late."""
    errors: list[int] = []
    truth: list[bool] = []
    scores: list[float] = []
    for s, day, score in zip(samples, predicted, lateness, strict=True):
        paid = s.item.paid_on if s.item.paid_on and s.item.paid_on < outcome_by else None
        if paid is not None:
            errors.append(abs((day - paid).days))
        if s.at > s.item.due_date:
            continue  # already late when predicted: nothing to tell apart
        if paid is not None:
            truth.append(paid > s.item.due_date)
        elif s.item.closed_on is None and s.item.due_date < outcome_by:
            truth.append(True)
        else:
            continue
        scores.append(float(score))
    auc = float(roc_auc_score(truth, scores)) if 0 < sum(truth) < len(truth) else None
    return Metrics(
        round(float(np.mean(errors)), 2) if errors else None,
        round(sum(e <= 7 for e in errors) / len(errors), 4) if errors else None,
        round(auc, 4) if auc is not None else None,
        len(errors),
        len(truth),
    )


def _dates(samples: Sequence[Sample], delays: Floats) -> list[date]:
    return [max(s.at, s.item.due_date + timedelta(days=round(float(d)))) for s, d in zip(samples, delays, strict=True)]


@dataclass
class Backtest:
    """Per origin and over all origins: the model's metrics beside each baseline's."""

    origins: list[dict[str, Any]] = field(default_factory=list)
    overall: dict[str, dict[str, Any]] = field(default_factory=dict)


def backtest(
    items: Sequence[Item], conduct: dict[str, Conduct], origins: Sequence[date], outcome_by: date, seed: int
) -> Backtest:
    """Rolling origin: at each origin, train on what was known before it, predict every invoice
    open at it, and judge against what happened by ``outcome_by``; baselines on the same invoices."""
    result = Backtest()
    pooled: dict[str, tuple[list[Sample], list[date], list[float]]] = {
        name: ([], [], []) for name in ("model", *BASELINES)
    }
    for origin in origins:
        samples, labels = training_samples(items, conduct, origin)
        tested = open_at(items, conduct, origin)
        if len(samples) < MIN_SAMPLES or not tested:
            continue
        model = train(samples, labels, seed, interval=False)
        made = predict(model, tested)
        runs: dict[str, tuple[list[date], list[float]]] = {
            "model": ([p.paid_on for p in made], [p.late_probability for p in made])
        }
        for name, delays in baseline_delays(tested).items():
            runs[name] = (_dates(tested, delays), [float(d) for d in delays])
        row: dict[str, Any] = {"origin": origin.isoformat(), "trained_on": len(samples), "open": len(tested)}
        for name, (days, scores) in runs.items():
            row[name] = measure(tested, days, np.array(scores), outcome_by).as_dict()
            pooled[name][0].extend(tested)
            pooled[name][1].extend(days)
            pooled[name][2].extend(scores)
        result.origins.append(row)
    for name, (tested_all, days_all, scores_all) in pooled.items():
        if tested_all:
            result.overall[name] = measure(tested_all, days_all, np.array(scores_all), outcome_by).as_dict()
    return result


MIN_SAMPLES = 200  # fewer paid invoices than this teach nothing a baseline does not know


def month_starts_before(day: date, count: int, gap_months: int) -> list[date]:
    """The first days of ``count`` months, the last of them ``gap_months`` before ``day``'s month."""
    months = [(day.year * 12 + day.month - 1) - gap_months - k for k in range(count)]
    return sorted(date(m // 12, m % 12 + 1, 1) for m in months)
