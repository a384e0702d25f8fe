"""What a notice says: the step's items that are overdue or at a dunning level, their totals and
the charges, put into the level's template in the customer's language."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from contracts.collections import DunningStepTaken, ItemInput, Language, Policy
from libs.events.contracts import to_minor_unit
from services.collections.domain.policy import level_of
from services.collections.domain.templates import render_notice

# Chinese to customers registered where it is the language of business; English to the others.
CHINESE_SPEAKING = frozenset({"CN", "HK", "MO", "TW", "SG"})


def language_of(country: str | None) -> Language:
    return "zh" if country in CHINESE_SPEAKING else "en"


@dataclass(frozen=True)
class Letterhead:
    """Whom notices come from and where to pay."""

    company: str
    phone: str | None = None
    bank_name: str | None = None
    bank_account: str | None = None


def listed(step: DunningStepTaken) -> list[ItemInput]:
    return [item for item in step.items if item.level_after is not None or item.days_past_due > 0]


def totals(step: DunningStepTaken) -> list[tuple[str, Decimal]]:
    """What the notice lists, per currency, to the minor unit."""
    found: dict[str, Decimal] = defaultdict(Decimal)
    for item in listed(step):
        found[item.currency] += item.open
    return [(c, to_minor_unit(a, c)) for c, a in sorted(found.items())]


def context(step: DunningStepTaken, customer_name: str, sender: Letterhead) -> dict[str, Any]:
    return {
        "customer_name": customer_name,
        "company": sender.company,
        "company_phone": sender.phone,
        "company_bank_name": sender.bank_name,
        "company_bank_account": sender.bank_account,
        "business_date": step.business_date,
        "level": step.level,
        "items": [
            {
                "number": item.number,
                "due_date": item.due_date,
                "days_past_due": max(item.days_past_due, 0),
                "open": str(to_minor_unit(item.open, item.currency)),
                "currency": item.currency,
                "raised": item.level_after != item.level_before,
            }
            for item in listed(step)
        ],
        "totals": [{"amount": str(a), "currency": c} for c, a in totals(step)],
        "charges": [
            {
                "kind": c.kind,
                "description": c.description,
                "amount": str(c.amount.amount),
                "currency": c.amount.currency,
            }
            for c in step.charges
        ],
    }


def compose(
    policy: Policy, step: DunningStepTaken, language: Language, customer_name: str, sender: Letterhead
) -> tuple[str, str]:
    """The notice's subject and body."""
    level = level_of(policy, step.level)
    found = context(step, customer_name, sender)
    found["level_name"] = level.name
    return render_notice(policy.templates[level.template], language, found, level.template)
