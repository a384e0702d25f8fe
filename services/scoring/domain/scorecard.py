"""The scorecard (信用评价): a 0-100 score from documented components and weights held in a
versioned policy, a grade, and the reasons that cost the most points. Pure functions.

A component with no data is left out and the weights of the others renormalised; the result
names what was left out. A file with too little evidence is graded no better than the policy's
unrated grade. Grades move with a band around each floor, so that a score hovering at a floor
does not flip the grade back and forth. The same inputs, previous grade and policy always give
the same score and grade.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from contracts.scoring import CustomerScored, Grade, ScoredPayment, ScoreInputs

Component = Literal["payment_behaviour", "delinquency", "financial_strength", "history", "bureau"]
HUNDRED = Decimal(100)

# PAYDEX-style anchors: amount-weighted days beyond terms -> index. 100 is about 30 days
# early, 80 on terms, 70 15 days late, 50 30, 40 60, 30 90, 20 120; linear in between, and
# held at the ends.
PAYDEX_ANCHORS: tuple[tuple[int, int], ...] = ((-30, 100), (0, 80), (15, 70), (30, 50), (60, 40), (90, 30), (120, 20))
GRADES: tuple[Grade, ...] = ("A", "B", "C", "D", "E")


@dataclass(frozen=True)
class Policy:
    version: str = "2026-12.2"
    weights: Mapping[Component, Decimal] = field(
        default_factory=lambda: {
            "payment_behaviour": Decimal(35),
            "delinquency": Decimal(20),
            "financial_strength": Decimal(20),
            "history": Decimal(10),
            "bureau": Decimal(15),
        }
    )
    # The lowest score of each grade, best first; below the last is E.
    grade_floors: tuple[tuple[Grade, Decimal], ...] = (
        ("A", Decimal(80)),
        ("B", Decimal(65)),
        ("C", Decimal(50)),
        ("D", Decimal(35)),
    )
    months_for_full_history: int = 60
    invoices_for_full_history: int = 50
    points_per_adverse_record: Decimal = Decimal(20)
    # Each promise to pay broken in the last twelve months costs payment behaviour this much; with
    # no payments yet, broken promises are scored from this base.
    points_per_broken_promise: Decimal = Decimal(10)
    broken_promise_base: Decimal = Decimal(50)
    # Altman Z'' from distress (a strength of 0) to safe (100).
    z_distress: Decimal = Decimal("1.10")
    z_safe: Decimal = Decimal("2.60")
    # Bureau scores are normalised on their provider's scale: the report's own, else this one by
    # provider; a score on an unknown scale is left out.
    bureau_scales: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    # Evidence: a score from fewer components than this, unless one of them is enough alone,
    # grades no better than the unrated grade.
    evidence_components: int = 2
    evidence_alone: tuple[Component, ...] = ("payment_behaviour",)
    unrated_grade: Grade = "C"
    # A grade moves up once the score is this far above the new grade's floor, and down once it
    # is this far below the current grade's floor.
    grade_band: Decimal = Decimal(2)


class NothingToScore(ValueError):
    """No component has data: there is no score to give."""


@dataclass(frozen=True)
class Score:
    score: Decimal
    grade: Grade
    components: Mapping[Component, Decimal]  # each 0-100
    weights: Mapping[Component, Decimal]  # as used, renormalised to 100
    left_out: tuple[Component, ...]
    reasons: tuple[Component, ...]  # the three that cost the most points, most first
    policy_version: str
    notes: tuple[str, ...] = ()  # why the grade is not the plain grade of the score


def _interpolate(x: Decimal, anchors: Sequence[tuple[int, int]]) -> Decimal:
    if x <= anchors[0][0]:
        return Decimal(anchors[0][1])
    for (x0, y0), (x1, y1) in itertools.pairwise(anchors):
        if x <= x1:
            return Decimal(y0) + (Decimal(y1) - Decimal(y0)) * (x - x0) / (x1 - x0)
    return Decimal(anchors[-1][1])


def paydex(payments: Sequence[ScoredPayment], as_of: date) -> Decimal | None:
    """The index of the last twelve months' payments, weighted by amount; None without any."""
    recent = [p for p in payments if as_of - timedelta(days=365) < p.paid_on <= as_of and p.amount > 0]
    total = sum((p.amount for p in recent), Decimal(0))
    if not total:
        return None
    days = sum((p.amount * p.days_beyond_terms for p in recent), Decimal(0)) / total
    return _interpolate(days, PAYDEX_ANCHORS)


def payment_behaviour(inputs: ScoreInputs, policy: Policy) -> Decimal | None:
    """The PAYDEX of the payments, less the points of each promise broken in the last twelve months."""
    index = paydex(inputs.payments, inputs.as_of)
    if not inputs.broken_promises:
        return index
    base = index if index is not None else policy.broken_promise_base
    return max(base - inputs.broken_promises * policy.points_per_broken_promise, Decimal(0))


def delinquency(balance: Decimal | None, overdue: Decimal | None, oldest_days_past_due: int) -> Decimal | None:
    """100 with nothing overdue; less by the overdue share, and by how old the oldest item is."""
    if balance is None or overdue is None:
        return None
    if balance <= 0:
        return HUNDRED
    share = min(max(overdue / balance, Decimal(0)), Decimal(1))
    age = _interpolate(Decimal(oldest_days_past_due), ((0, 100), (30, 80), (60, 60), (90, 40), (180, 20), (360, 0)))
    return (1 - share) * HUNDRED * Decimal("0.5") + age * Decimal("0.5")


def financial_strength(
    altman_z: Decimal | None, current_ratio: Decimal | None, policy: Policy | None = None
) -> Decimal | None:
    """Altman Z″ from distress (1.10: 0) to safe (2.60: 100), and liquidity from a current ratio
    of 0.5 (0) to 2.0 (100); 70/30 when both are known."""
    policy = policy or Policy()
    parts: list[tuple[Decimal, Decimal]] = []
    if altman_z is not None:
        span = policy.z_safe - policy.z_distress
        parts.append(
            (Decimal("0.7"), min(max((altman_z - policy.z_distress) / span, Decimal(0)), Decimal(1)) * HUNDRED)
        )
    if current_ratio is not None:
        parts.append(
            (
                Decimal("0.3"),
                min(max((current_ratio - Decimal("0.5")) / Decimal("1.5"), Decimal(0)), Decimal(1)) * HUNDRED,
            )
        )
    if not parts:
        return None
    weight = sum((w for w, _ in parts), Decimal(0))
    return sum((w * v for w, v in parts), Decimal(0)) / weight


def history(months_trading: int | None, invoices_paid: int, policy: Policy) -> Decimal | None:
    if months_trading is None:
        return None
    months = min(Decimal(months_trading) / policy.months_for_full_history, Decimal(1))
    invoices = min(Decimal(invoices_paid) / policy.invoices_for_full_history, Decimal(1))
    return (months + invoices) * 50


def bureau_scale(inputs: ScoreInputs, policy: Policy) -> tuple[int, int] | None:
    """The scale of the bureau's score: the report's own, else the policy's for its provider."""
    if inputs.bureau_score_min is not None and inputs.bureau_score_max is not None:
        return inputs.bureau_score_min, inputs.bureau_score_max
    return policy.bureau_scales.get(inputs.bureau_provider or "")


def bureau(inputs: ScoreInputs, policy: Policy) -> Decimal | None:
    """The bureau's score on 0-100 (its place on its provider's scale), less its adverse records."""
    scale = bureau_scale(inputs, policy)
    if inputs.bureau_score is None or scale is None or scale[1] <= scale[0]:
        return None
    low, high = scale
    placed = (Decimal(inputs.bureau_score) - low) * HUNDRED / (high - low)
    placed = min(max(placed, Decimal(0)), HUNDRED)
    return max(placed - inputs.adverse_records * policy.points_per_adverse_record, Decimal(0))


def plain_grade(score: Decimal, policy: Policy) -> Grade:
    for name, floor in policy.grade_floors:
        if score >= floor:
            return name
    return "E"


def grade(score: Decimal, policy: Policy, previous: Grade | None = None) -> Grade:
    """The grade of a score, kept at ``previous`` while the score stays within the band around
    its floors: up only at the new grade's floor plus the band, down only below the previous
    grade's floor less the band."""
    plain = plain_grade(score, policy)
    if previous is None or plain == previous:
        return plain
    floors = dict(policy.grade_floors)
    band = policy.grade_band
    if GRADES.index(plain) < GRADES.index(previous):  # better
        for name in GRADES[: GRADES.index(previous)]:
            if score >= floors[name] + band:
                return name
        return previous
    if previous in floors and score >= floors[previous] - band:
        return previous
    return plain


def score(inputs: ScoreInputs, policy: Policy | None = None, previous: Grade | None = None) -> Score:
    policy = policy or Policy()
    found: dict[Component, Decimal | None] = {
        "payment_behaviour": payment_behaviour(inputs, policy),
        "delinquency": delinquency(inputs.balance, inputs.overdue, inputs.oldest_days_past_due),
        "financial_strength": financial_strength(inputs.altman_z, inputs.current_ratio, policy),
        "history": history(inputs.months_trading, inputs.invoices_paid, policy),
        "bureau": bureau(inputs, policy),
    }
    components = {c: _round(v) for c, v in found.items() if v is not None}
    left_out = tuple(c for c, v in found.items() if v is None)
    total_weight = sum((policy.weights[c] for c in components), Decimal(0))
    if not total_weight:
        raise NothingToScore("nothing is known to score: no payments, balance, statement, history or bureau report")
    weights = {c: policy.weights[c] * HUNDRED / total_weight for c in components}
    result = _round(sum((weights[c] * components[c] / HUNDRED for c in components), Decimal(0)))
    cost = {c: weights[c] * (HUNDRED - components[c]) / HUNDRED for c in components}
    reasons = tuple(sorted((c for c in components if cost[c] > 0), key=lambda c: (-cost[c], c))[:3])
    notes: list[str] = []
    graded = grade(result, policy, previous)
    if graded != plain_grade(result, policy):
        notes.append(f"grade {graded} kept: {result} is within {policy.grade_band} points of the floor")
    enough = len(components) >= policy.evidence_components or any(c in components for c in policy.evidence_alone)
    if not enough and GRADES.index(graded) < GRADES.index(policy.unrated_grade):
        notes.append(
            f"thin file: {len(components)} component(s) without payment history grade no better than "
            f"{policy.unrated_grade}"
        )
        graded = policy.unrated_grade
    if inputs.broken_promises:
        notes.append(
            f"{inputs.broken_promises} promise(s) to pay broken in the last twelve months: "
            f"{policy.points_per_broken_promise} points of payment behaviour each"
        )
    if inputs.bureau_score is not None and "bureau" not in components:
        notes.append(f"bureau score {inputs.bureau_score} left out: its scale is not known")
    return Score(
        score=result,
        grade=graded,
        components=components,
        weights={c: _round(w) for c, w in weights.items()},
        left_out=left_out,
        reasons=reasons,
        policy_version=policy.version,
        notes=tuple(notes),
    )


def _round(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), ROUND_HALF_UP)


def scored(
    customer_id: str, inputs: ScoreInputs, previous: Grade | None, cause: str, policy: Policy
) -> CustomerScored | None:
    """The customer scored on its facts, as the event that records it; None when there is nothing to score."""
    try:
        result = score(inputs, policy, previous)
    except NothingToScore:
        return None
    return CustomerScored(
        customer_id=customer_id,
        score=result.score,
        grade=result.grade,
        previous_grade=previous,
        components=dict(result.components),
        weights=dict(result.weights),
        left_out=result.left_out,
        reasons=result.reasons,
        policy_version=result.policy_version,
        inputs=inputs,
        cause=cause,
        notes=result.notes,
    )
