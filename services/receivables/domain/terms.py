"""Terms of payment: due dates from net days or an instalment schedule, and the cash discount."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from contracts.receivables import Instalment, Terms
from libs.events.contracts import Money, to_minor_unit
from services.receivables.domain.account import ZERO, Invoice, Refused, money


def schedule_for(total: Money, issue_date: date, terms: Terms) -> tuple[Instalment, ...]:
    """Due dates from terms: one at ``net_days`` after the invoice date, or the instalments given."""
    if (terms.net_days is None) == (terms.instalments is None):
        raise Refused("terms need either net_days or instalments, not both")
    if terms.instalments is None:
        assert terms.net_days is not None
        if terms.discount is not None and terms.discount.days > terms.net_days:
            raise Refused(
                f"the cash discount's {terms.discount.days} days exceed the {terms.net_days} days net of the terms"
            )
        return (Instalment(due_date=issue_date + timedelta(days=terms.net_days), amount=total),)
    if terms.discount is not None:
        raise Refused("a cash discount cannot be combined with an instalment schedule")
    schedule = tuple(sorted(terms.instalments, key=lambda i: i.due_date))
    if any(i.amount.currency != total.currency for i in schedule):
        raise Refused(f"every instalment must be in the invoice's currency {total.currency}")
    if any(i.due_date < issue_date for i in schedule):
        raise Refused("an instalment falls due before the invoice date")
    if any(i.amount.amount <= 0 for i in schedule):
        raise Refused("every instalment must be a positive amount")
    planned = sum((i.amount.amount for i in schedule), ZERO)
    if planned != total.amount:
        raise Refused(f"the instalments add up to {planned}, not to the invoice total {total.amount}")
    return schedule


def rescaled(schedule: tuple[tuple[date, Decimal], ...], total: Money) -> tuple[Instalment, ...]:
    """A changed total keeps the due dates; the last instalment absorbs the change."""
    if len(schedule) == 1:
        return (Instalment(due_date=schedule[0][0], amount=total),)
    head = [Instalment(due_date=d, amount=money(a, total.currency)) for d, a in schedule[:-1]]
    rest = total.amount - sum((i.amount.amount for i in head), ZERO)
    if rest <= 0:
        raise Refused(f"a total of {total.amount} does not cover the instalments before the last")
    return (*head, Instalment(due_date=schedule[-1][0], amount=money(rest, total.currency)))


def discount_window(invoice: Invoice) -> tuple[Decimal, date] | None:
    """The cash discount an invoice allows and the last value date that earns it: the percent of
    the invoice's total (tax included, after corrections) rounded half-up to the minor unit, once."""
    terms = invoice.discount_terms
    if terms is None or invoice.discounted > 0:
        return None
    amount = to_minor_unit(invoice.total * terms.percent / 100, invoice.currency)
    return amount, invoice.issue_date + timedelta(days=terms.days)
