"""The book by grade and against its limits, from every credit account in one statement."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from libs.events.database import Connection
from libs.service.views import MoneyView
from services.scoring.domain import portfolio
from services.scoring.domain.exposure import total_in_base
from services.scoring.projections import reserved_total
from services.scoring.queries import facts
from services.scoring.queries.views import AgainstLimitsView, GradeLineView, PortfolioView


async def portfolio_view(conn: Connection, today: date, base: str) -> PortfolioView:
    rates = await facts.rates_on(conn, today, base)
    rows = await conn.fetch(
        "SELECT c.customer_id, a.* FROM customers c LEFT JOIN credit_accounts a USING (customer_id)"
    )
    positions, unpriced = [], set()
    for row in rows:
        if row["account_version"] is None:  # known, no credit account yet
            positions.append(portfolio.Position(None, Decimal(0), None))
            continue
        balances: dict[str, str] = json.loads(row["balances"])
        balance, missing = total_in_base(((Decimal(a), c) for c, a in balances.items()), rates, base)
        unpriced |= missing
        limit = facts.account_of(row).limit_on(today)
        exposure = balance + reserved_total(row["reservations"], today)
        positions.append(portfolio.Position(row["grade"], exposure, limit.amount if limit else None))

    def money(amount: Decimal) -> MoneyView:
        return MoneyView.of(amount, base)

    against = portfolio.against_limits(positions)
    return PortfolioView(
        as_of=today,
        currency=base,
        customers=len(positions),
        by_grade=[
            GradeLineView(grade=g.grade, customers=g.customers, exposure=money(g.exposure), limits=money(g.limits))
            for g in portfolio.by_grade(positions)
        ],
        against_limits=AgainstLimitsView(
            with_limit=against.with_limit,
            limits=money(against.limits),
            exposure_with_limit=money(against.exposure_with_limit),
            over_limit=against.over_limit,
            over_limit_excess=money(against.over_limit_excess),
            near_limit=against.near_limit,
            without_limit=against.without_limit,
            exposure_without_limit=money(against.exposure_without_limit),
        ),
        unpriced_currencies=sorted(unpriced),
    )
