"""receivables' use cases on the in-memory event store: the ERP's documents, commands on an
account, FX rates and statements, with what each records and what each refuses."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from contracts import erp
from contracts.receivables import FxRateProposed, FxRateRecorded, StatementIssued, Terms
from libs.events.contracts import Money
from libs.events.refusals import NotFound, Refused, StaleVersion
from libs.events.store import EventContext
from services.receivables import domain, handlers
from tests.support.memory import MemoryCustomers, receivables_parts

TODAY = date(2026, 11, 23)


def cny(amount: str) -> Money:
    return Money.of(amount, "CNY")


def invoice(
    document_id: str, total: str, issued: str = "2026-10-01", revision: int = 1
) -> handlers.ErpDocumentReceived:
    posted = erp.ErpInvoice(
        customer_erp_id="K-1",
        number=f"INV-{document_id}",
        net=cny(total),
        tax=cny("0.00"),
        issue_date=date.fromisoformat(issued),
        terms=Terms(net_days=30),
    )
    return handlers.ErpDocumentReceived(posted, document_id, revision, EventContext(correlation_id=document_id))


def payment(document_id: str, amount: str, value_date: str = "2026-11-20") -> handlers.ErpDocumentReceived:
    posted = erp.ErpPayment(
        customer_erp_id="K-1", amount=cny(amount), value_date=date.fromisoformat(value_date), method="bank_transfer"
    )
    return handlers.ErpDocumentReceived(posted, document_id, 1, EventContext(correlation_id=document_id))


def parts_with_customer() -> handlers.Parts:
    customers = MemoryCustomers()
    customers.register("C-1", "福州闽江贸易有限公司", erp_id="K-1", address="福州市台江区")
    return receivables_parts(TODAY, customers)


async def receive(parts: handlers.Parts, *documents: handlers.ErpDocumentReceived) -> list[handlers.Applied]:
    async with parts.store.transaction() as tx:
        return await handlers.receive_erp_documents(parts, tx, documents)


async def test_a_document_of_an_unregistered_customer_is_refused_and_nothing_is_recorded() -> None:
    parts = receivables_parts(TODAY)
    with pytest.raises(handlers.UnknownCustomer, match="no customer with ERP id K-1 is registered"):
        await receive(parts, invoice("I-1", "100.00"))
    assert await parts.store.read_all() == []


async def test_documents_apply_once_each_and_name_the_document_that_caused_them() -> None:
    parts = parts_with_customer()
    first, paid = await receive(parts, invoice("I-1", "1000.00"), payment("P-1", "400.00"))
    assert (first.customer_id, [type(e).__name__ for e in first.events]) == ("C-1", ["InvoiceIssued"])
    assert [type(e).__name__ for e in paid.events] == ["PaymentReceived", "PaymentAllocated"]
    (again,) = await receive(parts, invoice("I-1", "1000.00"))
    assert again.events == []  # the same revision twice is applied once
    history = await parts.store.load(domain.stream_id("C-1"))
    assert [r.correlation_id for r in history] == ["I-1", "P-1", "P-1"]
    account = domain.fold(r.event for r in history)
    assert account.invoice("I-1").open == Decimal("600.00")


async def test_a_payment_that_arrives_before_its_invoice_ends_as_if_in_order() -> None:
    in_order, out_of_order = parts_with_customer(), parts_with_customer()
    await receive(in_order, invoice("I-1", "500.00"), payment("P-1", "500.00"))
    await receive(out_of_order, payment("P-1", "500.00"))
    await receive(out_of_order, invoice("I-1", "500.00"))
    for parts in (in_order, out_of_order):
        async with parts.store.transaction() as tx:
            account = (await parts.accounts.load(tx, "C-1")).state
        assert account.invoice("I-1").open == 0
        assert account.payments["P-1"].unallocated == 0


async def test_a_command_names_its_customer_and_the_version_it_expects() -> None:
    parts = parts_with_customer()
    await receive(parts, invoice("I-1", "1000.00"))
    dispute = handlers.OpenDispute("C-1", "D-1", "I-1", Decimal("200.00"), "短装", "ana", expected_version=9)
    with pytest.raises(StaleVersion, match="at version 1, not 9"):
        async with parts.store.transaction() as tx:
            await handlers.on_account(parts, tx, dispute)
    with pytest.raises(NotFound, match="no customer C-9"):
        async with parts.store.transaction() as tx:
            await handlers.on_account(parts, tx, handlers.WriteOff("C-9", "I-1", None, "gone", "wang"))
    with pytest.raises(Refused, match="more decimals than CNY has minor units"):
        async with parts.store.transaction() as tx:
            await handlers.on_account(parts, tx, handlers.OpenDispute("C-1", "D-1", "I-1", Decimal("0.001"), "x", "a"))
    async with parts.store.transaction() as tx:
        ran = await handlers.on_account(
            parts, tx, handlers.OpenDispute("C-1", "D-1", "I-1", Decimal("200.00"), "短装", "ana", expected_version=1)
        )
    assert ran.after.version == 2
    assert ran.after.state.invoice("I-1").disputed == Decimal("200.00")


async def test_a_rate_far_from_the_one_in_force_waits_for_a_second_person() -> None:
    parts = receivables_parts(TODAY)

    async def record(rate: str, by: str, proposal: str = "FX-1") -> FxRateRecorded | FxRateProposed:
        command = handlers.RecordFxRate(proposal, "USD", Decimal(rate), TODAY, by)
        async with parts.store.transaction() as tx:
            return await handlers.record_fx_rate(parts, tx, command)

    async def confirm(by: str) -> FxRateRecorded:
        async with parts.store.transaction() as tx:
            return await handlers.confirm_fx_rate(parts, tx, handlers.ConfirmFxRate("FX-2", by))

    assert isinstance(await record("7.10", "zhou"), FxRateRecorded)
    assert isinstance(await record("7.50", "zhou"), FxRateRecorded)  # within 20 %
    proposed = await record("9.10", "zhou", "FX-2")
    assert isinstance(proposed, FxRateProposed)
    assert (proposed.previous_rate, proposed.change_percent) == (Decimal("7.50"), Decimal("21.33"))
    with pytest.raises(Refused, match="Zhou proposed this rate; another person confirms it"):
        await confirm("Zhou")
    confirmed = await confirm("qian")
    assert (confirmed.rate, confirmed.recorded_by, confirmed.confirmed_by) == (Decimal("9.10"), "zhou", "qian")
    with pytest.raises(Refused, match="already confirmed"):
        await confirm("sun")
    with pytest.raises(Refused, match="CNY is the base currency"):
        async with parts.store.transaction() as tx:
            await handlers.record_fx_rate(parts, tx, handlers.RecordFxRate("FX-3", "CNY", Decimal(1), TODAY, "zhou"))


async def test_a_statement_is_pinned_so_its_document_can_be_reproduced() -> None:
    parts = parts_with_customer()
    await receive(parts, invoice("I-1", "1000.00"), payment("P-1", "400.00"))
    issue = handlers.IssueStatement("C-1", "S-1", (date(2026, 10, 1), date(2026, 11, 22)), None, None)
    async with parts.store.transaction() as tx:
        ran = await handlers.issue_statement(parts, tx, issue)
    (issued,) = ran.events
    assert isinstance(issued, StatementIssued)
    assert (issued.ledger_version, issued.customer_name, issued.customer_address) == (
        3,
        "福州闽江贸易有限公司",
        "福州市台江区",
    )
    assert issued.closing == (cny("600.00"),)
    await receive(parts, payment("P-2", "100.00"))  # later movements do not change the statement
    async with parts.store.transaction() as tx:
        again, document = await handlers.statement_document(parts, tx, "C-1", "S-1")
    assert again == issued
    assert domain.digest(document) == issued.digest
    with pytest.raises(Refused, match="not yet 99"):
        async with parts.store.transaction() as tx:
            await handlers.issue_statement(parts, tx, handlers.IssueStatement("C-1", "S-2", issue.period, 99, None))
