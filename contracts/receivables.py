"""The contract of receivables.events: what other services and the ERP may rely on.

Every ledger event belongs to one customer's account and carries ``recorded_on``, the
business date on which the ledger learnt of it: a report as of a past date folds only what
had been recorded by then, so it shows what was true then. ``entry_date`` is the date the
movement has on the customer's statement (an invoice's issue date, a payment's value date).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from libs.events.contracts import BusinessDate, DomainEvent, EventRegistry, ExactDecimal, Money


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True)


class CashDiscount(_Part):
    """e.g. 2% if paid within 10 days of the invoice date (2/10 net 30)."""

    percent: ExactDecimal = Field(gt=0, lt=100)
    days: int = Field(ge=0, le=365)


class Instalment(_Part):
    due_date: BusinessDate
    amount: Money


class Terms(_Part):
    """Net days from the invoice date, with an optional cash discount; or an instalment schedule."""

    net_days: int | None = Field(default=None, ge=0, le=3650)
    discount: CashDiscount | None = None
    instalments: tuple[Instalment, ...] | None = None


class Allocation(_Part):
    """Part of a payment or credit note set against an invoice; ``discount`` is cash discount granted."""

    invoice_id: str
    amount: Money
    discount: Money | None = None


class DatedAllocation(_Part):
    """An allocation as it stood, with the business date it counted from."""

    invoice_id: str
    amount: Money
    discount: Money | None = None
    entry_date: date


class RemittanceLine(_Part):
    invoice_number: str
    amount: ExactDecimal | None = None


class ChargeOrigin(_Part):
    """What makes a receivable a charge rather than a sale: the dunning step whose notice added it."""

    kind: Literal["fee", "interest"]
    step_id: str
    description: str


class AccountEvent(DomainEvent):
    """An event of one customer's account."""

    customer_id: str
    recorded_on: date


class InvoiceIssued(AccountEvent):
    """A receivable arose; its due dates follow from its terms."""

    event_type = "receivables.InvoiceIssued"
    schema_version = 1

    invoice_id: str
    number: str
    net: Money
    tax: Money
    total: Money
    issue_date: date
    terms: Terms
    schedule: tuple[Instalment, ...]
    order_ref: str | None = None
    erp_reference: str | None = None
    revision: int = 1
    charge: ChargeOrigin | None = None  # a dunning fee or interest, booked from collections


class InvoiceAdjusted(AccountEvent):
    """What is owed on an invoice changed (a corrected ERP document or a manual adjustment)."""

    event_type = "receivables.InvoiceAdjusted"
    schema_version = 1

    invoice_id: str
    change: Money  # signed: negative reduces what is owed
    total: Money
    schedule: tuple[Instalment, ...]
    reason: str
    entry_date: date
    revision: int | None = None


class InvoiceSettled(AccountEvent):
    """Nothing is left open on the invoice."""

    event_type = "receivables.InvoiceSettled"
    schema_version = 1

    invoice_id: str
    settled_on: date


class InvoiceReopened(AccountEvent):
    """A settled invoice is open again, because what settled it was reversed."""

    event_type = "receivables.InvoiceReopened"
    schema_version = 1

    invoice_id: str
    open: Money
    reason: str


class CreditNoteIssued(AccountEvent):
    """A credit note reduces what the customer owes; applied to its invoice, else held as credit."""

    event_type = "receivables.CreditNoteIssued"
    schema_version = 1

    credit_note_id: str
    number: str
    amount: Money
    reason: str
    issue_date: date
    invoice_id: str | None = None
    erp_reference: str | None = None
    revision: int = 1
    dispute_id: str | None = None  # set when the credit note settles an upheld dispute, not from the ERP


class CreditNoteApplied(AccountEvent):
    event_type = "receivables.CreditNoteApplied"
    schema_version = 1

    credit_note_id: str
    allocations: tuple[Allocation, ...]
    entry_date: date
    allocated_by: str | None = None  # a person, for an allocation by hand


class PaymentReceived(AccountEvent):
    event_type = "receivables.PaymentReceived"
    schema_version = 1

    payment_id: str
    amount: Money
    value_date: date
    method: str
    payer_reference: str | None = None
    remittance: tuple[RemittanceLine, ...] = ()
    erp_reference: str | None = None
    revision: int = 1


AllocationBasis = Literal["remittance", "reference", "oldest_due", "manual"]
Remainder = Literal["unapplied", "credit_balance"]


class PaymentAllocated(AccountEvent):
    """Cash application: how a payment was set against invoices, and what is left of it.

    A remainder is *unapplied cash* when nothing could be matched (it waits for a person to
    allocate it), or a *credit balance* when the customer paid more than what it named was owed.
    """

    event_type = "receivables.PaymentAllocated"
    schema_version = 1

    payment_id: str
    basis: AllocationBasis
    allocations: tuple[Allocation, ...]
    entry_date: date
    remainder: Money
    remainder_as: Remainder | None = None
    allocated_by: str | None = None


class AllocationsWithdrawn(AccountEvent):
    """Automatic allocations that no longer stand, because a document arrived that belongs before
    them in the order of the documents' own dates; they are made again by the events that follow.
    Each counts as withdrawn from the date it counted from, so reports as of a business date show
    the allocations as the documents make them."""

    event_type = "receivables.AllocationsWithdrawn"
    schema_version = 1

    source_id: str  # a payment or a credit note
    source: Literal["payment", "credit_note"]
    allocations: tuple[DatedAllocation, ...]
    reason: str


class CreditBalanceRefunded(AccountEvent):
    """Money the customer had with us (a credit balance, unapplied cash or an unapplied credit note)
    was paid back to them."""

    event_type = "receivables.CreditBalanceRefunded"
    schema_version = 1

    refund_id: str
    source_id: str
    amount: Money
    method: str
    reference: str | None = None
    refunded_by: str
    entry_date: date


class PaymentReversed(AccountEvent):
    """A payment did not stand (a bounced transfer): what it settled is open again."""

    event_type = "receivables.PaymentReversed"
    schema_version = 1

    payment_id: str
    amount: Money
    reason: str
    reversed_allocations: tuple[Allocation, ...]
    entry_date: date


class DisputeOpened(AccountEvent):
    event_type = "receivables.DisputeOpened"
    schema_version = 1

    dispute_id: str
    invoice_id: str
    amount: Money
    reason: str
    owner: str
    opened_on: date


DisputeOutcome = Literal["upheld", "rejected", "partly"]


class DisputeResolved(AccountEvent):
    """Upheld or partly upheld disputes are followed by a credit note for ``credited``."""

    event_type = "receivables.DisputeResolved"
    schema_version = 1

    dispute_id: str
    invoice_id: str
    outcome: DisputeOutcome
    credited: Money
    note: str | None = None
    resolved_by: str
    resolved_on: date


class InvoiceWrittenOff(AccountEvent):
    event_type = "receivables.InvoiceWrittenOff"
    schema_version = 1

    invoice_id: str
    amount: Money
    reason: str
    approved_by: str
    entry_date: date


class WriteOffRecovered(AccountEvent):
    """Money came in later for an amount that had been written off."""

    event_type = "receivables.WriteOffRecovered"
    schema_version = 1

    invoice_id: str
    amount: Money
    reason: str
    entry_date: date


class InvoiceFellOverdue(AccountEvent):
    """Emitted once when an instalment passes its due date, and again at each aging bucket it crosses."""

    event_type = "receivables.InvoiceFellOverdue"
    schema_version = 1

    invoice_id: str
    instalment: int
    due_date: date
    days_past_due: int
    bucket: str
    open: Money


class Issuer(_Part):
    """Who sends a statement: the company's own name, address and where to pay it."""

    name: str
    address: str | None = None
    phone: str | None = None
    bank_name: str | None = None
    bank_account: str | None = None
    tax_id: str | None = None


class StatementIssued(AccountEvent):
    """A statement of account (对账单), pinned to the account's stream version, so it can be reproduced."""

    event_type = "receivables.StatementIssued"
    schema_version = 1

    statement_id: str
    customer_name: str
    customer_address: str | None = None
    issuer: Issuer | None = None
    period_start: date
    period_end: date
    ledger_version: int
    closing: tuple[Money, ...]
    digest: str  # sha256 of the statement document as rendered


class BalanceConfirmed(AccountEvent):
    """The customer confirmed the statement's closing balance (对账确认)."""

    event_type = "receivables.BalanceConfirmed"
    schema_version = 1

    statement_id: str
    confirmed_by: str
    confirmed_on: date


class DifferingLine(_Part):
    reference: str
    their_amount: Money | None = None
    note: str


class BalanceDisputed(AccountEvent):
    """The customer disputed the statement, naming the lines where their books differ."""

    event_type = "receivables.BalanceDisputed"
    schema_version = 1

    statement_id: str
    disputed_by: str
    disputed_on: date
    lines: tuple[DifferingLine, ...]


class FxRateRecorded(DomainEvent):
    """The rate at which one unit of ``currency`` is reported in the base currency, from ``rate_date``."""

    event_type = "receivables.FxRateRecorded"
    schema_version = 1

    currency: str
    base_currency: str
    rate: ExactDecimal = Field(gt=0)
    rate_date: date
    recorded_on: date
    recorded_by: str | None = None
    proposal_id: str | None = None  # a rate far from the last one, confirmed by a second person
    confirmed_by: str | None = None


class FxRateProposed(DomainEvent):
    """A rate far from the last one recorded for its currency: it stands only once a second person
    confirms it."""

    event_type = "receivables.FxRateProposed"
    schema_version = 1

    proposal_id: str
    currency: str
    base_currency: str
    rate: ExactDecimal = Field(gt=0)
    rate_date: date
    previous_rate: ExactDecimal
    change_percent: ExactDecimal
    proposed_by: str
    recorded_on: date


ACCOUNT_EVENTS: list[type[DomainEvent]] = [
    InvoiceIssued,
    InvoiceAdjusted,
    InvoiceSettled,
    InvoiceReopened,
    CreditNoteIssued,
    CreditNoteApplied,
    PaymentReceived,
    PaymentAllocated,
    PaymentReversed,
    AllocationsWithdrawn,
    CreditBalanceRefunded,
    DisputeOpened,
    DisputeResolved,
    InvoiceWrittenOff,
    WriteOffRecovered,
    InvoiceFellOverdue,
    StatementIssued,
    BalanceConfirmed,
    BalanceDisputed,
]


class ProvisionBand(_Part):
    band: str
    loss_rate: ExactDecimal  # percent, from the history
    rate: ExactDecimal  # percent, with the overlay: what is applied
    balance: Money  # open in the band at the month end, in the base currency
    expected_loss: Money


class ProvisionSegment(_Part):
    """One segment of a segmented matrix: its rates from its own customers' history, applied to their
    balances."""

    segment: str  # a grade or "unrated"; "insured" or "uninsured"
    customers: int  # with a balance at the month end or history in the window
    bands: tuple[ProvisionBand, ...]
    expected_loss: Money
    history: dict[str, tuple[ExactDecimal, ...]]


class ProvisionMatrixComputed(DomainEvent):
    """A provision matrix (坏账准备) derived from the book's history by ``method`` over the
    ``look_back_months`` to ``month_end`` as the ledger knew them on ``known_on``, with the overlay,
    applied to what was open at the month end; with the history's figures, so it can be checked and
    computed again to the same result."""

    event_type = "receivables.ProvisionMatrixComputed"
    schema_version = 1

    matrix_id: str
    month_end: date
    known_on: date
    method: Literal["roll_rates", "cohorts"]
    look_back_months: int
    overlay_percent: ExactDecimal
    rationale: str
    base_currency: str
    bands: tuple[ProvisionBand, ...]
    expected_loss: Money
    history: dict[str, tuple[ExactDecimal, ...]]  # per band: balances and rolled, or reached and lost
    computed_by: str
    computed_on: date
    # Segmented: each segment's matrix; ``bands`` then hold the segments' sums, their rates the
    # effective ones (expected loss ÷ balance), and ``history`` the sums of the segments' histories.
    segment_by: Literal["none", "grade", "insurance"] = "none"
    segments: tuple[ProvisionSegment, ...] = ()


PUBLISHED: list[type[DomainEvent]] = [*ACCOUNT_EVENTS, FxRateRecorded, FxRateProposed, ProvisionMatrixComputed]
registry = EventRegistry(PUBLISHED)


# -- the balance rule ----------------------------------------------------------------------------------
# What each published event changes in the customer's balance, as the lines of the account. The
# ledger's balance is the sum of these lines; any service that follows the balance uses this rule.

# Lines the customer never sees on a statement: writing off is the ledger's own affair, and what
# is written off is still owed.
INTERNAL = frozenset({"write_off", "write_off_reinstated"})


@dataclass(frozen=True, slots=True)
class Movement:
    """A line of the customer's account: a positive amount raises what the customer owes."""

    kind: str
    reference: str
    invoice_id: str | None
    currency: str
    amount: Decimal
    entry_date: date
    description: str
    detail: str | None = None  # an invoice's order, a payment's method


def movements(event: DomainEvent) -> list[Movement]:
    match event:
        case InvoiceIssued(charge=ChargeOrigin() as charge):
            total = event.total
            return [
                Movement(
                    "charge",
                    event.number,
                    event.invoice_id,
                    total.currency,
                    total.amount,
                    event.issue_date,
                    f"{'Dunning fee' if charge.kind == 'fee' else 'Late-payment interest'} {event.number}:"
                    f" {charge.description}",
                    charge.kind,
                )
            ]
        case InvoiceIssued():
            total = event.total
            return [
                Movement(
                    "invoice",
                    event.number,
                    event.invoice_id,
                    total.currency,
                    total.amount,
                    event.issue_date,
                    f"Invoice {event.number}" + (f", order {event.order_ref}" if event.order_ref else ""),
                    event.order_ref,
                )
            ]
        case InvoiceAdjusted() if event.change.amount != 0:
            change = event.change
            return [
                Movement(
                    "adjustment",
                    event.invoice_id,
                    event.invoice_id,
                    change.currency,
                    change.amount,
                    event.entry_date,
                    f"Adjustment of invoice {event.invoice_id}: {event.reason}",
                )
            ]
        case CreditNoteIssued():
            amount = event.amount
            return [
                Movement(
                    "credit_note",
                    event.number,
                    event.invoice_id,
                    amount.currency,
                    -amount.amount,
                    event.issue_date,
                    f"Credit note {event.number}: {event.reason}",
                )
            ]
        case PaymentReceived():
            amount = event.amount
            return [
                Movement(
                    "payment",
                    event.payment_id,
                    None,
                    amount.currency,
                    -amount.amount,
                    event.value_date,
                    f"Payment {event.payment_id} ({event.method})",
                    event.method,
                )
            ]
        case PaymentAllocated():
            return [
                Movement(
                    "discount",
                    event.payment_id,
                    a.invoice_id,
                    a.discount.currency,
                    -a.discount.amount,
                    event.entry_date,
                    f"Cash discount on invoice {a.invoice_id}",
                )
                for a in event.allocations
                if a.discount is not None and a.discount.amount != 0
            ]
        case AllocationsWithdrawn():
            return [
                Movement(
                    "discount_reversal",
                    event.source_id,
                    a.invoice_id,
                    a.discount.currency,
                    a.discount.amount,
                    a.entry_date,
                    f"Cash discount on invoice {a.invoice_id} withdrawn: {event.reason}",
                )
                for a in event.allocations
                if a.discount is not None and a.discount.amount != 0
            ]
        case PaymentReversed():
            amount = event.amount
            reversal = Movement(
                "payment_reversal",
                event.payment_id,
                None,
                amount.currency,
                amount.amount,
                event.entry_date,
                f"Payment {event.payment_id} reversed: {event.reason}",
            )
            discounts = [
                Movement(
                    "discount_reversal",
                    event.payment_id,
                    a.invoice_id,
                    a.discount.currency,
                    a.discount.amount,
                    event.entry_date,
                    f"Cash discount on invoice {a.invoice_id} withdrawn",
                )
                for a in event.reversed_allocations
                if a.discount is not None and a.discount.amount != 0
            ]
            return [reversal, *discounts]
        case CreditBalanceRefunded():
            amount = event.amount
            return [
                Movement(
                    "refund",
                    event.refund_id,
                    None,
                    amount.currency,
                    amount.amount,
                    event.entry_date,
                    f"Refund {event.refund_id} of {event.source_id} ({event.method})",
                    event.method,
                )
            ]
        case InvoiceWrittenOff():
            amount = event.amount
            return [
                Movement(
                    "write_off",
                    event.invoice_id,
                    event.invoice_id,
                    amount.currency,
                    -amount.amount,
                    event.entry_date,
                    f"Written off: {event.reason}",
                )
            ]
        case WriteOffRecovered():
            # What was written off is owed again as far as it is recovered, and is paid at once.
            amount = event.amount
            return [
                Movement(
                    "write_off_reinstated",
                    event.invoice_id,
                    event.invoice_id,
                    amount.currency,
                    amount.amount,
                    event.entry_date,
                    f"Written-off amount recovered: {event.reason}",
                ),
                Movement(
                    "recovery",
                    event.invoice_id,
                    event.invoice_id,
                    amount.currency,
                    -amount.amount,
                    event.entry_date,
                    f"Recovery received on invoice {event.invoice_id}",
                ),
            ]
    return []
