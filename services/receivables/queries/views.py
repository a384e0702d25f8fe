"""The shapes of receivables' answers. Amounts are rendered to their currency's minor unit."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import Field

from contracts.receivables import ChargeOrigin, Terms
from libs.service.views import Amount, MoneyView, View

AgingBasis = Literal["due_date", "invoice_date"]

# -- the account ---------------------------------------------------------------------------------------


class BalanceLine(View):
    """What the account holds in one currency."""

    currency: str
    balance: Amount
    overdue: Amount
    disputed: Amount
    collectable: Amount
    unapplied_cash: Amount
    credit_balance: Amount
    net: Amount


class UnpricedAmount(View):
    """An amount in a currency with no rate to the base currency: left out of the base figures."""

    currency: str
    amount: Amount


class AccountSummary(View):
    customer_id: str
    legal_name: str
    as_of: date
    known_on: date
    version: int
    balances: list[BalanceLine]
    base_currency: str
    in_base_currency: dict[str, Amount]
    unpriced: dict[str, list[UnpricedAmount]]
    missing_rates: list[str]


# -- documents ------------------------------------------------------------------------------------------


class InstalmentView(View):
    instalment: int
    due_date: date
    amount: Amount
    open: Amount
    days_past_due: int | None  # while open


class InvoiceView(View):
    invoice_id: str
    customer_id: str
    number: str
    currency: str
    net: Amount
    tax: Amount
    total: Amount
    issue_date: date
    terms: Terms
    order_ref: str | None
    erp_reference: str | None
    revision: int
    charge: ChargeOrigin | None = Field(description="set when the receivable is a dunning fee or interest")
    paid: Amount
    credited: Amount
    discounted: Amount
    written_off: Amount
    recovered: Amount
    disputed: Amount
    open: Amount
    collectable: Amount
    status: Literal["open", "settled", "written_off"]
    settled_on: date | None
    recorded_on: date
    next_due: date | None
    schedule: list[InstalmentView]
    days_past_due: int


class AllocationView(View):
    invoice_id: str
    number: str | None
    amount: Amount
    discount: Amount
    counts_from: date
    by_hand: bool


class PaymentView(View):
    payment_id: str
    customer_id: str
    currency: str
    amount: Amount
    value_date: date
    method: str
    payer_reference: str | None
    unallocated: Amount
    remainder_as: str | None
    reversed: bool
    recorded_on: date
    refunded: Amount
    allocations: list[AllocationView]


class DisputeView(View):
    dispute_id: str
    customer_id: str
    invoice_id: str
    currency: str
    amount: Amount
    reason: str
    owner: str
    opened_on: date
    outcome: str | None
    credited: Amount | None
    note: str | None
    resolved_by: str | None
    resolved_on: date | None


class MovementView(View):
    customer_id: str
    version: int
    line: int
    entry_date: date
    recorded_on: date
    kind: str
    reference: str
    invoice_id: str | None
    currency: str
    amount: Amount  # positive raises what the customer owes
    description: str


class MovementPage(View):
    movements: list[MovementView]
    next_after_version: int | None


class RefundView(View):
    refund_id: str
    customer_id: str
    source_id: str
    currency: str
    amount: Amount
    method: str
    reference: str | None
    refunded_by: str
    entry_date: date


# -- FX rates -------------------------------------------------------------------------------------------


class FxRateView(View):
    currency: str
    rate_date: date
    base_currency: str
    rate: Amount
    recorded_on: date
    recorded_by: str | None
    confirmed_by: str | None


class FxProposalView(View):
    proposal_id: str
    currency: str
    base_currency: str
    rate: Amount
    rate_date: date
    previous_rate: Amount
    change_percent: Amount
    proposed_by: str
    proposed_on: date
    confirmed_by: str | None
    status: Literal["waiting", "confirmed"]


class FxRateAnswer(View):
    """A rate recorded (201), or proposed for a second person (202: with ``proposal_id`` and the
    rate it departs from)."""

    currency: str
    base_currency: str
    rate: Amount
    rate_date: date
    recorded_on: date
    recorded_by: str | None = None
    proposal_id: str | None = None
    confirmed_by: str | None = None
    previous_rate: Amount | None = None
    change_percent: Amount | None = None
    proposed_by: str | None = None


# -- statements -----------------------------------------------------------------------------------------


class StatementRecord(View):
    statement_id: str
    customer_id: str
    period_start: date
    period_end: date
    ledger_version: int
    closing: list[MoneyView]
    digest: str
    issued_on: date
    status: Literal["issued", "confirmed", "disputed"]
    answer: dict[str, Any] | None  # the customer's confirmation, or the lines they dispute


# -- the ERP's documents over HTTP ---------------------------------------------------------------------


class DocumentAnswer(View):
    """What a posted document did: applied (201), already applied (200), or parked until its
    customer is registered (202)."""

    document_id: str
    revision: int
    status: Literal["applied", "already applied", "parked"]
    customer_id: str | None = None
    applied: list[str] = []
    account_version: int | None = None
    reason: str | None = None
    dead_letter_id: int | None = None


# -- aging ----------------------------------------------------------------------------------------------


class CurrencyAging(View):
    buckets: dict[str, Amount]
    total: Amount


class AgingTable(View):
    buckets: dict[str, Amount]  # in the base currency: the priced part
    total: Amount
    unpriced: list[UnpricedAmount]
    by_currency: dict[str, CurrencyAging]


class CustomerAgingLine(AgingTable):
    customer_id: str
    legal_name: str | None


class AgingReport(AgingTable):
    as_of: date
    known_on: date
    basis: AgingBasis
    base_currency: str
    rates: dict[str, Amount]
    customers: list[CustomerAgingLine] | None = None


class CustomerAging(AgingReport):
    customer_id: str
