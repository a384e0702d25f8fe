"""The policy what-if: replay the recorded score inputs under a changed policy and report how
grades, recommended limits and holds would have differed. It reads; it never writes."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg
import structlog

from libs.events.database import Connection
from services.scoring import domain, facts, limits, scorecard
from services.scoring.events import Grade, ScoreInputs
from services.scoring.settings import Policies, settings

log = structlog.get_logger(__name__)
SHOWN = 100  # customers listed by name in a report; the counts cover all


def describe(policy: Policies) -> dict[str, Any]:
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
        "base_currency": settings().base_currency,
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


@dataclasses.dataclass
class _Latest:
    grade: Grade
    score: Decimal
    what_if: scorecard.Score
    inputs: ScoreInputs


async def run(conn: Connection, current: Policies, what_if: Policies, today: date) -> dict[str, Any]:
    """Every recorded score replayed, and each customer's latest compared in full."""
    replayed = differing = 0
    latest: dict[str, _Latest] = {}
    async for row in conn.cursor(
        "SELECT customer_id, grade, score, inputs FROM score_history ORDER BY customer_id, version", prefetch=1000
    ):
        inputs = ScoreInputs.model_validate_json(row["inputs"])
        before = latest.get(row["customer_id"])  # the what-if's own previous grade, for its band
        result = scorecard.score(inputs, what_if.scorecard, before.what_if.grade if before else None)
        replayed += 1
        differing += result.grade != row["grade"]
        latest[row["customer_id"]] = _Latest(row["grade"], row["score"], result, inputs)
        if replayed % 50_000 == 0:
            log.info("what_if.progress", scores_replayed=replayed)
    customers = sorted(latest)
    rates = await facts.rates_on(conn, today, settings().base_currency)
    moved: Counter[str] = Counter()
    limits_changed = holds_placed = holds_released = 0
    totals = {"now": Decimal(0), "what_if": Decimal(0)}
    listed: list[dict[str, Any]] = []
    for start in range(0, len(customers), 1000):
        chunk = customers[start : start + 1000]
        known = await facts.gather(conn, chunk, today, rates, settings().base_currency)
        accounts = {
            r["customer_id"]: r
            for r in await conn.fetch(
                "SELECT customer_id, holds, credit_days FROM credit_accounts WHERE customer_id = ANY($1::text[])", chunk
            )
        }
        for customer_id in chunk:
            seen, found = latest[customer_id], known[customer_id]
            account = accounts.get(customer_id)
            now = _recommended(seen.grade, found, account, current.limits)
            then = _recommended(seen.what_if.grade, found, account, what_if.limits)
            totals["now"] += now
            totals["what_if"] += then
            held_now = account is not None and domain.OVERDUE in json.loads(account["holds"])
            held_then = _overdue_hold(found.exposure.oldest_days_past_due, what_if.holds)
            holds_placed += held_then and not held_now
            holds_released += held_now and not held_then
            limits_changed += now != then
            if seen.grade != seen.what_if.grade:
                moved[f"{seen.grade}->{seen.what_if.grade}"] += 1
            if (seen.grade != seen.what_if.grade or now != then or held_now != held_then) and len(listed) < SHOWN:
                listed.append(
                    {
                        "customer_id": customer_id,
                        "grade": {"now": seen.grade, "what_if": seen.what_if.grade},
                        "score": {"now": seen.score, "what_if": seen.what_if.score},
                        "recommended_limit": {"now": now, "what_if": then},
                        "overdue_hold": {"now": held_now, "what_if": held_then},
                    }
                )
    return {
        "policy": describe(what_if),
        "as_of": today,
        "history": {"scores_replayed": replayed, "grade_would_differ": differing},
        "customers": len(customers),
        "grades": {
            "now": dict(sorted(Counter(s.grade for s in latest.values()).items())),
            "what_if": dict(sorted(Counter(s.what_if.grade for s in latest.values()).items())),
            "moved": dict(sorted(moved.items())),
        },
        "recommended_limits": {
            "total_now": totals["now"],
            "total_what_if": totals["what_if"],
            "customers_changed": limits_changed,
            "currency": settings().base_currency,
        },
        "overdue_holds": {"would_be_placed": holds_placed, "would_be_released": holds_released},
        "changed": listed,
        "changed_listed": f"the first {SHOWN} customers whose grade, recommended limit or hold would change",
    }


def _recommended(
    grade: Grade, found: facts.Facts, account: asyncpg.Record | None, rules: limits.LimitPolicy
) -> Decimal:
    set_days = account["credit_days"] if account is not None else None
    days = set_days if set_days is not None else limits.default_terms(grade, rules)
    return limits.recommend(grade, found.monthly_invoicing, days, found.net_worth, found.insured_cover, rules).amount


def _overdue_hold(oldest_days_past_due: int, holds: domain.HoldPolicy) -> bool:
    return holds.overdue_days is not None and oldest_days_past_due > holds.overdue_days
