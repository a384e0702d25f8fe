"""Financial statements and the ratios credit people read from them (pure functions)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Literal, Protocol

# A balance sheet may be off by rounding in the source; beyond this share of total assets
# (0.5 %, or one currency unit if that is larger) it does not balance.
BALANCE_TOLERANCE = Decimal("0.005")
# What a balance sheet and an income statement cannot show below zero; equity, retained
# earnings, EBIT and net income can be negative.
NEVER_NEGATIVE = ("current_assets", "total_assets", "current_liabilities", "total_liabilities", "revenue")

Zone = Literal["safe", "grey", "distress"]
Z_SAFE_ABOVE = Decimal("2.60")
Z_DISTRESS_BELOW = Decimal("1.10")


class Statement(Protocol):
    """The balance-sheet and income-statement items the ratios are read from (read-only)."""

    @property
    def current_assets(self) -> Decimal: ...

    @property
    def total_assets(self) -> Decimal: ...

    @property
    def current_liabilities(self) -> Decimal: ...

    @property
    def total_liabilities(self) -> Decimal: ...

    @property
    def equity(self) -> Decimal: ...

    @property
    def retained_earnings(self) -> Decimal: ...

    @property
    def revenue(self) -> Decimal: ...

    @property
    def ebit(self) -> Decimal: ...

    @property
    def net_income(self) -> Decimal: ...


@dataclass(frozen=True)
class Ratios:
    current_ratio: Decimal | None
    debt_ratio: Decimal | None
    working_capital: Decimal
    altman_z: Decimal | None
    altman_zone: Zone | None


def imbalance(statement: Statement) -> Decimal:
    """Total assets minus total liabilities and equity."""
    return statement.total_assets - (statement.total_liabilities + statement.equity)


def balance_problem(statement: Statement) -> str | None:
    """Why the statement cannot be right (a negative asset, liability or revenue; parts larger than
    their whole; assets that do not equal liabilities plus equity, naming the difference); None if
    it can."""
    problems = [
        f"{name.replace('_', ' ')} cannot be negative" for name in NEVER_NEGATIVE if getattr(statement, name) < 0
    ]
    if statement.current_assets > statement.total_assets:
        problems.append("current assets exceed total assets")
    if statement.current_liabilities > statement.total_liabilities:
        problems.append("current liabilities exceed total liabilities")
    difference = imbalance(statement)
    allowed = max(Decimal(1), abs(statement.total_assets) * BALANCE_TOLERANCE)
    if abs(difference) > allowed:
        problems.append(
            f"total assets {statement.total_assets} differ from total liabilities plus equity "
            f"{statement.total_liabilities + statement.equity} by {difference} (tolerance {allowed:.2f})"
        )
    return "; ".join(problems) or None


def _ratio(numerator: Decimal, denominator: Decimal, places: str = "0.0001") -> Decimal | None:
    if denominator == 0:
        return None
    return (numerator / denominator).quantize(Decimal(places), rounding=ROUND_HALF_EVEN)


def altman_z_double_prime(statement: Statement) -> Decimal | None:
    """Altman Z″ = 6.56·X1 + 3.26·X2 + 6.72·X3 + 1.05·X4 (for private and non-manufacturing firms).

    X1 working capital, X2 retained earnings and X3 EBIT over total assets; X4 book equity
    over total liabilities. None when a denominator is zero.
    """
    if statement.total_assets == 0 or statement.total_liabilities == 0:
        return None
    assets = statement.total_assets
    x1 = (statement.current_assets - statement.current_liabilities) / assets
    x2 = statement.retained_earnings / assets
    x3 = statement.ebit / assets
    x4 = statement.equity / statement.total_liabilities
    z = Decimal("6.56") * x1 + Decimal("3.26") * x2 + Decimal("6.72") * x3 + Decimal("1.05") * x4
    return z.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


def zone(z: Decimal) -> Zone:
    if z > Z_SAFE_ABOVE:
        return "safe"
    if z < Z_DISTRESS_BELOW:
        return "distress"
    return "grey"


def ratios(statement: Statement) -> Ratios:
    z = altman_z_double_prime(statement)
    return Ratios(
        current_ratio=_ratio(statement.current_assets, statement.current_liabilities),
        debt_ratio=_ratio(statement.total_liabilities, statement.total_assets),
        working_capital=statement.current_assets - statement.current_liabilities,
        altman_z=z,
        altman_zone=zone(z) if z is not None else None,
    )
