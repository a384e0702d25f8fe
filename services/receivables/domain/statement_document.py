"""The statement of account (对账函) as a document for the customer, computed from the account's
events up to a pinned stream version, so that the same statement gives the same bytes today or
in ten years. It says what the customer owes: their invoices, credit notes and payments in the
period with the running balance, the open items at the period's end with their due dates and an
aging summary, where to pay, and a reply slip to confirm or dispute the balance. It carries
nothing internal: no write-offs (what is written off is still owed), no user names, no internal
codes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from contracts.receivables import INTERNAL, Issuer, Movement, PaymentReceived, movements
from libs.events.contracts import DomainEvent, Money, to_minor_unit
from services.receivables.domain.account import ZERO, Account, fold
from services.receivables.domain.aging import account_as_of, age, open_items

METHODS = {
    "bank_transfer": "银行转账 bank transfer",
    "bank_acceptance": "银行承兑汇票 bank acceptance bill",
    "commercial_acceptance": "商业承兑汇票 commercial acceptance bill",
    "cash": "现金 cash",
    "cheque": "支票 cheque",
    "card": "银行卡 card",
}


@dataclass(frozen=True)
class Heading:
    """Whom a statement is from and to, for which period and ledger point, as its StatementIssued
    event records it. The same heading and events give the same document, whenever it is made."""

    customer_id: str
    customer_name: str
    customer_address: str | None
    issuer: Issuer | None
    period_start: date
    period_end: date
    ledger_version: int


def amount_text(value: Decimal, currency: str) -> str:
    return format(to_minor_unit(value, currency), "f")


def statement_document(heading: Heading, events: Sequence[DomainEvent]) -> dict[str, Any]:
    """``events`` are the account's events in order; the first ``ledger_version`` are the statement's."""
    known = list(events[: heading.ledger_version])
    account = fold(known, Account(customer_id=heading.customer_id))
    numbers = {i.invoice_id: i.number for i in account.invoices.values()}
    payments = {e.payment_id: e for e in known if isinstance(e, PaymentReceived)}
    lines: dict[str, list[tuple[int, int, Movement]]] = {}
    for version, event in enumerate(known, start=1):
        for number, movement in enumerate(movements(event)):
            if movement.kind not in INTERNAL and movement.entry_date <= heading.period_end:
                lines.setdefault(movement.currency, []).append((version, number, movement))
    at_end = account_as_of(known, heading.customer_id, heading.period_end, date.max)
    items = open_items(at_end)
    currencies = []
    for currency in sorted(lines.keys() | {i.currency for i in items}):
        ordered = sorted(lines.get(currency, []), key=lambda item: (item[2].entry_date, item[0], item[1]))
        opening = sum((m.amount for _, _, m in ordered if m.entry_date < heading.period_start), ZERO)
        balance, rows = opening, []
        for _, _, m in ordered:
            if m.entry_date < heading.period_start:
                continue
            balance += m.amount
            rows.append(
                {
                    "date": m.entry_date.isoformat(),
                    "description": _description(m, numbers),
                    "reference": _reference(m, numbers, payments),
                    "debit": amount_text(m.amount, currency) if m.amount > 0 else None,
                    "credit": amount_text(-m.amount, currency) if m.amount < 0 else None,
                    "balance": amount_text(balance, currency),
                }
            )
        open_here = sorted((i for i in items if i.currency == currency), key=lambda i: (i.due_date, i.number))
        if not rows and not open_here and opening == balance == 0:
            continue  # nothing in this currency to tell the customer
        aged = age(open_here, heading.period_end).get(currency, {})
        currencies.append(
            {
                "currency": currency,
                "opening_balance": amount_text(opening, currency),
                "lines": rows,
                "closing_balance": amount_text(balance, currency),
                "open_items": [
                    {
                        "invoice": i.number,
                        "issue_date": i.issue_date.isoformat(),
                        "due_date": i.due_date.isoformat(),
                        "open": amount_text(i.amount, currency),
                        "days_overdue": max((heading.period_end - i.due_date).days, 0),
                    }
                    for i in open_here
                ],
                "aging": {label: amount_text(a, currency) for label, a in aged.items()},
            }
        )
    issuer = heading.issuer.model_dump(mode="json") if heading.issuer else None
    return {
        "issuer": issuer,
        "customer": {
            "customer_id": heading.customer_id,
            "legal_name": heading.customer_name,
            "address": heading.customer_address,
        },
        "period": {"start": heading.period_start.isoformat(), "end": heading.period_end.isoformat()},
        "ledger_version": heading.ledger_version,
        "currencies": currencies,
    }


def _invoice(invoice_id: str | None, numbers: dict[str, str]) -> str:
    return numbers.get(invoice_id or "", invoice_id or "")


def _description(m: Movement, numbers: dict[str, str]) -> str:
    invoice = _invoice(m.invoice_id, numbers)
    match m.kind:
        case "invoice":
            return "销售发票 Invoice" + (f" · 订单 order {m.detail}" if m.detail else "")
        case "charge":
            return "催收费用 Dunning fee" if m.detail == "fee" else "逾期利息 Late-payment interest"
        case "adjustment":
            return f"发票更正 Invoice corrected · {invoice}"
        case "credit_note":
            return "贷项通知单 Credit note" + (f" · 发票 invoice {invoice}" if m.invoice_id else "")
        case "payment":
            return "收款 Payment received" + (
                f" · {METHODS.get(m.detail, m.detail.replace('_', ' '))}" if m.detail else ""
            )
        case "discount":
            return f"现金折扣 Cash discount · 发票 invoice {invoice}"
        case "discount_reversal":
            return f"现金折扣冲回 Cash discount withdrawn · 发票 invoice {invoice}"
        case "payment_reversal":
            return "付款退回 Payment returned unpaid"
        case "refund":
            return "退款 Refund to you"
        case "recovery":
            return f"收款 Payment received · 发票 invoice {invoice}"
    return m.kind.replace("_", " ")


def _reference(m: Movement, numbers: dict[str, str], payments: dict[str, PaymentReceived]) -> str:
    if m.kind in ("payment", "payment_reversal"):
        paid = payments.get(m.reference)
        return (paid.payer_reference or "") if paid else ""
    if m.kind in ("invoice", "charge", "credit_note"):
        return m.reference
    return _invoice(m.invoice_id, numbers)


def closing_balances(document: dict[str, Any]) -> list[Money]:
    return [Money.of(c["closing_balance"], c["currency"]) for c in document["currencies"]]


def render_json(document: dict[str, Any]) -> bytes:
    """The canonical bytes of a statement: what the digest is taken of."""
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def digest(document: dict[str, Any]) -> str:
    return hashlib.sha256(render_json(document)).hexdigest()
