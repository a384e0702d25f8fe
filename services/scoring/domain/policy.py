"""The policy in force, as one versioned whole: the scorecard, the limit rules and authority, the
check and the holds; how it reads, and how a what-if changes it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from services.scoring.domain import checks, limits, scorecard
from services.scoring.domain.account import HoldPolicy


@dataclass(frozen=True)
class Policies:
    """The policy in force: the scorecard, the limit rules and authority, the check and the holds."""

    scorecard: scorecard.Policy
    limits: limits.LimitPolicy
    checks: checks.CheckPolicy
    holds: HoldPolicy


def describe(policy: Policies, base_currency: str) -> dict[str, Any]:
    return {
        "version": policy.scorecard.version,
        "scorecard": {
            "weights": dict(policy.scorecard.weights),
            "grade_floors": dict(policy.scorecard.grade_floors),
            "paydex_anchors": [{"days_beyond_terms": d, "index": i} for d, i in scorecard.PAYDEX_ANCHORS],
            "months_for_full_history": policy.scorecard.months_for_full_history,
            "invoices_for_full_history": policy.scorecard.invoices_for_full_history,
            "points_per_adverse_record": policy.scorecard.points_per_adverse_record,
            "altman_z": {"distress_below": policy.scorecard.z_distress, "safe_above": policy.scorecard.z_safe},
            "bureau_scales": {p: {"min": lo, "max": hi} for p, (lo, hi) in policy.scorecard.bureau_scales.items()},
            "evidence": {
                "components_at_least": policy.scorecard.evidence_components,
                "or_any_of": list(policy.scorecard.evidence_alone),
                "else_grade_at_best": policy.scorecard.unrated_grade,
            },
            "grade_band": policy.scorecard.grade_band,
        },
        "limits": {
            "needs_multiple": dict(policy.limits.needs_multiple),
            "net_worth_share": dict(policy.limits.net_worth_share),
            "cap_at_insured_cover": policy.limits.cap_at_insured_cover,
            "default_credit_days": dict(policy.limits.default_credit_days),
            "authority": [{"role": r, "up_to": a} for r, a in policy.limits.authority],
            "cash_discount": {
                "first_tier_up_to_percent": policy.limits.first_tier_discount_percent,
                "most_percent": policy.limits.most_discount_percent,
            },
        },
        "checks": dataclasses.asdict(policy.checks),
        "holds": dataclasses.asdict(policy.holds),
        "base_currency": base_currency,
    }


def changed(policy: Policies, **overrides: Any) -> Policies:
    """The policy with the overrides applied; refused when the result makes no sense."""
    card, rules, holds = policy.scorecard, policy.limits, policy.holds
    if "weights" in overrides:
        weights = {**card.weights, **overrides["weights"]}
        if any(w < 0 for w in weights.values()) or not sum(weights.values()):
            raise ValueError("weights are zero or more, and not all zero")
        card = dataclasses.replace(card, weights=weights)
    if "grade_floors" in overrides:
        floors = {**dict(card.grade_floors), **overrides["grade_floors"]}
        ordered = [floors[g] for g in ("A", "B", "C", "D")]
        if ordered != sorted(ordered, reverse=True) or not all(0 <= f <= 100 for f in ordered):
            raise ValueError("grade floors run from A down to D, each between 0 and 100")
        card = dataclasses.replace(card, grade_floors=tuple((g, floors[g]) for g in ("A", "B", "C", "D")))
    card = dataclasses.replace(card, version=overrides.get("version", "what-if"))
    for name in ("needs_multiple", "net_worth_share"):
        if name in overrides:
            merged = {**getattr(rules, name), **overrides[name]}
            if any(v < 0 for v in merged.values()):
                raise ValueError(f"{name} values are zero or more")
            rules = (
                dataclasses.replace(rules, needs_multiple=merged)
                if name == "needs_multiple"
                else dataclasses.replace(rules, net_worth_share=merged)
            )
    if "cap_at_insured_cover" in overrides:
        rules = dataclasses.replace(rules, cap_at_insured_cover=overrides["cap_at_insured_cover"])
    if "hold_overdue_days" in overrides:
        holds = dataclasses.replace(holds, overdue_days=overrides["hold_overdue_days"])
    return Policies(card, rules, policy.checks, holds)
