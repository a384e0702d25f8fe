"""The book by grade and against its limits: what the portfolio page of the credit team shows.

Exposure is what the credit check counts, in the base currency: open receivables net of unapplied
cash, plus the reservations of approved orders not yet invoiced. A limit's use is exposure ÷ limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from services.scoring.domain.scorecard import GRADES

NEAR_LIMIT = Decimal("0.8")  # a limit used to 80 % or more, and not beyond, is near its limit


@dataclass(frozen=True)
class Position:
    grade: str | None  # None: not rated yet
    exposure: Decimal
    limit: Decimal | None  # the limit in force today, if any


@dataclass(frozen=True)
class GradeLine:
    grade: str | None
    customers: int
    exposure: Decimal
    limits: Decimal  # the limits in force of these customers, added up


@dataclass(frozen=True)
class AgainstLimits:
    with_limit: int
    limits: Decimal
    exposure_with_limit: Decimal
    over_limit: int  # exposure above the limit
    over_limit_excess: Decimal  # by how much, added up
    near_limit: int  # from 80 % of the limit up to the limit
    without_limit: int  # exposed (exposure above zero) with no limit in force
    exposure_without_limit: Decimal


def by_grade(positions: Iterable[Position]) -> list[GradeLine]:
    """A line per grade A to E, then one for customers not rated, each even when empty."""
    lines: dict[str | None, list[Position]] = {g: [] for g in (*GRADES, None)}
    for p in positions:
        lines.setdefault(p.grade if p.grade in GRADES else None, []).append(p)
    return [
        GradeLine(
            grade=g,
            customers=len(found),
            exposure=sum((p.exposure for p in found), Decimal(0)),
            limits=sum((p.limit or Decimal(0) for p in found), Decimal(0)),
        )
        for g, found in lines.items()
    ]


def against_limits(positions: Iterable[Position]) -> AgainstLimits:
    limited = [p for p in positions if p.limit is not None]
    unlimited = [p for p in positions if p.limit is None and p.exposure > 0]
    over = [p for p in limited if p.exposure > (p.limit or 0)]
    near = [p for p in limited if p.limit and NEAR_LIMIT * p.limit <= p.exposure <= p.limit]
    return AgainstLimits(
        with_limit=len(limited),
        limits=sum((p.limit or Decimal(0) for p in limited), Decimal(0)),
        exposure_with_limit=sum((p.exposure for p in limited), Decimal(0)),
        over_limit=len(over),
        over_limit_excess=sum((p.exposure - (p.limit or Decimal(0)) for p in over), Decimal(0)),
        near_limit=len(near),
        without_limit=len(unlimited),
        exposure_without_limit=sum((p.exposure for p in unlimited), Decimal(0)),
    )
