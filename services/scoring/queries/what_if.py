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

from contracts.scoring import Grade, ScoreInputs
from libs.events.database import Connection
from services.scoring import domain
from services.scoring.domain import limits, scorecard
from services.scoring.domain.exposure import Facts
from services.scoring.domain.policy import Policies, describe
from services.scoring.queries import facts
from services.scoring.queries.views import WhatIfReport

log = structlog.get_logger(__name__)
SHOWN = 100  # customers listed by name in a report; the counts cover all


@dataclasses.dataclass
class _Latest:
    grade: Grade
    score: Decimal
    what_if: scorecard.Score
    inputs: ScoreInputs


async def run(conn: Connection, current: Policies, what_if: Policies, today: date, base: str) -> WhatIfReport:
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
    rates = await facts.rates_on(conn, today, base)
    moved: Counter[str] = Counter()
    limits_changed = holds_placed = holds_released = 0
    totals = {"now": Decimal(0), "what_if": Decimal(0)}
    listed: list[dict[str, Any]] = []
    for start in range(0, len(customers), 1000):
        chunk = customers[start : start + 1000]
        known = await facts.gather(conn, chunk, today, rates, base)
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
    return WhatIfReport(
        **{
            "policy": describe(what_if, base),
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
                "currency": base,
            },
            "overdue_holds": {"would_be_placed": holds_placed, "would_be_released": holds_released},
            "changed": listed,
            "changed_listed": f"the first {SHOWN} customers whose grade, recommended limit or hold would change",
        }
    )


def _recommended(grade: Grade, found: Facts, account: asyncpg.Record | None, rules: limits.LimitPolicy) -> Decimal:
    set_days = account["credit_days"] if account is not None else None
    days = set_days if set_days is not None else limits.default_terms(grade, rules)
    return limits.recommend(grade, found.monthly_invoicing, days, found.net_worth, found.insured_cover, rules).amount


def _overdue_hold(oldest_days_past_due: int, holds: domain.HoldPolicy) -> bool:
    return holds.overdue_days is not None and oldest_days_past_due > holds.overdue_days
