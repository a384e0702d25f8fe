"""Financial statements: whether one can be right (pure functions). Their ratios are published
with the statement (``contracts.profiles.statement_ratios``)."""

from __future__ import annotations

from decimal import Decimal

from contracts.profiles import StatementItems

# A balance sheet may be off by rounding in the source; beyond this share of total assets
# (0.5 %, or one currency unit if that is larger) it does not balance.
BALANCE_TOLERANCE = Decimal("0.005")
# What a balance sheet and an income statement cannot show below zero; equity, retained
# earnings, EBIT and net income can be negative.
NEVER_NEGATIVE = ("current_assets", "total_assets", "current_liabilities", "total_liabilities", "revenue")


def imbalance(items: StatementItems) -> Decimal:
    """Total assets minus total liabilities and equity."""
    return items.total_assets - (items.total_liabilities + items.equity)


def balance_problem(items: StatementItems) -> str | None:
    """Why the statement cannot be right (a negative asset, liability or revenue; parts larger than
    their whole; assets that do not equal liabilities plus equity, naming the difference); None if
    it can."""
    problems = [f"{name.replace('_', ' ')} cannot be negative" for name in NEVER_NEGATIVE if getattr(items, name) < 0]
    if items.current_assets > items.total_assets:
        problems.append("current assets exceed total assets")
    if items.current_liabilities > items.total_liabilities:
        problems.append("current liabilities exceed total liabilities")
    difference = imbalance(items)
    allowed = max(Decimal(1), abs(items.total_assets) * BALANCE_TOLERANCE)
    if abs(difference) > allowed:
        problems.append(
            f"total assets {items.total_assets} differ from total liabilities plus equity "
            f"{items.total_liabilities + items.equity} by {difference} (tolerance {allowed:.2f})"
        )
    return "; ".join(problems) or None
