"""The credit team's commands on an account: allocations, reversals, refunds, adjustments,
disputes, write-offs and recoveries."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response
from pydantic import Field

from contracts.receivables import DisputeOutcome
from libs.events.contracts import BoundedDecimal
from libs.service.etag import if_match_version
from libs.service.kit import KitDep
from libs.service.views import Body
from services.receivables import handlers
from services.receivables.api.base import (
    CreditTeam,
    Managers,
    account_command,
    invoice_of,
    summary_of,
)
from services.receivables.queries import ledger
from services.receivables.queries import views as v

router = APIRouter()

# -- commands on an account ---------------------------------------------------------------------------------------


class AllocationLine(Body):
    invoice_id: str = Field(min_length=1, max_length=128)
    amount: BoundedDecimal = Field(gt=0, max_digits=18)


class ManualAllocation(Body):
    source_id: str = Field(min_length=1, max_length=128, description="a payment or credit note with money left")
    lines: list[AllocationLine] = Field(min_length=1, max_length=500)


@router.post(
    "/customers/{customer_id}/allocations",
    status_code=201,
    response_model=v.AccountSummary,
    summary="Allocate unapplied cash by hand",
)
async def allocate(
    customer_id: str, body: ManualAllocation, request: Request, kit: KitDep, caller: CreditTeam
) -> Response:
    """Set unapplied cash, a credit balance or an unapplied credit note against invoices. Allocations by
    hand stay as made: cash application never moves them."""
    lines = [(line.invoice_id, line.amount) for line in body.lines]
    command = handlers.AllocateByHand(customer_id, body.source_id, lines, caller.subject, if_match_version(request))
    return await account_command(request, kit, caller, command, summary_of(kit, customer_id))


class Reversal(Body):
    reason: str = Field(min_length=1, max_length=500)


@router.post(
    "/customers/{customer_id}/payments/{payment_id}/reversal",
    status_code=201,
    response_model=v.AccountSummary,
    summary="Reverse a payment",
)
async def reverse_payment(
    customer_id: str, payment_id: str, body: Reversal, request: Request, kit: KitDep, caller: Managers
) -> Response:
    """A payment that did not stand (a bounced transfer): what it settled is open again."""
    command = handlers.ReversePayment(customer_id, payment_id, body.reason, if_match_version(request))
    return await account_command(request, kit, caller, command, summary_of(kit, customer_id))


class RefundIn(Body):
    source_id: str = Field(min_length=1, max_length=128, description="the payment or credit note refunded from")
    amount: BoundedDecimal = Field(gt=0, max_digits=18)
    method: str = Field(min_length=1, max_length=32, description="e.g. bank_transfer")
    reference: str | None = Field(default=None, max_length=256, description="the bank's reference of the refund")


@router.post(
    "/customers/{customer_id}/refunds",
    status_code=201,
    response_model=v.AccountSummary,
    summary="Pay back a credit balance",
)
async def refund(customer_id: str, body: RefundIn, request: Request, kit: KitDep, caller: Managers) -> Response:
    """Record that money the customer had with us (a credit balance, unapplied cash or an unapplied
    credit note) was paid back to them."""
    command = handlers.RefundCredit(
        customer_id,
        f"RF-{uuid.uuid4().hex[:10].upper()}",
        body.source_id,
        body.amount,
        body.method,
        body.reference,
        caller.subject,
        if_match_version(request),
    )
    return await account_command(request, kit, caller, command, summary_of(kit, customer_id))


class Adjustment(Body):
    change: BoundedDecimal = Field(description="signed: negative reduces what is owed", max_digits=18)
    reason: str = Field(min_length=1, max_length=500)


@router.post(
    "/customers/{customer_id}/invoices/{invoice_id}/adjustments",
    status_code=201,
    response_model=v.InvoiceView,
    summary="Adjust an invoice",
)
async def adjust_invoice(
    customer_id: str, invoice_id: str, body: Adjustment, request: Request, kit: KitDep, caller: Managers
) -> Response:
    """Change what is owed on an invoice, with a reason; it counts from today. The last instalment
    absorbs the change."""
    command = handlers.AdjustInvoice(customer_id, invoice_id, body.change, body.reason, if_match_version(request))
    return await account_command(request, kit, caller, command, invoice_of(kit, invoice_id))


class NewDispute(Body):
    invoice_id: str = Field(min_length=1, max_length=128)
    amount: BoundedDecimal = Field(gt=0, max_digits=18)
    reason: str = Field(min_length=1, max_length=1000)
    owner: str = Field(min_length=1, max_length=200, description="who works on resolving it")


@router.post(
    "/customers/{customer_id}/disputes",
    status_code=201,
    response_model=v.DisputeView,
    summary="Open a dispute on an invoice",
)
async def open_dispute(
    customer_id: str, body: NewDispute, request: Request, kit: KitDep, caller: CreditTeam
) -> Response:
    """The customer disputes part of an invoice: cash without remittance leaves the disputed amount alone
    until the dispute is resolved; aging and overdue still count it."""
    dispute_id = f"D-{uuid.uuid4().hex[:12].upper()}"
    command = handlers.OpenDispute(
        customer_id, dispute_id, body.invoice_id, body.amount, body.reason, body.owner, if_match_version(request)
    )
    return await account_command(request, kit, caller, command, lambda conn: ledger.dispute(conn, dispute_id))


class Resolution(Body):
    outcome: DisputeOutcome
    credited: BoundedDecimal | None = Field(
        default=None, gt=0, max_digits=18, description="for 'partly': the amount credited"
    )
    note: str | None = Field(default=None, max_length=1000)


@router.post(
    "/customers/{customer_id}/disputes/{dispute_id}/resolution",
    status_code=201,
    response_model=v.DisputeView,
    summary="Resolve a dispute",
)
async def resolve_dispute(
    customer_id: str, dispute_id: str, body: Resolution, request: Request, kit: KitDep, caller: Managers
) -> Response:
    """Upheld, rejected or partly upheld; what is upheld becomes a credit note on the invoice."""
    command = handlers.ResolveDispute(
        customer_id, dispute_id, body.outcome, body.credited, body.note, caller.subject, if_match_version(request)
    )
    return await account_command(request, kit, caller, command, lambda conn: ledger.dispute(conn, dispute_id))


class WriteOff(Body):
    amount: BoundedDecimal | None = Field(
        default=None, gt=0, max_digits=18, description="all that is open when left out"
    )
    reason: str = Field(min_length=1, max_length=1000)


@router.post(
    "/customers/{customer_id}/invoices/{invoice_id}/write-off",
    status_code=201,
    response_model=v.InvoiceView,
    summary="Write off",
)
async def write_off(
    customer_id: str, invoice_id: str, body: WriteOff, request: Request, kit: KitDep, caller: Managers
) -> Response:
    """Write off what is open (or part of it); the approver is the caller. Statements to the customer
    still show it as owed."""
    command = handlers.WriteOff(
        customer_id, invoice_id, body.amount, body.reason, caller.subject, if_match_version(request)
    )
    return await account_command(request, kit, caller, command, invoice_of(kit, invoice_id))


class Recovery(Body):
    amount: BoundedDecimal = Field(gt=0, max_digits=18)
    reason: str = Field(min_length=1, max_length=1000)


@router.post(
    "/customers/{customer_id}/invoices/{invoice_id}/recoveries",
    status_code=201,
    response_model=v.InvoiceView,
    summary="Record a recovery",
)
async def recover(
    customer_id: str, invoice_id: str, body: Recovery, request: Request, kit: KitDep, caller: Managers
) -> Response:
    """Money received later for what was written off."""
    command = handlers.RecordRecovery(customer_id, invoice_id, body.amount, body.reason, if_match_version(request))
    return await account_command(request, kit, caller, command, invoice_of(kit, invoice_id))
