"""The use cases of receivables: the only code that loads accounts, decides and appends.

Each takes the parts the composition root built and a command; each runs in the caller's
transaction (``conn``), so the ERP's documents and their consumer's offsets, or a route's answer
and its Idempotency-Key, commit together with the events.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from contracts import erp
from contracts.collections import Charge
from contracts.receivables import (
    DifferingLine,
    DisputeOutcome,
    FxRateProposed,
    FxRateRecorded,
    Issuer,
    ProvisionMatrixComputed,
    StatementIssued,
)
from libs.events.clock import BusinessClock
from libs.events.commands import FoldedStreams, Loaded, Ran, run
from libs.events.contracts import DomainEvent, in_minor_units
from libs.events.refusals import NotFound, Refused
from libs.events.store import EventContext, Store
from libs.service.directory import Customers
from services.receivables import domain
from services.receivables.domain import Account, FxBook
from services.receivables.queries.aging import AheadAccounts


class UnknownCustomer(LookupError):
    """A document names an ERP customer that profiles has not registered yet."""


class CompanyNotConfigured(LookupError):
    """Statements come from the company, whose name is not configured."""


@dataclass
class Parts:
    """What the use cases of receivables work with; built by the composition root."""

    store: Store
    accounts: FoldedStreams[Account]
    fx: FoldedStreams[FxBook]
    clock: BusinessClock
    customers: Customers
    base_currency: str
    issuer: Issuer | None  # None: the company is not configured
    statement_font: Path
    ahead: AheadAccounts = field(default_factory=AheadAccounts)  # today's state of accounts dated ahead


def accounts(store: Store, capacity: int) -> FoldedStreams[Account]:
    """Customers' accounts, the busiest kept in memory: folding a long history for every document
    would cost more than the document."""
    return FoldedStreams(
        store,
        stream_of=domain.stream_id,
        initial=lambda customer_id: Account(customer_id=customer_id),
        evolve=domain.evolve,
        capacity=capacity,
    )


def fx_book(store: Store) -> FoldedStreams[FxBook]:
    return FoldedStreams(
        store, stream_of=lambda _: domain.FX_STREAM, initial=domain.fx.new_book, evolve=domain.fx.evolve
    )


# -- the ERP's documents ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErpDocumentReceived:
    """One revision of one of the ERP's documents, from its topics or posted over HTTP."""

    document: erp.ErpDocument
    document_id: str
    revision: int
    context: EventContext


@dataclass(frozen=True)
class Applied:
    customer_id: str
    events: list[DomainEvent]  # what this document changed, with any allocations it made again
    account_version: int


async def receive_erp_documents(parts: Parts, conn: Any, received: Sequence[ErpDocumentReceived]) -> list[Applied]:
    """Apply the ERP's documents to their customers' accounts, each account's in one append;
    answers what each document did, in the order given.

    Raises ``UnknownCustomer`` for a document whose customer is not registered, and
    ``domain.Refused`` for one the ledger refuses: the caller sets it aside.
    """
    today = parts.clock.today()
    customers = await parts.customers.by_erp_id(conn, [r.document.customer_erp_id for r in received])
    queues: dict[str, list[int]] = {}
    for index, r in enumerate(received):
        customer_id = customers.get(r.document.customer_erp_id)
        if customer_id is None:
            raise UnknownCustomer(
                f"no customer with ERP id {r.document.customer_erp_id} is registered;"
                " the document is applied once the customer is"
            )
        queues.setdefault(customer_id, []).append(index)
    loaded = await parts.accounts.load_many(conn, list(queues))
    decided: dict[str, tuple[Loaded[Account], Sequence[DomainEvent]]] = {}
    causes: dict[str, list[EventContext]] = {}
    folded: dict[str, Account] = {}
    per_index: dict[int, list[DomainEvent]] = {}
    for customer_id, indexes in queues.items():
        base = loaded[customer_id]
        docs = [
            domain.document_of(received[i].document, received[i].document_id, received[i].revision) for i in indexes
        ]
        per_document, realigned = domain.receive_documents(base.state, customer_id, docs, today)
        events: list[DomainEvent] = []
        contexts: list[EventContext] = []
        for position, new in per_document:
            i = indexes[position]
            per_index[i] = new
            events += new
            contexts += [received[i].context] * len(new)  # each event names the document that caused it
        if realigned:  # caused by the batch's last document of the customer
            per_index[indexes[-1]] = per_index[indexes[-1]] + realigned
            events += realigned
            contexts += [received[indexes[-1]].context] * len(realigned)
        decided[customer_id], causes[customer_id] = (base, events), contexts
        folded[customer_id] = domain.fold(events, base.state)
    after = await parts.accounts.append(conn, decided, causes, folded)
    answer = {i: c for c, indexes in queues.items() for i in indexes}
    return [Applied(answer[i], per_index[i], after[answer[i]][0].version) for i in range(len(received))]


# -- commands on one account -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AllocateByHand:
    customer_id: str
    source_id: str
    lines: Sequence[tuple[str, Decimal]]  # (invoice id, amount)
    by: str
    expected_version: int | None = None


@dataclass(frozen=True)
class ReversePayment:
    customer_id: str
    payment_id: str
    reason: str
    expected_version: int | None = None


@dataclass(frozen=True)
class RefundCredit:
    customer_id: str
    refund_id: str
    source_id: str
    amount: Decimal
    method: str
    reference: str | None
    by: str
    expected_version: int | None = None


@dataclass(frozen=True)
class AdjustInvoice:
    customer_id: str
    invoice_id: str
    change: Decimal  # signed: negative reduces what is owed
    reason: str
    expected_version: int | None = None


@dataclass(frozen=True)
class OpenDispute:
    customer_id: str
    dispute_id: str
    invoice_id: str
    amount: Decimal
    reason: str
    owner: str
    expected_version: int | None = None


@dataclass(frozen=True)
class ResolveDispute:
    customer_id: str
    dispute_id: str
    outcome: DisputeOutcome
    credited: Decimal | None
    note: str | None
    by: str
    expected_version: int | None = None


@dataclass(frozen=True)
class WriteOff:
    customer_id: str
    invoice_id: str
    amount: Decimal | None  # all that is open when None
    reason: str
    by: str
    expected_version: int | None = None


@dataclass(frozen=True)
class RecordRecovery:
    customer_id: str
    invoice_id: str
    amount: Decimal
    reason: str
    expected_version: int | None = None


@dataclass(frozen=True)
class ConfirmBalance:
    customer_id: str
    statement_id: str
    confirmed_by: str
    confirmed_on: date
    expected_version: int | None = None


@dataclass(frozen=True)
class DisputeBalance:
    customer_id: str
    statement_id: str
    disputed_by: str
    disputed_on: date
    lines: Sequence[DifferingLine]
    expected_version: int | None = None


@dataclass(frozen=True)
class BookCharges:
    customer_id: str
    step_id: str
    business_date: date
    charges: Sequence[Charge]
    expected_version: int | None = None


AccountCommand = (
    AllocateByHand
    | ReversePayment
    | RefundCredit
    | AdjustInvoice
    | OpenDispute
    | ResolveDispute
    | WriteOff
    | RecordRecovery
    | ConfirmBalance
    | DisputeBalance
    | BookCharges
)


async def on_account(parts: Parts, conn: Any, command: AccountCommand) -> Ran[Account]:
    """Decide a command on its customer's account and append what it decides; a race lost to another
    writer is decided again on fresh state, unless the caller named the version it expects."""
    if await parts.customers.get(conn, command.customer_id) is None:
        raise NotFound(f"no customer {command.customer_id}")
    decide = _decision(command, parts.clock.today())
    return await run(parts.accounts, conn, command.customer_id, decide, expected_version=command.expected_version)


def _decision(command: AccountCommand, today: date) -> Callable[[Account], list[DomainEvent]]:
    match command:
        case AllocateByHand():
            return lambda a: domain.allocate_by_hand(a, command.source_id, command.lines, command.by, today)
        case ReversePayment():
            return lambda a: domain.reverse_payment(a, command.payment_id, command.reason, today)
        case RefundCredit():
            return lambda a: _refund(a, command, today)
        case AdjustInvoice():
            return lambda a: _adjust(a, command, today)
        case OpenDispute():
            return lambda a: _open_dispute(a, command, today)
        case ResolveDispute():
            c = command
            return lambda a: domain.resolve_dispute(a, c.dispute_id, c.outcome, c.credited, c.note, c.by, today)
        case WriteOff():
            return lambda a: domain.write_off(a, command.invoice_id, command.amount, command.reason, command.by, today)
        case RecordRecovery():
            return lambda a: domain.recover(a, command.invoice_id, command.amount, command.reason, today)
        case ConfirmBalance():
            c2 = command
            return lambda a: domain.confirm_balance(a, c2.statement_id, c2.confirmed_by, c2.confirmed_on, today)
        case DisputeBalance():
            c3 = command
            return lambda a: domain.dispute_balance(
                a, c3.statement_id, c3.disputed_by, c3.disputed_on, list(c3.lines), today
            )
        case BookCharges():
            c4 = command
            return lambda a: domain.book_charges(a, c4.customer_id, c4.step_id, c4.business_date, c4.charges, today)


def _in_minor_units(amount: Decimal, currency: str, field: str) -> None:
    if not in_minor_units(amount, currency):
        raise Refused(f"{field} {amount} has more decimals than {currency} has minor units")


def _refund(account: Account, command: RefundCredit, today: date) -> list[DomainEvent]:
    source = account.payments.get(command.source_id) or account.credit_notes.get(command.source_id)
    if source is not None:
        _in_minor_units(command.amount, source.currency, "the amount")
    c = command
    return domain.refund(account, c.refund_id, c.source_id, c.amount, c.method, c.reference, c.by, today)


def _adjust(account: Account, command: AdjustInvoice, today: date) -> list[DomainEvent]:
    invoice = account.invoice(command.invoice_id)
    if command.change == 0:
        raise Refused("an adjustment changes what is owed by a non-zero amount")
    _in_minor_units(command.change, invoice.currency, "the change")
    total = domain.money(invoice.total + command.change, invoice.currency)
    return domain.adjust(account, command.invoice_id, total, None, command.reason, today)


def _open_dispute(account: Account, command: OpenDispute, today: date) -> list[DomainEvent]:
    _in_minor_units(command.amount, account.invoice(command.invoice_id).currency, "the amount")
    c = command
    return domain.open_dispute(account, c.dispute_id, c.invoice_id, c.amount, c.reason, c.owner, today)


async def fall_overdue(parts: Parts, conn: Any, customer_ids: Sequence[str], business_date: date) -> int:
    """Invoices fall overdue, and age from bucket to bucket; answers how many events that made."""
    loaded = await parts.accounts.load_many(conn, customer_ids)
    decisions: dict[str, tuple[Loaded[Account], Sequence[DomainEvent]]] = {
        c: (a, domain.fall_overdue(a.state, business_date)) for c, a in loaded.items()
    }
    await parts.accounts.append(conn, decisions)
    return sum(len(events) for _, events in decisions.values())


# -- FX rates ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordFxRate:
    proposal_id: str  # the id it takes should it only be proposed
    currency: str
    rate: Decimal
    rate_date: date
    by: str


@dataclass(frozen=True)
class ConfirmFxRate:
    proposal_id: str
    by: str


async def record_fx_rate(parts: Parts, conn: Any, command: RecordFxRate) -> FxRateRecorded | FxRateProposed:
    """A rate to the base currency, or only a proposal when it is far from the rate in force."""
    c, today = command, parts.clock.today()
    ran = await run(
        parts.fx,
        conn,
        domain.FX_KEY,
        lambda book: domain.record_rate(
            book, c.proposal_id, c.currency, parts.base_currency, c.rate, c.rate_date, c.by, today
        ),
    )
    (event,) = ran.events
    assert isinstance(event, FxRateRecorded | FxRateProposed)
    return event


async def confirm_fx_rate(parts: Parts, conn: Any, command: ConfirmFxRate) -> FxRateRecorded:
    today = parts.clock.today()
    ran = await run(
        parts.fx, conn, domain.FX_KEY, lambda book: domain.confirm_rate(book, command.proposal_id, command.by, today)
    )
    (event,) = ran.events
    assert isinstance(event, FxRateRecorded)
    return event


# -- statements -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssueStatement:
    customer_id: str
    statement_id: str
    period: tuple[date, date]
    ledger_version: int | None  # the ledger point to pin, or
    known_on: date | None  # the last event recorded by the end of this day; neither: the account now


async def issue_statement(parts: Parts, conn: Any, command: IssueStatement) -> Ran[Account]:
    """A statement of the period pinned to a ledger point, with its document's closing balances and
    digest recorded, so the same statement can be reproduced byte for byte."""
    today = parts.clock.today()
    if parts.issuer is None:
        raise CompanyNotConfigured(
            "statements come from the company: set CREDO_COMPANY_NAME (and its address and bank account)"
        )
    found = await parts.customers.get(conn, command.customer_id)
    if found is None:
        raise NotFound(f"no customer {command.customer_id}")
    history = [r.event for r in await parts.store.load(domain.stream_id(command.customer_id), conn)]
    ledger_version, known_on = command.ledger_version, command.known_on
    if known_on is not None:
        if known_on > today:
            raise Refused(f"known_on {known_on.isoformat()} is after today ({today.isoformat()})")
        ledger_version = len(list(itertools.takewhile(lambda e: domain.recorded_on(e) <= known_on, history))) or None
        if ledger_version is None:
            raise Refused(f"nothing was recorded on the account by {known_on.isoformat()}")
    point = ledger_version or len(history)
    if point > len(history):
        raise Refused(f"the account is at version {len(history)}, not yet {point}")
    issuer = parts.issuer
    heading = domain.Heading(command.customer_id, found.legal_name, found.address, issuer, *command.period, point)
    document = domain.statement_document(heading, history)
    closing, digest = domain.closing_balances(document), domain.digest(document)
    return await run(
        parts.accounts,
        conn,
        command.customer_id,
        lambda account: domain.issue_statement(
            account,
            command.statement_id,
            heading.customer_name,
            heading.customer_address,
            issuer,
            command.period,
            point,
            closing,
            digest,
            today,
        ),
    )


async def statement_document(
    parts: Parts, conn: Any, customer_id: str, statement_id: str
) -> tuple[StatementIssued, dict[str, Any]]:
    """A statement as issued, and its document reproduced from the events up to its ledger point."""
    history = [r.event for r in await parts.store.load(domain.stream_id(customer_id), conn)]
    issued = next((e for e in history if isinstance(e, StatementIssued) and e.statement_id == statement_id), None)
    if issued is None:
        raise NotFound(f"customer {customer_id} has no statement {statement_id}")
    heading = domain.Heading(
        customer_id,
        issued.customer_name,
        issued.customer_address,
        issued.issuer,
        issued.period_start,
        issued.period_end,
        issued.ledger_version,
    )
    return issued, domain.statement_document(heading, history)


# -- the provision --------------------------------------------------------------------------------------------

PROVISION_KEY = "provisions"  # the partition key of provision matrices, which belong to no customer


async def record_provision(parts: Parts, conn: Any, matrix: ProvisionMatrixComputed) -> None:
    """A computed matrix, recorded once under its own id."""
    await parts.store.append(f"provision-{matrix.matrix_id}", 0, [matrix], customer_id=PROVISION_KEY, conn=conn)
