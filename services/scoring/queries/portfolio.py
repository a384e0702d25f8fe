"""The book by grade and against its limits, from every credit account in one statement."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from libs.events.contracts import to_minor_unit
from libs.events.database import Connection
from libs.service.views import MoneyView
from services.scoring.domain import portfolio
from services.scoring.queries import facts
from services.scoring.queries.views import AgainstLimitsView, GradeLineView, PortfolioView

# Each customer's grade, limit in force and exposure in the base currency, worked out by PostgreSQL
# on the rows themselves: the balances converted at the rates given ($2, $3) but not yet rounded,
# the reservations still in force on $1 (kept in the base currency), and the currencies with no rate.
POSITIONS = """
WITH rates (currency, rate) AS (SELECT * FROM unnest($2::text[], $3::numeric[]))
SELECT a.account_version IS NOT NULL AS has_account, a.grade,
       CASE WHEN a.limit_expires_on IS NOT NULL AND a.limit_amount IS NOT NULL AND $1 < a.limit_expires_on
            THEN a.limit_amount ELSE a.standing_limit END AS limit_in_force,
       (SELECT sum(b.value::numeric * r.rate) FROM jsonb_each_text(a.balances) b
          JOIN rates r ON r.currency = b.key) AS balance,
       (SELECT sum((v ->> 1)::numeric) FROM jsonb_each(a.reservations) e (decision, v)
         WHERE (v ->> 2)::date >= $1) AS reserved,
       ARRAY(SELECT b.key FROM jsonb_each_text(a.balances) b
              WHERE NOT EXISTS (SELECT FROM rates r WHERE r.currency = b.key)) AS unpriced
FROM customers c LEFT JOIN credit_accounts a USING (customer_id)
"""


async def portfolio_view(conn: Connection, today: date, base: str) -> PortfolioView:
    rates = await facts.rates_on(conn, today, base)
    rows = await conn.fetch(POSITIONS, today, list(rates), list(rates.values()))
    positions, unpriced = [], set()
    for row in rows:
        if not row["has_account"]:  # known, no credit account yet
            positions.append(portfolio.Position(None, Decimal(0), None))
            continue
        unpriced.update(row["unpriced"])
        exposure = to_minor_unit(row["balance"] or Decimal(0), base) + (row["reserved"] or Decimal(0))
        positions.append(portfolio.Position(row["grade"], exposure, row["limit_in_force"]))

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
